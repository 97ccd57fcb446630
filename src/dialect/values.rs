//! Field values as the sources print them, shared by the writers.

use crate::error::{Error, Result};
use crate::model::{Customer, CustomerId, Field, FieldValue, Fields, Identity};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// A UTC time to the second, `2017-06-06T03:18:23Z` (002 prints no fractions).
pub(crate) fn seconds(t: &DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// A field's value as JSON, `null` when unset: times to the second, decimals as numbers
/// where they are ones.
pub(crate) fn field(fields: &Fields, field: Field) -> Value {
    match fields.get(field) {
        None => Value::Null,
        Some(FieldValue::Timestamp(t)) => seconds(t),
        Some(FieldValue::Decimal(d)) => number(d),
        Some(v) => v.to_json(),
    }
}

/// A flag, `false` when unset (002 prints `"emailVerified": false`).
pub(crate) fn flag(fields: &Fields, field: Field) -> Value {
    Value::Bool(fields.get(field).and_then(FieldValue::as_bool).unwrap_or(false))
}

/// A flag as 001's `0` / `1`, `null` when unset.
pub(crate) fn flag_01(fields: &Fields, field: Field) -> Value {
    fields
        .get(field)
        .and_then(FieldValue::as_bool)
        .map_or(Value::Null, |b| Value::from(u8::from(b)))
}

/// A text the source types as a number (001 `campaignId`, `annualRevenue`): a number when it
/// reads as one, else the text.
pub(crate) fn number(text: &str) -> Value {
    serde_json::from_str::<serde_json::Number>(text.trim())
        .map_or_else(|_| Value::String(text.to_string()), Value::Number)
}

/// A field the source types as a number: [`number`] of its text, else its JSON.
pub(crate) fn numeric_field(fields: &Fields, f: Field) -> Value {
    match fields.get(f) {
        Some(FieldValue::Text(t) | FieldValue::Decimal(t)) => number(t),
        _ => field(fields, f),
    }
}

/// An extended attribute's value, `null` when the customer has none.
pub(crate) fn attr(customer: &Customer, key: &str) -> Value {
    customer.attrs.get(key).map_or(Value::Null, |a| a.value.clone())
}

/// The first identity of a type, if any.
pub(crate) fn first_of<'a>(identities: &'a [Identity], kind: &str) -> Option<&'a Identity> {
    identities.iter().find(|i| i.identity_type.as_str() == kind)
}

/// A customer id sent as a number or as its text.
pub(crate) fn customer_id(key: &str, v: &Value) -> Result<CustomerId> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .map(CustomerId)
        .ok_or_else(|| Error::field(key, "expected a customer id"))
}
