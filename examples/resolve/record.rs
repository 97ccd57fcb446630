//! One line of the input as a resolve request.
//!
//! Two readers: serde's, which is the definition (every shape serde_json accepts, its error
//! messages), and a fast one for the plain lines that make up real files. The fast reader
//! declines anything it is not sure about and the line goes to serde, so both always give the
//! same result; the tests below hold them to that.

use oneid::{CustomerPatch, IdentityInput, ResolveRequest};
use serde::Deserialize;
use std::borrow::Cow;

/// A record: its resolve request (whose `cause` is the record id) and its truth label.
#[derive(Debug, PartialEq)]
pub struct Record<'a> {
    pub request: ResolveRequest,
    pub truth: Option<Cow<'a, str>>,
}

/// The record id of a request read from a line (kept as its cause).
pub fn record_id(request: &ResolveRequest) -> &str {
    request.cause.as_deref().unwrap_or_default()
}

/// Reads one line into `request`, reusing its memory; returns the truth label. On an error,
/// `request` is left half written.
pub fn parse_into<'a>(line: &'a [u8], request: &mut ResolveRequest) -> Result<Option<Cow<'a, str>>, String> {
    match crate::fast::parse_into(line, request) {
        Some(truth) => Ok(truth.map(Cow::Borrowed)),
        None => serde_into(line, request),
    }
}

/// [`parse_into`] of a line already known to be UTF-8.
pub fn parse_text_into<'a>(
    line: &'a str,
    request: &mut ResolveRequest,
) -> Result<Option<Cow<'a, str>>, String> {
    match crate::fast::parse_text_into(line, request) {
        Some(truth) => Ok(truth.map(Cow::Borrowed)),
        None => serde_into(line.as_bytes(), request),
    }
}

/// Reads a line that is not plain with serde, into `request`.
fn serde_into<'a>(line: &'a [u8], request: &mut ResolveRequest) -> Result<Option<Cow<'a, str>>, String> {
    let record = parse_with_serde(line)?;
    *request = record.request;
    Ok(record.truth)
}

#[derive(Deserialize)]
struct RecordIn<'a> {
    #[serde(borrow)]
    record_id: Cow<'a, str>,
    #[serde(default, borrow)]
    ts: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    truth: Option<Cow<'a, str>>,
    #[serde(borrow)]
    identities: Vec<IdentityIn<'a>>,
    #[serde(default)]
    attrs: Option<CustomerPatch>,
}

#[derive(Deserialize)]
struct IdentityIn<'a> {
    #[serde(rename = "type", borrow)]
    identity_type: Cow<'a, str>,
    #[serde(borrow)]
    value: Cow<'a, str>,
}

/// Reads one line with serde: the definition of what a line means.
fn parse_with_serde(line: &[u8]) -> Result<Record<'_>, String> {
    let r: RecordIn = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let mut request = ResolveRequest::new(
        r.identities
            .into_iter()
            .map(|i| IdentityInput::new(i.identity_type, i.value)),
    )
    .with_patch(r.attrs.unwrap_or_default());
    request.event_time = match r.ts.as_deref() {
        None => None,
        // Not quietly read as now: a record whose time cannot be read is refused, as one with
        // an unreadable field is.
        Some(ts) => Some(oneid::parse_timestamp(ts).ok_or_else(|| format!("ts {ts:?} is not a timestamp"))?),
    };
    request.cause = Some(r.record_id.into_owned());
    Ok(Record {
        request,
        truth: r.truth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oneid::{Field, ResolveOptions};

    /// A request with every part filled, as a spent one coming back for reuse may be.
    fn dirty_spare() -> ResolveRequest {
        let mut spare = ResolveRequest::new([
            IdentityInput::new("email", "someone@example.com").with_name("Someone"),
            IdentityInput::new("mobile", "13800138000"),
            IdentityInput::new("wechat", "o6_x"),
            IdentityInput::new("qq", "12345"),
        ])
        .with_patch(CustomerPatch::new().with(Field::Name, "旧名").unwrap())
        .with_options(ResolveOptions {
            auto_merge: false,
            ..Default::default()
        })
        .with_cause("old-record");
        spare.event_time = oneid::parse_timestamp("2020-01-01T00:00:00Z");
        spare
    }

    /// Reads a line into `request` with `parse_into`, or with the fast reader alone.
    fn read(line: &[u8], mut request: ResolveRequest, fast_only: bool) -> Option<Result<Record<'_>, String>> {
        let truth = if fast_only {
            Ok(crate::fast::parse_into(line, &mut request)?.map(Cow::Borrowed))
        } else {
            parse_into(line, &mut request)
        };
        Some(truth.map(|truth| Record { request, truth }))
    }

    /// The line read both ways (and the fast way into fresh and spent requests) gives one
    /// result; returns whether the fast reader took the line.
    fn check(line: &[u8]) -> bool {
        let shown = String::from_utf8_lossy(line);
        let by_serde = Some(parse_with_serde(line));
        assert_eq!(read(line, ResolveRequest::default(), false), by_serde, "{shown}");
        assert_eq!(read(line, dirty_spare(), false), by_serde, "{shown}");
        let fast = read(line, ResolveRequest::default(), true);
        assert_eq!(read(line, dirty_spare(), true), fast, "{shown}");
        if fast.is_some() {
            assert_eq!(fast, by_serde, "{shown}");
        }
        fast.is_some()
    }

    #[test]
    fn the_sample_reads_alike_and_fast() {
        let sample =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/sample.jsonl")).unwrap();
        let lines: Vec<&[u8]> = sample.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        assert!(lines.len() > 4000);
        for line in lines {
            // Every sample line is plain: the fast reader must take it.
            assert!(check(line), "fell back: {}", String::from_utf8_lossy(line));
        }
    }

    /// Lines the fast reader takes, and lines it must leave to serde.
    #[test]
    fn tricky_lines_read_alike() {
        let fast = [
            r#"{"record_id":"r0","source":"crm","ts":"2024-03-28T13:09:34Z","truth":"p0","identities":[{"type":"mobile","value":"+8617161973069"}],"attrs":{"name":"赵娜芳","gender":1,"city":"深圳","email":"u0.18b8f@qq.com"}}"#,
            // Spaces wherever JSON allows them, and a CRLF line end.
            r#" { "record_id" : "r1" , "identities" : [ { "value" : "a@b.c" , "type" : "email" } , { "type":"qq","value":"1" } ] , "attrs" : { "name" : "n" , "gender" : 2 } , "truth" : null } "#,
            "{\"record_id\":\"r1\",\"identities\":[]}\r",
            "{\"record_id\":\"r1\",\"identities\":[]} \r",
            r#"{"identities":[],"record_id":"r2"}"#,
            r#"{"record_id":"","identities":[{"type":"","value":""}],"attrs":null,"ts":null,"truth":null}"#,
            r#"{"record_id":"r3","identities":[{"type":"wechat","value":"o1"},{"type":"wechat","value":"o2"},{"type":"qq","value":"3"},{"type":"email","value":"x@y"},{"type":"m","value":"5"}]}"#,
            // Unicode, raw: CJK, emoji, combining marks.
            "{\"record_id\":\"r4😀\",\"truth\":\"人\",\"identities\":[{\"type\":\"mobile\",\"value\":\"１３８ 0013 8000\"}],\"attrs\":{\"name\":\"e\u{301}\"}}",
            r#"{"record_id":"r5","identities":[],"attrs":{"name":"a😀é","city":null,"gender":null,"mobileVerified":true,"emailVerified":false}}"#,
            r#"{"record_id":"r6","identities":[],"attrs":{"gender":0,"balance":123456789012345678,"mobile":13800138000,"isMember":1}}"#,
            r#"{"record_id":"r7","identities":[],"attrs":{"gender":"female","birthday":"1990-02-03","dateJoin":"2024-01-02T03:04:05Z","annualRevenue":"12.50","credit":" 7 "}}"#,
            r#"{"record_id":"r8","identities":[],"attrs":{"name":"first","name":"second","nickname":"n","nickName":"N"}}"#,
            // Timestamps: the strict form, and every other form parse_timestamp knows.
            r#"{"record_id":"t1","ts":"2024-02-29T23:59:59Z","identities":[]}"#,
            r#"{"record_id":"t4","ts":"2024-06-30T23:59:60Z","identities":[]}"#,
            r#"{"record_id":"t5","ts":"2024-03-28t13:09:34z","identities":[]}"#,
            r#"{"record_id":"t6","ts":"2024-03-28T13:09:34.250+08:00","identities":[]}"#,
            r#"{"record_id":"t7","ts":"2024-03-28 13:09:34","identities":[]}"#,
            r#"{"record_id":"t8","ts":" 2024-03-28 ","identities":[]}"#,
            r#"{"record_id":"t10","ts":"0000-01-01T00:00:00Z","identities":[]}"#,
            r#"{"record_id":"t13","ts":"2024-03-28T13:09:34Z ","identities":[]}"#,
        ];
        for line in fast {
            assert!(check(line.as_bytes()), "fell back: {line}");
        }
        let fallback = [
            // Escapes.
            r#"{"record_id":"r\"1","identities":[]}"#,
            r#"{"record_id":"r1","identities":[{"type":"email","value":"a\u0040b.c"}]}"#,
            r#"{"record_id":"r1","truth":"p\/1","identities":[],"attrs":{"name":"a\nb"}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"name":"bad\u0000nul"}}"#,
            "{\"record_id\":\"r1\",\"identities\":[],\"attrs\":{\"name\":\"tab\there\"}}",
            // Whitespace other than spaces (which JSON allows, but is rare).
            " {\t\"record_id\" : \"r1\" ,\r\n \"identities\" : [ { \"value\" : \"a@b.c\" , \"type\" : \"email\" } ] , \"attrs\" : { } }\r",
            "{\"record_id\":\"r1\",\"identities\":[]}\r\r",
            "{\"record_id\":\"r1\",\"identities\":[]}\t",
            "{\"record_id\":\"r1\",\"identities\":[]}\r ",
            // Control characters in strings, which JSON does not allow raw.
            "{\"record_id\":\"r\u{1}\",\"identities\":[]}",
            "{\"record_id\":\"r1\",\"identities\":[],\"attrs\":{\"name\":\"a\rb\"}}",
            // Extra or unknown keys, in the record, an identity or the attributes.
            r#"{"record_id":"r1","identities":[],"extra":{"a":[1,2]}}"#,
            r#"{"record_id":"r1","source":7,"identities":[]}"#,
            r#"{"record_id":"r1","identities":[{"type":"wechat","value":"o1","scope":"wx1","name":"n"}]}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"unknownKey":1}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"attr":{"level":"gold"},"tags":["vip"],"groupIds":[1,2]}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"id":5,"displayName":"x"}}"#,
            // Values of shapes or kinds the fast reader leaves to serde.
            r#"{"record_id":"r1","identities":[],"attrs":{"name":{"nested":true}}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"name":["a"]}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"gender":7}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"gender":-1}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"gender":1.0}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"gender":1e0}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"gender":01}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"annualRevenue":1200.5}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"balance":-0}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"balance":18446744073709551616}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"balance":99999999999999999999999}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"birthday":"1990-13-03"}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"mobileVerified":"maybe"}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"name":true}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":[]}"#,
            r#"{"record_id":"r1","identities":[],"attrs":"none"}"#,
            r#"{"record_id":"r1","identities":[{"type":"mobile","value":13800138000}]}"#,
            r#"{"record_id":"r1","identities":[["mobile","13800138000"]]}"#,
            r#"{"record_id":"r1","identities":null}"#,
            r#"{"record_id":7,"identities":[]}"#,
            r#"{"record_id":"r1","truth":7,"identities":[]}"#,
            r#"{"record_id":"r1","ts":1700000000,"identities":[]}"#,
            // Times no reader can read: refused, not read as now.
            r#"{"record_id":"t2","ts":"2023-02-29T23:59:59Z","identities":[]}"#,
            r#"{"record_id":"t3","ts":"2024-12-31T24:00:00Z","identities":[]}"#,
            r#"{"record_id":"t9","ts":"yesterday","identities":[]}"#,
            r#"{"record_id":"t11","ts":"2024-3-28T13:09:34Z","identities":[]}"#,
            r#"{"record_id":"t12","ts":"","identities":[]}"#,
            r#"["r1",null,null,[],null]"#,
            // Missing or repeated keys.
            r#"{"identities":[]}"#,
            r#"{"record_id":"r1"}"#,
            r#"{"record_id":"r1","identities":[{"type":"mobile"}]}"#,
            r#"{"record_id":"r1","identities":[{"value":"1"}]}"#,
            r#"{"record_id":"r1","record_id":"r2","identities":[]}"#,
            r#"{"record_id":"r1","identities":[],"identities":[]}"#,
            r#"{"record_id":"r1","identities":[{"type":"a","type":"b","value":"1"}]}"#,
            r#"{"record_id":"r1","ts":null,"ts":null,"identities":[]}"#,
            r#"{"record_id":"r1","source":"a","source":"b","identities":[]}"#,
            // Not JSON, or not only JSON.
            "",
            "   ",
            "{}",
            "{",
            "}",
            "null",
            "nul",
            r#"{"record_id":"r1","identities":[]}x"#,
            r#"{"record_id":"r1","identities":[]} {}"#,
            r#"{"record_id":"r1","identities":[],}"#,
            r#"{"record_id":"r1","identities":[{"type":"a","value":"1"},]}"#,
            r#"{"record_id":"r1","identities":[{"type":"a","value":"1",}]}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"name":"a",}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"gender":1x}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"isMember":truex}}"#,
            r#"{"record_id":"r1","identities":[],"attrs":{"isMember":tru}}"#,
            r#"{"record_id":"r1" "identities":[]}"#,
            r#"{"record_id":"r1","identities":[{"type":"a" "value":"1"}]}"#,
            r#"{"record_id":"r1","identities":[]"#,
            r#"{"record_id":"r1","identities":[{"type":"a","value":"1"}"#,
            r#"{"record_id":"r1,"identities":[]}"#,
            r#"{record_id:"r1","identities":[]}"#,
            "\u{feff}{\"record_id\":\"r1\",\"identities\":[]}",
            "{\"record_id\":\"r1\",\"identities\":[]}\u{c}",
        ];
        for line in fallback {
            assert!(!check(line.as_bytes()), "taken by the fast reader: {line}");
        }
        // Bytes that are not UTF-8, in and out of strings.
        for line in [
            &b"{\"record_id\":\"r\xff\",\"identities\":[]}"[..],
            b"{\"record_id\":\"r1\",\"identities\":[]}\xff",
            b"{\"record_id\":\"r\xe4\xb8\",\"identities\":[]}",
        ] {
            assert!(!check(line));
        }
    }

    use proptest::prelude::*;

    /// JSON text for a string: plain, with escapes, or non-ASCII.
    fn json_string() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9@.+ -]{0,12}".prop_map(|s| format!("\"{s}\"")),
            "[a-z0-9]{0,6}".prop_map(|s| format!("\"{s}\\u0041\\n\"")),
            "[中文é😀 ]{0,6}".prop_map(|s| format!("\"{s}\"")),
            Just("\"2024-03-28T13:09:34Z\"".to_owned()),
            Just("\"13800138000\"".to_owned()),
            Just("\"+86 138-0013-8000\"".to_owned()),
        ]
    }

    /// JSON text for an attribute value of any kind the fields take, or do not.
    fn json_value() -> impl Strategy<Value = String> {
        prop_oneof![
            json_string(),
            Just("null".to_owned()),
            Just("true".to_owned()),
            (0..3u8).prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            Just("1.5".to_owned()),
            Just("1e3".to_owned()),
            Just("[\"a\"]".to_owned()),
            Just("{}".to_owned()),
        ]
    }

    /// An attribute and a value: mostly one its field takes, sometimes any.
    fn attr() -> impl Strategy<Value = (String, String)> {
        let typed = prop_oneof![
            json_string().prop_map(|v| ("name".to_owned(), v)),
            json_string().prop_map(|v| ("city".to_owned(), v)),
            (0..4u8).prop_map(|g| ("gender".to_owned(), g.to_string())),
            Just(("gender".to_owned(), "\"female\"".to_owned())),
            Just(("email".to_owned(), "\"u1@qq.com\"".to_owned())),
            Just(("mobile".to_owned(), "13800138000".to_owned())),
            Just(("birthday".to_owned(), "\"1990-02-03\"".to_owned())),
            (0..1000i64).prop_map(|n| ("balance".to_owned(), n.to_string())),
        ];
        let field = prop::sample::select(vec!["name", "gender", "birthday", "balance", "nope"]);
        prop_oneof![4 => typed, 1 => (field, json_value()).prop_map(|(k, v)| (k.to_owned(), v))]
    }

    /// A record line: keys in any order (now and then one twice, or one missing), values of
    /// every kind, spaces here and there; then, now and then, one byte changed, dropped or
    /// repeated.
    fn line() -> impl Strategy<Value = Vec<u8>> {
        let attrs = prop::collection::vec(attr(), 0..4).prop_map(|kv| {
            let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", body.join(","))
        });
        let identity = (
            prop::sample::select(vec!["mobile", "email", "wechat", "qq", ""]),
            json_string(),
        )
            .prop_map(|(t, v)| format!("{{\"type\":\"{t}\",\"value\":{v}}}"));
        let identities = prop::collection::vec(identity, 0..4).prop_map(|ids| format!("[{}]", ids.join(",")));
        let ts = prop_oneof![
            3 => Just("\"2024-03-28T13:09:34Z\"".to_owned()),
            1 => Just("\"2024-03-28 13:09:34\"".to_owned()),
            1 => Just("null".to_owned()),
            1 => json_string(),
        ];
        let key = |k: &'static str, p: f64, v: BoxedStrategy<String>| {
            prop::option::weighted(p, v.prop_map(move |v| format!("\"{k}\":{v}")))
        };
        (
            (
                key("record_id", 0.95, json_string().boxed()),
                key("source", 0.5, json_string().boxed()),
                key("ts", 0.7, ts.boxed()),
                key("truth", 0.5, json_string().boxed()),
                key("identities", 0.95, identities.boxed()),
                key("attrs", 0.8, attrs.boxed()),
            ),
            prop::sample::subsequence(vec![0usize, 1, 2, 3, 4, 5], 6).prop_shuffle(),
            prop::bool::weighted(0.05),
            " {0,2}",
            prop::option::weighted(0.3, (any::<prop::sample::Index>(), any::<u8>(), 0..3u8)),
        )
            .prop_map(|((a, b, c, d, e, f), order, repeat, space, mutation)| {
                let all = [a, b, c, d, e, f];
                let mut parts: Vec<String> = order.iter().filter_map(|&i| all[i].clone()).collect();
                if repeat && let Some(first) = parts.first().cloned() {
                    parts.push(first);
                }
                let mut line = format!("{{{space}{}{space}}}", parts.join(&format!(",{space}"))).into_bytes();
                if let Some((at, byte, how)) = mutation {
                    let at = at.index(line.len());
                    match how {
                        0 => line[at] = byte,
                        1 => {
                            line.remove(at);
                        }
                        _ => line.insert(at, line[at]),
                    }
                }
                line
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        /// The fast reader and serde agree on every line, whichever of them reads it.
        #[test]
        fn any_line_reads_alike(line in line()) {
            check(&line);
        }
    }
}
