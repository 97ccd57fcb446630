//! Customer data packed into bytes: the memory store keeps each customer's fields,
//! attributes, tags and groups as one small allocation (about 60 bytes for a customer with a
//! name, gender, city and email) instead of a `Customer` (192 bytes) plus an allocation per
//! field and per text, and unpacks it on read.
//!
//! Layout: a field count, then per field its index in [`Field::ALL`], a kind tag and the
//! value (texts as a length and UTF-8 bytes, integers little-endian). Attributes, tags and
//! groups, which few customers have, follow as JSON when present.

use crate::model::{CustomerPatch, ExtAttr, Field, FieldValue, Fields};
use chrono::{DateTime, Datelike, NaiveDate};
use indexmap::IndexMap;

const TEXT: u8 = 0;
const BOOL: u8 = 1;
const INT: u8 = 2;
const DECIMAL: u8 = 3;
const DATE: u8 = 4;
const TIMESTAMP: u8 = 5;

/// Everything of a customer but its id, status and timestamps.
#[derive(Default)]
pub(super) struct Data {
    pub(super) fields: Fields,
    pub(super) attrs: IndexMap<String, ExtAttr>,
    pub(super) tags: Vec<String>,
    pub(super) groups: Vec<i64>,
}

type Extras<'a> = (Vec<(&'a String, &'a ExtAttr)>, &'a [String], &'a [i64]);
type OwnedExtras = (Vec<(String, ExtAttr)>, Vec<String>, Vec<i64>);

/// Packs a customer's data; `None` when it has none.
pub(super) fn pack(
    fields: &Fields,
    attrs: &IndexMap<String, ExtAttr>,
    tags: &[String],
    groups: &[i64],
) -> Option<Box<[u8]>> {
    let extras = !(attrs.is_empty() && tags.is_empty() && groups.is_empty());
    if fields.is_empty() && !extras {
        return None;
    }
    let mut out = Vec::with_capacity(fields_len(fields.iter()));
    pack_fields(&mut out, fields.len(), fields.iter());
    if extras {
        let extras: Extras<'_> = (attrs.iter().collect(), tags, groups);
        serde_json::to_writer(&mut out, &extras).expect("attributes, tags and groups serialize");
    }
    Some(out.into_boxed_slice())
}

/// Packs the data of a customer created from `patch` (what [`pack`] makes of
/// `model::new_customer`'s data), without building the customer for the usual patch of
/// fields only.
pub(super) fn pack_new(patch: &CustomerPatch) -> Option<Box<[u8]>> {
    if !(patch.attrs.is_empty() && patch.tags.is_empty() && patch.groups.is_empty()) {
        let c = crate::model::new_customer(crate::model::CustomerId(0), DateTime::UNIX_EPOCH, patch);
        return pack(&c.fields, &c.attrs, &c.tags, &c.groups);
    }
    let kept = || patch.fields.iter().filter(|(_, v)| !crate::model::blank_field(v));
    let count = kept().count();
    if count == 0 {
        return None;
    }
    // Sized exactly: the boxed slice then takes the buffer as it is, without a copy.
    let mut out = Vec::with_capacity(fields_len(kept()));
    pack_fields(&mut out, count, kept());
    Some(out.into_boxed_slice())
}

/// How many bytes [`pack_fields`] writes for these fields.
fn fields_len<'a>(fields: impl Iterator<Item = (Field, &'a FieldValue)>) -> usize {
    let leb128 = |mut n: usize| {
        let mut bytes = 1;
        while n >= 0x80 {
            n >>= 7;
            bytes += 1;
        }
        bytes
    };
    1 + fields
        .map(|(_, value)| {
            // The field's index and the kind tag, then the value.
            2 + match value {
                FieldValue::Text(s) | FieldValue::Decimal(s) => leb128(s.len()) + s.len(),
                FieldValue::Bool(_) => 1,
                FieldValue::Int(_) => 8,
                FieldValue::Date(_) => 4,
                FieldValue::Timestamp(_) => 12,
            }
        })
        .sum::<usize>()
}

/// Packs `count` fields, in field order.
fn pack_fields<'a>(out: &mut Vec<u8>, count: usize, fields: impl Iterator<Item = (Field, &'a FieldValue)>) {
    out.push(count as u8);
    for (field, value) in fields {
        out.push(field as u8);
        match value {
            FieldValue::Text(s) => text(out, TEXT, s),
            FieldValue::Decimal(s) => text(out, DECIMAL, s),
            FieldValue::Bool(b) => out.extend([BOOL, u8::from(*b)]),
            FieldValue::Int(i) => {
                out.push(INT);
                out.extend(i.to_le_bytes());
            }
            FieldValue::Date(d) => {
                out.push(DATE);
                out.extend(d.num_days_from_ce().to_le_bytes());
            }
            FieldValue::Timestamp(t) => {
                out.push(TIMESTAMP);
                out.extend(t.timestamp().to_le_bytes());
                out.extend(t.timestamp_subsec_nanos().to_le_bytes());
            }
        }
    }
}

fn text(out: &mut Vec<u8>, tag: u8, s: &str) {
    out.push(tag);
    // Texts are short; a LEB128 length takes one byte below 128.
    let mut n = s.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(s.as_bytes());
}

/// Unpacks what [`pack`] made.
pub(super) fn unpack(bytes: Option<&[u8]>) -> Data {
    let Some(bytes) = bytes else {
        return Data::default();
    };
    let mut r = Reader { bytes, at: 0 };
    let count = r.byte();
    let mut pairs = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let field = Field::ALL[usize::from(r.byte())];
        pairs.push((field, r.value().to_value()));
    }
    // Packed in field order, so the set builds without reordering.
    let mut data = Data {
        fields: Fields::from_sorted_unchecked(pairs),
        ..Data::default()
    };
    let rest = &bytes[r.at..];
    if !rest.is_empty() {
        let (attrs, tags, groups): OwnedExtras =
            serde_json::from_slice(rest).expect("packed attributes, tags and groups parse");
        data.attrs = attrs.into_iter().collect();
        data.tags = tags;
        data.groups = groups;
    }
    data
}

/// Whether every field of `fields` is packed in `bytes` with that very value, read from the
/// bytes without unpacking (a resolve whose patch changes nothing asks this).
pub(super) fn holds(bytes: Option<&[u8]>, fields: &Fields) -> bool {
    let mut wanted = fields.iter().peekable();
    if wanted.peek().is_none() {
        return true;
    }
    let Some(bytes) = bytes else {
        return false;
    };
    let mut r = Reader { bytes, at: 0 };
    for _ in 0..r.byte() {
        let Some(&(field, value)) = wanted.peek() else {
            return true;
        };
        let packed_field = r.byte();
        let packed = r.value();
        // Both lists are in field order: a wanted field the bytes passed is missing.
        if packed_field > field as u8 {
            return false;
        }
        if packed_field == field as u8 {
            if !packed.is(value) {
                return false;
            }
            wanted.next();
        }
    }
    wanted.peek().is_none()
}

/// The value of one field, read from the bytes without unpacking the rest (a query filters
/// and sorts on this).
pub(super) fn field(bytes: Option<&[u8]>, field: Field) -> Option<Packed<'_>> {
    let mut r = Reader { bytes: bytes?, at: 0 };
    for _ in 0..r.byte() {
        let packed_field = r.byte();
        let value = r.value();
        if packed_field == field as u8 {
            return Some(value);
        }
        // Packed in field order: past it, the field is missing.
        if packed_field > field as u8 {
            return None;
        }
    }
    None
}

/// Whether tags, attributes or groups follow the fields (what [`unpack`] parses as JSON).
pub(super) fn has_extras(bytes: Option<&[u8]>) -> bool {
    let Some(bytes) = bytes else {
        return false;
    };
    let mut r = Reader { bytes, at: 0 };
    for _ in 0..r.byte() {
        r.byte();
        r.value();
    }
    r.at < bytes.len()
}

/// A packed field value, borrowed from the bytes.
pub(super) enum Packed<'a> {
    Text(&'a [u8]),
    Decimal(&'a [u8]),
    Bool(bool),
    Int(i64),
    Date(i32),
    Timestamp(i64, u32),
}

impl Packed<'_> {
    /// Its text, if it is a text or a decimal (what `Fields::text` reads).
    pub(super) fn text(&self) -> Option<&[u8]> {
        match *self {
            Packed::Text(b) | Packed::Decimal(b) => Some(b),
            _ => None,
        }
    }

    /// Its integer, if it is one.
    pub(super) fn int(&self) -> Option<i64> {
        match *self {
            Packed::Int(i) => Some(i),
            _ => None,
        }
    }

    /// Orders two values as `CustomerQuery::compare` orders the values they pack: texts by
    /// their bytes (UTF-8 orders as its characters), decimals by value, dates, instants,
    /// integers and booleans as themselves; values of different kinds as equal.
    pub(super) fn compare(&self, other: &Packed<'_>) -> std::cmp::Ordering {
        use Packed::*;
        match (self, other) {
            (Text(x), Text(y)) => x.cmp(y),
            (Decimal(x), Decimal(y)) => crate::query::compare_decimals(utf8(x), utf8(y)),
            (Bool(x), Bool(y)) => x.cmp(y),
            (Int(x), Int(y)) => x.cmp(y),
            (Date(x), Date(y)) => x.cmp(y),
            (Timestamp(xs, xn), Timestamp(ys, yn)) => (xs, xn).cmp(&(ys, yn)),
            _ => std::cmp::Ordering::Equal,
        }
    }

    /// The value it packs.
    fn to_value(&self) -> FieldValue {
        let text = |b| std::str::from_utf8(b).expect("packed texts are UTF-8");
        match *self {
            Packed::Text(b) => FieldValue::Text(text(b).into()),
            Packed::Decimal(b) => FieldValue::Decimal(text(b).into()),
            Packed::Bool(b) => FieldValue::Bool(b),
            Packed::Int(i) => FieldValue::Int(i),
            Packed::Date(days) => {
                FieldValue::Date(NaiveDate::from_num_days_from_ce_opt(days).expect("a packed date is valid"))
            }
            Packed::Timestamp(secs, nanos) => FieldValue::Timestamp(
                DateTime::from_timestamp(secs, nanos).expect("a packed instant is valid"),
            ),
        }
    }

    /// Whether it packs `value` (packing is exact, so equal bytes are equal values).
    fn is(&self, value: &FieldValue) -> bool {
        match (self, value) {
            (Packed::Text(b), FieldValue::Text(s)) | (Packed::Decimal(b), FieldValue::Decimal(s)) => {
                *b == s.as_bytes()
            }
            (Packed::Bool(a), FieldValue::Bool(b)) => a == b,
            (Packed::Int(a), FieldValue::Int(b)) => a == b,
            (Packed::Date(days), FieldValue::Date(d)) => *days == d.num_days_from_ce(),
            (Packed::Timestamp(secs, nanos), FieldValue::Timestamp(t)) => {
                *secs == t.timestamp() && *nanos == t.timestamp_subsec_nanos()
            }
            _ => false,
        }
    }
}

fn utf8(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("packed texts are UTF-8")
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> u8 {
        self.at += 1;
        self.bytes[self.at - 1]
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        self.at += N;
        self.bytes[self.at - N..self.at].try_into().expect("N bytes")
    }

    /// The next value, its kind tag first.
    fn value(&mut self) -> Packed<'a> {
        match self.byte() {
            TEXT => Packed::Text(self.text_bytes()),
            DECIMAL => Packed::Decimal(self.text_bytes()),
            BOOL => Packed::Bool(self.byte() != 0),
            INT => Packed::Int(i64::from_le_bytes(self.array())),
            DATE => Packed::Date(i32::from_le_bytes(self.array())),
            TIMESTAMP => {
                Packed::Timestamp(i64::from_le_bytes(self.array()), u32::from_le_bytes(self.array()))
            }
            tag => unreachable!("unknown packed field tag {tag}"),
        }
    }

    fn text_bytes(&mut self) -> &'a [u8] {
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let b = self.byte();
            len |= usize::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
            shift += 7;
        }
        self.at += len;
        &self.bytes[self.at - len..self.at]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn packs_and_unpacks_every_kind() {
        let mut fields = Fields::new();
        fields
            .set(Field::Name, FieldValue::Text("赵娜芳".into()))
            .unwrap();
        fields.set(Field::Gender, FieldValue::Int(2)).unwrap();
        fields
            .set(Field::AnnualRevenue, FieldValue::Decimal("1200.50".into()))
            .unwrap();
        fields
            .set(
                Field::Birthday,
                FieldValue::Date(NaiveDate::from_ymd_opt(1990, 2, 3).unwrap()),
            )
            .unwrap();
        let long = "x".repeat(300);
        fields
            .set(Field::Img, FieldValue::Text(long.as_str().into()))
            .unwrap();
        for f in Field::ALL {
            if f.kind() == crate::model::FieldKind::Timestamp {
                let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
                fields.set(*f, FieldValue::Timestamp(t)).unwrap();
            }
            if f.kind() == crate::model::FieldKind::Bool {
                fields.set(*f, FieldValue::Bool(true)).unwrap();
            }
        }
        let mut attrs = IndexMap::new();
        attrs.insert(
            "z-first".to_string(),
            ExtAttr {
                name: Some("Z".into()),
                value: json!({"b": 1, "a": [1.5, null, "s"]}),
            },
        );
        attrs.insert(
            "a-second".to_string(),
            ExtAttr {
                name: None,
                value: json!(7),
            },
        );
        let tags = vec!["vip".to_string(), "新客".to_string()];
        let groups = vec![3, -1];

        let packed = pack(&fields, &attrs, &tags, &groups).unwrap();
        let only = pack(&fields, &IndexMap::new(), &[], &[]).unwrap();
        assert_eq!(only.len(), fields_len(fields.iter()), "fields are sized exactly");
        let data = unpack(Some(&packed));
        assert_eq!(data.fields, fields);
        assert_eq!(data.attrs, attrs);
        assert_eq!(data.attrs.keys().collect::<Vec<_>>(), ["z-first", "a-second"]);
        assert_eq!(data.tags, tags);
        assert_eq!(data.groups, groups);

        // `holds` reads the same answer from the bytes as comparing the unpacked fields.
        for (field, value) in fields.iter() {
            let mut one = Fields::new();
            one.set(field, value.clone()).unwrap();
            assert!(holds(Some(&packed), &one), "{field:?}");
            let other = match value {
                FieldValue::Text(s) => {
                    // As long, one character other (field rules limit lengths).
                    let mut t = s.to_string();
                    t.pop();
                    t.push('Z');
                    FieldValue::Text(t.into())
                }
                FieldValue::Decimal(_) => FieldValue::Decimal("0.01".into()),
                FieldValue::Bool(b) => FieldValue::Bool(!b),
                FieldValue::Int(i) => FieldValue::Int(i - 1),
                FieldValue::Date(d) => FieldValue::Date(d.succ_opt().unwrap()),
                FieldValue::Timestamp(t) => FieldValue::Timestamp(*t + chrono::Duration::nanoseconds(1)),
            };
            let mut changed = fields.clone();
            changed.set(field, other).unwrap();
            assert!(!holds(Some(&packed), &changed), "{field:?} changed");
        }
        assert!(holds(Some(&packed), &fields));
        assert!(holds(Some(&packed), &Fields::new()));
        assert!(holds(None, &Fields::new()));
        assert!(!holds(None, &fields));
        let mut missing = Fields::new();
        missing.set(Field::City, FieldValue::Text("深圳".into())).unwrap();
        assert!(!holds(Some(&packed), &missing), "a field the customer lacks");
        let mut more = fields.clone();
        more.set(Field::City, FieldValue::Text("深圳".into())).unwrap();
        assert!(
            !holds(Some(&packed), &more),
            "one field more than the customer has"
        );

        let only_fields = pack(&fields, &IndexMap::new(), &[], &[]).unwrap();
        assert_eq!(unpack(Some(&only_fields)).fields, fields);
        assert!(pack(&Fields::new(), &IndexMap::new(), &[], &[]).is_none());
        assert!(unpack(None).fields.is_empty());
    }
}
