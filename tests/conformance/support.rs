//! Store factories and the macro that runs each conformance case on every store.
//!
//! Every store starts empty and numbers customers from 1, so cases can compare ids exactly:
//! SQLite gets a fresh file per case, PostgreSQL a fresh schema per case (named after it)
//! in the database `ONEID_PG_URL` names (default `host=127.0.0.1 user=postgres dbname=test`).

#![allow(dead_code)]

use oneid::{ManualClock, MemoryStore, Resolver, TenantId};

pub fn t() -> TenantId {
    TenantId::new("t")
}

pub fn clock() -> ManualClock {
    ManualClock::ticking(
        "2024-01-01T00:00:00Z".parse().unwrap(),
        chrono::Duration::hours(1),
    )
}

pub fn memory(_case: &str) -> Resolver<MemoryStore, ManualClock> {
    Resolver::new(MemoryStore::new()).with_clock(clock())
}

#[cfg(feature = "sqlite")]
pub fn sqlite(case: &str) -> Resolver<oneid::SqliteStore, ManualClock> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{case}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Resolver::new(oneid::SqliteStore::open(&path).unwrap()).with_clock(clock())
}

#[cfg(feature = "postgres")]
pub fn pg_url() -> String {
    std::env::var("ONEID_PG_URL").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_string())
}

/// A fresh schema for a case: dropped and created again, so reruns start empty.
#[cfg(feature = "postgres")]
pub fn postgres_store(case: &str) -> oneid::PostgresStore {
    let schema = format!("oneid_{}", case.to_ascii_lowercase());
    let mut admin = postgres::Client::connect(&pg_url(), postgres::NoTls).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL at {:?} is needed for the postgres feature's tests: {e}",
            pg_url()
        )
    });
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
    oneid::PostgresStore::connect_in_schema(&pg_url(), &schema).unwrap()
}

#[cfg(feature = "postgres")]
pub fn postgres(case: &str) -> Resolver<oneid::PostgresStore, ManualClock> {
    Resolver::new(postgres_store(case)).with_clock(clock())
}

/// Runs each named generic case `fn case<S: Store>(Resolver<S, ManualClock>)` as a test on
/// the memory store, and on SQLite and PostgreSQL when their features are on.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $( #[test] fn $case() { super::$case(crate::support::memory(stringify!($case))) } )*
        }
        #[cfg(feature = "sqlite")]
        mod sqlite {
            $( #[test] fn $case() { super::$case(crate::support::sqlite(concat!(module_path!(), "_", stringify!($case)).replace("::", "_").as_str())) } )*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $( #[test] fn $case() { super::$case(crate::support::postgres(concat!(module_path!(), "_", stringify!($case)).replace("::", "_").as_str())) } )*
        }
    };
}
pub(crate) use conformance;
