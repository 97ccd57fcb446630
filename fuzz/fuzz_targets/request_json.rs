//! A resolve request body, as any JSON: `ResolveRequest::from_json` answers it with a request
//! or an error, reads it the same from its own text again, and agrees with serde's reading of
//! the customer object and of the identity entries it holds. An accepted request resolves on
//! a fresh store or is refused without writing anything; resolved, resolving it again changes
//! nothing, and a batch of the two gives the same outcomes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oneid::{CustomerFilter, CustomerPatch, IdentityInput, ResolveRequest};
use oneid_fuzz::{agree, resolver, store_failed, tenant};
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let read = ResolveRequest::from_json(&body);
    let text = body.to_string();
    let again: Value = serde_json::from_str(&text).expect("a JSON value's text reads back");
    agree("the body and its text", &read, &ResolveRequest::from_json(&again));
    if let Some(map) = body.as_object() {
        check_parts(map, &read);
    }
    if let Ok(request) = read {
        check_resolve(&request);
    }
});

/// The customer object and the identity entries, read by serde on their own, agree with what
/// the request holds.
fn check_parts(map: &Map<String, Value>, read: &oneid::Result<ResolveRequest>) {
    let dmhub = map.contains_key("customer") || map.contains_key("customerIdentities");
    if dmhub && let Some(customer) = map.get("customer").filter(|c| !c.is_null()) {
        let direct = CustomerPatch::from_json(customer);
        // Serde's own reading streams the object's text, without a JSON map in between.
        let streamed = serde_json::from_str::<CustomerPatch>(&customer.to_string());
        agree("CustomerPatch: from_json and serde", &direct, &streamed);
        agree(
            "CustomerPatch: from_json and serde from a value",
            &direct,
            &serde_json::from_value::<CustomerPatch>(customer.clone()),
        );
        match (read, &direct) {
            (Ok(request), Ok(patch)) => assert_eq!(&request.patch, patch, "the request's patch"),
            (Ok(_), Err(e)) => panic!("the request is read, its customer refused: {e}"),
            (Err(_), _) => {}
        }
    }
    let Ok(request) = read else { return };
    let key = if dmhub {
        "customerIdentities"
    } else {
        "identityList"
    };
    if let Some(Value::Array(entries)) = map.get(key) {
        // An entry with neither type nor value is no identity (001); each other one reads alike
        // on its own. A 001 body appends its openId and unionId after the list.
        let blank = |v: Option<&Value>| v.is_none_or(|v| v.is_null() || v.as_str() == Some(""));
        let listed: Vec<IdentityInput> = entries
            .iter()
            .filter(|e| !(blank(e.get("identityType")) && blank(e.get("identityValue"))))
            .map(|e| serde_json::from_str(&e.to_string()).expect("an entry the request read"))
            .collect();
        assert!(
            request.identities.starts_with(&listed),
            "the request's identities {:?}\nthe entries {listed:?}",
            request.identities
        );
        if dmhub {
            assert_eq!(
                request.identities.len(),
                listed.len(),
                "002 has no identities but its list"
            );
        }
    }
}

/// Resolving the request on a fresh store, twice, and as a batch of the two.
fn check_resolve(request: &ResolveRequest) {
    let t = tenant();
    let r = resolver();
    let first = r.resolve(&t, request);
    let second = match &first {
        Err(e) => {
            assert!(!store_failed(e), "the store failed: {e:?}");
            let stored = r.count(&t, &CustomerFilter::default()).expect("a count");
            assert_eq!(stored, 0, "a refused request wrote customers: {e}");
            r.resolve(&t, request)
        }
        Ok(first) => {
            let second = r
                .resolve(&t, request)
                .expect("a request resolved once resolves again");
            if first.created && first.linked.is_empty() {
                // It bound no identity, so it cannot be recognized: each time makes a customer.
                assert!(second.created && second.linked.is_empty(), "{second:?}");
            } else {
                assert!(
                    second.is_noop(),
                    "again changed something:\n{first:?}\n{second:?}"
                );
                assert_eq!(second.customer, first.customer);
            }
            Ok(second)
        }
    };
    let batch = resolver()
        .resolve_batch(&t, &[request.clone(), request.clone()])
        .expect("a batch on a memory store");
    let text = |o: &oneid::Result<oneid::Outcome>| o.as_ref().map_err(ToString::to_string).cloned();
    assert_eq!(text(&batch[0]), text(&first), "the batch's first outcome");
    assert_eq!(text(&batch[1]), text(&second), "the batch's second outcome");
}
