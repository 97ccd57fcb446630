//! What one resolve costs against how much the customers it touches hold, on every store.
//!
//! ```text
//! cargo bench --features sqlite,postgres --bench flat_cost
//! ```
//!
//! - `resolve_link/N`: a resolve naming one identity of a customer holding `N` identities and
//!   one new identity, which it links (quarantine evidence is checked against the customer's
//!   count of that type). The identity is removed again outside the timed part, so the
//!   customer stays at its size.
//! - `resolve_repeat/N`: a repeat visit to that customer (two identities it holds).
//! - `merge_into/M`: a resolve that merges a new customer into one that `M` earlier merges
//!   made (the new customer is created outside the timed part).
//! - `merge_absorbed/M`: the same customer merged into the new one instead.
//!
//! The tenant's settings turn quarantine off (a customer that thousands of `qq` came to one
//! at a time would be quarantined, as it should) and limit `qq` to 1,000,000 a customer, so
//! that every resolve that links or merges reads the customer's count of `qq`.
//!
//! Each on the memory store, SQLite (a temporary file) and PostgreSQL (`ONEID_PG_URL`,
//! default `host=127.0.0.1 user=postgres dbname=test`, a fresh schema per case). The
//! customers are built with `resolve_batch`. The small cases are rebuilt once they have
//! grown to twice their size; the large ones grow by the iterations run (a few percent on
//! the SQL stores).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use oneid::{CustomerId, IdentityInput, ResolveRequest, Resolver, Store, TenantId};
use std::time::{Duration, Instant};

const SIZES: [u64; 2] = [10, 100_000];
const MERGES: [u64; 2] = [10, 10_000];
/// Timed resolves between two untimed clean-ups.
const CHUNK: u64 = 8;

fn qq(kind: &str, n: u64) -> IdentityInput {
    IdentityInput::new("qq", format!("{kind}{n}"))
}

fn request(ids: impl IntoIterator<Item = IdentityInput>) -> ResolveRequest {
    ResolveRequest::new(ids)
}

/// A customer holding `held` identities (`hub` names it): built in batches.
fn hub<S: Store>(r: &Resolver<S>, t: &TenantId, hub: &str, held: u64) -> CustomerId {
    let first = r.resolve(t, &request([qq(hub, 0)])).unwrap().customer.unwrap();
    for from in (1..held).step_by(10_000) {
        let batch: Vec<ResolveRequest> = (from..held.min(from + 10_000))
            .map(|k| request([qq(hub, 0), qq(hub, k)]))
            .collect();
        r.resolve_batch(t, &batch).unwrap();
    }
    first
}

/// A customer that `merges` earlier merges made (`hub` names it).
fn merged_hub<S: Store>(r: &Resolver<S>, t: &TenantId, hub: &str, merges: u64) {
    r.resolve(t, &request([qq(hub, 0)])).unwrap();
    for from in (1..=merges).step_by(5_000) {
        let to = (merges + 1).min(from + 5_000);
        let created: Vec<ResolveRequest> = (from..to).map(|k| request([qq(hub, k)])).collect();
        r.resolve_batch(t, &created).unwrap();
        let merging: Vec<ResolveRequest> = (from..to).map(|k| request([qq(hub, 0), qq(hub, k)])).collect();
        r.resolve_batch(t, &merging).unwrap();
    }
}

fn bench_store<S: Store>(c: &mut Criterion, name: &str, make: &dyn Fn(&str) -> S) {
    let t = TenantId::new("bench");
    let mut group = c.benchmark_group(format!("flat_cost/{name}"));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let settings = oneid::IdentitySettings::default()
        .with_quarantine(None)
        .unwrap()
        .with_limit("qq", Some(1_000_000))
        .unwrap();
    let open = |case: &str| {
        let r = Resolver::new(make(case));
        r.set_settings(&t, &settings, None).unwrap();
        r
    };
    for held in SIZES {
        let r = open(&format!("hub_{held}"));
        let customer = hub(&r, &t, "h", held);
        let mut next = 0;
        group.bench_function(BenchmarkId::new("resolve_link", held), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let n = CHUNK.min(iters - done);
                    let start = Instant::now();
                    for k in next..next + n {
                        r.resolve(&t, &request([qq("h", 0), qq("new", k)])).unwrap();
                    }
                    total += start.elapsed();
                    for k in next..next + n {
                        assert!(r.remove_identity(&t, customer, &qq("new", k)).unwrap());
                    }
                    next += n;
                    done += n;
                }
                total
            })
        });
        let repeat = request([qq("h", 0), qq("h", held - 1)]);
        group.bench_function(BenchmarkId::new("resolve_repeat", held), |b| {
            b.iter(|| r.resolve(&t, &repeat).unwrap())
        });
    }
    for merges in MERGES {
        for absorbed in [false, true] {
            let case = if absorbed { "merge_absorbed" } else { "merge_into" };
            let r = open(&format!("{case}_{merges}"));
            let (mut hub, mut made, mut next) = (0, merges, 0);
            merged_hub(&r, &t, &format!("m{hub}_"), merges);
            group.bench_function(BenchmarkId::new(case, merges), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        if merges == MERGES[0] && made >= 2 * merges {
                            hub += 1;
                            made = merges;
                            merged_hub(&r, &t, &format!("m{hub}_"), merges);
                        }
                        next += 1;
                        r.resolve(&t, &request([qq("v", next)])).unwrap();
                        let (a, b) = (qq(&format!("m{hub}_"), 0), qq("v", next));
                        let both = if absorbed {
                            request([b, a])
                        } else {
                            request([a, b])
                        };
                        let start = Instant::now();
                        let out = r.resolve(&t, &both).unwrap();
                        total += start.elapsed();
                        assert_eq!(out.merged.len(), 1);
                        made += 1;
                    }
                    total
                })
            });
        }
    }
    group.finish();
}

fn stores(c: &mut Criterion) {
    bench_store(c, "memory", &|_| oneid::MemoryStore::new());
    #[cfg(feature = "sqlite")]
    {
        let dir = std::env::temp_dir().join(format!("oneid-flat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        bench_store(c, "sqlite", &|case| {
            oneid::SqliteStore::open(dir.join(format!("{case}.db"))).unwrap()
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
    #[cfg(feature = "postgres")]
    {
        let url = std::env::var("ONEID_PG_URL")
            .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
        bench_store(c, "postgres", &|case| {
            let schema = format!("oneid_flat_{case}");
            let mut admin = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
            admin
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .unwrap();
            oneid::PostgresStore::connect_in_schema(&url, &schema).unwrap()
        });
    }
}

criterion_group!(benches, stores);
criterion_main!(benches);
