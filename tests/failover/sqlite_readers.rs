//! SQLite readers beside a long write transaction, held by another process or by another
//! thread's connection until the reads are done: every read answers (a read that waited for
//! the write lock would wait for as long as the test holds it, and fail) with the last
//! committed state, and a handle opened meanwhile reads too.

use crate::support::{Child, request, returns, sqlite_path, tenant};
use oneid::{CustomerFilter, CustomerId, CustomerQuery, IdentityInput, Resolver, SqliteStore};

/// Three customers, committed.
fn committed(r: &Resolver<SqliteStore>) -> Vec<CustomerId> {
    (1..=3)
        .map(|n| {
            r.resolve(
                &tenant(),
                &request(&[("qq", &n.to_string()), ("mobile", &format!("1390000000{n}"))]),
            )
            .unwrap()
            .customer
            .unwrap()
        })
        .collect()
}

/// Runs `read`, which must return, and succeed, while the write transaction is held.
fn prompt<T: Send>(what: &str, read: impl FnOnce() -> oneid::Result<T> + Send) -> T {
    returns(what, read).unwrap_or_else(|e| panic!("{what} beside a write transaction: {e:?}"))
}

/// Every kind of read answers, with the committed state (the held transaction has
/// marked every customer deleted).
fn reads_see_committed(r: &Resolver<SqliteStore>, ids: &[CustomerId]) {
    let t = tenant();
    for &id in ids {
        let c = prompt("get", || r.get(&t, id)).expect("the committed customer");
        assert!(c.is_active());
    }
    let found = prompt("find_by_identity", || {
        r.find_by_identity(&t, &IdentityInput::new("qq", "2"))
    });
    assert_eq!(found.map(|c| c.id), Some(ids[1]));
    assert_eq!(
        prompt("owner_of", || r
            .owner_of(&t, &IdentityInput::new("mobile", "13900000003"))),
        Some(ids[2])
    );
    assert_eq!(prompt("identities", || r.identities(&t, ids[0])).len(), 2);
    assert!(!prompt("history", || r.history(&t, ids[0])).is_empty());
    let page = prompt("query", || r.query(&t, &CustomerQuery::default()));
    assert_eq!(page.total, 3);
    assert_eq!(page.rows.iter().map(|c| c.id).collect::<Vec<_>>(), ids);
    assert_eq!(prompt("count", || r.count(&t, &CustomerFilter::default())), 3);
    assert_eq!(prompt("settings", || r.settings(&t)).limit("mobile"), None);
}

#[test]
fn sqlite_reads_beside_another_process_writing() {
    let path = sqlite_path("readers_process");
    let r = Resolver::new(SqliteStore::open(&path).unwrap());
    let ids = committed(&r);
    let mut writer = Child::start(&format!("sqlite:{}", path.display()), "default");
    assert_eq!(writer.ask("hold"), "holding");
    reads_see_committed(&r, &ids);
    // A handle opened while the other process writes reads as well.
    let late = Resolver::new(prompt("opening", || SqliteStore::open(&path)));
    reads_see_committed(&late, &ids);
    // Once it commits, reads see what it wrote.
    assert_eq!(writer.ask("commit"), "done");
    for &id in &ids {
        assert_eq!(r.get(&tenant(), id).unwrap(), None);
        assert_eq!(late.get(&tenant(), id).unwrap(), None);
    }
}

#[test]
fn sqlite_reads_beside_another_thread_writing() {
    let path = sqlite_path("readers_thread");
    let r = Resolver::new(SqliteStore::open(&path).unwrap());
    let ids = committed(&r);
    let (held, release) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
    std::thread::scope(|s| {
        s.spawn(|| {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE; UPDATE oneid_customers SET status = 'deleted';")
                .unwrap();
            held.wait();
            release.wait();
            conn.execute_batch("ROLLBACK").unwrap();
        });
        held.wait();
        // Reads from several threads at once, each on a reader connection of its own; the
        // writer is let go whatever they find.
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            std::thread::scope(|readers| {
                for _ in 0..3 {
                    readers.spawn(|| reads_see_committed(&r, &ids));
                }
            })
        }));
        release.wait();
        if let Err(panic) = read {
            std::panic::resume_unwind(panic);
        }
    });
    reads_see_committed(&r, &ids);
}
