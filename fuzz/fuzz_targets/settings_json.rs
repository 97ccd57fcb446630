//! A settings document, as any text: `IdentitySettings::from_json` answers it with settings or
//! an error, as serde's reading does. Accepted settings write a document that reads back into
//! settings writing the same document and answering every question alike: limits, ranks,
//! normalized forms and blocked values, for the types the document names and a few others.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oneid::{Field, IdentitySettings};
use serde_json::Value;

/// Types and values asked about besides those the document names.
const TYPES: &[&str] = &[
    "mobile",
    "email",
    "wechat",
    "wechat-unionid",
    "idcard",
    "member-id",
    "other",
];
const VALUES: &[&str] = &[
    "13800138000",
    "+86 138-0013-8000",
    " A@Example.com ",
    "null",
    "N/A",
    "0",
    "x",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let read = IdentitySettings::from_json(text);
    let serde = serde_json::from_str::<IdentitySettings>(text);
    match (&read, &serde) {
        (Ok(a), Ok(b)) => assert_eq!(a.to_json(), b.to_json(), "from_json and serde"),
        (Err(_), Err(_)) => {}
        _ => panic!("from_json and serde disagree:\n{read:?}\n{serde:?}"),
    }
    let Ok(settings) = read else { return };

    let json = settings.to_json();
    assert_eq!(
        serde_json::to_string(&settings).expect("settings are JSON"),
        json,
        "serde writes to_json"
    );
    let again = IdentitySettings::from_json(&json)
        .unwrap_or_else(|e| panic!("the settings' own document is refused: {e}\n{json}"));
    assert_eq!(again.to_json(), json, "the document does not round-trip");

    // Every type and blocked value the document names, and the usual ones.
    let doc: Value = serde_json::from_str(&json).expect("a document is JSON");
    let (mut types, mut values) = (TYPES.to_vec(), VALUES.to_vec());
    values.extend(texts(&doc["blocked"]));
    for (ty, rule) in doc["types"].as_object().into_iter().flatten() {
        types.push(ty);
        values.extend(texts(&rule["blocked"]));
    }
    for ty in &types {
        assert_eq!(again.limit(ty), settings.limit(ty), "limit of {ty}");
        assert_eq!(again.rank(ty), settings.rank(ty), "rank of {ty}");
        for v in &values {
            assert_eq!(again.normalize(ty, v), settings.normalize(ty, v), "{ty} {v:?}");
            assert_eq!(
                again.is_blocked(ty, v),
                settings.is_blocked(ty, v),
                "{ty} {v:?} blocked"
            );
        }
    }
    for field in Field::ALL {
        assert_eq!(
            again.merge_rule(*field),
            settings.merge_rule(*field),
            "merge rule of {field:?}"
        );
    }
    assert_eq!(again.quarantine_after(), settings.quarantine_after());
});

/// The texts of a JSON array.
fn texts(list: &Value) -> impl Iterator<Item = &str> {
    list.as_array().into_iter().flatten().filter_map(Value::as_str)
}
