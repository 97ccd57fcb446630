//! Throughput of the durable stores (resolves per second).
//!
//! ```text
//! cargo bench --features sqlite,postgres --bench stores
//! ```
//!
//! - SQLite, one writer, batches of 10,000 resolves per commit (`resolve_batch`), and one
//!   commit per resolve;
//! - PostgreSQL (`ONEID_PG_URL`, default `host=127.0.0.1 user=postgres dbname=test`): one
//!   writer; 8 concurrent writers with one commit per resolve, on a collision-heavy workload
//!   (every person's two requests reach two writers at the same moment) and on a realistic
//!   one (each writer its own people, 5% of requests naming a person another writer names
//!   at the same time); and the realistic one with 50 resolves per commit (`resolve_batch`).
//!
//! Requests are records of people seen twice with 1–3 identities, so runs create, hit and
//! merge.

// Without the store features there is nothing to measure; the helpers go unused.
#![cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(unused))]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oneid::{IdentityInput, ResolveRequest, Resolver, TenantId};
use std::time::{Duration, Instant};

fn requests(from: u64, n: u64) -> Vec<ResolveRequest> {
    (from..from + n).map(|i| request(i, i / 2)).collect()
}

/// Request `i` of a person: 1–3 of their identities, a different selection each time.
fn request(i: u64, person: u64) -> ResolveRequest {
    let all = [
        IdentityInput::new("mobile", format!("1{:010}", 3_000_000_000 + person)),
        IdentityInput::new("email", format!("p{person}@example.com")),
        IdentityInput::new("wechat", format!("o{person:027x}")),
    ];
    ResolveRequest::new(all.into_iter().skip((i % 2) as usize).take(1 + (i % 3) as usize))
}

#[cfg(feature = "sqlite")]
fn sqlite(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("oneid-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let t = TenantId::new("bench");
    let mut group = c.benchmark_group("sqlite");
    group.sample_size(10);
    const BATCH: u64 = 10_000;
    group.throughput(Throughput::Elements(BATCH));
    let resolver = Resolver::new(oneid::SqliteStore::open(dir.join("batched.db")).unwrap());
    let mut next = 0;
    group.bench_function("batched_10k_per_commit", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let batch = requests(next, BATCH);
                next += BATCH;
                let start = Instant::now();
                resolver.resolve_batch(&t, &batch).unwrap();
                total += start.elapsed();
            }
            total
        })
    });
    const SINGLES: u64 = 500;
    group.throughput(Throughput::Elements(SINGLES));
    let resolver = Resolver::new(oneid::SqliteStore::open(dir.join("single.db")).unwrap());
    group.bench_function("commit_per_resolve", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let batch = requests(next, SINGLES);
                next += SINGLES;
                let start = Instant::now();
                for r in &batch {
                    resolver.resolve(&t, r).unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(not(feature = "sqlite"))]
fn sqlite(_: &mut Criterion) {}

/// Writer `w`'s requests `j` (`from`-based): its own people, each seen twice in a row, with
/// every twentieth request naming a person one other writer also names at about the same
/// time (writers `2k` and `2k+1` share them).
fn mostly_distinct(from: u64, writers: u64, per_writer: u64, w: u64) -> Vec<ResolveRequest> {
    (0..per_writer)
        .map(|j| {
            let i = from + w * per_writer + j;
            let person = if j % 20 == 10 {
                // Far above the own people of any run.
                1_000_000_000 + from / 20 * writers + j / 20 * writers + w / 2
            } else {
                (from + w * per_writer + j) / 2
            };
            request(i, person)
        })
        .collect()
}

#[cfg(feature = "postgres")]
fn postgres(c: &mut Criterion) {
    let url =
        std::env::var("ONEID_PG_URL").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let mut admin = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    admin
        .batch_execute("DROP SCHEMA IF EXISTS oneid_bench CASCADE")
        .unwrap();
    drop(oneid::PostgresStore::connect_in_schema(&url, "oneid_bench").unwrap());
    const WRITERS: u64 = 8;
    const PER_WRITER: u64 = 250;
    let mut group = c.benchmark_group("postgres");
    group.sample_size(10);
    let mut resolvers: Vec<_> = (0..WRITERS)
        .map(|_| Resolver::new(oneid::PostgresStore::connect_in_schema(&url, "oneid_bench").unwrap()))
        .collect();
    let t = TenantId::new("bench");
    let mut next = 0;

    group.throughput(Throughput::Elements(PER_WRITER));
    group.bench_function("1_writer_commit_per_resolve", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let all = requests(next, PER_WRITER);
                next += PER_WRITER;
                let start = Instant::now();
                for r in &all {
                    resolvers[0].resolve(&t, r).unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });

    group.throughput(Throughput::Elements(WRITERS * PER_WRITER));
    // Collision-heavy: every person's two requests go to two writers at the same moment.
    group.bench_function("8_writers_commit_per_resolve_collisions", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let all = requests(next, WRITERS * PER_WRITER);
                next += WRITERS * PER_WRITER;
                let start = Instant::now();
                std::thread::scope(|s| {
                    for (w, resolver) in resolvers.iter_mut().enumerate() {
                        let (all, t) = (&all, &t);
                        s.spawn(move || {
                            // Interleaved shares: neighbours' requests share people.
                            for r in all.iter().skip(w).step_by(WRITERS as usize) {
                                resolver.resolve(t, r).unwrap();
                            }
                        });
                    }
                });
                total += start.elapsed();
            }
            total
        })
    });

    // Realistic: 8 service instances on mostly distinct people, 5% of requests shared.
    for batch in [1, 50] {
        let name = if batch == 1 {
            "8_writers_commit_per_resolve_mostly_distinct".to_string()
        } else {
            format!("8_writers_{batch}_per_commit_mostly_distinct")
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let streams: Vec<_> = (0..WRITERS)
                        .map(|w| mostly_distinct(next, WRITERS, PER_WRITER, w))
                        .collect();
                    next += WRITERS * PER_WRITER;
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for (resolver, stream) in resolvers.iter_mut().zip(&streams) {
                            let t = &t;
                            s.spawn(move || {
                                if batch == 1 {
                                    for r in stream {
                                        resolver.resolve(t, r).unwrap();
                                    }
                                } else {
                                    for chunk in stream.chunks(batch) {
                                        for outcome in resolver.resolve_batch(t, chunk).unwrap() {
                                            outcome.unwrap();
                                        }
                                    }
                                }
                            });
                        }
                    });
                    total += start.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

#[cfg(not(feature = "postgres"))]
fn postgres(_: &mut Criterion) {}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);
