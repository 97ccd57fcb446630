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
