//! A customer object, as any JSON: `CustomerPatch::from_json` and `UpdatePatch::from_json`
//! answer it with a patch or an error, and serde's readings (from the value, from the value's
//! text, and from the bytes when no key is given twice) agree with them. An accepted update
//! applies to a customer, or is refused for what it carries and leaves the customer as it
//! was; applied, applying it again changes nothing and reports no change.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oneid::{Customer, CustomerId, CustomerPatch, IdentityInput, ResolveRequest, UpdatePatch};
use oneid_fuzz::{Engine, agree, resolver, store_failed, tenant};
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let text = value.to_string();

    let patch = CustomerPatch::from_json(&value);
    agree(
        "CustomerPatch: value and its text",
        &patch,
        &serde_json::from_str(&text),
    );
    agree(
        "CustomerPatch: value and serde",
        &patch,
        &serde_json::from_value(value.clone()),
    );
    // Streamed or read into a value first, a key given twice takes its last value.
    agree(
        "CustomerPatch: value and bytes",
        &patch,
        &serde_json::from_slice(data),
    );

    let update = UpdatePatch::from_json(&value);
    agree(
        "UpdatePatch: value and its text",
        &update,
        &serde_json::from_str(&text),
    );
    agree(
        "UpdatePatch: value and serde",
        &update,
        &serde_json::from_value(value.clone()),
    );
    agree(
        "UpdatePatch: value and bytes",
        &update,
        &serde_json::from_slice(data),
    );

    if let Ok(update) = update {
        check_update(&update);
    }
});

/// A customer with something in every kind of part an update touches: contacts that are
/// verified, other fields, an extended attribute, tags and groups.
fn customer(r: &Engine) -> CustomerId {
    let patch = CustomerPatch::from_json(&json!({
        "name": "小D", "mobile": "18612341234", "mobileVerified": true, "email": "d@example.com",
        "emailVerified": true, "gender": 1, "city": "昆明", "balance": 10,
        "attr": {"attr1": "x"}, "tags": ["vip"], "groupIds": [1]
    }))
    .expect("a valid customer");
    let request = ResolveRequest::new([IdentityInput::new("mobile", "18612341234")]).with_patch(patch);
    r.resolve(&tenant(), &request)
        .expect("a valid request")
        .customer
        .expect("a resolve has a target")
}

/// What an update can change: everything but the times.
fn data(c: &Customer) -> impl PartialEq + std::fmt::Debug {
    (
        c.id,
        c.status,
        c.fields.clone(),
        c.attrs.clone(),
        c.tags.clone(),
        c.groups.clone(),
    )
}

fn check_update(update: &UpdatePatch) {
    let (r, t) = (resolver(), tenant());
    let id = customer(&r);
    let before = r.get(&t, id).expect("a read").expect("the customer");
    match r.update(&t, id, update) {
        Err(e) => {
            assert!(!store_failed(&e), "the store failed: {e:?}");
            let after = r.get(&t, id).expect("a read").expect("the customer");
            assert_eq!(after, before, "a refused update changed the customer: {e}");
        }
        Ok(first) => {
            assert_eq!(
                data(&first.before),
                data(&before),
                "the customer before the update"
            );
            let stored = r.get(&t, id).expect("a read").expect("the customer");
            assert_eq!(stored, first.customer, "the update's customer is the stored one");
            let again = r
                .update(&t, id, update)
                .expect("an update applied once applies again");
            assert_eq!(
                data(&again.customer),
                data(&first.customer),
                "applied again, it changed"
            );
            assert!(
                again.changed.is_empty(),
                "applied again, it reports changes: {:?}",
                again.changed
            );
        }
    }
}
