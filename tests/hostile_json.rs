//! JSON values built in code, however deep, go through every reader of the crate without
//! exhausting the stack: each is refused with an error before anything copies, compares or
//! prints it (all of which recurse once per level). Bodies as deep as JSON text can carry are
//! still read. SEMANTICS §1, "Bounds on input".

use oneid::limits::MAX_JSON_DEPTH;
use oneid::{CustomerPatch, Error, ExtAttr, Field, ResolveRequest, UpdatePatch};
use serde::Deserialize;
use serde_json::{Value, json};

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

const DEEP: usize = 100_000;

/// `skeleton` with a value `DEEP` levels deep put at `pointer` (by a move: `json!` would copy
/// it, recursing).
fn deep_at(mut skeleton: Value, pointer: &str) -> Value {
    *skeleton.pointer_mut(pointer).expect("a place in the skeleton") = nested(DEEP);
    skeleton
}

/// Each body holds a value 100,000 levels deep where a reader copies it (an attribute, an
/// option, an identity, a 001 key kept as an attribute) or prints it (a value of the wrong
/// type for its field, a body that is not an object). Each used to overflow the stack.
#[test]
fn readers_refuse_values_too_deep_to_copy() {
    let bodies = vec![
        deep_at(
            json!({"customer": {"attr": {"deep": 0}}, "customerIdentities": []}),
            "/customer/attr/deep",
        ),
        deep_at(
            json!({"customer": {"name": 0}, "customerIdentities": []}),
            "/customer/name",
        ),
        deep_at(
            json!({"customer": {}, "customerIdentities": [0]}),
            "/customerIdentities/0",
        ),
        deep_at(
            json!({"customer": {}, "customerIdentities": [], "autoMerge": 0}),
            "/autoMerge",
        ),
        deep_at(json!({"userIdList": 0, "identityList": []}), "/userIdList"),
        deep_at(
            json!({"extendAttrList": [{"attrKey": "deep", "attrValue": 0}]}),
            "/extendAttrList/0/attrValue",
        ),
        deep_at(json!({"tags": 0}), "/tags"),
        nested(DEEP),
    ];
    for body in bodies {
        let e = ResolveRequest::from_json(&body).unwrap_err();
        assert!(matches!(e, Error::Payload(_)), "{e}");
        let e = CustomerPatch::from_json(&body).unwrap_err();
        assert!(matches!(e, Error::Payload(_)), "{e}");
        let e = UpdatePatch::from_json(&body).unwrap_err();
        assert!(matches!(e, Error::Payload(_)), "{e}");
        // Through serde, from a deserializer over the value itself (which, unlike reading
        // text, bounds no depth).
        assert!(CustomerPatch::deserialize(&body).is_err());
        assert!(UpdatePatch::deserialize(&body).is_err());
        dismantle(body);
    }
    let deep = nested(DEEP);
    let e = Field::Name.parse_json(&deep).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidField { field, reason } if field == "name" && reason.contains("levels deep")),
        "{e}"
    );
    let mut attr = json!({"value": 0});
    attr["value"] = deep;
    assert!(ExtAttr::deserialize(&attr).is_err());
    dismantle(attr);
}

/// As deep as JSON text can be read (127 levels, from the body's top), a body is read as
/// before; the resolve then refuses an attribute nested past `MAX_ATTR_DEPTH`.
#[test]
fn bodies_as_deep_as_text_can_be_are_read() {
    let customer = format!(
        r#"{{"attr": {{"deep": {}}}}}"#,
        serde_json::to_string(&nested(124)).unwrap()
    );
    let text = format!(r#"{{"customer": {customer}, "customerIdentities": []}}"#);
    let body: Value = serde_json::from_str(&text).unwrap();
    let request = ResolveRequest::from_json(&body).unwrap();
    assert_eq!(request.patch.attrs["deep"].value, nested(124));
    assert_eq!(
        serde_json::from_str::<CustomerPatch>(&customer).unwrap(),
        request.patch
    );
    let deepest = json!({"attr": {"deep": nested(MAX_JSON_DEPTH - 2)}});
    assert!(CustomerPatch::from_json(&deepest).is_ok());
    assert!(CustomerPatch::deserialize(&deepest).is_ok());
    let deeper = json!({"attr": {"deep": nested(MAX_JSON_DEPTH - 1)}});
    assert!(matches!(
        CustomerPatch::from_json(&deeper),
        Err(Error::Payload(_))
    ));
    assert!(CustomerPatch::deserialize(&deeper).is_err());
}

/// An error message shows at most a short preview of the value it refused, however large.
#[test]
fn errors_show_a_bounded_preview_of_the_value() {
    let huge = json!(["x".repeat(10_000_000)]);
    let e = Field::Name.parse_json(&huge).unwrap_err();
    let shown = e.to_string();
    assert!(shown.len() < 400, "{} bytes", shown.len());
    assert!(shown.contains("[\"xxx"), "{shown}");
}
