//! The hot path for an instruction counter: a store prefilled with customers, then hits on
//! it, each hit's work inside one function (`run_hits`) that callgrind can count alone.
//!
//! ```text
//! cargo build --release --example hot_path_count
//! valgrind --tool=callgrind --toggle-collect='*run_hits*' --callgrind-out-file=cg.out \
//!     target/release/examples/hot_path_count [--customers 1000000] [--hits 20000] [--identities 3]
//! callgrind_annotate cg.out | head   # total Ir / hits = instructions per hit
//! ```
//!
//! The store and requests are as in `benches/resolve.rs`: `--customers` customers holding six
//! identities each (a mobile, an email, a WeChat openid, a member id, a Taobao account, a QQ
//! number); each hit carries the first `--identities` of one customer's, a different customer
//! each time, spread over the store. Requests are built before counting starts; each outcome
//! is dropped inside the counted function. Timings under callgrind mean nothing: it prints the
//! hits run and the number of customers they reached, so a run can be checked.

use oneid::{IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
use std::collections::HashSet;

fn identities(i: u64, n: usize) -> Vec<IdentityInput> {
    let all = [
        IdentityInput::new("mobile", format!("1{:010}", 3_000_000_000 + i)),
        IdentityInput::new("email", format!("user{i}@example.com")),
        IdentityInput::new("wechat", format!("o{i:027x}")),
        IdentityInput::new("member-id", format!("M{i:010}")),
        IdentityInput::new("taobao-account", format!("tb_{i}")),
        IdentityInput::new("qq", format!("{}", 10_000_000 + i)),
    ];
    all.into_iter().take(n).collect()
}

/// Resolves every request and returns the customers they reached; the only code counted.
#[inline(never)]
fn run_hits(resolver: &Resolver<MemoryStore>, tenant: &TenantId, requests: &[ResolveRequest]) -> Vec<u64> {
    requests
        .iter()
        .map(|request| {
            let outcome = resolver.resolve(tenant, request).expect("a hit");
            outcome.customer.expect("resolved").0
        })
        .collect()
}

fn main() {
    let mut customers = 10_000u64;
    let mut hits = 20_000u64;
    let mut n = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{arg} takes a number"))
        };
        match arg.as_str() {
            "--customers" => customers = value().max(1),
            "--hits" => hits = value(),
            "--identities" => n = value().clamp(1, 6) as usize,
            other => panic!("unknown argument {other}"),
        }
    }

    let resolver = Resolver::new(MemoryStore::with_capacity(
        customers as usize * 2,
        customers as usize * 8,
    ));
    let tenant = TenantId::new("bench");
    let all: Vec<_> = (0..customers)
        .map(|i| ResolveRequest::new(identities(i, 6)))
        .collect();
    for chunk in all.chunks(100_000) {
        for outcome in resolver.resolve_batch(&tenant, chunk).expect("prefill") {
            outcome.expect("valid request");
        }
    }
    drop(all);

    let requests: Vec<_> = (1..=hits)
        .map(|k| ResolveRequest::new(identities((k * 2_654_435_761) % customers, n)))
        .collect();
    let reached = run_hits(&resolver, &tenant, &requests);
    let distinct: HashSet<_> = reached.iter().collect();
    println!(
        "{hits} hits with {n} identities on {customers} customers reached {} customers",
        distinct.len()
    );
}
