//! What one query costs on the durable stores, on a tenant of 50,000 customers.
//!
//! ```text
//! cargo bench --features sqlite,postgres --bench queries
//! ```
//!
//! - `id_list_1000`: a page by an id list of `limits::MAX_ID_LIST` ids, spread over the tenant;
//! - `field_sort_at_bound`: a page sorted by `city` (no column, no index) of a filter matching
//!   `limits::MAX_FIELD_SORT_MATCHES` customers;
//! - `field_sort_refused`: the same sort over the whole tenant, refused after the count;
//! - `indexed_sort_first_page`, `indexed_sort_deep_page`: pages of 20 sorted by `lastUpdated`,
//!   the first and the deepest, `limits::MAX_QUERY_OFFSET` rows in (an `OFFSET` walks the
//!   index that far).
//!
//! PostgreSQL runs in `ONEID_PG_URL` (default `host=127.0.0.1 user=postgres dbname=test`),
//! schema `oneid_bench_queries`, dropped first.

// Without the store features there is nothing to measure; the helpers go unused.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(unused))]

use criterion::{Criterion, criterion_group, criterion_main};
use oneid::limits::{MAX_FIELD_SORT_MATCHES, MAX_ID_LIST, MAX_QUERY_OFFSET};
use oneid::{
    CustomerFilter, CustomerId, CustomerQuery, Field, ResolveRequest, Resolver, SortKey, Store, TenantId,
};
use serde_json::json;

const CUSTOMERS: u64 = 50_000;

/// Customers with a city each (in an order unlike the ids'); the first
/// `MAX_FIELD_SORT_MATCHES` have the source `"a"`, the others `"b"`.
fn populate<S: Store>(r: &Resolver<S>, t: &TenantId) {
    let requests: Vec<ResolveRequest> = (0..CUSTOMERS)
        .map(|i| {
            let source = if i < MAX_FIELD_SORT_MATCHES { "a" } else { "b" };
            let body = json!({
                "customer": {"city": format!("c{:05}", (i * 7919) % CUSTOMERS), "source": source},
                "customerIdentities": [{"identityType": "wechat", "identityValue": format!("o{i}")}],
            });
            ResolveRequest::from_json(&body).unwrap()
        })
        .collect();
    for chunk in requests.chunks(5000) {
        for outcome in r.resolve_batch(t, chunk).unwrap() {
            outcome.unwrap();
        }
    }
}

fn queries<S: Store>(c: &mut Criterion, name: &str, r: &Resolver<S>) {
    let t = TenantId::new("bench");
    populate(r, &t);
    let mut group = c.benchmark_group(name);
    group.sample_size(20);
    let step = CUSTOMERS / MAX_ID_LIST as u64;
    let by_ids = CustomerQuery {
        filter: CustomerFilter {
            ids: Some(
                (0..MAX_ID_LIST as u64)
                    .map(|n| CustomerId(1 + n * step))
                    .collect(),
            ),
            ..Default::default()
        },
        ..Default::default()
    };
    group.bench_function("id_list_1000", |b| {
        b.iter(|| assert_eq!(r.query(&t, &by_ids).unwrap().total, MAX_ID_LIST as u64))
    });
    let by_city = |source: Option<&str>| CustomerQuery {
        filter: CustomerFilter {
            source: source.map(str::to_string),
            ..Default::default()
        },
        sort: SortKey::Field(Field::City),
        ..Default::default()
    };
    let at_bound = by_city(Some("a"));
    group.bench_function("field_sort_at_bound", |b| {
        b.iter(|| assert_eq!(r.query(&t, &at_bound).unwrap().rows.len(), 20))
    });
    let refused = by_city(None);
    group.bench_function("field_sort_refused", |b| {
        b.iter(|| r.query(&t, &refused).unwrap_err())
    });
    let updated = |page| CustomerQuery {
        sort: SortKey::LastUpdated,
        page,
        ..Default::default()
    };
    let (first, deep) = (updated(1), updated((MAX_QUERY_OFFSET / 20) as u32 + 1));
    group.bench_function("indexed_sort_first_page", |b| {
        b.iter(|| assert_eq!(r.query(&t, &first).unwrap().rows.len(), 20))
    });
    group.bench_function("indexed_sort_deep_page", |b| {
        b.iter(|| assert_eq!(r.query(&t, &deep).unwrap().rows.len(), 20))
    });
    group.finish();
}

#[cfg(feature = "sqlite")]
fn sqlite(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("oneid-bench-queries-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let r = Resolver::new(oneid::SqliteStore::open(dir.join("queries.db")).unwrap());
    queries(c, "sqlite_queries", &r);
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(not(feature = "sqlite"))]
fn sqlite(_: &mut Criterion) {}

#[cfg(feature = "postgres")]
fn postgres(c: &mut Criterion) {
    let url =
        std::env::var("ONEID_PG_URL").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let mut admin = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    admin
        .batch_execute("DROP SCHEMA IF EXISTS oneid_bench_queries CASCADE")
        .unwrap();
    let r = Resolver::new(oneid::PostgresStore::connect_in_schema(&url, "oneid_bench_queries").unwrap());
    queries(c, "postgres_queries", &r);
}

#[cfg(not(feature = "postgres"))]
fn postgres(_: &mut Criterion) {}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);
