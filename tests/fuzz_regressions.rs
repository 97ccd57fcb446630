//! Inputs the fuzz targets (`fuzz/`) found, minimized, each with the property it broke.

use oneid::{
    CustomerPatch, Error, IdentityInput, ManualClock, MemoryStore, ResolveRequest, Resolver, TenantId,
    UpdatePatch,
};
use serde_json::Value;

fn resolver() -> Resolver<MemoryStore, ManualClock> {
    Resolver::new(MemoryStore::new()).with_clock(ManualClock::ticking(
        "2024-01-01T00:00:00Z".parse().unwrap(),
        chrono::Duration::seconds(1),
    ))
}

/// `request_json`: a 002 body whose customer's email is longer than a contact field may be
/// (128 characters). `ResolveRequest::from_json` and `CustomerPatch::from_json` refused it;
/// serde's reading of the same customer object, which streams texts without a JSON value in
/// between, accepted it.
#[test]
fn serde_refuses_a_contact_field_longer_than_its_limit() {
    let body = r#"{"customer": {"name": "+86 13", "email": "LI@example.comfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "tags": ["vip"], "attr": {"skin": "dry"}}}"#;
    let value: Value = serde_json::from_str(body).unwrap();
    let too_long = |e: &Error| matches!(e, Error::InvalidField { field, .. } if field == "email");
    assert!(too_long(&ResolveRequest::from_json(&value).unwrap_err()));
    let customer = &value["customer"];
    assert!(too_long(&CustomerPatch::from_json(customer).unwrap_err()));
    let streamed = serde_json::from_str::<CustomerPatch>(&customer.to_string()).unwrap_err();
    assert!(streamed.to_string().contains("longer than 128"), "{streamed}");
    assert!(serde_json::from_value::<CustomerPatch>(customer.clone()).is_err());
    // The mobile has the same bound; other text fields have none.
    let mobile = format!(r#"{{"mobile": "{}"}}"#, "1".repeat(129));
    assert!(serde_json::from_str::<CustomerPatch>(&mobile).is_err());
    let name = format!(r#"{{"name": "{}"}}"#, "名".repeat(129));
    assert_eq!(
        serde_json::from_str::<CustomerPatch>(&name).unwrap(),
        CustomerPatch::from_json(&serde_json::from_str(&name).unwrap()).unwrap()
    );
}

/// `patch_json`: a key given twice. Read into a JSON value, the object keeps the last value
/// (`null`, no mobile); serde's reading streams the text and applies each occurrence, so the
/// first one set the mobile and the `null` after it was skipped. Both readings now take the
/// last occurrence.
#[test]
fn a_key_given_twice_reads_alike_from_text_and_from_a_value() {
    let body = r#"{"mobile":"","mobile":null}"#;
    let from_value = CustomerPatch::from_json(&serde_json::from_str(body).unwrap()).unwrap();
    let streamed = serde_json::from_str::<CustomerPatch>(body).unwrap();
    assert_eq!(streamed, from_value);
}

/// `patch_json`: an update that sets one extended attribute twice, in `attr` and in
/// `extendAttrList`. The update keeps both, so each application sets the attribute to the
/// first value and then to the second: applied again, it reported the attribute changed (twice)
/// and touched `lastUpdated`, though the customer ended as it was. Now, as a field given twice,
/// it keeps its last change only.
#[test]
fn an_update_naming_an_attribute_twice_changes_nothing_applied_again() {
    let body = r#"{"attr": {"k": 1}, "extendAttrList": [{"attrKey": "k", "attrValue": 2}]}"#;
    let update = UpdatePatch::from_json(&serde_json::from_str(body).unwrap()).unwrap();
    let (r, t) = (resolver(), TenantId::new("t"));
    let id = r
        .resolve(
            &t,
            &ResolveRequest::new([IdentityInput::new("mobile", "18612341234")]),
        )
        .unwrap()
        .customer
        .unwrap();
    let first = r.update(&t, id, &update).unwrap();
    assert_eq!(first.customer.attrs["k"].value, 2);
    let again = r.update(&t, id, &update).unwrap();
    assert_eq!(again.customer.attrs, first.customer.attrs);
    assert!(again.changed.is_empty(), "{:?}", again.changed);
}

/// `patch_json`: a list given twice (`tags`, first a text, then a list). Read into a value,
/// the object keeps the last; streamed, both occurrences were read and their tags added up.
#[test]
fn a_list_given_twice_reads_alike_from_text_and_from_a_value() {
    let body = r#"{"tags": "大理", "tags": ["a", "b", "a"], "attr": {"k": 1}, "attr": {"j": 2}}"#;
    let from_value = CustomerPatch::from_json(&serde_json::from_str(body).unwrap()).unwrap();
    let streamed = serde_json::from_str::<CustomerPatch>(body).unwrap();
    assert_eq!(streamed, from_value);
    assert_eq!(streamed.tags, ["a", "b"]);
    assert!(streamed.attrs.contains_key("j") && !streamed.attrs.contains_key("k"));
}

/// `patch_json`: a field given twice, first with a value the field refuses. Read into a value,
/// only the last (valid) one is kept; streamed, the first was refused before the second was
/// read.
#[test]
fn a_refused_value_given_before_a_valid_one_reads_alike() {
    let body = format!(
        r#"{{"name": "小D", "mobile": "{}", "mobile": "13812345678"}}"#,
        "F".repeat(200)
    );
    let from_value = CustomerPatch::from_json(&serde_json::from_str(&body).unwrap()).unwrap();
    let streamed = serde_json::from_str::<CustomerPatch>(&body).unwrap();
    assert_eq!(streamed, from_value);
}
