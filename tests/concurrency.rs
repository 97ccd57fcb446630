//! Many writers at once, and writers killed mid-run.
//!
//! - 8 threads and 8 processes resolve overlapping requests against one PostgreSQL schema;
//!   afterwards every invariant holds and the partition of requests into customers equals
//!   what one writer produces (no limits and autoMerge, so the partition is the connected
//!   components whatever the order).
//! - A writer process is killed with SIGKILL in the middle of a long run against SQLite and
//!   against PostgreSQL; the store reopens, holds every invariant and shows no partial resolve.
//!
//! The writer processes are this test binary itself, re-run with `--exact writer --ignored`
//! and the job in environment variables.
#![cfg(any(feature = "sqlite", feature = "postgres"))]
#![allow(dead_code)]

use oneid::{
    CustomerId, IdentityInput, IdentitySettings, MemoryStore, ResolveRequest, Resolver, Store, TenantId,
};
use std::collections::HashMap;
use std::process::{Command, Stdio};

fn tenant() -> TenantId {
    TenantId::new("concurrency")
}

/// `n` requests over `people` people, 1–3 identities each, so requests of one person
/// overlap and writers collide on them.
fn overlapping_requests(n: usize, people: usize) -> Vec<ResolveRequest> {
    (0..n)
        .map(|i| {
            let person = (i * 7 + i / 3) % people;
            let all = [
                IdentityInput::new("mobile", format!("1390000{person:04}")),
                IdentityInput::new("email", format!("p{person}@x.cn")),
                IdentityInput::new("qq", format!("{}", 10_000 + person)),
            ];
            let take = 1 + i % 3;
            let skip = i % 2;
            ResolveRequest::new(all.into_iter().cycle().skip(skip).take(take)).with_cause(format!("req-{i}"))
        })
        .collect()
}

/// For each request, the customer its first identity ends in; as a partition of request
/// indices, independent of the ids.
fn partition<S: Store, C: oneid::Clock>(
    r: &mut Resolver<S, C>,
    requests: &[ResolveRequest],
) -> Vec<Vec<usize>> {
    let mut groups: HashMap<CustomerId, Vec<usize>> = HashMap::new();
    for (i, request) in requests.iter().enumerate() {
        let owner = r
            .owner_of(&tenant(), &request.identities[0])
            .unwrap()
            .expect("every identity is owned");
        groups.entry(owner).or_default().push(i);
    }
    let mut parts: Vec<Vec<usize>> = groups.into_values().collect();
    parts.sort();
    parts
}

/// One live owner per identity and every identity of a request with the same owner.
fn check_invariants<S: Store, C: oneid::Clock>(r: &mut Resolver<S, C>, requests: &[ResolveRequest]) {
    for request in requests {
        let owners: Vec<_> = request
            .identities
            .iter()
            .map(|i| r.owner_of(&tenant(), i).unwrap())
            .collect();
        assert!(
            owners.windows(2).all(|w| w[0] == w[1]),
            "a request split over customers: {owners:?}"
        );
        let owner = owners[0].expect("owned");
        let live = r.get(&tenant(), owner).unwrap().expect("the owner is live");
        assert_eq!(live.id, owner);
        let held = r.identities(&tenant(), owner).unwrap();
        for i in &request.identities {
            let value = r
                .settings(&tenant())
                .unwrap()
                .normalize(&i.identity_type, &i.identity_value)
                .unwrap();
            assert!(
                held.iter().any(|h| *h.identity_value == *value),
                "{} not listed on its owner",
                i.identity_value
            );
        }
    }
}

fn single_writer_partition(requests: &[ResolveRequest]) -> Vec<Vec<usize>> {
    let mut r = Resolver::new(MemoryStore::new()).with_default_settings(IdentitySettings::unrestricted());
    for request in requests {
        r.resolve(&tenant(), request).unwrap();
    }
    partition(&mut r, requests)
}

/// Runs this binary's `writer` test in a child process with the job in its environment.
fn spawn_writer(vars: &[(&str, String)]) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "writer",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

/// The child side: resolves its share of the requests (`ONEID_WRITER_STORE` = `sqlite:PATH`
/// or `postgres:SCHEMA`; requests `ONEID_WRITER_FROM`, `+ ONEID_WRITER_STEP`, … below
/// `ONEID_WRITER_COUNT` of `ONEID_WRITER_PEOPLE` people). Does nothing when run by hand.
#[test]
#[ignore = "run as a child process by the concurrency tests"]
fn writer() {
    let Ok(store) = std::env::var("ONEID_WRITER_STORE") else {
        return;
    };
    let var = |k: &str| std::env::var(k).unwrap().parse::<usize>().unwrap();
    let (from, step, count, people) = (
        var("ONEID_WRITER_FROM"),
        var("ONEID_WRITER_STEP"),
        var("ONEID_WRITER_COUNT"),
        var("ONEID_WRITER_PEOPLE"),
    );
    let requests = if people == 0 {
        fresh_requests(count)
    } else {
        overlapping_requests(count, people)
    };
    let mine = requests.iter().skip(from).step_by(step);
    match store.split_once(':') {
        #[cfg(feature = "sqlite")]
        Some(("sqlite", path)) => {
            let r = Resolver::new(oneid::SqliteStore::open(path).unwrap())
                .with_default_settings(settings(people));
            for request in mine {
                r.resolve(&tenant(), request).unwrap();
            }
        }
        #[cfg(feature = "postgres")]
        Some(("postgres", schema)) => {
            let store = oneid::PostgresStore::connect_in_schema(&pg_url(), schema).unwrap();
            let r = Resolver::new(store).with_default_settings(settings(people));
            for request in mine {
                r.resolve(&tenant(), request).unwrap();
            }
        }
        _ => panic!("unknown store {store}"),
    }
}

fn settings(people: usize) -> IdentitySettings {
    // Overlap runs compare partitions with connected components: no limits, no quarantine.
    if people == 0 {
        IdentitySettings::default()
    } else {
        IdentitySettings::unrestricted()
    }
}

/// Requests whose three identities are new, except that every fifth also carries the
/// previous request's mobile (a merge): a partial resolve would show as a request with only
/// some of its identities owned.
fn fresh_requests(n: usize) -> Vec<ResolveRequest> {
    (0..n)
        .map(|i| {
            let mut ids = vec![
                IdentityInput::new("mobile", format!("1370{i:07}")),
                IdentityInput::new("email", format!("r{i}@x.cn")),
                IdentityInput::new("qq", format!("{}", 500_000 + i)),
            ];
            if i % 5 == 4 {
                ids.push(IdentityInput::new("mobile", format!("1370{:07}", i - 1)));
            }
            ResolveRequest::new(ids).with_cause(format!("req-{i}"))
        })
        .collect()
}

/// After a crash: each request is entirely there or entirely absent, and what is there
/// holds the invariants.
fn check_no_partial_resolve<S: Store, C: oneid::Clock>(
    r: &mut Resolver<S, C>,
    requests: &[ResolveRequest],
) -> usize {
    let mut complete = 0;
    for (i, request) in requests.iter().enumerate() {
        let own: Vec<_> = request.identities[..3]
            .iter()
            .map(|id| r.owner_of(&tenant(), id).unwrap())
            .collect();
        let present = own.iter().filter(|o| o.is_some()).count();
        assert!(present == 0 || present == 3, "request {i} is partial: {own:?}");
        if present == 3 {
            assert!(own.windows(2).all(|w| w[0] == w[1]), "request {i} split: {own:?}");
            complete += 1;
        }
    }
    complete
}

#[cfg(feature = "postgres")]
fn pg_url() -> String {
    std::env::var("ONEID_PG_URL").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_string())
}

#[cfg(feature = "postgres")]
fn fresh_schema(schema: &str) -> oneid::PostgresStore {
    let mut admin = postgres::Client::connect(&pg_url(), postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
    oneid::PostgresStore::connect_in_schema(&pg_url(), schema).unwrap()
}

const WRITERS: usize = 8;

#[cfg(feature = "postgres")]
#[test]
fn eight_threads_on_postgres_partition_like_one_writer() {
    let schema = "oneid_threads";
    let (count, people) = (800, 120);
    let requests = overlapping_requests(count, people);
    drop(fresh_schema(schema));
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let requests = &requests;
            s.spawn(move || {
                let store = oneid::PostgresStore::connect_in_schema(&pg_url(), schema).unwrap();
                let r = Resolver::new(store).with_default_settings(IdentitySettings::unrestricted());
                for request in requests.iter().skip(w).step_by(WRITERS) {
                    r.resolve(&tenant(), request).unwrap();
                }
            });
        }
    });
    let store = oneid::PostgresStore::connect_in_schema(&pg_url(), schema).unwrap();
    let mut r = Resolver::new(store).with_default_settings(IdentitySettings::unrestricted());
    check_invariants(&mut r, &requests);
    assert_eq!(partition(&mut r, &requests), single_writer_partition(&requests));
}

#[cfg(feature = "postgres")]
#[test]
fn eight_processes_on_postgres_partition_like_one_writer() {
    let schema = "oneid_processes";
    let (count, people) = (800, 120);
    let requests = overlapping_requests(count, people);
    drop(fresh_schema(schema));
    let children: Vec<_> = (0..WRITERS)
        .map(|w| {
            spawn_writer(&[
                ("ONEID_WRITER_STORE", format!("postgres:{schema}")),
                ("ONEID_WRITER_FROM", w.to_string()),
                ("ONEID_WRITER_STEP", WRITERS.to_string()),
                ("ONEID_WRITER_COUNT", count.to_string()),
                ("ONEID_WRITER_PEOPLE", people.to_string()),
            ])
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "writer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = oneid::PostgresStore::connect_in_schema(&pg_url(), schema).unwrap();
    let mut r = Resolver::new(store).with_default_settings(IdentitySettings::unrestricted());
    check_invariants(&mut r, &requests);
    assert_eq!(partition(&mut r, &requests), single_writer_partition(&requests));
}

/// Starts a writer on a long run, kills it with SIGKILL once some requests are in, and
/// returns after it is gone.
fn kill_mid_run(store: String, count: usize, committed: impl Fn() -> usize) {
    let mut child = spawn_writer(&[
        ("ONEID_WRITER_STORE", store),
        ("ONEID_WRITER_FROM", "0".into()),
        ("ONEID_WRITER_STEP", "1".into()),
        ("ONEID_WRITER_COUNT", count.to_string()),
        ("ONEID_WRITER_PEOPLE", "0".into()),
    ]);
    let started = std::time::Instant::now();
    while committed() < 50 && started.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the writer finished before it was killed; make the run longer"
    );
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_survives_a_killed_writer() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("crash");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("killed.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    drop(oneid::SqliteStore::open(&path).unwrap());
    let count = 200_000;
    let probe = path.clone();
    kill_mid_run(format!("sqlite:{}", path.display()), count, move || {
        let Ok(conn) = rusqlite::Connection::open(&probe) else {
            return 0;
        };
        conn.query_row("SELECT COUNT(*) FROM oneid_customers", [], |r| r.get::<_, i64>(0))
            .unwrap_or(0) as usize
    });
    let reached = {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row("SELECT COUNT(*) FROM oneid_customers", [], |r| r.get::<_, i64>(0))
            .unwrap() as usize
    };
    let mut r = Resolver::new(oneid::SqliteStore::open(&path).unwrap());
    // Only the requests that could have been reached need checking.
    let requests = fresh_requests((reached * 2 + 10).min(count));
    let complete = check_no_partial_resolve(&mut r, &requests);
    assert!(complete >= 50, "only {complete} requests were in");
    // The store still works after the crash.
    let out = r
        .resolve(
            &tenant(),
            &ResolveRequest::new([IdentityInput::new("qq", "after-crash")]),
        )
        .unwrap();
    assert!(out.created);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_survives_a_killed_writer() {
    let schema = "oneid_killed";
    drop(fresh_schema(schema));
    let count = 200_000;
    kill_mid_run(format!("postgres:{schema}"), count, || {
        let Ok(mut c) = postgres::Client::connect(&pg_url(), postgres::NoTls) else {
            return 0;
        };
        c.query_one(&format!("SELECT COUNT(*) FROM {schema}.oneid_customers"), &[])
            .map(|row| row.get::<_, i64>(0) as usize)
            .unwrap_or(0)
    });
    let store = oneid::PostgresStore::connect_in_schema(&pg_url(), schema).unwrap();
    let mut r = Resolver::new(store);
    // Only the requests that could have been reached need checking.
    let mut c = postgres::Client::connect(&pg_url(), postgres::NoTls).unwrap();
    let reached = c
        .query_one(&format!("SELECT COUNT(*) FROM {schema}.oneid_customers"), &[])
        .unwrap()
        .get::<_, i64>(0);
    let requests = fresh_requests(((reached as usize) * 2 + 10).min(count));
    let complete = check_no_partial_resolve(&mut r, &requests);
    assert!(complete >= 50, "only {complete} requests were in");
    let out = r
        .resolve(
            &tenant(),
            &ResolveRequest::new([IdentityInput::new("qq", "after-crash")]),
        )
        .unwrap();
    assert!(out.created);
}

/// A writer whose lookup waited for another writer's lock on a customer counts what that
/// writer linked to it: at READ COMMITTED the waiting statement reads the row as the other
/// left it, but anything else it reads from its snapshot, taken before the other committed.
/// Here the other writer is a plain transaction that holds the customer's row, links a
/// mobile to it, and commits while the resolve waits; with a mobile limit of 1 the resolve's
/// own mobile must then be refused.
#[cfg(feature = "postgres")]
#[test]
fn a_writer_that_waited_for_a_customer_counts_what_the_other_writer_linked() {
    let schema = "oneid_waited_counts";
    let store = fresh_schema(schema);
    let t = tenant();
    let r = Resolver::new(store);
    r.set_settings(
        &t,
        &IdentitySettings::default().with_limit("mobile", Some(1)).unwrap(),
        None,
    )
    .unwrap();
    let member = IdentityInput::new("member-id", "m-1");
    let c = r
        .resolve(&t, &ResolveRequest::new([member.clone()]))
        .unwrap()
        .customer
        .unwrap();

    let mut other = postgres::Client::connect(&pg_url(), postgres::NoTls).unwrap();
    let mut held = other.transaction().unwrap();
    held.batch_execute(&format!("SET LOCAL search_path TO {schema}"))
        .unwrap();
    held.execute(
        "SELECT 1 FROM oneid_customers WHERE id = $1 FOR UPDATE",
        &[&(c.0 as i64)],
    )
    .unwrap();

    let waiting = std::thread::spawn({
        let (r, t, member) = (r.clone(), t.clone(), member.clone());
        move || {
            r.resolve(
                &t,
                &ResolveRequest::new([member, IdentityInput::new("mobile", "13900000002")]),
            )
        }
    });
    // Until the resolve's lookup waits for the row lock.
    let mut watch = postgres::Client::connect(&pg_url(), postgres::NoTls).unwrap();
    let mut waited = false;
    for _ in 0..1000 {
        let row = watch
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND query LIKE '%oneid_identities%'",
                &[],
            )
            .unwrap();
        if row.get::<_, i64>(0) > 0 {
            waited = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(waited, "the resolve never waited for the customer's lock");
    // The other writer links a mobile to the customer, with its count, and commits.
    let seq: i64 = held
        .query_one(
            "INSERT INTO oneid_identities (tenant, itype, scope, value, customer) \
             VALUES ($1, 'mobile', '', '13900000001', $2) RETURNING seq",
            &[&t.as_str(), &(c.0 as i64)],
        )
        .unwrap()
        .get(0);
    held.execute(
        "INSERT INTO oneid_counts (customer, itype, scope, n, first_seq) VALUES ($1, 'mobile', '', 1, $2)",
        &[&(c.0 as i64), &seq],
    )
    .unwrap();
    held.commit().unwrap();

    let outcome = waiting.join().unwrap().unwrap();
    let mobiles = |id: CustomerId| -> Vec<String> {
        r.identities(&t, id)
            .unwrap()
            .into_iter()
            .filter(|i| i.identity_type.as_str() == "mobile")
            .map(|i| i.identity_value.to_string())
            .collect()
    };
    assert_eq!(
        mobiles(c),
        ["13900000001"],
        "the limit of one mobile holds: {outcome:?}"
    );
    let target = outcome.customer.expect("the resolve has a target");
    assert!(mobiles(target).len() <= 1, "{outcome:?}");
}
