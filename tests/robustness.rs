//! No input makes the crate panic, and nothing is written when input is refused:
//!
//! - the payload readers (`ResolveRequest::from_json`, `CustomerPatch::from_json`,
//!   `UpdatePatch::from_json`, serde for identities and queries) answer any JSON with a value
//!   or an error;
//! - a request read from such JSON resolves or is refused; refused, it leaves the store empty;
//!   resolved, resolving it again changes nothing (SEMANTICS §5);
//! - the normalizers answer any string, and what they return normalizes to itself;
//! - identities of any type and value resolve or are refused as a whole, and an accepted one is
//!   found again by the value as it was sent.

use oneid::{
    CustomerFilter, CustomerPatch, CustomerQuery, Error, ErrorKind, IdentityInput, IdentitySettings,
    ManualClock, MemoryStore, ResolveRequest, Resolver, TenantId, UpdatePatch,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

type R = Resolver<MemoryStore, ManualClock>;

fn t() -> TenantId {
    TenantId::new("t")
}

fn resolver() -> R {
    Resolver::new(MemoryStore::new()).with_clock(ManualClock::ticking(
        "2024-01-01T00:00:00Z".parse().unwrap(),
        chrono::Duration::seconds(1),
    ))
}

/// Strings that the readers and normalizers have to think about: digits of both widths,
/// separators, `+` and `@`, letters whose lowercase is longer than they are (`İ`), wide and
/// control whitespace (also around a value), a NUL, CJK.
fn messy() -> impl Strategy<Value = String> {
    let padding = || "[ \t\n\u{3000}\u{85}]{0,3}";
    prop_oneof![
        "[0-9０-９+\\- ()（）.@a-zA-ZİßΣé中\u{3000}\t\n\u{0}]{0,24}",
        (
            padding(),
            prop_oneof!["[0-9+@a-z.-]{1,14}", "[0-9０-９ ]{1,14}"],
            padding()
        )
            .prop_map(|(before, core, after)| format!("{before}{core}{after}")),
        Just(String::new()),
        Just("null".to_owned()),
        Just("+86 138-0013-8000".to_owned()),
        Just("Jane@Example.COM ".to_owned()),
        Just("2024-02-30T25:00:00Z".to_owned()),
        Just("9".repeat(40)),
        any::<String>(),
    ]
}

/// Keys the readers know (of all four sources' bodies), and some they do not.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "customer",
            "customerIdentities",
            "identityList",
            "identityType",
            "identityValue",
            "identityName",
            "extendAttrList",
            "attr",
            "openId",
            "appId",
            "unionId",
            "identityPriorityStrategy",
            "targetCustomerStrategy",
            "autoMerge",
            "matchByFields",
            "name",
            "mobile",
            "email",
            "gender",
            "birthday",
            "balance",
            "isEmployee",
            "tags",
            "tag",
            "groupIds",
            "status",
            "id",
            "dateCreated",
            "lastUpdated",
            "filter",
            "sort",
            "page",
            "size",
            "select",
        ])
        .prop_map(str::to_owned),
        "[a-z]{1,8}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![Just(0i64), Just(1), Just(-1), Just(2)].prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        messy().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Values that pass validation for most types, so that bodies get as far as resolving.
fn plausible() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..4u8).prop_map(|i| format!("+86 138-0013-800{i}")),
        (0..4u8).prop_map(|i| format!("P{i}@Example.com ")),
        (0..4u8).prop_map(|i| format!("o{i}")),
        (0..4u8).prop_map(|i| format!("53{i:016}")),
    ]
}

/// A value for a customer field: mostly what the field takes, sometimes anything.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        plausible().prop_map(Value::String),
        (0..3i64).prop_map(Value::from),
        Just(json!("2024-02-29")),
        Just(json!(["a", "b"])),
        json_value(),
    ]
}

/// Bodies shaped like 002's and 001's (so that reading goes past the first checks), with
/// values of every kind inside.
fn body() -> impl Strategy<Value = Value> {
    let identity = || {
        (
            identity_type(),
            prop_oneof![plausible(), messy()],
            prop::option::of(messy()),
        )
            .prop_map(|(ty, v, name)| json!({"identityType": ty, "identityValue": v, "identityName": name}))
    };
    let field = || {
        (
            prop::sample::select(vec![
                "name", "mobile", "email", "gender", "birthday", "balance", "tags", "city",
            ]),
            field_value(),
        )
            .prop_map(|(k, v)| (k.to_owned(), v))
    };
    prop_oneof![
        json_value(),
        (
            prop::collection::vec(identity(), 0..4),
            prop::collection::vec(field(), 0..4)
        )
            .prop_map(|(ids, fields)| {
                let customer: Map<String, Value> = fields.into_iter().collect();
                json!({"customer": customer, "customerIdentities": ids})
            }),
        (
            prop::collection::vec(identity(), 0..4),
            prop::collection::vec(field(), 0..4),
            prop::option::of(prop_oneof![plausible(), messy()]),
            prop::option::of(json_value()),
        )
            .prop_map(|(ids, fields, open_id, auto_merge)| {
                let mut map: Map<String, Value> = fields.into_iter().collect();
                map.insert("identityList".into(), Value::Array(ids));
                if let Some(o) = open_id {
                    map.insert("openId".into(), json!(o));
                    map.insert("appId".into(), json!("app1"));
                }
                if let Some(a) = auto_merge {
                    map.insert("autoMerge".into(), a);
                }
                Value::Object(map)
            }),
    ]
}

/// Types the settings know (with normalizers of their own or not) and types they do not.
fn identity_type() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "mobile",
            "email",
            "wechat",
            "wechat-unionid",
            "idcard",
            "member-id"
        ])
        .prop_map(str::to_owned),
        messy(),
    ]
}

/// A resolve on a fresh store failed: it must be the crate refusing the input (not a store
/// failing), and the store must still be empty.
fn refused_wrote_nothing(r: &mut R, e: &Error) -> Result<(), TestCaseError> {
    let store_failed =
        matches!(e, Error::Capacity(_)) || matches!(e.kind(), ErrorKind::Internal | ErrorKind::Unavailable);
    prop_assert!(!store_failed, "{e}");
    prop_assert_eq!(r.count(&t(), &CustomerFilter::default()).unwrap(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn payload_readers_answer_any_json(v in body()) {
        let _ = CustomerPatch::from_json(&v);
        let _ = UpdatePatch::from_json(&v);
        let _ = serde_json::from_value::<IdentityInput>(v.clone());
        let _ = serde_json::from_value::<CustomerQuery>(v.clone());
        let _ = serde_json::from_value::<CustomerFilter>(v.clone());
        let Ok(request) = ResolveRequest::from_json(&v) else { return Ok(()) };
        let mut r = resolver();
        match r.resolve(&t(), &request) {
            Err(e) => refused_wrote_nothing(&mut r, &e)?,
            Ok(first) => {
                let again = r.resolve(&t(), &request).unwrap();
                if first.created && first.linked.is_empty() {
                    // It bound no identity, so it cannot be recognized: §2 creates a new
                    // customer for it each time.
                    prop_assert!(again.created && again.linked.is_empty(), "{:?}", again);
                } else {
                    prop_assert!(again.is_noop(), "first {:?}\nagain {:?}", first, again);
                    prop_assert_eq!(again.customer, first.customer);
                }
            }
        }
    }

    #[test]
    fn normalized_values_normalize_to_themselves(ty in identity_type(), raw in messy()) {
        let settings = IdentitySettings::default();
        if let Ok(normalized) = settings.normalize(&ty, &raw) {
            prop_assert_eq!(settings.normalize(&ty, &normalized), Ok(normalized.clone()), "raw {:?}", raw);
        }
    }

    #[test]
    fn identities_of_any_spelling_resolve_or_are_refused_whole(
        ids in prop::collection::vec((identity_type(), messy()), 0..5),
    ) {
        let request = ResolveRequest::new(
            ids.iter().map(|(ty, v)| IdentityInput::new(ty.as_str(), v.as_str())),
        );
        let mut r = resolver();
        match r.resolve(&t(), &request) {
            Err(e) => refused_wrote_nothing(&mut r, &e)?,
            Ok(outcome) => {
                // A fresh store: the target is new and holds exactly what was linked.
                prop_assert!(outcome.created);
                let target = outcome.customer.expect("a resolve has a target");
                let held = r.identities(&t(), target).unwrap();
                prop_assert_eq!(held.len(), outcome.linked.len());
                for identity in &outcome.linked {
                    prop_assert!(held.contains(identity), "{:?} not held", identity);
                }
                // Each identity is found again by its value as sent, unless it was rejected.
                for input in &request.identities {
                    let owner = r.owner_of(&t(), input).unwrap();
                    prop_assert!(owner.is_none() || owner == Some(target), "{:?}: {:?}", input, owner);
                    if outcome.rejected.is_empty() {
                        prop_assert_eq!(owner, Some(target), "{:?}", input);
                    }
                }
            }
        }
    }
}
