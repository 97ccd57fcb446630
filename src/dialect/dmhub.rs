//! 002 (Convertlab DM Hub) responses, as its document prints them.

use super::values::{field, flag, seconds};
use crate::model::{Customer, CustomerId, Field, Identity};
use serde_json::{Map, Value};

/// The keys of 002's customer object, in its printed order.
pub const CUSTOMER_KEYS: &[&str] = &[
    "id",
    "displayName",
    "name",
    "img",
    "gender",
    "mobile",
    "mobileVerified",
    "email",
    "emailVerified",
    "birthday",
    "wechat",
    "nickName",
    "country",
    "province",
    "city",
    "county",
    "homeAddress",
    "officeAddress",
    "qq",
    "weibo",
    "stage",
    "dateJoin",
    "source",
    "contentName",
    "company",
    "title",
    "industry",
    "employeeNumber",
    "annualRevenue",
    "website",
    "telephone",
    "ownerId",
    "ownerName",
    "isEmployee",
    "campaignId",
    "campaignName",
    "lastUpdated",
    "remark",
    "isMember",
    "dateCreated",
    "attr",
];

/// 002's customer object (what `POST customerandidentities`, `POST customers`,
/// `GET customers/{id}` and `PUT customers/{id}` return): every key of
/// [`CUSTOMER_KEYS`] in its order, `null` where unset and `false` for an unset flag, times
/// to the second, the extended attributes in `attr`. Fields 002 does not print (000's
/// `balance`, tags, …) are left out.
///
/// ```
/// use oneid::{Customer, CustomerId};
/// let c = Customer::new(CustomerId(7), chrono::DateTime::UNIX_EPOCH);
/// let printed = oneid::dialect::dmhub::customer(&c);
/// assert_eq!(printed["id"], 7);
/// assert_eq!(printed["dateCreated"], "1970-01-01T00:00:00Z");
/// assert_eq!(printed.as_object().unwrap().len(), oneid::dialect::dmhub::CUSTOMER_KEYS.len());
/// ```
pub fn customer(c: &Customer) -> Value {
    let mut map = Map::with_capacity(CUSTOMER_KEYS.len());
    for &key in CUSTOMER_KEYS {
        let value = match key {
            "id" => Value::from(c.id.0),
            "displayName" => c.display_name().map_or(Value::Null, Value::from),
            "lastUpdated" => seconds(&c.updated),
            "dateCreated" => seconds(&c.created),
            "attr" => Value::Object(
                c.attrs
                    .iter()
                    .map(|(k, a)| (k.clone(), a.value.clone()))
                    .collect(),
            ),
            name => match Field::from_name(name) {
                Some(
                    f @ (Field::MobileVerified | Field::EmailVerified | Field::IsEmployee | Field::IsMember),
                ) => flag(&c.fields, f),
                Some(f) => field(&c.fields, f),
                None => Value::Null,
            },
        };
        map.insert(key.to_string(), value);
    }
    Value::Object(map)
}

/// 002's `GET customers` body: `{"rows": [customer, …]}`, each customer cut to the keys of
/// `select` when given (002's `select` parameter; unknown keys are left out).
pub fn rows(customers: &[Customer], select: Option<&[String]>) -> Value {
    let rows = customers
        .iter()
        .map(|c| {
            let printed = customer(c);
            match (select, printed) {
                (Some(keys), Value::Object(mut all)) => {
                    Value::Object(keys.iter().filter_map(|k| all.remove_entry(k.as_str())).collect())
                }
                (_, printed) => printed,
            }
        })
        .collect();
    serde_json::json!({ "rows": Value::Array(rows) })
}

/// 002's `GET customers/count` body: the number of matching customers, as a bare number.
pub fn count(n: u64) -> Value {
    Value::from(n)
}

/// 002's identity object (`POST customeridentities`' response, an item of
/// `GET customeridentities`): `customerId` as text, `identityType`, `identityValue`,
/// `identityName` (`null` when it has none).
pub fn identity(owner: CustomerId, identity: &Identity) -> Value {
    serde_json::json!({
        "customerId": owner.to_string(),
        "identityType": identity.identity_type.as_str(),
        "identityValue": &*identity.identity_value,
        "identityName": identity.identity_name.as_deref(),
    })
}

/// 002's `GET customeridentities` body: the identities of the customers, in order, as one
/// array of [`identity`] objects.
pub fn identities(owners: &[(CustomerId, Vec<Identity>)]) -> Value {
    Value::Array(
        owners
            .iter()
            .flat_map(|(owner, ids)| ids.iter().map(move |i| identity(*owner, i)))
            .collect(),
    )
}

/// 002's error body (**Decision**: its document prints none): `{"error": {"code",
/// "message"}}`, the code being the HTTP status answered (for an [`Error`](crate::Error), its
/// [`kind`](crate::Error::kind)'s [`http_status`](crate::ErrorKind::http_status)).
pub fn error(status: u16, message: &str) -> Value {
    serde_json::json!({"error": {"code": status, "message": message}})
}
