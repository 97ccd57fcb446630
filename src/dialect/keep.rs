//! Keys a source documents that have no well-known field, kept as extended attributes of
//! the same name so nothing the caller sent is lost.

use crate::error::Result;
use crate::model::CustomerPatch;
use serde_json::Value;

/// 000 keys kept as attributes: its `status` (the shop's own status codes).
pub(crate) const CLINIC_KEPT: &[&str] = &["status"];

/// 003 keys kept as attributes: `addCustomer`'s parameters and `getCusInfoByCusId`'s keys
/// that have no field (`channel` and the staff keys are objects there).
pub(crate) const BEAUTY_KEPT: &[&str] = &[
    "status",
    "channelUserName",
    "preConsultName",
    "description",
    "telnum1",
    "wxLastOpTime",
    "uid",
    "channelId",
    "consultId",
    "firstPreConsultId",
    "preConsultId",
    "intention",
    "isBigOrder",
    "commission",
    "gold",
    "storedPrincipal",
    "storedGive",
    "model",
    "channel",
    "user",
    "firstpreconsult",
    "preconsult",
    "consult",
    "wxScenesBind",
];

/// Reads a source's customer object: the keys in `kept` as attributes, the rest as a customer
/// object of any source reads them.
pub(crate) fn read_keeping(body: &Value, kept: &[&str]) -> Result<CustomerPatch> {
    read_each(body, |patch, key, v| {
        if kept.contains(&key) {
            crate::model::keep_attr(patch, key, v)
        } else {
            patch.read_key(key, v)
        }
    })
}

/// Reads a customer object key by key with `read`, bounded as every customer object is.
pub(crate) fn read_each(
    body: &Value,
    read: impl Fn(&mut CustomerPatch, &str, &Value) -> Result<()>,
) -> Result<CustomerPatch> {
    crate::model::check_depth(body)?;
    let map = body
        .as_object()
        .ok_or_else(|| crate::Error::Payload("a customer must be a JSON object".into()))?;
    let mut patch = CustomerPatch::new();
    for (key, v) in map {
        read(&mut patch, key, v)?;
    }
    crate::model::check_count(
        "attr",
        patch.attrs.len(),
        crate::limits::MAX_ATTRS,
        "extended attributes",
    )?;
    Ok(patch)
}
