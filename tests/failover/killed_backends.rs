//! Backends ended while several threads resolve overlapping requests through one PostgreSQL
//! store: terminated (`pg_terminate_backend`) a few times, or (run by hand) all at once by a
//! restart of the server.
//!
//! What must hold: a call fails only with [`Error::Unavailable`] (nothing applied) or
//! [`Error::OutcomeUnknown`] (maybe applied), and only while the backends are ended; every
//! acknowledged resolve's identities are owned by the customer it reported (or the one that
//! customer was merged into), except the ones it reported rejected; no identity has two
//! owners and no resolve is half-applied; and sending the failed requests again succeeds and
//! leaves what applying each once leaves (the partition a single writer produces: no limits,
//! so the partition is the connected components whatever the order).

use crate::support::{drop_schema, kind, pg_url, pg_url_as, tenant, terminate};
use oneid::{
    CustomerId, Error, IdentityInput, IdentitySettings, MemoryStore, Outcome, PostgresOptions, PostgresStore,
    RejectReason, ResolveRequest, Resolver,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SCHEMA: &str = "failover_killed";
/// The name the store's connections carry, so that only they are terminated.
const APP: &str = "oneid_failover_killed";
const THREADS: usize = 4;
const PEOPLE: usize = 60;
/// Rounds of terminating every backend of the store.
const KILLS: usize = 5;
/// Requests issued once the kills are over, in all.
const AFTER: usize = 200;
const MAX_REQUESTS: usize = 5_000;
const BLOCKED: &str = "13800000000";

fn settings() -> IdentitySettings {
    IdentitySettings::unrestricted()
        .with_blocked("mobile", [BLOCKED])
        .unwrap()
}

/// Request `i`'s identity of its own: owned once the request is applied, by nobody before.
fn own(i: usize) -> IdentityInput {
    IdentityInput::new("qq", format!("{}", 900_000 + i))
}

/// Request `i`: its own identity, one or two of a person's shared ones (so requests collide
/// and merge), and now and then a blocked mobile (rejected).
fn request(i: usize) -> ResolveRequest {
    let person = (i * 7 + i / 3) % PEOPLE;
    let shared = [
        IdentityInput::new("mobile", format!("1390000{person:04}")),
        IdentityInput::new("email", format!("p{person}@x.cn")),
    ];
    let mut ids = vec![own(i)];
    ids.extend(shared.into_iter().cycle().skip(i % 2).take(1 + (i / 2) % 2));
    if i.is_multiple_of(9) {
        ids.push(IdentityInput::new("mobile", BLOCKED));
    }
    ResolveRequest::new(ids).with_cause(format!("req-{i}"))
}

struct Issued {
    i: usize,
    /// Issued once the disruption was over.
    after_it: bool,
    took: Duration,
    result: oneid::Result<Outcome>,
    /// The request's own identity read back right after, on whatever connection.
    read: oneid::Result<Option<CustomerId>>,
}

#[test]
fn postgres_pool_replaces_terminated_backends() {
    let killed = AtomicUsize::new(0);
    resolve_through(SCHEMA, &pg_url_as(APP), || {
        for _ in 0..KILLS {
            killed.fetch_add(terminate(APP), Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(150));
        }
    });
    let killed = killed.into_inner();
    assert!(killed >= KILLS, "only {killed} backends were terminated");
    eprintln!("{killed} backends terminated in {KILLS} rounds");
}

/// The same through a restart of the server, by the command `ONEID_PG_RESTART` names
/// (e.g. `pg_ctlcluster --skip-systemctl-redirect 15 main restart`). Run by hand, on a
/// server no one else is using:
///
/// ```text
/// ONEID_PG_RESTART="pg_ctlcluster --skip-systemctl-redirect 15 main restart" \
///     cargo test --all-features --test failover -- --ignored restarted
/// ```
#[test]
#[ignore = "restarts the PostgreSQL server: run by hand with ONEID_PG_RESTART"]
fn postgres_pool_replaces_backends_of_a_restarted_server() {
    let Ok(command) = std::env::var("ONEID_PG_RESTART") else {
        return;
    };
    resolve_through("failover_restarted", &pg_url(), || {
        let status = std::process::Command::new("sh")
            .args(["-c", &command])
            .status()
            .unwrap();
        assert!(status.success(), "{command}: {status}");
    });
}

/// Resolves overlapping requests from [`THREADS`] threads through a store on `url` while
/// `disrupt` runs (once some requests are in), and [`AFTER`] more once it returned; then
/// checks what the module docs say must hold.
fn resolve_through(schema: &str, url: &str, disrupt: impl FnOnce() + Send) {
    drop_schema(schema);
    let store = PostgresStore::connect_with(url, PostgresOptions::new().schema(schema).pool_size(6)).unwrap();
    let r = Resolver::new(store).with_default_settings(settings());
    let t = tenant();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let after = AtomicUsize::new(0);
    let over = AtomicBool::new(false);
    let issued = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            while done.load(Ordering::SeqCst) < 20 && started.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(5));
            }
            disrupt();
            over.store(true, Ordering::SeqCst);
        });
        for _ in 0..THREADS {
            s.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= MAX_REQUESTS
                        || after.load(Ordering::SeqCst) >= AFTER
                        || started.elapsed() > Duration::from_secs(120)
                    {
                        break;
                    }
                    let after_it = over.load(Ordering::SeqCst);
                    let at = Instant::now();
                    let result = r.resolve(&t, &request(i));
                    let took = at.elapsed();
                    let read = r.owner_of(&t, &own(i));
                    done.fetch_add(1, Ordering::SeqCst);
                    if after_it {
                        after.fetch_add(1, Ordering::SeqCst);
                    }
                    mine.push(Issued {
                        i,
                        after_it,
                        took,
                        result,
                        read,
                    });
                }
                issued.lock().unwrap().extend(mine);
            });
        }
    });
    let mut issued = issued.into_inner().unwrap();
    issued.sort_by_key(|x| x.i);
    assert!(
        over.into_inner() && after.into_inner() >= AFTER,
        "the run ended before {AFTER} requests were issued after the disruption"
    );

    // Only the moment's failures, and none once the disruption is over.
    let mut failures: BTreeMap<&str, usize> = BTreeMap::new();
    for x in &issued {
        if let Err(e) = &x.result {
            *failures.entry(kind(e)).or_default() += 1;
            assert!(
                matches!(e, Error::Unavailable { .. } | Error::OutcomeUnknown { .. }),
                "request {} failed with {e:?}",
                x.i
            );
            assert!(
                !x.after_it,
                "request {} was issued after the disruption and failed: {e}",
                x.i
            );
        }
    }
    // Reads are tried again until they succeed, and see what was acknowledged.
    for x in &issued {
        match (&x.result, &x.read) {
            (_, Err(e)) => {
                assert!(matches!(e, Error::Unavailable { .. }), "a read failed with {e:?}");
                assert!(!x.after_it, "a read issued after the disruption failed: {e}");
            }
            (Ok(outcome), Ok(owner)) => assert!(
                owner.is_some(),
                "request {} was acknowledged ({:?}) but its identity reads as unowned",
                x.i,
                outcome.customer
            ),
            _ => {}
        }
    }
    let slowest_after = issued
        .iter()
        .filter(|x| x.after_it)
        .map(|x| x.took)
        .max()
        .unwrap();
    eprintln!(
        "{} requests, failures {failures:?}, slowest request after the disruption {slowest_after:?}",
        issued.len()
    );

    let check = Resolver::new(PostgresStore::connect_in_schema(&pg_url(), schema).unwrap())
        .with_default_settings(settings());
    let owner = |id: &IdentityInput| check.owner_of(&t, id).unwrap();
    let live = |id: CustomerId| check.canonical_id(&t, id).unwrap().expect("a known customer");
    let normalized = |id: &IdentityInput| {
        settings()
            .normalize(&id.identity_type, &id.identity_value)
            .unwrap_or_else(|_| id.identity_value.to_string())
    };

    // No identity has two owners, and every owner is live: the survivor of the merge set of
    // the customer an identity was linked to (up its `parent` links to the set's root).
    let mut admin = crate::support::admin();
    let stray: i64 = admin
        .query_one(
            &format!(
                "WITH RECURSIVE up (id, at) AS ( \
                     SELECT id, id FROM {schema}.oneid_customers \
                     UNION ALL SELECT up.id, c.parent FROM up JOIN {schema}.oneid_customers c ON c.id = up.at \
                     WHERE c.parent IS NOT NULL), \
                 owner (id, live) AS ( \
                     SELECT up.id, COALESCE(r.survivor, r.id) FROM up JOIN {schema}.oneid_customers r \
                     ON r.id = up.at WHERE r.parent IS NULL) \
                 SELECT COUNT(*) FROM {schema}.oneid_identities i JOIN owner o ON o.id = i.customer \
                 JOIN {schema}.oneid_customers c ON c.id = o.live WHERE c.status <> 'active'"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(stray, 0, "identities owned by customers that are not live");
    let twice: i64 = admin
        .query_one(
            &format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM {schema}.oneid_identities \
                 GROUP BY tenant, itype, scope, value HAVING COUNT(*) > 1) d"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(twice, 0, "identities with two owners");

    for x in &issued {
        let req = request(x.i);
        let mine = owner(&own(x.i));
        // All or nothing: once its own identity is owned, every identity but the blocked one
        // is owned by the same customer.
        if let Some(o) = mine {
            for id in &req.identities {
                if *id.identity_value != *BLOCKED {
                    assert_eq!(owner(id), Some(o), "request {} is half-applied at {id:?}", x.i);
                }
            }
        }
        match &x.result {
            Ok(outcome) => {
                let target = live(outcome.customer.unwrap());
                for id in &req.identities {
                    let rejected = outcome.rejected.iter().find(|j| {
                        j.identity.identity_type.as_str() == &*id.identity_type
                            && *j.identity.identity_value == *normalized(id)
                    });
                    match rejected {
                        Some(j) => {
                            assert_eq!(j.reason, RejectReason::Blocked, "request {}: {j:?}", x.i);
                            assert_eq!(owner(id), None);
                        }
                        None => assert_eq!(
                            owner(id),
                            Some(target),
                            "request {}: {id:?} is not owned by its customer",
                            x.i
                        ),
                    }
                }
            }
            Err(Error::Unavailable { .. }) => {
                assert_eq!(mine, None, "request {} was Unavailable but applied", x.i);
            }
            Err(_) => {}
        }
    }

    // Sending the failed requests again: once applied, a repeat changes nothing; otherwise it
    // applies the request.
    for x in issued.iter().filter(|x| x.result.is_err()) {
        let before = owner(&own(x.i));
        let again = r
            .resolve(&t, &request(x.i))
            .unwrap_or_else(|e| panic!("request {} sent again: {e:?}", x.i));
        match before {
            Some(o) => {
                assert!(
                    again.is_noop(),
                    "request {} was applied, yet again: {again:?}",
                    x.i
                );
                assert_eq!(live(again.customer.unwrap()), live(o));
            }
            None => assert!(
                again.created
                    || again
                        .linked
                        .iter()
                        .any(|l| *l.identity_value == *own(x.i).identity_value),
                "request {} sent again did not apply: {again:?}",
                x.i
            ),
        }
    }

    // Every request applied once: the partition one writer produces.
    let partition = |owner_of: &dyn Fn(&IdentityInput) -> Option<CustomerId>| {
        let mut groups: HashMap<CustomerId, Vec<usize>> = HashMap::new();
        for x in &issued {
            groups
                .entry(owner_of(&own(x.i)).expect("every request applied"))
                .or_default()
                .push(x.i);
        }
        let mut parts: Vec<Vec<usize>> = groups.into_values().collect();
        parts.sort();
        parts
    };
    let one = Resolver::new(MemoryStore::new()).with_default_settings(settings());
    for x in &issued {
        one.resolve(&t, &request(x.i)).unwrap();
    }
    assert_eq!(
        partition(&|id| owner(id)),
        partition(&|id| one.owner_of(&t, id).unwrap())
    );
}
