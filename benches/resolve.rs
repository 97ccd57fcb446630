//! Hot-path benchmarks of the in-memory store.
//!
//! ```text
//! cargo bench --bench resolve
//! ONEID_BENCH_QUICK=1 cargo bench --bench resolve   # 10k store only
//! ```
//!
//! Every group reports `Throughput::Elements` (resolves per second). Stores are prefilled
//! with `N` customers holding a mobile, an email and a WeChat openid each (3N identity keys),
//! then measured for: a resolve that hits an existing customer (1, 3 and 6 identities), one
//! that creates a customer (1, 3 and 6 identities), one that merges two customers, a find by
//! identity; and batches of 100k requests (people seen 2.5 times on average, and hits on
//! the largest store), each planned in order and with parallel planning, and reported in
//! place (`resolve_batch_with`).

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use oneid::{IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn mobile(i: u64) -> String {
    format!("1{:010}", 3_000_000_000 + i)
}

fn identities(i: u64, n: usize) -> Vec<IdentityInput> {
    let all = [
        IdentityInput::new("mobile", mobile(i)),
        IdentityInput::new("email", format!("user{i}@example.com")),
        IdentityInput::new("wechat", format!("o{i:027x}")),
        IdentityInput::new("member-id", format!("M{i:010}")),
        IdentityInput::new("taobao-account", format!("tb_{i}")),
        IdentityInput::new("qq", format!("{}", 10_000_000 + i)),
    ];
    all.into_iter().take(n).collect()
}

/// A resolver whose store holds `n` customers, each with all six identities of `identities`.
fn prefilled(n: u64) -> Resolver<MemoryStore> {
    // Room in the store's first (and only) tenant.
    let resolver = Resolver::new(MemoryStore::with_capacity(n as usize * 2, n as usize * 8));
    let t = TenantId::new("bench");
    let requests: Vec<_> = (0..n).map(|i| ResolveRequest::new(identities(i, 6))).collect();
    for chunk in requests.chunks(100_000) {
        for outcome in resolver.resolve_batch(&t, chunk).expect("prefill") {
            outcome.expect("valid request");
        }
    }
    resolver
}

fn sizes() -> Vec<u64> {
    if std::env::var_os("ONEID_BENCH_QUICK").is_some() {
        vec![10_000]
    } else {
        vec![10_000, 1_000_000]
    }
}

fn bench_resolve(c: &mut Criterion) {
    let t = TenantId::new("bench");
    for size in sizes() {
        let resolver = prefilled(size);
        let mut group = c.benchmark_group(format!("store_{size}"));
        group.throughput(Throughput::Elements(1));
        if size >= 1_000_000 {
            group.sample_size(30).measurement_time(Duration::from_secs(5));
        }

        for n in [1usize, 3, 6] {
            // Hit: an existing customer, a different one each time, spread over the whole
            // store so lookups are cold, as in a real stream. The request is built untimed
            // just before (hot, as one just parsed would be).
            let mut k = 0u64;
            group.bench_function(BenchmarkId::new("hit", n), |b| {
                b.iter_batched(
                    || {
                        k += 1;
                        ResolveRequest::new(identities((k * 2_654_435_761) % size, n))
                    },
                    // The request comes back out, so that (like its building) its drop is
                    // not timed: only the resolve is.
                    |request| (black_box(resolver.resolve(&t, &request).expect("hit")), request),
                    BatchSize::PerIteration,
                )
            });
        }

        let mut next = size;
        for n in [1usize, 3, 6] {
            group.bench_function(BenchmarkId::new("create", n), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let request = ResolveRequest::new(identities(next, n));
                        next += 1;
                        let start = Instant::now();
                        let outcome = resolver.resolve(&t, &request).expect("create");
                        total += start.elapsed();
                        // Dropped untimed, as the hits' outcomes are.
                        black_box(outcome);
                    }
                    total
                })
            });
        }

        group.bench_function("merge_two", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // Two customers, then a request that carries one identity of each.
                    let (x, y) = (next, next + 1);
                    next += 2;
                    resolver
                        .resolve(&t, &ResolveRequest::new(identities(x, 1)))
                        .expect("x");
                    let email_of_y = identities(y, 2).pop().expect("email");
                    resolver
                        .resolve(&t, &ResolveRequest::new([email_of_y.clone()]))
                        .expect("y");
                    let request = ResolveRequest::new([identities(x, 1).remove(0), email_of_y]);
                    let start = Instant::now();
                    let outcome = resolver.resolve(&t, &request).expect("merge");
                    total += start.elapsed();
                    assert_eq!(outcome.merged.len(), 1);
                }
                total
            })
        });

        let probes: Vec<_> = (0..1024u64)
            .map(|k| identities((k * 7919) % size, 1).remove(0))
            .collect();
        let mut k = 0;
        group.bench_function("find_by_identity", |b| {
            b.iter(|| {
                k = (k + 1) % probes.len();
                black_box(resolver.find_by_identity(&t, &probes[k]).expect("find"))
            })
        });
        group.finish();
    }
}

fn bench_batch(c: &mut Criterion) {
    let t = TenantId::new("bench");
    let mut group = c.benchmark_group("batch");
    const N: u64 = 100_000;
    group.throughput(Throughput::Elements(N)).sample_size(10);
    // Records of 40k people, 1–3 identities each, so batches create, hit and merge.
    let requests: Vec<_> = (0..N)
        .map(|i| {
            let person = (i * 2_654_435_761) % 40_000;
            let mut ids = identities(person, 3);
            ids.rotate_left((i % 3) as usize);
            ids.truncate(1 + (i % 3) as usize);
            ResolveRequest::new(ids)
        })
        .collect();
    // The way to resolve many requests: outcomes read in place, none built.
    group.bench_function("resolve_batch_with_100k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let resolver = Resolver::new(MemoryStore::new());
                let start = Instant::now();
                let mut created = 0usize;
                resolver
                    .resolve_batch_with(&t, &requests, |_, outcome| {
                        created += usize::from(outcome.expect("valid").created());
                    })
                    .expect("batch");
                total += start.elapsed();
                black_box(created);
            }
            total
        })
    });
    for parallel in [false, true] {
        let name = if parallel {
            "resolve_batch_100k_parallel_planning"
        } else {
            "resolve_batch_100k"
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let resolver = Resolver::new(MemoryStore::new()).with_parallel_planning(parallel);
                    let start = Instant::now();
                    black_box(resolver.resolve_batch(&t, &requests).expect("batch"));
                    total += start.elapsed();
                }
                total
            })
        });
    }

    // 100k independent hits on a large store: what parallel planning is for.
    let size = *sizes().last().expect("a size");
    let mut resolver = prefilled(size);
    let hits: Vec<_> = (0..N)
        .map(|k| ResolveRequest::new(identities((k * 2_654_435_761) % size, 3)))
        .collect();
    group.bench_function(format!("hits_100k_on_{size}_with"), |b| {
        b.iter(|| {
            let mut found = 0u64;
            resolver
                .resolve_batch_with(&t, &hits, |_, outcome| {
                    found += outcome.expect("hit").customer().map_or(0, |c| c.0)
                })
                .expect("hits");
            black_box(found)
        })
    });
    for parallel in [false, true] {
        resolver = resolver.with_parallel_planning(parallel);
        let name = format!(
            "hits_100k_on_{size}{}",
            if parallel { "_parallel_planning" } else { "" }
        );
        group.bench_function(name, |b| {
            b.iter(|| black_box(resolver.resolve_batch(&t, &hits).expect("hits")))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_resolve, bench_batch);
criterion_main!(benches);
