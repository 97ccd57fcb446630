//! Schema versions: a fresh database gets the current schema, reopening keeps the data, and
//! a database from a newer version of the crate is refused with a clear error.
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
    let mut r = Resolver::new(oneid::SqliteStore::open(&path).unwrap());
    let id = r
        .resolve(&t, &ResolveRequest::new([IdentityInput::new("qq", "1")]))
        .unwrap()
        .customer;
    drop(r);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("SELECT MAX(version) FROM oneid_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
    // Reopening an up-to-date database keeps everything.
    let mut r = Resolver::new(oneid::SqliteStore::open(&path).unwrap());
    assert_eq!(r.owner_of(&t, &IdentityInput::new("qq", "1")).unwrap(), id);
    drop(r);
    // A newer schema is refused, and the database is left as it was.
    conn.execute("INSERT INTO oneid_schema (version) VALUES (99)", [])
        .unwrap();
    match oneid::SqliteStore::open(&path) {
        Err(Error::SchemaTooNew {
            found: 99,
            supported: 1,
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
    let mut r = Resolver::new(oneid::PostgresStore::connect_in_schema(&url, "oneid_migrations").unwrap());
    let id = r
        .resolve(&t, &ResolveRequest::new([IdentityInput::new("qq", "1")]))
        .unwrap()
        .customer;
    drop(r);
    let mut r = Resolver::new(oneid::PostgresStore::connect_in_schema(&url, "oneid_migrations").unwrap());
    assert_eq!(r.owner_of(&t, &IdentityInput::new("qq", "1")).unwrap(), id);
    drop(r);
    admin
        .batch_execute("INSERT INTO oneid_migrations.oneid_schema (version) VALUES (99)")
        .unwrap();
    match oneid::PostgresStore::connect_in_schema(&url, "oneid_migrations") {
        Err(Error::SchemaTooNew {
            found: 99,
            supported: 1,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(oneid::PostgresStore::connect_in_schema(&url, "bad; DROP").is_err());
}
