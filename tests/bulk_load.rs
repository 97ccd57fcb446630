//! Bulk loads (`Resolver::bulk_load`) on each durable store: the rows a load leaves are the
//! rows resolving the same requests one by one into the same store leaves, every table and
//! column of them; ordinary resolves after a load give what they give after one-by-one
//! resolution; a tenant that holds customers is refused.
//!
//! SQLite gets fresh files; PostgreSQL fresh schemas in the database `ONEID_PG_URL` names.

#![cfg(any(feature = "sqlite", feature = "postgres"))]

use oneid::{
    BulkStore, CustomerPatch, Error, IdentityInput, IdentitySettings, ManualClock, ResolveRequest, Resolver,
    Store, TenantId,
};

fn t() -> TenantId {
    TenantId::new("t")
}

fn clock() -> ManualClock {
    ManualClock::ticking(
        "2024-01-01T00:00:00Z".parse().unwrap(),
        chrono::Duration::seconds(7),
    )
}

fn mobile(p: usize) -> IdentityInput {
    IdentityInput::new("mobile", format!("139{:08}", p))
}

fn member(p: usize) -> IdentityInput {
    IdentityInput::new("member-id", format!("m{p}"))
}

/// `n` requests over `people` people, from `seed`: repeat visits, new identities, merges
/// (a person's mobile with the next person's email), limit conflicts and quarantine (a
/// person's mobile with other people's idcards, `idcard` being limited to one), fields,
/// attributes, tags and groups, causes.
fn workload(n: usize, people: usize, seed: usize) -> Vec<ResolveRequest> {
    (0..n)
        .map(|i| {
            let r = (i * 7919 + seed * 104_729) % 1_000_003;
            let p = r % people;
            let mut ids = vec![mobile(p)];
            match r % 9 {
                0 => ids.push(IdentityInput::new(
                    "email",
                    format!("p{}@example.com", (p + 1) % people),
                )),
                1 | 2 => ids.push(IdentityInput::new("email", format!("p{p}@example.com"))),
                3 => ids.push(IdentityInput::new("idcard", format!("ID{p:06}"))),
                4 => ids.push(IdentityInput::new("idcard", format!("ID{:06}", r % 97))),
                5 => ids.push(IdentityInput::new("wechat", format!("wx{p}-{}", r % 3))),
                _ => {}
            }
            let mut patch = CustomerPatch::default();
            patch.tags.push(format!("tag{}", r % 4));
            if r.is_multiple_of(3) {
                patch.groups.push((r % 5) as i64);
            }
            let patch_json =
                serde_json::json!({"name": format!("Person {p}"), "city": format!("c{}", r % 6)});
            let fields = CustomerPatch::from_json(&patch_json).unwrap();
            patch.fields = fields.fields;
            patch.attrs = fields.attrs;
            ResolveRequest::new(ids)
                .with_patch(patch)
                .with_cause(format!("rec-{seed}-{i}"))
        })
        .collect()
}

/// Resolves `requests` into the tenant with a bulk load, in batches of `chunk`.
fn bulk<S: BulkStore>(resolver: &Resolver<S, ManualClock>, requests: &[ResolveRequest], chunk: usize) {
    let load = resolver.bulk_load(&t()).unwrap();
    for part in requests.chunks(chunk) {
        load.resolve_batch_with(part, |_, outcome| {
            outcome.unwrap();
        })
        .unwrap();
    }
    load.finish().unwrap();
}

/// Resolves `requests` one by one, returning each outcome.
fn one_by_one<S: Store>(
    resolver: &Resolver<S, ManualClock>,
    requests: &[ResolveRequest],
) -> Vec<oneid::Outcome> {
    requests
        .iter()
        .map(|r| resolver.resolve(&t(), r).unwrap())
        .collect()
}

/// Every table the stores keep.
const TABLES: &[&str] = &[
    "oneid_customers",
    "oneid_identities",
    "oneid_counts",
    "oneid_tags",
    "oneid_groups",
    "oneid_history",
    "oneid_suspicions",
    "oneid_tenants",
    "oneid_settings",
];

/// What the public API reads back of every customer id: the same on both.
fn same_by_api<A: Store, B: Store>(a: &Resolver<A, ManualClock>, b: &Resolver<B, ManualClock>, ids: u64) {
    for id in 1..=ids {
        let id = oneid::CustomerId(id);
        assert_eq!(
            a.canonical_id(&t(), id).unwrap(),
            b.canonical_id(&t(), id).unwrap(),
            "{id}"
        );
        assert_eq!(a.get(&t(), id).unwrap(), b.get(&t(), id).unwrap(), "{id}");
        assert_eq!(
            a.identities(&t(), id).unwrap(),
            b.identities(&t(), id).unwrap(),
            "{id}"
        );
        let (ha, hb) = (a.history(&t(), id).unwrap(), b.history(&t(), id).unwrap());
        assert_eq!(ha.len(), hb.len(), "{id}");
        assert_eq!(ha, hb, "{id}");
    }
}

/// A load that never finishes leaves the handle's view of the tenant's settings as the
/// database has it: the defaults its memory phase stored as version 1 are not taken for the
/// version 1 another handle (`other`, given its defaults) stores afterwards.
fn abandoned_load<S: BulkStore, T: Store>(
    resolver: &Resolver<S, ManualClock>,
    other: impl FnOnce(IdentitySettings) -> Resolver<T>,
) {
    let load = resolver.bulk_load(&t()).unwrap();
    load.resolve(&ResolveRequest::new([mobile(1)])).unwrap();
    drop(load);
    // Another handle, whose defaults allow one mobile, writes first and stores them.
    let other = other(IdentitySettings::default().with_limit("mobile", Some(1)).unwrap());
    let first = other
        .resolve(&t(), &ResolveRequest::new([mobile(1), member(1)]))
        .unwrap();
    // This handle resolves under the stored version: a second mobile is refused.
    let out = resolver
        .resolve(&t(), &ResolveRequest::new([member(1), mobile(2)]))
        .unwrap();
    let mobiles = resolver
        .identities(&t(), first.customer.unwrap())
        .unwrap()
        .into_iter()
        .filter(|i| i.identity_type.as_str() == "mobile")
        .count();
    assert_eq!(mobiles, 1, "{out:?}");
}

#[cfg(feature = "sqlite")]
mod lite {
    use super::*;
    use oneid::SqliteStore;

    fn store(case: &str) -> (Resolver<SqliteStore, ManualClock>, std::path::PathBuf) {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bulk_load");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{case}.db"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        (
            Resolver::new(SqliteStore::open(&path).unwrap()).with_clock(clock()),
            path,
        )
    }

    /// Every row of every table, as text, sorted.
    fn rows(path: &std::path::Path) -> Vec<(String, Vec<String>)> {
        let conn = rusqlite::Connection::open(path).unwrap();
        TABLES
            .iter()
            .map(|table| {
                let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
                let width = stmt.column_count();
                let mut all: Vec<String> = stmt
                    .query_map([], |r| {
                        (0..width)
                            .map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
                            .collect::<rusqlite::Result<Vec<_>>>()
                            .map(|v| v.join("|"))
                    })
                    .unwrap()
                    .collect::<rusqlite::Result<_>>()
                    .unwrap();
                all.sort();
                (table.to_string(), all)
            })
            .collect()
    }

    fn assert_same_rows(a: &std::path::Path, b: &std::path::Path) {
        for ((table, ra), (_, rb)) in rows(a).into_iter().zip(rows(b)) {
            assert_eq!(ra.len(), rb.len(), "{table}");
            assert_eq!(ra, rb, "{table}");
        }
    }

    /// Every table and index, as `sqlite_master` names and defines them.
    fn schema(path: &std::path::Path) -> Vec<(String, String, String, Option<String>)> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_load_leaves_the_schema_of_a_new_store_with_or_without_other_tenants() {
        let (_, migrated) = store("migrated");
        let (fresh, fresh_path) = store("fresh_schema");
        bulk(&fresh, &workload(300, 60, 6), 100);
        let (shared, shared_path) = store("shared_schema");
        shared
            .resolve(&TenantId::new("other"), &ResolveRequest::new([mobile(1)]))
            .unwrap();
        bulk(&shared, &workload(300, 60, 7), 100);
        drop((fresh, shared));
        assert_eq!(schema(&fresh_path), schema(&migrated));
        assert_eq!(schema(&shared_path), schema(&migrated));
    }

    #[test]
    fn a_bulk_load_leaves_the_rows_of_one_by_one_resolves() {
        let requests = workload(1500, 300, 1);
        let (loaded, loaded_path) = store("loaded");
        let (stepped, stepped_path) = store("stepped");
        bulk(&loaded, &requests, 200);
        let outcomes = one_by_one(&stepped, &requests);
        assert!(
            outcomes.iter().any(|o| !o.merged.is_empty()),
            "the workload merges"
        );
        assert!(
            outcomes.iter().any(|o| !o.rejected.is_empty()),
            "the workload meets limits"
        );
        drop((loaded, stepped));
        assert_same_rows(&loaded_path, &stepped_path);
    }

    #[test]
    fn resolves_after_a_bulk_load_go_as_after_one_by_one() {
        let (first, then) = (workload(1200, 250, 2), workload(600, 300, 3));
        let (loaded, loaded_path) = store("loaded_then");
        let (stepped, stepped_path) = store("stepped_then");
        bulk(&loaded, &first, 1200);
        one_by_one(&stepped, &first);
        let (a, b) = (one_by_one(&loaded, &then), one_by_one(&stepped, &then));
        assert_eq!(a, b);
        same_by_api(&loaded, &stepped, 700);
        drop((loaded, stepped));
        assert_same_rows(&loaded_path, &stepped_path);
    }

    #[test]
    fn a_tenant_with_customers_is_refused_and_others_load_past_its_ids() {
        let (resolver, _) = store("refused");
        let other = TenantId::new("other");
        resolver
            .resolve(&other, &ResolveRequest::new([mobile(1)]))
            .unwrap();
        assert!(matches!(resolver.bulk_load(&other), Err(Error::TenantNotEmpty(t)) if t == other));
        let requests = workload(50, 20, 4);
        bulk(&resolver, &requests, 50);
        let first = resolver
            .find_by_identity(&t(), &requests[0].identities[0])
            .unwrap();
        assert!(
            first.is_some_and(|c| c.id.0 > 1024),
            "ids past the other tenant's block"
        );
        assert!(matches!(resolver.bulk_load(&t()), Err(Error::TenantNotEmpty(_))));
    }

    #[test]
    fn customers_created_while_a_load_runs_make_it_write_nothing() {
        let (resolver, _) = store("raced");
        let load = resolver.bulk_load(&t()).unwrap();
        load.resolve(&ResolveRequest::new([mobile(1)])).unwrap();
        resolver
            .resolve(&TenantId::new("other"), &ResolveRequest::new([mobile(2)]))
            .unwrap();
        assert!(matches!(load.finish(), Err(Error::Contention { .. })));
        assert!(resolver.find_by_identity(&t(), &mobile(1)).unwrap().is_none());
        // Nothing was written: the tenant can be loaded again.
        bulk(&resolver, &workload(10, 5, 5), 10);
    }

    #[test]
    fn an_abandoned_load_leaves_the_handles_settings_to_the_database() {
        let (resolver, path) = store("abandoned");
        abandoned_load(&resolver, |strict| {
            Resolver::new(SqliteStore::open(&path).unwrap()).with_default_settings(strict)
        });
    }
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use oneid::PostgresStore;

    fn url() -> String {
        std::env::var("ONEID_PG_URL")
            .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_string())
    }

    fn store(schema: &str) -> Resolver<PostgresStore, ManualClock> {
        let mut admin = postgres::Client::connect(&url(), postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .unwrap();
        Resolver::new(PostgresStore::connect_in_schema(&url(), schema).unwrap()).with_clock(clock())
    }

    #[test]
    fn an_abandoned_load_leaves_the_handles_settings_to_the_database() {
        let resolver = store("oneid_bulk_abandoned");
        abandoned_load(&resolver, |strict| {
            Resolver::new(PostgresStore::connect_in_schema(&url(), "oneid_bulk_abandoned").unwrap())
                .with_default_settings(strict)
        });
    }

    /// Every row of every table of a schema, as text, sorted.
    fn rows(schema: &str) -> Vec<(String, Vec<String>)> {
        let mut admin = postgres::Client::connect(&url(), postgres::NoTls).unwrap();
        TABLES
            .iter()
            .map(|table| {
                let mut all: Vec<String> = admin
                    .query(&format!("SELECT r::text FROM {schema}.{table} r"), &[])
                    .unwrap()
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                all.sort();
                (table.to_string(), all)
            })
            .collect()
    }

    fn assert_same_rows(a: &str, b: &str) {
        for ((table, ra), (_, rb)) in rows(a).into_iter().zip(rows(b)) {
            assert_eq!(ra.len(), rb.len(), "{table}");
            assert_eq!(ra, rb, "{table}");
        }
    }

    /// Every index, constraint and column of a schema's tables, as the catalogs define them.
    fn schema(schema: &str) -> Vec<String> {
        let mut admin = postgres::Client::connect(&url(), postgres::NoTls).unwrap();
        let mut all: Vec<String> = Vec::new();
        for (what, sql) in [
            (
                "index",
                "SELECT tablename::text || ' ' || indexname::text || ' ' || replace(indexdef, $1 || '.', '') \
                 FROM pg_indexes WHERE schemaname = $1::text",
            ),
            (
                "constraint",
                "SELECT conrelid::regclass::text || ' ' || conname::text || ' ' || pg_get_constraintdef(oid) \
                 FROM pg_constraint WHERE connamespace = $1::text::regnamespace",
            ),
            (
                "column",
                "SELECT table_name::text || ' ' || column_name::text || ' ' || data_type::text || ' ' || is_nullable::text \
                 || ' ' || is_identity::text || ' ' || COALESCE(column_default, '') FROM information_schema.columns WHERE table_schema = $1::text",
            ),
        ] {
            for row in admin.query(sql, &[&schema]).unwrap() {
                let line: String = row.get(0);
                all.push(format!("{what} {}", line.replace(&format!("{schema}."), "")));
            }
        }
        all.sort();
        all
    }

    #[test]
    fn a_load_leaves_the_schema_of_a_new_store_with_or_without_other_tenants() {
        let _migrated = store("bulk_migrated");
        let fresh = store("bulk_fresh_schema");
        bulk(&fresh, &workload(300, 60, 6), 100);
        let shared = store("bulk_shared_schema");
        shared
            .resolve(&TenantId::new("other"), &ResolveRequest::new([mobile(1)]))
            .unwrap();
        bulk(&shared, &workload(300, 60, 7), 100);
        let expected = schema("bulk_migrated");
        assert!(
            expected
                .iter()
                .any(|l| l.contains("UNIQUE (tenant, itype, scope, value)"))
        );
        assert_eq!(schema("bulk_fresh_schema"), expected);
        assert_eq!(schema("bulk_shared_schema"), expected);
    }

    #[test]
    fn a_bulk_load_leaves_the_rows_of_one_by_one_resolves() {
        let requests = workload(1500, 300, 1);
        let loaded = store("bulk_loaded");
        let stepped = store("bulk_stepped");
        bulk(&loaded, &requests, 200);
        let outcomes = one_by_one(&stepped, &requests);
        assert!(
            outcomes.iter().any(|o| !o.merged.is_empty()),
            "the workload merges"
        );
        assert!(
            outcomes.iter().any(|o| !o.rejected.is_empty()),
            "the workload meets limits"
        );
        assert_same_rows("bulk_loaded", "bulk_stepped");
    }

    #[test]
    fn resolves_after_a_bulk_load_go_as_after_one_by_one() {
        let (first, then) = (workload(1200, 250, 2), workload(600, 300, 3));
        let loaded = store("bulk_loaded_then");
        let stepped = store("bulk_stepped_then");
        bulk(&loaded, &first, 1200);
        one_by_one(&stepped, &first);
        let (a, b) = (one_by_one(&loaded, &then), one_by_one(&stepped, &then));
        assert_eq!(a, b);
        same_by_api(&loaded, &stepped, 700);
        assert_same_rows("bulk_loaded_then", "bulk_stepped_then");
    }

    #[test]
    fn a_tenant_with_customers_is_refused() {
        let resolver = store("bulk_refused");
        resolver.resolve(&t(), &ResolveRequest::new([mobile(1)])).unwrap();
        assert!(matches!(resolver.bulk_load(&t()), Err(Error::TenantNotEmpty(_))));
        // Another tenant loads, numbered past the first tenant's ids.
        let other = TenantId::new("other");
        let load = resolver.bulk_load(&other).unwrap();
        let id = load
            .resolve(&ResolveRequest::new([mobile(2)]))
            .unwrap()
            .customer
            .unwrap();
        load.finish().unwrap();
        assert_eq!(id.0, 1025);
        assert_eq!(
            resolver
                .find_by_identity(&other, &mobile(2))
                .unwrap()
                .map(|c| c.id),
            Some(id)
        );
        // Ordinary creates go on past the load's ids.
        let next = resolver
            .resolve(&t(), &ResolveRequest::new([mobile(3)]))
            .unwrap()
            .customer
            .unwrap();
        assert!(next.0 > id.0);
    }
}
