//! The codec: how customers, identities, times and history causes are kept in columns.
//!
//! A customer row keeps the full data as one JSON text (fields by name, attributes, tags,
//! groups), so reading a customer is one column, plus copies of the few fields queries filter
//! and sort on in columns of their own. Times are fixed-width text, which compares as time
//! does in both databases. Reading back checks what it reads: an unknown status, field, type or
//! operation is a store error, not a panic.

use super::SqlValue;
use crate::error::{Error, Result};
use crate::history::Operation;
use crate::model::{
    Customer, CustomerId, CustomerStatus, ExtAttr, Field, Fields, Identity, IdentityKey, IdentityType,
    TenantId,
};
use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use std::sync::Arc;

/// Timestamps are stored as fixed-width RFC 3339 text, which sorts as time does in every
/// database and round-trips to the microsecond.
pub(super) fn ts(t: &DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    let mut out = String::with_capacity(27);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        // A leap second reads as second 60, as `%S` writes it.
        t.second() + u32::from(t.nanosecond() >= 1_000_000_000),
        t.nanosecond() % 1_000_000_000 / 1_000
    );
    out
}

pub(super) fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::Corrupt(format!("bad timestamp {s:?} in the database: {e}")))
}

pub(super) fn id_param(id: CustomerId) -> Result<SqlValue> {
    i64::try_from(id.0)
        .map(SqlValue::Int)
        .map_err(|_| Error::CustomerNotFound(id))
}

pub(super) fn key_params(tenant: &TenantId, key: IdentityKey<'_>) -> [SqlValue; 4] {
    [
        tenant.as_str().into(),
        key.identity_type.into(),
        key.scope.unwrap_or("").into(),
        key.value.into(),
    ]
}

pub(super) fn operation_name(op: Operation) -> &'static str {
    match op {
        Operation::Resolve => "resolve",
        Operation::Create => "create",
        Operation::Update => "update",
        Operation::AddIdentity => "addIdentity",
        Operation::RemoveIdentity => "removeIdentity",
        Operation::Delete => "delete",
        Operation::Erase => "erase",
    }
}

pub(super) fn operation_from(name: &str) -> Result<Operation> {
    Ok(match name {
        "resolve" => Operation::Resolve,
        "create" => Operation::Create,
        "update" => Operation::Update,
        "addIdentity" => Operation::AddIdentity,
        "removeIdentity" => Operation::RemoveIdentity,
        "delete" => Operation::Delete,
        "erase" => Operation::Erase,
        other => return Err(Error::Corrupt(format!("unknown operation {other:?} in history"))),
    })
}

/// The JSON kept in a customer row's `data` column:
/// `{"fields": {name: value, ...}, "attrs": {...}, "tags": [...], "groups": [...]}`.
pub(super) fn data_json(c: &Customer) -> String {
    struct FieldsOut<'a>(&'a Fields);
    impl serde::Serialize for FieldsOut<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = s.serialize_map(None)?;
            for (f, v) in self.0.iter() {
                map.serialize_entry(f.name(), &v.to_json())?;
            }
            map.end()
        }
    }
    #[derive(serde::Serialize)]
    struct Data<'a> {
        fields: FieldsOut<'a>,
        attrs: &'a IndexMap<String, ExtAttr>,
        tags: &'a [String],
        groups: &'a [i64],
    }
    serde_json::to_string(&Data {
        fields: FieldsOut(&c.fields),
        attrs: &c.attrs,
        tags: &c.tags,
        groups: &c.groups,
    })
    .expect("customer data serializes")
}

pub(super) fn read_data(c: &mut Customer, data: &str) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct Data {
        fields: serde_json::Map<String, serde_json::Value>,
        attrs: IndexMap<String, ExtAttr>,
        tags: Vec<String>,
        groups: Vec<i64>,
    }
    let data: Data =
        serde_json::from_str(data).map_err(|e| Error::Corrupt(format!("bad customer data: {e}")))?;
    let mut fields = Fields::new();
    for (name, value) in &data.fields {
        let field =
            Field::from_name(name).ok_or_else(|| Error::Corrupt(format!("unknown field {name} stored")))?;
        if let Some(v) = field.parse_json(value)? {
            fields.set(field, v)?;
        }
    }
    c.fields = fields;
    c.attrs = data.attrs;
    c.tags = data.tags;
    c.groups = data.groups;
    Ok(())
}

/// The columns [`customer_from_row`] reads, in its order.
pub(super) const CUSTOMER_COLUMNS: &str = "id, status, merged_into, created, updated, data";
/// [`CUSTOMER_COLUMNS`] of the customer table aliased `c`.
pub(super) const CUSTOMER_COLUMNS_C: &str = "c.id, c.status, c.merged_into, c.created, c.updated, c.data";

pub(super) fn customer_from_row(row: &[SqlValue]) -> Result<(Customer, Option<i64>)> {
    let id = CustomerId(row[0].int()? as u64);
    let merged_into = row[2].opt_int()?;
    let status = match row[1].text()? {
        "active" => CustomerStatus::Active,
        "deleted" => CustomerStatus::Deleted,
        "erased" => CustomerStatus::Erased,
        "merged" => CustomerStatus::Merged {
            into: CustomerId(
                merged_into.ok_or_else(|| Error::Corrupt(format!("merged customer {id} without target")))?
                    as u64,
            ),
        },
        other => return Err(Error::Corrupt(format!("unknown status {other:?}"))),
    };
    let mut c = Customer::new(id, parse_ts(row[3].text()?)?);
    c.status = status;
    c.updated = parse_ts(row[4].text()?)?;
    read_data(&mut c, row[5].text()?)?;
    Ok((c, merged_into))
}

/// The values of a customer row, in the order of the `INSERT` in
/// [`SqlTxn::flush`](super::SqlTxn::flush) and of the parameters of the `UPDATE` in
/// [`SqlTxn::write_customer`](super::SqlTxn::write_customer).
pub(super) fn customer_values(tenant: &TenantId, c: &Customer, status: &str) -> Result<Vec<SqlValue>> {
    let text = |f: Field| SqlValue::from(c.fields.text(f));
    let gender = c
        .fields
        .get(Field::Gender)
        .and_then(|v| v.as_i64())
        .map_or(SqlValue::Null, SqlValue::Int);
    Ok(vec![
        tenant.as_str().into(),
        id_param(c.id)?,
        status.into(),
        ts(&c.created).into(),
        ts(&c.updated).into(),
        data_json(c).into(),
        text(Field::Mobile),
        text(Field::Email),
        text(Field::Name),
        text(Field::NickName),
        gender,
        text(Field::Stage),
        text(Field::Source),
    ])
}

pub(super) fn identity_from(ty: &str, scope: &str, value: &str, name: Option<&str>) -> Result<Identity> {
    Ok(Identity {
        identity_type: IdentityType::new(ty)
            .ok_or_else(|| Error::Corrupt(format!("bad identity type {ty:?} stored")))?,
        scope: (!scope.is_empty()).then(|| Arc::from(scope)),
        identity_value: value.into(),
        identity_name: name.map(Arc::from),
    })
}
