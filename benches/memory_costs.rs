//! What a request costs the memory store as a tenant and its customers grow.
//!
//! ```text
//! cargo bench --bench memory_costs
//! ```
//!
//! - `visit_adding_a_device/N`: a resolve that brings a customer holding `N` devices (a limited
//!   type, with quarantine on) a new one beside one it knows: the limit count and the
//!   quarantine evidence read the customer's counts, so the time stays flat in `N`;
//! - `query_1m/...`: a page of 10 of a tenant of 1,000,000 customers (built once with
//!   `resolve_batch`), in id order without a filter and with a filter on a slot's time or a
//!   packed field (`gender`, a third of the tenant; `stage`, one in 1,000), sorted by
//!   `lastUpdated` with and without a filter, and sorted by a field over a third of the tenant
//!   (refused past `limits::MAX_FIELD_SORT_MATCHES`).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use oneid::{
    CustomerFilter, CustomerPatch, CustomerQuery, Field, IdentityInput, IdentitySettings, MemoryStore,
    ResolveRequest, Resolver, SortKey, TenantId,
};
use std::time::Duration;

fn device_visit(n: u64) -> ResolveRequest {
    ResolveRequest::new([
        IdentityInput::new("device", format!("d{}", n.saturating_sub(1))),
        IdentityInput::new("device", format!("d{n}")),
    ])
}

fn visits(c: &mut Criterion) {
    let mut group = c.benchmark_group("visit_adding_a_device");
    group.sample_size(20).measurement_time(Duration::from_secs(3));
    for held in [100u64, 10_000, 60_000] {
        let settings = IdentitySettings::default()
            .with_limit("device", Some(1_000_000))
            .unwrap()
            .with_quarantine(Some(3))
            .unwrap();
        let resolver = Resolver::new(MemoryStore::new()).with_default_settings(settings);
        let t = TenantId::new("bench");
        let setup: Vec<ResolveRequest> = (0..held).map(device_visit).collect();
        resolver.resolve_batch(&t, &setup).unwrap();
        let mut next = held;
        group.bench_with_input(BenchmarkId::from_parameter(held), &held, |b, _| {
            b.iter(|| {
                let out = resolver.resolve(&t, &device_visit(next)).unwrap();
                next += 1;
                out
            })
        });
    }
    group.finish();
}

/// Customer `i`: one of five names, gender `i % 3`, and the stage `won` for one in 1,000.
fn customer(i: u64) -> ResolveRequest {
    let names = ["赵娜", "Ann", "Bob", "Chen Wei", "Li"];
    let mut patch = CustomerPatch::new()
        .with(Field::Name, names[(i % 5) as usize])
        .unwrap()
        .with(Field::Gender, (i % 3) as i64)
        .unwrap();
    if i.is_multiple_of(1000) {
        patch = patch.with(Field::Stage, "won").unwrap();
    }
    ResolveRequest::new([IdentityInput::new(
        "mobile",
        format!("1{:010}", 3_000_000_000 + i),
    )])
    .with_patch(patch)
}

fn queries(c: &mut Criterion) {
    const CUSTOMERS: u64 = 1_000_000;
    let resolver = Resolver::new(MemoryStore::with_capacity(CUSTOMERS as usize, CUSTOMERS as usize));
    let t = TenantId::new("bench");
    for from in (0..CUSTOMERS).step_by(100_000) {
        let batch: Vec<ResolveRequest> = (from..from + 100_000).map(customer).collect();
        resolver.resolve_batch(&t, &batch).unwrap();
    }
    let page = |filter: CustomerFilter, sort: SortKey, descending: bool| CustomerQuery {
        filter,
        sort,
        descending,
        size: 10,
        ..CustomerQuery::default()
    };
    let created = resolver
        .get(&t, oneid::CustomerId(500_000))
        .unwrap()
        .unwrap()
        .created;
    let since = CustomerFilter {
        created_from: Some(created),
        ..CustomerFilter::default()
    };
    let women = CustomerFilter {
        gender: Some(2),
        ..CustomerFilter::default()
    };
    let won = CustomerFilter {
        stage: Some("won".into()),
        ..CustomerFilter::default()
    };
    let none = CustomerFilter::default;
    let mut group = c.benchmark_group("query_1m");
    group.sample_size(20).measurement_time(Duration::from_secs(3));
    for (name, query) in [
        ("id_no_filter", page(none(), SortKey::Id, false)),
        ("id_desc_no_filter", page(none(), SortKey::Id, true)),
        ("id_created_since", page(since, SortKey::Id, false)),
        ("id_gender", page(women.clone(), SortKey::Id, false)),
        (
            "last_updated_desc_no_filter",
            page(none(), SortKey::LastUpdated, true),
        ),
        (
            "last_updated_desc_gender",
            page(women.clone(), SortKey::LastUpdated, true),
        ),
        ("id_stage_rare", page(won, SortKey::Id, true)),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let page = resolver.query(&t, &query).unwrap();
                assert_eq!(page.rows.len(), 10);
                page
            })
        });
    }
    // Sorted by a field, a third of the tenant matches: refused, past its bound.
    let refused = page(women, SortKey::Field(Field::Name), false);
    group.bench_function("name_gender_refused", |b| {
        b.iter(|| resolver.query(&t, &refused).unwrap_err())
    });
    group.finish();
}

criterion_group!(benches, visits, queries);
criterion_main!(benches);
