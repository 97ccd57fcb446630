//! 001 (Baiyao CDP open API) responses: the `{code, msg, data}` envelope and what it carries.

use super::values::{attr, field, first_of, flag_01, numeric_field};
use crate::model::{Customer, CustomerId, FLAT_ATTR_KEYS, Field, Identity, IdentityType};
use crate::query::{CustomerPage, CustomerQuery};
use indexmap::IndexMap;
use serde_json::{Map, Value, json};

/// The keys of 001's customer detail (`customerInfo`, `getCustomerIdByCustomerIdentity`), in
/// its table's order. **Decision:** the table leaves out the customer's id, name, mobile and
/// mobileVerified, which its create bodies carry; they come first.
pub const CUSTOMER_KEYS: &[&str] = &[
    "id",
    "name",
    "mobile",
    "mobileVerified",
    "annualRevenue",
    "appId",
    "birthday",
    "campaignId",
    "chargeId",
    "province",
    "city",
    "district",
    "company",
    "createMethod",
    "editable",
    "employeeNumber",
    "email",
    "emailVerified",
    "gender",
    "hobby",
    "img",
    "industry",
    "isEmployee",
    "language",
    "location",
    "nickName",
    "openId",
    "position",
    "referrer",
    "referrerName",
    "remark",
    "source",
    "source1",
    "source2",
    "source3",
    "source4",
    "source5",
    "source6",
    "source7",
    "source8",
    "subscribeSource",
    "unionId",
    "website",
    "extendAttrList",
    "identityList",
];

/// 001's success envelope: `{"code": 0, "msg": "success", "data": data}`.
pub fn ok(data: Value) -> Value {
    json!({"code": 0, "msg": "success", "data": data})
}

/// 001's failure envelope: `{"code": -1, "msg": message, "data": null}`.
pub fn error(message: &str) -> Value {
    json!({"code": -1, "msg": message, "data": null})
}

/// 001's customer detail: every key of [`CUSTOMER_KEYS`], `null` where unset; flags as
/// `0`/`1` with `isEmployee` inverted (`0` means yes); `openId` / `appId` and `unionId` from
/// the customer's `wechat` and `wechat-unionid` identities; `editable` and `source1`…`8` from
/// the extended attributes that hold them, the other attributes in `extendAttrList`; every
/// identity in `identityList`. Without identities (`&[]`), the identity keys are `null` and
/// `identityList` is empty.
pub fn customer(c: &Customer, identities: &[Identity]) -> Value {
    let wechat = first_of(identities, IdentityType::WECHAT);
    let union = first_of(identities, IdentityType::WECHAT_UNIONID);
    let mut map = Map::with_capacity(CUSTOMER_KEYS.len());
    for &key in CUSTOMER_KEYS {
        let value = match key {
            "id" => Value::from(c.id.0),
            "appId" => wechat.and_then(|i| i.scope.as_deref()).map_or(Value::Null, Value::from),
            "openId" => wechat.map_or(Value::Null, |i| Value::from(&*i.identity_value)),
            "unionId" => union.map_or(Value::Null, |i| Value::from(&*i.identity_value)),
            "mobileVerified" => flag_01(&c.fields, Field::MobileVerified),
            "emailVerified" => flag_01(&c.fields, Field::EmailVerified),
            "isEmployee" => c
                .fields
                .get(Field::IsEmployee)
                .and_then(crate::FieldValue::as_bool)
                .map_or(Value::Null, |yes| Value::from(u8::from(!yes))),
            "annualRevenue" | "campaignId" => numeric_field(&c.fields, Field::from_name(key).expect("a field")),
            "extendAttrList" => Value::Array(
                c.attrs
                    .iter()
                    .filter(|(k, _)| !CUSTOMER_KEYS.contains(&k.as_str()))
                    .map(|(k, a)| json!({"attrKey": k, "attrName": a.name, "attrValue": a.value}))
                    .collect(),
            ),
            "identityList" => Value::Array(
                identities
                    .iter()
                    .map(|i| json!({"identityType": i.identity_type.as_str(), "identityValue": &*i.identity_value}))
                    .collect(),
            ),
            k if FLAT_ATTR_KEYS.contains(&k) => attr(c, k),
            name => Field::from_name(name).map_or(Value::Null, |f| field(&c.fields, f)),
        };
        map.insert(key.to_string(), value);
    }
    Value::Object(map)
}

/// 001 `simpleQuery`'s `data`: `{"current", "size", "total", "records"}`, each record a
/// [`customer`] with the identities given for it (customers missing from `identities` print
/// none).
pub fn page(page: &CustomerPage, query: &CustomerQuery, identities: &[(CustomerId, Vec<Identity>)]) -> Value {
    let records: Vec<Value> = page
        .rows
        .iter()
        .map(|c| {
            let ids = identities
                .iter()
                .find(|(id, _)| *id == c.id)
                .map_or(&[][..], |(_, ids)| ids);
            customer(c, ids)
        })
        .collect();
    json!({"current": query.page, "size": query.size, "total": page.total, "records": records})
}

/// 001 `queryAttrValuesByCustomerId`'s `data`: `[{"customerId", "attrList": [{"attrKey",
/// "attrName", "attrValue"}]}]`, one entry per key asked for, in order; `attrName` is an
/// extended attribute's display name, else the key. **Decision:** the table's `customerId`
/// is read as a key of each item of `data`.
pub fn attributes(c: &Customer, values: &IndexMap<String, Value>) -> Value {
    let list: Vec<Value> = values
        .iter()
        .map(|(key, value)| {
            let name = c
                .attrs
                .get(key)
                .and_then(|a| a.name.clone())
                .unwrap_or_else(|| key.clone());
            let value = if key == Field::IsEmployee.name() {
                value
                    .as_bool()
                    .map_or(Value::Null, |yes| Value::from(u8::from(!yes)))
            } else {
                value.clone()
            };
            json!({"attrKey": key, "attrName": name, "attrValue": value})
        })
        .collect();
    json!([{"customerId": c.id.0, "attrList": list}])
}
