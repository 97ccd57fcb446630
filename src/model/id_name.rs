//! 000's `IdName` values: `fromReferrer`, `fromActivity` and `fromChannel` as `{id, name}`
//! objects, kept as two text fields each.

use super::fields::{Field, Fields};
use crate::error::{Error, Result};
use serde_json::Value;

/// The fields an `{id, name}` key fills: `(id field, name field)`.
pub(crate) fn id_name_fields(key: &str) -> Option<(Field, Field)> {
    match key {
        "fromReferrer" => Some((Field::Referrer, Field::ReferrerName)),
        "fromActivity" => Some((Field::Activity, Field::ActivityName)),
        "fromChannel" => Some((Field::Channel, Field::ChannelName)),
        _ => None,
    }
}

/// Reads `{"id": …, "name": …}` (either may be absent or `null`; a numeric id is read as its
/// text) into the key's two fields. `false` when `v` is not an object, which the key's id
/// field then reads as plain text.
pub(crate) fn read_id_name(fields: &mut Fields, key: &str, v: &Value) -> Result<bool> {
    let (Some((id_field, name_field)), Value::Object(map)) = (id_name_fields(key), v) else {
        return Ok(false);
    };
    for (k, part) in map {
        let field = match k.as_str() {
            "id" => id_field,
            "name" => name_field,
            _ => {
                return Err(Error::field(
                    key,
                    format!("an IdName object has id and name, not {k:?}"),
                ));
            }
        };
        let part = match part {
            Value::Number(n) => Value::String(n.to_string()),
            other => other.clone(),
        };
        if let Some(value) = field
            .parse_json(&part)
            .map_err(|e| Error::field(key, e.to_string()))?
        {
            fields.insert_unchecked(field, value);
        }
    }
    Ok(true)
}

/// The `{id, name}` object of a key, from the customer's two fields; `None` when neither is
/// set, so a writer can print `null`.
pub(crate) fn write_id_name(fields: &Fields, key: &str) -> Option<Value> {
    let (id_field, name_field) = id_name_fields(key)?;
    let id = fields.text(id_field);
    let name = fields.text(name_field);
    if id.is_none() && name.is_none() {
        return None;
    }
    Some(serde_json::json!({"id": id, "name": name}))
}
