//! The `tracing` feature: every operation is a span named `oneid` with the fields an operator
//! filters on, and a resolve's span records what it did. A subscriber of the test's own records
//! the spans and their fields.
#![cfg(feature = "tracing")]

#[path = "support/spans.rs"]
mod spans;

use oneid::{IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
use spans::Spans;

#[test]
fn operations_are_spans_with_their_fields() {
    let spans = Spans::default();
    let r = Resolver::new(MemoryStore::new());
    let t = TenantId::new("shop-7");
    spans.record(|| {
        let out = r
            .resolve(
                &t,
                &ResolveRequest::new([
                    IdentityInput::new("mobile", "13812345678"),
                    IdentityInput::new("email", "test@test.com"),
                ]),
            )
            .unwrap();
        r.get(&t, out.customer.unwrap()).unwrap();
    });
    let resolve = &spans.of("resolve")[0];
    assert_eq!(resolve["name"], "oneid");
    assert_eq!(resolve["tenant"], "shop-7");
    assert_eq!(resolve["attempts"], "1");
    assert_eq!(resolve["created"], "true");
    assert_eq!(resolve["linked"], "1");
    assert_eq!(resolve["rejected"], "1", "the blocked email");
    assert_eq!(resolve["merged"], "0");
    let get = &spans.of("get")[0];
    assert_eq!(get["tenant"], "shop-7");
    assert_eq!(get["attempts"], "1");
}

/// With group commit (the SQL stores' default), `resolve_and_get` queues like `resolve`: it
/// runs in a batch, whose transaction also reads the target back.
#[cfg(feature = "sqlite")]
#[test]
fn resolve_and_get_shares_the_batches_of_group_commit() {
    let dir = std::env::temp_dir().join(format!("oneid-tracing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("group.db");
    let _ = std::fs::remove_file(&path);
    let r = Resolver::new(oneid::SqliteStore::open(&path).unwrap());
    let t = TenantId::new("shop-7");
    let spans = Spans::default();
    let (outcome, customer) = spans.record(|| {
        r.resolve_and_get(
            &t,
            &ResolveRequest::new([IdentityInput::new("mobile", "13812345678")]).with_patch(
                oneid::CustomerPatch::new()
                    .with(oneid::Field::Name, "Li")
                    .unwrap(),
            ),
        )
        .unwrap()
    });
    assert_eq!(Some(customer.id), outcome.customer);
    assert_eq!(customer.fields.text(oneid::Field::Name), Some("Li"));
    assert_eq!(spans.of("resolve_batch").len(), 1, "one batch");
    assert!(spans.of("resolve").is_empty(), "no transaction of its own");
    let _ = std::fs::remove_dir_all(&dir);
}
