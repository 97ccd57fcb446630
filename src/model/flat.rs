//! The keys of 001's flat customer body (`customer/add`, `createCustomerByIdentity`) that
//! read otherwise than in a customer object of another source.

use super::customer::{CustomerPatch, ExtAttr};
use super::fields::{Field, FieldValue};
use crate::error::Result;
use serde_json::Value;

/// 001-only keys with no well-known field: kept as extended attributes so nothing the caller
/// sent is lost.
pub(crate) const FLAT_ATTR_KEYS: &[&str] = &[
    "userIdList",
    "deptCodeList",
    "editable",
    "source1",
    "source2",
    "source3",
    "source4",
    "source5",
    "source6",
    "source7",
    "source8",
];

/// 001's `isEmployee` is inverted: `0` (or `"0"`) means yes, `1` means no; `true`/`false`
/// mean what they say. `None` for `null`.
pub(crate) fn read_inverted_flag(v: &Value) -> Result<Option<bool>> {
    let Some(value) = Field::IsEmployee.parse_json(v)? else {
        return Ok(None);
    };
    let FieldValue::Bool(b) = value else {
        return Ok(None);
    };
    Ok(Some(match v {
        Value::Number(_) => !b,
        Value::String(t) if matches!(t.trim(), "0" | "1") => !b,
        _ => b,
    }))
}

/// Reads one key of a 001 flat body into the patch (the identities and options are read by
/// the caller).
pub(crate) fn read_flat_key(patch: &mut CustomerPatch, key: &str, v: &Value) -> Result<()> {
    if key == Field::IsEmployee.name() {
        if let Some(is) = read_inverted_flag(v)? {
            patch
                .fields
                .insert_unchecked(Field::IsEmployee, FieldValue::Bool(is));
        }
        return Ok(());
    }
    if FLAT_ATTR_KEYS.contains(&key) {
        return keep_attr(patch, key, v);
    }
    patch.read_key(key, v)
}

/// Keeps a key a source documents without a well-known field as an extended attribute of the
/// same name (`null` keeps nothing).
pub(crate) fn keep_attr(patch: &mut CustomerPatch, key: &str, v: &Value) -> Result<()> {
    if !v.is_null() {
        super::bounds::check_attr_size(key, v)?;
        patch.attrs.insert(
            key.to_string(),
            ExtAttr {
                name: None,
                value: v.clone(),
            },
        );
    }
    Ok(())
}
