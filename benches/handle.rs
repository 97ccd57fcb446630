//! The shared handle on the memory store: reads through one `Resolver` from one thread and
//! from two at once (the machine's two cores), and the same for resolves that hit, in two
//! tenants (writers of different tenants run side by side) and in one (serialized).
//!
//! ```text
//! cargo bench --bench handle
//! ```
//!
//! Each group reports `Throughput::Elements`: operations per second over all threads. A store
//! of 100k customers per tenant is read by id (`get`) and resolved against (hits with three
//! identities). Two threads each do the same number of operations as the one thread, so equal
//! times per iteration mean twice the throughput.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oneid::{CustomerId, IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
use std::hint::black_box;
use std::time::{Duration, Instant};

const CUSTOMERS: u64 = 100_000;
const PER_THREAD: u64 = 20_000;

fn request(i: u64) -> ResolveRequest {
    ResolveRequest::new([
        IdentityInput::new("mobile", format!("1{:010}", 3_000_000_000 + i)),
        IdentityInput::new("email", format!("user{i}@example.com")),
        IdentityInput::new("wechat", format!("o{i:027x}")),
    ])
}

/// A handle whose store holds `CUSTOMERS` customers in each of `tenants`, and their ids.
fn prefilled(tenants: &[TenantId]) -> (Resolver<MemoryStore>, Vec<Vec<CustomerId>>) {
    let resolver = Resolver::new(MemoryStore::new());
    let requests: Vec<_> = (0..CUSTOMERS).map(request).collect();
    let ids = tenants
        .iter()
        .map(|t| {
            resolver
                .resolve_batch(t, &requests)
                .expect("prefill")
                .into_iter()
                .map(|o| o.expect("valid").customer.expect("resolved"))
                .collect()
        })
        .collect();
    (resolver, ids)
}

/// Runs `op(thread, i)` `PER_THREAD` times on each of `threads` threads at once, `iters`
/// times over; the wall time.
fn on_threads(iters: u64, threads: usize, op: &(dyn Fn(usize, u64) + Sync)) -> Duration {
    let mut total = Duration::ZERO;
    for round in 0..iters {
        let start = Instant::now();
        std::thread::scope(|s| {
            for thread in 0..threads {
                s.spawn(move || {
                    for i in 0..PER_THREAD {
                        op(thread, (round * PER_THREAD + i * 7919) % CUSTOMERS);
                    }
                });
            }
        });
        total += start.elapsed();
    }
    total
}

fn bench_handle(c: &mut Criterion) {
    let tenants = [TenantId::new("a"), TenantId::new("b")];
    let (resolver, ids) = prefilled(&tenants);
    let requests: Vec<_> = (0..CUSTOMERS).map(request).collect();
    for threads in [1usize, 2] {
        let mut group = c.benchmark_group("shared_handle");
        group.sample_size(10);
        group.throughput(Throughput::Elements(PER_THREAD * threads as u64));
        group.bench_function(format!("get/{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                on_threads(iters, threads, &|thread, i| {
                    let t = &tenants[thread % 2];
                    black_box(resolver.get(t, ids[thread % 2][i as usize]).unwrap());
                })
            })
        });
        group.bench_function(format!("hit/{threads}_threads_two_tenants"), |b| {
            b.iter_custom(|iters| {
                on_threads(iters, threads, &|thread, i| {
                    black_box(
                        resolver
                            .resolve(&tenants[thread % 2], &requests[i as usize])
                            .unwrap(),
                    );
                })
            })
        });
        group.bench_function(format!("hit/{threads}_threads_one_tenant"), |b| {
            b.iter_custom(|iters| {
                on_threads(iters, threads, &|_, i| {
                    black_box(resolver.resolve(&tenants[0], &requests[i as usize]).unwrap());
                })
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench_handle);
criterion_main!(benches);
