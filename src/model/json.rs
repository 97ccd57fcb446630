//! JSON values from outside, bounded before anything recurses into them.
//!
//! Copying, comparing, printing, serializing and dropping a `serde_json::Value` each recurse
//! once per level of nesting, so a value built in code many thousands of levels deep exhausts
//! the stack in any of them. Readers therefore look at a value's nesting first, here, without
//! recursing; they build values from a deserializer with a bounded depth; and an error
//! message shows a bounded preview of the value it refused. The size of a value's JSON text
//! is measured by writing it into a counter that stops once past the bound, so measuring a
//! huge value costs no more than the bound.

use crate::error::{Error, Result};
use crate::limits::MAX_JSON_DEPTH;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// The items of an array or an object, as one iterator.
enum Items<'a> {
    Array(std::slice::Iter<'a, Value>),
    Object(serde_json::map::Values<'a>),
}

impl<'a> Iterator for Items<'a> {
    type Item = &'a Value;

    fn next(&mut self) -> Option<&'a Value> {
        match self {
            Items::Array(items) => items.next(),
            Items::Object(values) => values.next(),
        }
    }
}

fn items(v: &Value) -> Option<Items<'_>> {
    match v {
        Value::Array(items) => Some(Items::Array(items.iter())),
        Value::Object(map) => Some(Items::Object(map.values())),
        _ => None,
    }
}

/// Whether `v` nests arrays and objects more than `levels` deep (a scalar nests none, `[1]`
/// one level). Without recursion: the work is linear in the part of the value it reads, the
/// memory in `levels`.
pub(crate) fn nests_deeper_than(v: &Value, levels: usize) -> bool {
    let Some(top) = items(v) else {
        return false;
    };
    if levels == 0 {
        return true;
    }
    // The open containers, outermost first: as many as the current level.
    let mut open = Vec::with_capacity(levels.min(16));
    open.push(top);
    while let Some(innermost) = open.last_mut() {
        match innermost.next() {
            None => {
                open.pop();
            }
            Some(item) => {
                if let Some(inner) = items(item) {
                    if open.len() == levels {
                        return true;
                    }
                    open.push(inner);
                }
            }
        }
    }
    false
}

/// Refuses a value nested deeper than [`MAX_JSON_DEPTH`], before anything recursive touches
/// it.
pub(crate) fn check_depth(v: &Value) -> Result<()> {
    if nests_deeper_than(v, MAX_JSON_DEPTH) {
        Err(Error::Payload(format!(
            "a JSON value may nest arrays and objects {MAX_JSON_DEPTH} levels deep at most"
        )))
    } else {
        Ok(())
    }
}

/// A writer that keeps (or only counts) the first `left` bytes and fails past them.
struct Capped {
    kept: Option<Vec<u8>>,
    left: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let fits = buf.len().min(self.left);
        if let Some(kept) = &mut self.kept {
            kept.extend_from_slice(&buf[..fits]);
        }
        self.left -= fits;
        if fits < buf.len() {
            return Err(std::io::Error::other("past the bound"));
        }
        Ok(fits)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether `v`'s JSON text (as the stores keep it) is longer than `bytes`: written into a
/// counter that stops past the bound. `v` must nest at most [`MAX_JSON_DEPTH`] levels.
pub(crate) fn text_longer_than(v: &Value, bytes: usize) -> bool {
    let mut counter = Capped {
        kept: None,
        left: bytes,
    };
    serde_json::to_writer(&mut counter, v).is_err()
}

/// How much of a value an error message shows, in bytes of its JSON text.
const PREVIEW_BYTES: usize = 200;

/// `v` as JSON text for an error message: at most [`PREVIEW_BYTES`] of it (cut at a
/// character, marked with `…`), and a value nested too deep to print safely only described.
pub(crate) fn preview(v: &Value) -> String {
    if nests_deeper_than(v, MAX_JSON_DEPTH) {
        return format!("a value nested more than {MAX_JSON_DEPTH} levels deep");
    }
    let mut out = Capped {
        kept: Some(Vec::new()),
        left: PREVIEW_BYTES,
    };
    let cut = serde_json::to_writer(&mut out, v).is_err();
    let mut bytes = out.kept.unwrap_or_default();
    if let Err(e) = std::str::from_utf8(&bytes) {
        bytes.truncate(e.valid_up_to());
    }
    let mut text = String::from_utf8(bytes).expect("cut at a character");
    if cut {
        text.push('…');
    }
    text
}

/// Reads a JSON value from any deserializer, nested at most `levels` deep: past that it is an
/// error, raised before the reading goes deeper (what `serde_json::Value`'s own reading does
/// only for text, and not for a deserializer over a value built in code).
#[derive(Clone, Copy)]
pub(crate) struct Bounded {
    pub(crate) levels: usize,
}

impl Bounded {
    /// Values nested at most [`MAX_JSON_DEPTH`] levels.
    pub(crate) const ANY: Bounded = Bounded {
        levels: MAX_JSON_DEPTH,
    };

    /// The bound for the items of a container read with this one.
    fn inner<E: serde::de::Error>(self) -> std::result::Result<Bounded, E> {
        match self.levels.checked_sub(1) {
            Some(levels) => Ok(Bounded { levels }),
            None => Err(E::custom(format_args!(
                "a JSON value may nest arrays and objects {MAX_JSON_DEPTH} levels deep at most"
            ))),
        }
    }
}

/// [`Bounded::ANY`] as a `deserialize_with` function.
pub(crate) fn bounded<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Value, D::Error> {
    Bounded::ANY.deserialize(d)
}

impl<'de> DeserializeSeed<'de> for Bounded {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

// What `serde_json::Value`'s own visitor does, with the depth counted.
impl<'de> Visitor<'de> for Bounded {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> std::result::Result<Value, E> {
        serde::Deserialize::deserialize(serde::de::value::I128Deserializer::<E>::new(v)).map(Value::Number)
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> std::result::Result<Value, E> {
        serde::Deserialize::deserialize(serde::de::value::U128Deserializer::<E>::new(v)).map(Value::Number)
    }

    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut values = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(inner)?;
            values.insert(key, value);
        }
        Ok(Value::Object(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Arrays `depth` levels deep around a leaf, built and taken apart without recursion.
    fn nested(depth: usize) -> Value {
        let mut v = json!("leaf");
        for _ in 0..depth {
            v = Value::Array(vec![v]);
        }
        v
    }

    fn dismantle(mut v: Value) {
        while let Value::Array(mut items) = v {
            match items.pop() {
                Some(inner) => v = inner,
                None => return,
            }
        }
    }

    #[test]
    fn nesting_is_measured_without_recursion() {
        for depth in [0, 1, 2, 31, 32, 33] {
            let v = nested(depth);
            assert!(!nests_deeper_than(&v, depth), "{depth}");
            assert_eq!(nests_deeper_than(&v, 32), depth > 32, "{depth}");
            if depth > 0 {
                assert!(nests_deeper_than(&v, depth - 1), "{depth}");
            }
        }
        let wide = json!({"a": [1, {"b": [2, 3]}], "c": {"d": {}}, "e": [[[["x"]]]]});
        assert!(!nests_deeper_than(&wide, 5));
        assert!(nests_deeper_than(&wide, 4));
        let deep = nested(1_000_000);
        assert!(nests_deeper_than(&deep, MAX_JSON_DEPTH));
        assert!(check_depth(&deep).is_err());
        assert!(preview(&deep).contains("levels deep"));
        dismantle(deep);
    }

    #[test]
    fn sizes_and_previews_stop_at_their_bound() {
        let v = json!({"k": "长".repeat(1000)});
        let len = serde_json::to_string(&v).unwrap().len();
        assert!(!text_longer_than(&v, len));
        assert!(text_longer_than(&v, len - 1));
        let shown = preview(&v);
        assert!(shown.ends_with('…') && shown.len() <= PREVIEW_BYTES + '…'.len_utf8());
        assert_eq!(preview(&json!([1, "a"])), r#"[1,"a"]"#);
    }

    #[test]
    fn bounded_reading_is_serde_jsons_reading_within_the_bound() {
        let text = r#"{"a": [1, -2, 3.5, 18446744073709551615, true, null, "s"], "b": {"c": {}}}"#;
        let want: Value = serde_json::from_str(text).unwrap();
        let mut de = serde_json::Deserializer::from_str(text);
        assert_eq!(Bounded::ANY.deserialize(&mut de).unwrap(), want);
        assert_eq!(Bounded::ANY.deserialize(&want).unwrap(), want);
        let deep = nested(100_000);
        assert!(Bounded::ANY.deserialize(&deep).is_err());
        let within = nested(MAX_JSON_DEPTH);
        assert_eq!(Bounded::ANY.deserialize(&within).unwrap(), within);
        dismantle(within);
        dismantle(deep);
    }
}
