//! Schema versions: a fresh database gets the current schema, reopening keeps the data, a
//! database of an older version is upgraded with its data kept, and a database from a newer
//! version of the crate is refused with a clear error.
//!
//! Version 2 added the tenants' settings (`oneid_tenants`, `oneid_settings`) and nothing
//! else, so a version-1 database is a version-2 one without those two tables. Version 3 keeps
//! merges as sets (`parent`, `weight`, `survivor`) and identity counts (`oneid_counts`): a
//! version-2 database is made from a new one by undoing that, laying its data out as version
//! 2 kept it (a merged customer's identities at its survivor, every alias pointing at it).
//! Version 4 keeps the quarantine evidence's time and cause: a version-3 database is a new one
//! without those columns.
#![cfg(any(feature = "sqlite", feature = "postgres"))]

use oneid::{Error, IdentityInput, ResolveRequest, Resolver, TenantId};

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_versions() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("versions.db");
    let _ = std::fs::remove_file(&path);
    let t = TenantId::new("t");
    let r = Resolver::new(oneid::SqliteStore::open(&path).unwrap());
    let id = r
        .resolve(&t, &ResolveRequest::new([IdentityInput::new("qq", "1")]))
        .unwrap()
        .customer;
    drop(r);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("SELECT MAX(version) FROM oneid_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
    // Reopening an up-to-date database keeps everything.
    let r = Resolver::new(oneid::SqliteStore::open(&path).unwrap());
    assert_eq!(r.owner_of(&t, &IdentityInput::new("qq", "1")).unwrap(), id);
    drop(r);
    // A newer schema is refused, and the database is left as it was.
    conn.execute("INSERT INTO oneid_schema (version) VALUES (99)", [])
        .unwrap();
    match oneid::SqliteStore::open(&path) {
        Err(Error::SchemaTooNew {
            found: 99,
            supported: 4,
        }) => {}
        other => panic!("{other:?}"),
    }
    let customers: i64 = conn
        .query_row("SELECT COUNT(*) FROM oneid_customers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(customers, 1);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_versions() {
    let url =
        std::env::var("ONEID_PG_URL").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute("DROP SCHEMA IF EXISTS oneid_migrations CASCADE")
        .unwrap();
    let t = TenantId::new("t");
    let r = Resolver::new(oneid::PostgresStore::connect_in_schema(&url, "oneid_migrations").unwrap());
    let id = r
        .resolve(&t, &ResolveRequest::new([IdentityInput::new("qq", "1")]))
        .unwrap()
        .customer;
    drop(r);
    let r = Resolver::new(oneid::PostgresStore::connect_in_schema(&url, "oneid_migrations").unwrap());
    assert_eq!(r.owner_of(&t, &IdentityInput::new("qq", "1")).unwrap(), id);
    drop(r);
    admin
        .batch_execute("INSERT INTO oneid_migrations.oneid_schema (version) VALUES (99)")
        .unwrap();
    match oneid::PostgresStore::connect_in_schema(&url, "oneid_migrations") {
        Err(Error::SchemaTooNew {
            found: 99,
            supported: 4,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(oneid::PostgresStore::connect_in_schema(&url, "bad; DROP").is_err());
}

/// A version-1 database, made by taking version 2's tables away from a version-2 one.
const TO_V1: &str = "DROP TABLE oneid_tenants; DROP TABLE oneid_settings; DELETE FROM oneid_schema; \
                     INSERT INTO oneid_schema (version) VALUES (1)";

/// A version-3 database, made from a new one: the evidence's time and cause taken away.
const TO_V3: &str = "ALTER TABLE oneid_suspicions DROP COLUMN at; \
                     ALTER TABLE oneid_suspicions DROP COLUMN operation; \
                     ALTER TABLE oneid_suspicions DROP COLUMN reference; \
                     DELETE FROM oneid_schema; INSERT INTO oneid_schema (version) VALUES (3)";

/// A version-2 database, made from a version-3 one holding [`fixture`]'s data: version 3's tables,
/// columns and indexes taken away, and the data laid out as version 2 kept it (customers 2
/// and 3 were merged into 1: their identities move to 1, and they point at it).
const TO_V2: &str = "DROP TABLE oneid_counts; DROP INDEX oneid_customers_parent; DROP INDEX oneid_identities_kind; \
                     CREATE INDEX oneid_identities_customer ON oneid_identities (customer); \
                     UPDATE oneid_identities SET customer = 1 WHERE customer IN (2, 3); \
                     UPDATE oneid_customers SET merged_into = 1 WHERE status = 'merged'; \
                     ALTER TABLE oneid_customers DROP COLUMN parent; \
                     ALTER TABLE oneid_customers DROP COLUMN weight; \
                     ALTER TABLE oneid_customers DROP COLUMN survivor; \
                     DELETE FROM oneid_schema; INSERT INTO oneid_schema (version) VALUES (2)";

/// Customers 1, 2, 3 with `qq` 1, 2, 3; 3 merged into 2, then 2 into 1; customer 4 with a
/// mobile. Returns what reads of them give.
fn fixture<S: oneid::Store>(r: &Resolver<S>, t: &TenantId) -> String {
    for ids in [&["1"][..], &["2"], &["3"], &["2", "3"], &["1", "2"]] {
        r.resolve(
            t,
            &ResolveRequest::new(ids.iter().map(|v| IdentityInput::new("qq", *v))),
        )
        .unwrap();
    }
    r.resolve(
        t,
        &ResolveRequest::new([IdentityInput::new("mobile", "13912345678")]),
    )
    .unwrap();
    reads(r, t)
}

/// Everything the reads of [`fixture`]'s customers say.
fn reads<S: oneid::Store>(r: &Resolver<S>, t: &TenantId) -> String {
    let ids: Vec<oneid::CustomerId> = (1..=4).map(oneid::CustomerId).collect();
    let mut out = format!("{:?}\n", r.identities_of(t, &ids).unwrap());
    for &id in &ids {
        out += &format!("{:?}\n{:?}\n", r.get(t, id).unwrap(), r.history(t, id).unwrap());
    }
    for v in ["1", "2", "3"] {
        out += &format!("{:?}\n", r.owner_of(t, &IdentityInput::new("qq", v)).unwrap());
    }
    out
}

/// What a version-2 database held reads the same after the upgrade, and limits and merges
/// work on it: the counts were filled, and the sets were.
fn upgraded_from_v2<S: oneid::Store>(r: Resolver<S>, t: &TenantId, before: &str) {
    assert_eq!(reads(&r, t), before);
    let limited = oneid::IdentitySettings::default()
        .with_limit("qq", Some(3))
        .unwrap();
    r.set_settings(t, &limited, None).unwrap();
    let out = r
        .resolve(
            t,
            &ResolveRequest::new([IdentityInput::new("qq", "3"), IdentityInput::new("qq", "4")]),
        )
        .unwrap();
    assert_eq!(out.customer, Some(oneid::CustomerId(1)));
    // The three qq of customers merged at version 2 count, and the first of them is named.
    match &out.rejected[..] {
        [
            oneid::Rejection {
                identity,
                reason: oneid::RejectReason::Conflict { with, limit: 3 },
            },
        ] => {
            assert_eq!(&*identity.identity_value, "4");
            assert_eq!(&*with.identity_value, "1");
        }
        other => panic!("{other:?}"),
    }
    // Customer 1's set (made at version 2) merges into customer 4.
    let out = r
        .resolve(
            t,
            &ResolveRequest::new([
                IdentityInput::new("mobile", "13912345678"),
                IdentityInput::new("qq", "2"),
            ]),
        )
        .unwrap();
    assert_eq!(out.merged, [oneid::CustomerId(1)], "{out:?}");
    for (id, v) in [(1, "1"), (2, "2"), (3, "3")] {
        assert_eq!(
            r.owner_of(t, &IdentityInput::new("qq", v)).unwrap(),
            Some(oneid::CustomerId(4))
        );
        assert_eq!(
            r.get(t, oneid::CustomerId(id)).unwrap().unwrap().id,
            oneid::CustomerId(4)
        );
    }
    assert_eq!(r.identities_of(t, &[oneid::CustomerId(4)]).unwrap()[0].1.len(), 4);
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_upgrades_version_2() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("from_v2.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let t = TenantId::new("t");
    let r = Resolver::new(oneid::SqliteStore::open(&path).unwrap());
    let before = fixture(&r, &t);
    drop(r);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(TO_V3).unwrap();
    conn.execute_batch(TO_V2).unwrap();
    upgraded_from_v2(
        Resolver::new(oneid::SqliteStore::open(&path).unwrap()),
        &t,
        &before,
    );
    let version: i64 = conn
        .query_row("SELECT MAX(version) FROM oneid_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_upgrades_version_2() {
    let url =
        std::env::var("ONEID_PG_URL").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute("DROP SCHEMA IF EXISTS oneid_from_v2 CASCADE")
        .unwrap();
    let t = TenantId::new("t");
    let r = Resolver::new(oneid::PostgresStore::connect_in_schema(&url, "oneid_from_v2").unwrap());
    let before = fixture(&r, &t);
    drop(r);
    admin
        .batch_execute(&format!("SET search_path TO oneid_from_v2; {TO_V3}; {TO_V2}"))
        .unwrap();
    upgraded_from_v2(
        Resolver::new(oneid::PostgresStore::connect_in_schema(&url, "oneid_from_v2").unwrap()),
        &t,
        &before,
    );
    let version: i64 = admin
        .query_one("SELECT MAX(version) FROM oneid_from_v2.oneid_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, 4);
}

/// What a version-1 database held reads the same after the upgrade, and the tenants' settings
/// work: stored, read back, honoured.
fn upgraded_from_v1<S: oneid::Store>(r: Resolver<S>, t: &TenantId, id: Option<oneid::CustomerId>) {
    assert_eq!(r.owner_of(t, &IdentityInput::new("qq", "1")).unwrap(), id);
    let strict = oneid::IdentitySettings::default()
        .with_limit("qq", Some(1))
        .unwrap();
    assert_eq!(r.set_settings(t, &strict, Some("after the upgrade")).unwrap(), 1);
    let out = r
        .resolve(
            t,
            &ResolveRequest::new([IdentityInput::new("qq", "1"), IdentityInput::new("qq", "2")]),
        )
        .unwrap();
    assert_eq!(out.customer, id);
    assert_eq!(out.rejected.len(), 1, "the limit stored after the upgrade holds");
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_upgrades_version_1() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("from_v1.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let t = TenantId::new("t");
    let r = Resolver::new(oneid::SqliteStore::open(&path).unwrap());
    let id = r
        .resolve(&t, &ResolveRequest::new([IdentityInput::new("qq", "1")]))
        .unwrap()
        .customer;
    drop(r);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(TO_V3).unwrap();
    conn.execute_batch(TO_V2).unwrap();
    conn.execute_batch(TO_V1).unwrap();
    upgraded_from_v1(Resolver::new(oneid::SqliteStore::open(&path).unwrap()), &t, id);
    let version: i64 = conn
        .query_row("SELECT MAX(version) FROM oneid_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_upgrades_version_1() {
    let url =
        std::env::var("ONEID_PG_URL").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute("DROP SCHEMA IF EXISTS oneid_from_v1 CASCADE")
        .unwrap();
    let t = TenantId::new("t");
    let r = Resolver::new(oneid::PostgresStore::connect_in_schema(&url, "oneid_from_v1").unwrap());
    let id = r
        .resolve(&t, &ResolveRequest::new([IdentityInput::new("qq", "1")]))
        .unwrap()
        .customer;
    drop(r);
    admin
        .batch_execute(&format!(
            "SET search_path TO oneid_from_v1; {TO_V3}; {TO_V2}; {TO_V1}"
        ))
        .unwrap();
    upgraded_from_v1(
        Resolver::new(oneid::PostgresStore::connect_in_schema(&url, "oneid_from_v1").unwrap()),
        &t,
        id,
    );
    let version: i64 = admin
        .query_one("SELECT MAX(version) FROM oneid_from_v1.oneid_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, 4);
}

/// Two values with evidence (a wechat at the threshold of 2, another below it), each against
/// an idcard its holder's limit forbids.
fn evidence_fixture<S: oneid::Store>(r: &Resolver<S>, t: &TenantId) {
    let strict = oneid::IdentitySettings::default()
        .with_quarantine(Some(2))
        .unwrap();
    r.set_settings(t, &strict, None).unwrap();
    for (wechat, cards) in [("o0", &["1", "2", "3"][..]), ("o1", &["4", "5"])] {
        for card in cards {
            r.resolve(
                t,
                &ResolveRequest::new([
                    IdentityInput::new("wechat", wechat),
                    IdentityInput::new("idcard", format!("53{card:0>16}")),
                ])
                .with_cause("before"),
            )
            .unwrap();
        }
    }
}

/// A piece of evidence as the test compares it: the identity, whether it has a time, the
/// cause's reference.
type Listed = (String, bool, Option<String>);

/// Evidence a version-3 database kept is listed after the upgrade without a time or cause;
/// evidence recorded after it, with them.
fn upgraded_from_v3<S: oneid::Store>(r: Resolver<S>, t: &TenantId) {
    let listed = |r: &Resolver<S>| -> Vec<(String, Vec<Listed>)> {
        r.quarantined(t)
            .unwrap()
            .into_iter()
            .map(|q| {
                let evidence = q
                    .evidence
                    .iter()
                    .map(|e| {
                        (
                            e.identity.to_string(),
                            e.at.is_some(),
                            e.cause
                                .as_ref()
                                .and_then(|c| c.reference.as_deref().map(str::to_owned)),
                        )
                    })
                    .collect();
                (q.identity.to_string(), evidence)
            })
            .collect()
    };
    let card = |n: &str| format!("idcard 53{n:0>16}");
    assert_eq!(
        listed(&r),
        [(
            "wechat o0".to_string(),
            vec![(card("2"), false, None), (card("3"), false, None)]
        )]
    );
    r.resolve(
        t,
        &ResolveRequest::new([
            IdentityInput::new("wechat", "o1"),
            IdentityInput::new("idcard", format!("53{:0>16}", "6")),
        ])
        .with_cause("after"),
    )
    .unwrap();
    assert_eq!(
        listed(&r),
        [
            (
                "wechat o0".to_string(),
                vec![(card("2"), false, None), (card("3"), false, None)]
            ),
            (
                "wechat o1".to_string(),
                vec![
                    (card("6"), true, Some("after".to_string())),
                    (card("5"), false, None)
                ]
            ),
        ]
    );
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_upgrades_version_3() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("from_v3.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let t = TenantId::new("t");
    evidence_fixture(&Resolver::new(oneid::SqliteStore::open(&path).unwrap()), &t);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(TO_V3).unwrap();
    upgraded_from_v3(Resolver::new(oneid::SqliteStore::open(&path).unwrap()), &t);
    let version: i64 = conn
        .query_row("SELECT MAX(version) FROM oneid_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_upgrades_version_3() {
    let url =
        std::env::var("ONEID_PG_URL").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute("DROP SCHEMA IF EXISTS oneid_from_v3 CASCADE")
        .unwrap();
    let t = TenantId::new("t");
    evidence_fixture(
        &Resolver::new(oneid::PostgresStore::connect_in_schema(&url, "oneid_from_v3").unwrap()),
        &t,
    );
    admin
        .batch_execute(&format!("SET search_path TO oneid_from_v3; {TO_V3}"))
        .unwrap();
    upgraded_from_v3(
        Resolver::new(oneid::PostgresStore::connect_in_schema(&url, "oneid_from_v3").unwrap()),
        &t,
    );
    let version: i64 = admin
        .query_one("SELECT MAX(version) FROM oneid_from_v3.oneid_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, 4);
}
