//! The `tracing` feature: every operation is a span named `oneid` with the fields an operator
//! filters on, and a resolve's span records what it did. A subscriber of the test's own records
//! the spans and their fields.
#![cfg(feature = "tracing")]

use oneid::{IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every span's fields, by span id, as recorded.
#[derive(Default, Clone)]
struct Spans(Arc<Mutex<HashMap<u64, HashMap<String, String>>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl Subscriber for Spans {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut spans = self.0.lock().unwrap();
        let id = spans.len() as u64 + 1;
        let mut fields = HashMap::from([("name".to_string(), span.metadata().name().to_string())]);
        span.record(&mut Fields(&mut fields));
        spans.insert(id, fields);
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.0.lock().unwrap();
        values.record(&mut Fields(spans.get_mut(&span.into_u64()).unwrap()));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn operations_are_spans_with_their_fields() {
    let spans = Spans::default();
    let r = Resolver::new(MemoryStore::new());
    let t = TenantId::new("shop-7");
    tracing::subscriber::with_default(spans.clone(), || {
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
    let spans = spans.0.lock().unwrap();
    let mut by_operation: Vec<&HashMap<String, String>> = spans.values().collect();
    by_operation.sort_by_key(|f| f.get("operation").cloned());
    let resolve = by_operation
        .iter()
        .find(|f| f.get("operation").map(String::as_str) == Some("resolve"))
        .expect("a resolve span");
    assert_eq!(resolve["name"], "oneid");
    assert_eq!(resolve["tenant"], "shop-7");
    assert_eq!(resolve["attempts"], "1");
    assert_eq!(resolve["created"], "true");
    assert_eq!(resolve["linked"], "1");
    assert_eq!(resolve["rejected"], "1", "the blocked email");
    assert_eq!(resolve["merged"], "0");
    let get = by_operation
        .iter()
        .find(|f| f.get("operation").map(String::as_str) == Some("get"))
        .expect("a get span");
    assert_eq!(get["tenant"], "shop-7");
    assert_eq!(get["attempts"], "1");
}
