//! 000 (clinic/shop API) responses. Its document gives the customer's fields as a table and
//! prints no bodies; the shapes here are that table's (**Decision**).

use super::values::{attr, field, seconds};
use crate::model::{Customer, CustomerId, Field, FieldValue, Identity, write_id_name};
use serde_json::{Map, Value, json};

/// The keys of 000's customer, in its table's order, after the customer's `id`.
pub const CUSTOMER_KEYS: &[&str] = &[
    "id",
    "shopId",
    "name",
    "mrn",
    "mobile",
    "gender",
    "birthday",
    "idcard",
    "country",
    "province",
    "city",
    "county",
    "address",
    "balance",
    "credit",
    "wechatNickname",
    "wechatHeadimgurl",
    "LastSigninAt",
    "tag",
    "fromChannel",
    "fromReferrer",
    "fromActivity",
    "status",
];

/// 000's customer (`GET /customer/v1/customer/:id`, and what its writes return): every key of
/// [`CUSTOMER_KEYS`], `null` where unset; `gender` as `male` / `female` / `unknown`; `tag` a
/// list; `fromReferrer` and `fromActivity` as `{id, name}` objects, `fromChannel` too when it
/// has a name (else its text); `status` the one the shop sent.
pub fn customer(c: &Customer) -> Value {
    let mut map = Map::with_capacity(CUSTOMER_KEYS.len());
    for &key in CUSTOMER_KEYS {
        let value = match key {
            "id" => Value::from(c.id.0),
            "gender" => match c.fields.get(Field::Gender) {
                Some(FieldValue::Int(1)) => "male".into(),
                Some(FieldValue::Int(2)) => "female".into(),
                Some(_) => "unknown".into(),
                None => Value::Null,
            },
            "address" => field(&c.fields, Field::HomeAddress),
            "wechatNickname" => field(&c.fields, Field::NickName),
            "wechatHeadimgurl" => field(&c.fields, Field::Img),
            "LastSigninAt" => match c.fields.get(Field::LastSigninAt) {
                Some(FieldValue::Timestamp(t)) => seconds(t),
                _ => Value::Null,
            },
            "tag" => json!(c.tags),
            "fromChannel" if c.fields.get(Field::ChannelName).is_none() => field(&c.fields, Field::Channel),
            "fromChannel" | "fromReferrer" | "fromActivity" => {
                write_id_name(&c.fields, key).unwrap_or(Value::Null)
            }
            "status" => attr(c, "status"),
            name => Field::from_name(name).map_or(Value::Null, |f| field(&c.fields, f)),
        };
        map.insert(key.to_string(), value);
    }
    Value::Object(map)
}

/// 000's `GET /customer/v1/customer`: an array of [`customer`]s.
pub fn list(customers: &[Customer]) -> Value {
    Value::Array(customers.iter().map(customer).collect())
}

/// 000's `GET /customer/v1/customer/linked-account`: the customer's identities as
/// `[{"customerId", "identityType", "identityValue", "identityName"}]`.
pub fn linked_accounts(owner: CustomerId, identities: &[Identity]) -> Value {
    Value::Array(
        identities
            .iter()
            .map(|i| {
                json!({
                    "customerId": owner.to_string(),
                    "identityType": i.identity_type.as_str(),
                    "identityValue": &*i.identity_value,
                    "identityName": i.identity_name.as_deref(),
                })
            })
            .collect(),
    )
}

/// 000's error body (**Decision**: its document prints none): `{"code", "message"}`, the
/// code being the HTTP status answered (for an [`Error`](crate::Error), its [`kind`](crate::Error::kind)'s
/// [`http_status`](crate::ErrorKind::http_status)).
pub fn error(status: u16, message: &str) -> Value {
    json!({"code": status, "message": message})
}
