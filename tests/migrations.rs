//! Schema versions: a fresh database gets the current schema, reopening keeps the data, a
//! database of an older version is upgraded with its data kept, and a database from a newer
//! version of the crate is refused with a clear error.
//!
//! Version 2 added the tenants' settings (`oneid_tenants`, `oneid_settings`) and nothing
//! else, so a version-1 database is a version-2 one without those two tables.
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
    assert_eq!(version, 2);
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
            supported: 2,
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
            supported: 2,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(oneid::PostgresStore::connect_in_schema(&url, "bad; DROP").is_err());
}

/// A version-1 database, made by taking version 2's tables away from a new one.
const TO_V1: &str = "DROP TABLE oneid_tenants; DROP TABLE oneid_settings; DELETE FROM oneid_schema; \
                     INSERT INTO oneid_schema (version) VALUES (1)";

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
    conn.execute_batch(TO_V1).unwrap();
    upgraded_from_v1(Resolver::new(oneid::SqliteStore::open(&path).unwrap()), &t, id);
    let version: i64 = conn
        .query_row("SELECT MAX(version) FROM oneid_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
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
        .batch_execute(&format!("SET search_path TO oneid_from_v1; {TO_V1}"))
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
    assert_eq!(version, 2);
}
