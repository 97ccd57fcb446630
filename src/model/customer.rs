//! Customers and the field patch a resolve applies.

use super::bounds::{check_attr_display_name, check_attr_size, check_count, check_tag};
use super::fields::{Field, Fields, format_timestamp};
use super::ids::CustomerId;
use super::json::{self, Bounded};
use super::unique::unite;
use crate::error::{Error, Result};
use crate::limits::{MAX_ATTRS, MAX_GROUPS, MAX_JSON_DEPTH, MAX_TAGS};
use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Where a customer is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum CustomerStatus {
    /// A live customer.
    Active,
    /// Merged into another customer; reads by this id reach that one.
    Merged {
        /// The customer this one was merged into (which may itself have been merged since).
        into: CustomerId,
    },
    /// Logically deleted; its identities were released.
    Deleted,
    /// Erased for good: personal fields, identities and the personal parts of its history are
    /// gone; only this tombstone (id, status, timestamps) remains.
    Erased,
}

/// An extended (custom) attribute: 002's `attr` entries, 001's `extendAttrList`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtAttr {
    /// Display name (001 `attrName`), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The value, any JSON.
    #[serde(deserialize_with = "json::bounded")]
    pub value: serde_json::Value,
}

/// A customer.
///
/// Serializes to 002's customer JSON: `id`, `displayName`, the well-known fields in
/// camelCase, `attr`, `tags`, `groupIds`, `status`, `dateCreated`, `lastUpdated`.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    /// Its id.
    pub id: CustomerId,
    /// Active, merged or deleted.
    pub status: CustomerStatus,
    /// Its well-known fields.
    pub fields: Fields,
    /// Its extended attributes, by key, in insertion order.
    pub attrs: IndexMap<String, ExtAttr>,
    /// Its tags (000 `tag`), without duplicates, in insertion order.
    pub tags: Vec<String>,
    /// The groups it belongs to (001 `groupId`), without duplicates.
    pub groups: Vec<i64>,
    /// When it was created (`dateCreated`).
    pub created: DateTime<Utc>,
    /// When it last changed (`lastUpdated`).
    pub updated: DateTime<Utc>,
}

impl Customer {
    /// A new active customer with no data.
    pub fn new(id: CustomerId, at: DateTime<Utc>) -> Self {
        Self {
            id,
            status: CustomerStatus::Active,
            fields: Fields::new(),
            attrs: IndexMap::new(),
            tags: Vec::new(),
            groups: Vec::new(),
            created: at,
            updated: at,
        }
    }

    /// 002's `displayName`: the name if non-empty, else the nickname.
    pub fn display_name(&self) -> Option<&str> {
        [Field::Name, Field::NickName]
            .into_iter()
            .filter_map(|f| self.fields.text(f))
            .find(|s| !s.is_empty())
    }

    /// Whether the customer is live.
    pub fn is_active(&self) -> bool {
        self.status == CustomerStatus::Active
    }
}

impl Serialize for Customer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("displayName", &self.display_name())?;
        for (field, value) in self.fields.iter() {
            map.serialize_entry(field.name(), value)?;
        }
        let attr: IndexMap<&str, &serde_json::Value> =
            self.attrs.iter().map(|(k, a)| (k.as_str(), &a.value)).collect();
        map.serialize_entry("attr", &attr)?;
        map.serialize_entry("tags", &self.tags)?;
        map.serialize_entry("groupIds", &self.groups)?;
        match self.status {
            CustomerStatus::Active => map.serialize_entry("status", "active")?,
            CustomerStatus::Deleted => map.serialize_entry("status", "deleted")?,
            CustomerStatus::Erased => map.serialize_entry("status", "erased")?,
            CustomerStatus::Merged { into } => {
                map.serialize_entry("status", "merged")?;
                map.serialize_entry("mergedInto", &into)?;
            }
        }
        map.serialize_entry("dateCreated", &format_timestamp(&self.created))?;
        map.serialize_entry("lastUpdated", &format_timestamp(&self.updated))?;
        map.end()
    }
}

/// The field patch of a resolve: a present field overwrites, an absent one is left as it
/// is, and nothing is ever cleared (002's rule for create-with-identities).
///
/// Deserializes a source's customer object: 002's `customer` (with `attr`), 001's flat body
/// (`extendAttrList`, `groupId`, 0/1 flags) and 000's (`tag`, gender as
/// `"male"`/`"female"`). JSON `null` counts as absent. Read-only keys of the sources' responses
/// (`id`, `displayName`, `dateCreated`, `lastUpdated`) are ignored; any other unknown key is an
/// [`Error::UnknownField`], so nothing a caller sent is silently dropped.
///
/// ```
/// use oneid::{CustomerPatch, Field};
/// let patch = CustomerPatch::from_json(&serde_json::json!({
///     "name": "小D", "mobile": "18612341234", "mobileVerified": 1, "gender": 1,
///     "attr": {"attr1": "西门剑铺"}
/// })).unwrap();
/// assert_eq!(patch.fields.text(Field::Name), Some("小D"));
/// assert_eq!(patch.attrs["attr1"].value, "西门剑铺");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerPatch {
    /// Fields to set.
    pub fields: Fields,
    /// Extended attributes to set.
    pub attrs: IndexMap<String, ExtAttr>,
    /// Tags to add.
    pub tags: Vec<String>,
    /// Groups to add.
    pub groups: Vec<i64>,
}

/// Keys of the sources' responses that are never input.
const READ_ONLY_KEYS: &[&str] = &["id", "displayName", "dateCreated", "lastUpdated", "status"];

impl<'de> Deserialize<'de> for CustomerPatch {
    /// Reads a customer object key by key, with the rules of [`CustomerPatch::from_json`],
    /// without building an intermediate JSON map.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PatchVisitor;
        impl<'de> serde::de::Visitor<'de> for PatchVisitor {
            type Value = CustomerPatch;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a customer object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<CustomerPatch, A::Error> {
                // Every key is read before any is applied, as a JSON object read into a value
                // first keeps them: a key given twice takes its last value, in the place of its
                // first, and what an earlier occurrence held is never looked at.
                let mut entries: IndexMap<std::borrow::Cow<'de, str>, Entry<'de>> = IndexMap::new();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let entry = match Field::from_name(&key) {
                        // An `{id, name}` object fills two fields: read as a whole.
                        Some(_) if super::id_name::id_name_fields(&key).is_some() => {
                            Entry::Other(map.next_value_seed(Bounded {
                                levels: MAX_JSON_DEPTH - 1,
                            })?)
                        }
                        // Well-known fields read their value straight from the input.
                        Some(field) => Entry::Field(field, map.next_value_seed(ScalarSeed)?),
                        // Bounded as `from_json` bounds the customer object it reads.
                        None => Entry::Other(map.next_value_seed(Bounded {
                            levels: MAX_JSON_DEPTH - 1,
                        })?),
                    };
                    entries.insert(key, entry);
                }
                let mut patch = CustomerPatch::new();
                for (key, entry) in entries {
                    match entry {
                        Entry::Field(field, scalar) => {
                            // A text needs no intermediate JSON value unless it may be refused
                            // (a NUL, or longer than the field may be).
                            let value = match scalar {
                                Scalar::Text(t) if field.kind() == super::FieldKind::Text => {
                                    if t.contains('\0') || field.too_long(&t) {
                                        let v = serde_json::Value::String(t.into_owned());
                                        field.parse_json(&v).map_err(serde::de::Error::custom)?
                                    } else {
                                        Some(super::FieldValue::Text(t.into()))
                                    }
                                }
                                Scalar::Text(t) => field
                                    .parse_json(&serde_json::Value::String(t.into_owned()))
                                    .map_err(serde::de::Error::custom)?,
                                Scalar::Other(v) => field.parse_json(&v).map_err(serde::de::Error::custom)?,
                            };
                            if let Some(value) = value {
                                patch.fields.insert_unchecked(field, value);
                            }
                        }
                        Entry::Other(value) => {
                            patch.read_key(&key, &value).map_err(serde::de::Error::custom)?;
                        }
                    }
                }
                Ok(patch)
            }
        }
        d.deserialize_map(PatchVisitor)
    }
}

/// A key of a customer object as read, before it is applied.
enum Entry<'de> {
    Field(Field, Scalar<'de>),
    Other(serde_json::Value),
}

/// A JSON value read for a well-known field: texts borrowed from the input where it allows,
/// anything else as a JSON value (numbers, booleans and null without allocating).
enum Scalar<'de> {
    Text(std::borrow::Cow<'de, str>),
    Other(serde_json::Value),
}

struct ScalarSeed;

impl<'de> serde::de::DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Scalar<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ScalarSeed {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Text(std::borrow::Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Text(std::borrow::Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Text(std::borrow::Cow::Owned(v)))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other(v.into()))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other(v.into()))
    }

    fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other(serde_json::Value::Null))
    }

    fn visit_none<E>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other(serde_json::Value::Null))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Scalar<'de>, A::Error> {
        let v = serde::de::Visitor::visit_seq(
            Bounded {
                levels: MAX_JSON_DEPTH - 1,
            },
            seq,
        )?;
        Ok(Scalar::Other(v))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Scalar<'de>, A::Error> {
        let v = serde::de::Visitor::visit_map(
            Bounded {
                levels: MAX_JSON_DEPTH - 1,
            },
            map,
        )?;
        Ok(Scalar::Other(v))
    }
}

impl CustomerPatch {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a field (builder style), type-checking the value.
    pub fn with(mut self, field: Field, value: impl Into<super::FieldValue>) -> Result<Self> {
        self.fields.set(field, value.into())?;
        Ok(self)
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.attrs.is_empty() && self.tags.is_empty() && self.groups.is_empty()
    }

    /// Reads a source's customer JSON object (see the type's docs). A value nested deeper
    /// than [`MAX_JSON_DEPTH`](crate::limits::MAX_JSON_DEPTH) is an [`Error::Payload`].
    pub fn from_json(value: &serde_json::Value) -> Result<Self> {
        json::check_depth(value)?;
        Self::from_checked_json(value)
    }

    /// [`from_json`](Self::from_json) of a value whose depth is checked.
    pub(crate) fn from_checked_json(value: &serde_json::Value) -> Result<Self> {
        let map = value.as_object().ok_or_else(|| {
            Error::Payload(format!(
                "a customer must be a JSON object, got {}",
                json::preview(value)
            ))
        })?;
        let mut patch = CustomerPatch::new();
        for (key, v) in map {
            patch.read_key(key, v)?;
        }
        Ok(patch)
    }

    /// Reads one key of a customer object into the patch. `v` nests at most
    /// [`MAX_JSON_DEPTH`](crate::limits::MAX_JSON_DEPTH) levels (the callers check it), so
    /// copying it is safe; lists longer than their bound are refused before they are copied.
    pub(crate) fn read_key(&mut self, key: &str, v: &serde_json::Value) -> Result<()> {
        use serde_json::Value;
        if super::id_name::read_id_name(&mut self.fields, key, v)? {
            return Ok(());
        }
        if let Some(field) = Field::from_name(key) {
            if let Some(value) = field.parse_json(v)? {
                self.fields.insert_unchecked(field, value);
            }
            return Ok(());
        }
        match key {
            "attr" => match v {
                Value::Null => {}
                Value::Object(attrs) => {
                    check_count(key, attrs.len(), MAX_ATTRS, "extended attributes")?;
                    for (k, value) in attrs {
                        // 002 sends "" / null for attributes it has no value for.
                        if !value.is_null() {
                            check_attr_size(k, value)?;
                            self.attrs.insert(
                                k.clone(),
                                ExtAttr {
                                    name: None,
                                    value: value.clone(),
                                },
                            );
                        }
                    }
                    check_count(key, self.attrs.len(), MAX_ATTRS, "extended attributes")?;
                }
                _ => return Err(Error::field("attr", "expected an object")),
            },
            "extendAttrList" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Item {
                    attr_key: String,
                    #[serde(default)]
                    attr_name: Option<String>,
                    #[serde(default)]
                    attr_value: serde_json::Value,
                }
                if v.is_null() {
                    return Ok(());
                }
                // Counted and measured before anything is copied.
                if let Value::Array(list) = v {
                    check_count(key, list.len(), MAX_ATTRS, "extended attributes")?;
                    for item in list {
                        if let Some(value) = item.get("attrValue") {
                            let key = item.get("attrKey").and_then(Value::as_str).unwrap_or(key);
                            check_attr_size(key, value)?;
                        }
                    }
                }
                let items =
                    Vec::<Item>::deserialize(v).map_err(|e| Error::field("extendAttrList", e.to_string()))?;
                for item in items {
                    if item.attr_key.is_empty() {
                        return Err(Error::field("extendAttrList", "attrKey is empty"));
                    }
                    check_attr_display_name(&item.attr_key, item.attr_name.as_deref())?;
                    if !item.attr_value.is_null() {
                        self.attrs.insert(
                            item.attr_key,
                            ExtAttr {
                                name: item.attr_name,
                                value: item.attr_value,
                            },
                        );
                    }
                }
                check_count(key, self.attrs.len(), MAX_ATTRS, "extended attributes")?;
            }
            "tag" | "tags" => match v {
                Value::Null => {}
                Value::Array(items) => {
                    check_count("tags", items.len(), MAX_TAGS, "tags")?;
                    let mut tags = Vec::with_capacity(items.len());
                    for t in items {
                        let t = t
                            .as_str()
                            .ok_or_else(|| Error::field(key, "expected a list of strings"))?;
                        check_tag(t)?;
                        tags.push(t);
                    }
                    unite(&mut self.tags, tags.into_iter().map(str::to_string));
                    check_count("tags", self.tags.len(), MAX_TAGS, "tags")?;
                }
                Value::String(t) => {
                    check_tag(t)?;
                    unite(&mut self.tags, [t.clone()]);
                    check_count("tags", self.tags.len(), MAX_TAGS, "tags")?;
                }
                _ => return Err(Error::field(key, "expected a list of strings")),
            },
            "groupId" | "groupIds" => match v {
                Value::Null => {}
                Value::Array(items) => {
                    check_count("groupIds", items.len(), MAX_GROUPS, "groups")?;
                    let groups = items
                        .iter()
                        .map(|g| {
                            g.as_i64()
                                .ok_or_else(|| Error::field(key, "expected integer group ids"))
                        })
                        .collect::<Result<Vec<i64>>>()?;
                    unite(&mut self.groups, groups);
                    check_count("groupIds", self.groups.len(), MAX_GROUPS, "groups")?;
                }
                other => {
                    let g = other
                        .as_i64()
                        .or_else(|| other.as_str().and_then(|s| s.trim().parse().ok()))
                        .ok_or_else(|| Error::field(key, "expected an integer group id"))?;
                    unite(&mut self.groups, [g]);
                    check_count("groupIds", self.groups.len(), MAX_GROUPS, "groups")?;
                }
            },
            k if READ_ONLY_KEYS.contains(&k) => {}
            _ => {
                return Err(Error::UnknownField {
                    field: key.to_string(),
                });
            }
        }
        Ok(())
    }
}

impl From<&str> for super::FieldValue {
    fn from(s: &str) -> Self {
        super::FieldValue::Text(s.into())
    }
}

impl From<String> for super::FieldValue {
    fn from(s: String) -> Self {
        super::FieldValue::Text(s.into())
    }
}

impl From<bool> for super::FieldValue {
    fn from(b: bool) -> Self {
        super::FieldValue::Bool(b)
    }
}

impl From<i64> for super::FieldValue {
    fn from(i: i64) -> Self {
        super::FieldValue::Int(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading a patch straight from the input (serde) and through a JSON value
    /// (`from_json`) are the same reading, errors included.
    #[test]
    fn serde_and_from_json_read_patches_alike() {
        let payloads = [
            r#"{"name":"赵娜芳","gender":1,"city":"深圳","email":"u0.18b8f@qq.com"}"#,
            r#"{"name":"a\"b\\c\u00e9","gender":"female","birthday":"1990-02-03","mobile":13800138000}"#,
            r#"{"gender":"2","isEmployee":"1","balance":"12","annualRevenue":1200.5,"nickName":null}"#,
            r#"{"name":"bad\u0000nul"}"#,
            r#"{"gender":7}"#,
            r#"{"birthday":"1990-13-03"}"#,
            r#"{"name":{"nested":true}}"#,
            r#"{"name":["a"]}"#,
            r#"{"attr":{"level":"gold","n":3},"tags":["vip","vip","new"],"groupIds":[1,2]}"#,
            r#"{"dateJoin":"2024-01-02T03:04:05Z","unknownKey":1}"#,
        ];
        for payload in payloads {
            let via_serde = serde_json::from_str::<CustomerPatch>(payload).map_err(|e| e.to_string());
            let value: serde_json::Value = serde_json::from_str(payload).unwrap();
            let via_value = CustomerPatch::from_json(&value).map_err(|e| e.to_string());
            match (&via_serde, &via_value) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{payload}"),
                // serde adds a position to the same message.
                (Err(a), Err(b)) => assert!(a.starts_with(b.as_str()), "{payload}: {a} / {b}"),
                _ => panic!("{payload}: {via_serde:?} / {via_value:?}"),
            }
        }
    }
}
