//! The bounds on what a request carries (SEMANTICS §1), on every store: past a bound it is
//! refused before anything is written.

use super::support::t;
use oneid::{
    Change, CustomerFilter, CustomerPatch, Error, ExtAttr, IdentityInput, ManualClock, ResolveRequest,
    Resolver, Store, UpdatePatch,
};
use serde_json::{Value, json};

fn req(ids: &[(&str, &str)]) -> ResolveRequest {
    ResolveRequest::new(ids.iter().map(|(k, v)| IdentityInput::new(*k, *v)))
}

fn attr(value: Value) -> ExtAttr {
    ExtAttr { name: None, value }
}

fn invalid_field(e: &Error) -> Option<&str> {
    match e {
        Error::InvalidField { field, .. } => Some(field),
        _ => None,
    }
}

/// Arrays `depth` levels deep around a leaf, built without recursion.
fn nested(depth: usize) -> Value {
    let mut v = json!("leaf");
    for _ in 0..depth {
        v = Value::Array(vec![v]);
    }
    v
}

/// Drops a value however deep, without recursion (`Value`'s own drop recurses).
fn dismantle(v: Value) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// A value 100,000 levels deep, built in code, reaches no store and overflows no stack: every
/// operation that takes one refuses it, without copying, comparing or printing it (each of
/// which recurses). Copying it to queue the request for group commit (the SQL stores'
/// default), copying it into an update before the depth check, and printing it in the error
/// of a text field each overflowed the stack.
fn deep_values_built_in_code<S: Store>(r: Resolver<S, ManualClock>) {
    let c = r
        .resolve(&t(), &req(&[("wechat", "held")]))
        .unwrap()
        .customer
        .unwrap();
    let before = r.get(&t(), c).unwrap().unwrap();

    let mut patch = CustomerPatch::new();
    patch.attrs.insert("deep".into(), attr(nested(100_000)));
    let request = req(&[("wechat", "deep")]).with_patch(patch);
    let e = r.resolve(&t(), &request).unwrap_err();
    assert_eq!(invalid_field(&e), Some("deep"), "{e}");
    let e = r.dry_run(&t(), &request).unwrap_err();
    assert_eq!(invalid_field(&e), Some("deep"), "{e}");
    let batch = r.resolve_batch(&t(), std::slice::from_ref(&request)).unwrap();
    assert!(matches!(&batch[0], Err(Error::InvalidField { .. })));
    let ResolveRequest { patch, .. } = request;
    for (_, a) in patch.attrs {
        dismantle(a.value);
    }

    let deep = nested(100_000);
    let e = r.update_extended_attribute(&t(), c, "deep", &deep).unwrap_err();
    assert_eq!(invalid_field(&e), Some("deep"), "{e}");
    let e = r.update_attribute(&t(), c, "deep", &deep).unwrap_err();
    assert_eq!(invalid_field(&e), Some("deep"), "{e}");
    let e = r.update_attribute(&t(), c, "name", &deep).unwrap_err();
    assert_eq!(invalid_field(&e), Some("name"), "{e}");
    let update = UpdatePatch {
        attrs: vec![("deep".into(), Change::Set(attr(deep)))],
        ..UpdatePatch::new()
    };
    let e = r.update(&t(), c, &update).unwrap_err();
    assert_eq!(invalid_field(&e), Some("deep"), "{e}");
    for (_, change) in update.attrs {
        if let Change::Set(a) = change {
            dismantle(a.value);
        }
    }

    assert_eq!(
        r.owner_of(&t(), &IdentityInput::new("wechat", "deep")).unwrap(),
        None
    );
    assert_eq!(r.count(&t(), &CustomerFilter::default()).unwrap(), 1);
    assert_eq!(r.get(&t(), c).unwrap().unwrap(), before);
}

super::support::conformance!(deep_values_built_in_code);
