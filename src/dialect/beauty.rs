//! 003 (beauty-clinic SDK) responses: the `{errNum, errMsg}` envelope and its customer info.

use super::values::{attr, field};
use crate::model::{Customer, Field};
use serde_json::{Map, Value, json};

/// The keys of `getcustomerinfo`'s `customerInfo`, in its printed order.
pub const FOLLOWER_KEYS: &[&str] = &["id", "status", "headImg", "name", "tel"];

/// The keys of `getCusInfoByCusId` (and `getCusInfoByCusTelnum`), in its listed order.
pub const CUSTOMER_KEYS: &[&str] = &[
    "id",
    "name",
    "telnum",
    "telnum1",
    "birthday",
    "sex",
    "description",
    "wxLastOpTime",
    "uid",
    "channelId",
    "consultId",
    "firstPreConsultId",
    "preConsultId",
    "intention",
    "isBigOrder",
    "points",
    "commission",
    "gold",
    "storedPrincipal",
    "storedGive",
    "headimg",
    "model",
    "channel",
    "user",
    "firstpreconsult",
    "preconsult",
    "consult",
    "wxScenesBind",
];

/// One of the keys above: a field where the customer has one (`name`, `telnum` = the mobile,
/// `sex`, `birthday`, `points` = credit, `headImg` / `headimg` / `tel`), else the extended
/// attribute of that name (as 003's reading keeps them), `null` where unset.
fn value(c: &Customer, key: &str) -> Value {
    match key {
        "id" => Value::from(c.id.0),
        "telnum" | "tel" => field(&c.fields, Field::Mobile),
        "headImg" | "headimg" => field(&c.fields, Field::Img),
        "name" | "sex" | "birthday" | "points" => field(&c.fields, Field::from_name(key).expect("a field")),
        other => attr(c, other),
    }
}

fn object(c: &Customer, keys: &[&str]) -> Value {
    Value::Object(
        keys.iter()
            .map(|k| (k.to_string(), value(c, k)))
            .collect::<Map<_, _>>(),
    )
}

/// `getcustomerinfo`'s success: `{"errNum": 0, "customerInfo": {"id", "status", "headImg",
/// "name", "tel"}}`.
pub fn follower(c: &Customer) -> Value {
    json!({"errNum": 0, "customerInfo": object(c, FOLLOWER_KEYS)})
}

/// `getCusInfoByCusId` / `getCusInfoByCusTelnum`: `{"errNum": 0, "customerInfo": {…}}` with
/// every key of [`CUSTOMER_KEYS`]. **Decision:** the SDK lists the keys without an envelope;
/// they are sent in `getcustomerinfo`'s.
pub fn customer(c: &Customer) -> Value {
    json!({"errNum": 0, "customerInfo": object(c, CUSTOMER_KEYS)})
}

/// `addCustomer`'s success: `{"errNum": 0}`.
pub fn added() -> Value {
    json!({"errNum": 0})
}

/// A failure: `{"errNum", "errMsg"}`, `errNum` being the HTTP status answered (never 0; for
/// an [`Error`](crate::Error), its [`kind`](crate::Error::kind)'s [`http_status`](crate::ErrorKind::http_status)).
pub fn error(status: u16, message: &str) -> Value {
    json!({"errNum": status, "errMsg": message})
}
