//! A tenant's settings changed on PostgreSQL while writers resolve against the tenant
//! without a pause, one request or a batch at a time: every change goes through (a lock not
//! granted in time is tried again, and never becomes the caller's failure), and so does every
//! writer.

use crate::support::{drop_schema, kind, mobile_limit, pg_url, tenant};
use oneid::{IdentityInput, PostgresOptions, PostgresStore, ReadTxn, ResolveRequest, Resolver, Store, Txn};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Writers; every other one resolves batches of [`BATCH`].
const WRITERS: usize = 6;
const BATCH: usize = 10;
const CHANGES: u32 = 6;

fn request(w: usize, n: usize) -> ResolveRequest {
    let person = (w * 31 + n) % 50;
    ResolveRequest::new([
        IdentityInput::new("qq", format!("{w}-{n}")),
        IdentityInput::new("email", format!("p{person}@x.cn")),
    ])
}

#[test]
fn postgres_settings_change_goes_through_writers_without_a_pause() {
    let schema = "failover_settings_load";
    drop_schema(schema);
    let store =
        PostgresStore::connect_with(&pg_url(), PostgresOptions::new().schema(schema).pool_size(8)).unwrap();
    let r = Resolver::new(store);
    let t = tenant();
    r.resolve(&t, &request(0, 0)).unwrap();
    let stop = AtomicBool::new(false);
    let resolved = AtomicUsize::new(0);
    let mut took = Vec::new();
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (r, t, stop, resolved) = (&r, &t, &stop, &resolved);
                s.spawn(move || {
                    let mut n = 1;
                    while !stop.load(Ordering::SeqCst) {
                        let count = if w % 2 == 0 { 1 } else { BATCH };
                        let requests: Vec<_> = (n..n + count).map(|k| request(w, k)).collect();
                        let done = match count {
                            1 => r.resolve(t, &requests[0]).map(drop),
                            _ => r.resolve_batch(t, &requests).map(drop),
                        };
                        if let Err(e) = done {
                            return Err(format!("writer {w}, request {n}: {} {e}", kind(&e)));
                        }
                        resolved.fetch_add(count, Ordering::SeqCst);
                        n += count;
                    }
                    Ok(())
                })
            })
            .collect();
        let changes = (|| {
            // The writers are under way before the first change.
            let started = Instant::now();
            while resolved.load(Ordering::SeqCst) < 40 && started.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(5));
            }
            for change in 0..CHANGES {
                let limit = if change % 2 == 0 { Some(100) } else { None };
                let at = Instant::now();
                let version = r
                    .set_settings(&t, &mobile_limit(limit), Some("under load"))
                    .map_err(|e| format!("change {change}: {} {e}", kind(&e)))?;
                took.push(at.elapsed());
                assert_eq!(version, u64::from(change) + 2);
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok::<(), String>(())
        })();
        stop.store(true, Ordering::SeqCst);
        for w in writers {
            w.join().unwrap().unwrap();
        }
        changes.unwrap();
    });
    eprintln!(
        "{CHANGES} settings changes beside {WRITERS} writers ({} resolves) took {took:?}",
        resolved.into_inner()
    );
    assert_eq!(r.settings(&t).unwrap().limit("mobile"), None);
    assert_eq!(r.settings_history(&t).unwrap().len(), CHANGES as usize + 1);
}

/// A writer that read the settings, overtaken by a change, does not commit under the old
/// settings: the change does not wait for it (the open writer is in this very thread, so a
/// change that waited would time out on its lock and give up), and the writer runs again.
#[test]
fn postgres_writer_overtaken_by_a_settings_change_runs_again() {
    let schema = "failover_settings_overtaken";
    drop_schema(schema);
    let r = Resolver::new(PostgresStore::connect_in_schema(&pg_url(), schema).unwrap());
    let t = tenant();
    r.resolve(&t, &request(0, 0)).unwrap();
    let mut txn = r.store().write(&t).unwrap();
    assert_eq!(txn.settings_version(&t).unwrap(), 1);
    let version = r.set_settings(&t, &mobile_limit(Some(1)), None).unwrap();
    assert_eq!(version, 2);
    txn.touch(&t, oneid::CustomerId(1), chrono::Utc::now()).unwrap();
    match txn.commit() {
        Err(oneid::Error::Transient(_)) => {}
        other => panic!("a writer overtaken by a settings change committed: {other:?}"),
    }
}
