//! The patch of an update (002 `PUT customers/{id}`, 000 `PATCH`): unlike a resolve's patch,
//! it can clear fields.

use super::bounds::{check_attr_size, check_count};
use super::customer::{CustomerPatch, ExtAttr};
use super::fields::{Field, FieldValue};
use super::json;
use crate::error::{Error, Result};
use crate::limits::MAX_ATTRS;
use serde::Deserialize;

/// What an update does to one value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Change<T> {
    /// Leave it as it is (the key was absent).
    #[default]
    Keep,
    /// Set it.
    Set(T),
    /// Remove it (the key was JSON `null`).
    Clear,
}

/// An update: per field and extended attribute, set, clear or keep; tags and groups replaced
/// when given. The verified rule still holds: a true `mobileVerified` / `emailVerified`
/// cannot become false (or be cleared) while the mobile / email stays the same.
///
/// ```
/// use oneid::{Change, Field, FieldValue, UpdatePatch};
/// let update = UpdatePatch::from_json(&serde_json::json!({"name": "小D", "city": null})).unwrap();
/// assert_eq!(update.field(Field::Name), &Change::Set(FieldValue::Text("小D".into())));
/// assert_eq!(update.field(Field::City), &Change::Clear);
/// assert_eq!(update.field(Field::Email), &Change::Keep);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdatePatch {
    /// Fields to set (`Change::Set`) or clear (`Change::Clear`); absent fields are kept.
    pub fields: Vec<(Field, Change<FieldValue>)>,
    /// Extended attributes to set or clear.
    pub attrs: Vec<(String, Change<ExtAttr>)>,
    /// The new tag list, if given.
    pub tags: Option<Vec<String>>,
    /// The new group list, if given.
    pub groups: Option<Vec<i64>>,
}

const KEEP: Change<FieldValue> = Change::Keep;

impl UpdatePatch {
    /// An update that changes nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a field (builder style), type-checking the value.
    pub fn set(mut self, field: Field, value: impl Into<FieldValue>) -> Result<Self> {
        let value = value.into();
        field.check(&value)?;
        self.put(field, Change::Set(value));
        Ok(self)
    }

    /// Clears a field (builder style).
    pub fn clear(mut self, field: Field) -> Self {
        self.put(field, Change::Clear);
        self
    }

    fn put(&mut self, field: Field, change: Change<FieldValue>) {
        self.fields.retain(|(f, _)| *f != field);
        self.fields.push((field, change));
    }

    /// What the update does to a field.
    pub fn field(&self, field: Field) -> &Change<FieldValue> {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(&KEEP, |(_, c)| c)
    }

    /// Reads an update body: a customer object where a present key sets, `null` clears and an
    /// absent key keeps; `attr` entries likewise; `tags`/`tag` and `groupIds` replace the lists.
    /// Unknown keys are an [`Error::UnknownField`]; a value nested deeper than
    /// [`MAX_JSON_DEPTH`](crate::limits::MAX_JSON_DEPTH) is an [`Error::Payload`].
    pub fn from_json(value: &serde_json::Value) -> Result<Self> {
        json::check_depth(value)?;
        let map = value.as_object().ok_or_else(|| {
            Error::Payload(format!(
                "an update must be a JSON object, got {}",
                json::preview(value)
            ))
        })?;
        let mut update = UpdatePatch::new();
        for (key, v) in map {
            if let Some(field) = Field::from_name(key) {
                match field.parse_json(v)? {
                    Some(value) => update.put(field, Change::Set(value)),
                    None => update.put(field, Change::Clear),
                }
                continue;
            }
            match key.as_str() {
                "attr" => {
                    let attrs = match v {
                        serde_json::Value::Null => continue,
                        serde_json::Value::Object(attrs) => attrs,
                        _ => return Err(Error::field("attr", "expected an object")),
                    };
                    check_count(key, attrs.len(), MAX_ATTRS, "extended attributes")?;
                    for (k, value) in attrs {
                        let change = if value.is_null() {
                            Change::Clear
                        } else {
                            check_attr_size(k, value)?;
                            Change::Set(ExtAttr {
                                name: None,
                                value: value.clone(),
                            })
                        };
                        update.attrs.push((k.clone(), change));
                    }
                }
                "tag" | "tags" | "groupId" | "groupIds" | "extendAttrList" => {
                    // Same reading as a resolve's patch; the lists then replace.
                    let mut patch = CustomerPatch::new();
                    patch.read_key(key, v)?;
                    match key.as_str() {
                        "tag" | "tags" => update.tags = Some(patch.tags),
                        "groupId" | "groupIds" => update.groups = Some(patch.groups),
                        _ => update
                            .attrs
                            .extend(patch.attrs.into_iter().map(|(k, a)| (k, Change::Set(a)))),
                    }
                }
                "id" | "displayName" | "dateCreated" | "lastUpdated" | "status" => {}
                _ => return Err(Error::UnknownField { field: key.clone() }),
            }
        }
        // `attr` and `extendAttrList` together, as sent.
        check_count("attr", update.attrs.len(), MAX_ATTRS, "extended attributes")?;
        // An attribute named twice (in `attr` and `extendAttrList`) takes its last change, as
        // a field given twice does, so that applying the update again changes nothing.
        let mut seen = std::collections::HashSet::with_capacity(update.attrs.len());
        let mut last_first: Vec<(String, Change<ExtAttr>)> = std::mem::take(&mut update.attrs)
            .into_iter()
            .rev()
            .filter(|(k, _)| seen.insert(k.clone()))
            .collect();
        last_first.reverse();
        update.attrs = last_first;
        Ok(update)
    }
}

impl<'de> Deserialize<'de> for UpdatePatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = serde::de::DeserializeSeed::deserialize(json::Bounded::ANY, d)?;
        UpdatePatch::from_json(&value).map_err(serde::de::Error::custom)
    }
}
