//! The resolve request and its options, readable from the sources' own JSON bodies.

use super::customer::CustomerPatch;
use super::identity::IdentityInput;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `identityPriorityStrategy`: how the identity list is ordered before the target is chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PriorityStrategy {
    /// Sort by the tenant's type priority (stable for equal types).
    #[default]
    System,
    /// Keep the request's order.
    Custom,
}

/// `targetCustomerStrategy`: which existing customer becomes the target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetStrategy {
    /// The owner of the first identity, in order, that no earlier identity conflicts with.
    #[default]
    IdentityFirst,
    /// The owner of the first identity, in order, that has one.
    CustomerFirst,
}

/// The options of a resolve.
///
/// Defaults: `system` priority, `identityFirst`, `autoMerge` on, no matching by the patch's
/// mobile/email. **Decision:** `autoMerge` defaults to on because the crate's main job
/// (turning records into customers) needs it; pass `"autoMerge": false` for 001's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResolveOptions {
    /// `identityPriorityStrategy`.
    pub identity_priority_strategy: PriorityStrategy,
    /// `targetCustomerStrategy`.
    pub target_customer_strategy: TargetStrategy,
    /// `autoMerge`: merge the other owners found into the target when the limits allow.
    pub auto_merge: bool,
    /// 002's behaviour: also match by the patch's `mobile` and `email`, appended to the
    /// identity list as its lowest-priority identities.
    pub match_by_fields: bool,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        Self {
            identity_priority_strategy: PriorityStrategy::System,
            target_customer_strategy: TargetStrategy::IdentityFirst,
            auto_merge: true,
            match_by_fields: false,
        }
    }
}

/// A resolve request: a field patch, an ordered identity list and options.
///
/// [`ResolveRequest::from_json`] reads both sources' bodies as they are:
///
/// - 002 `customerandidentities`: `{"customer": {…}, "customerIdentities": [{…}]}`;
/// - 001 `createCustomerByIdentity`: a flat customer body with `identityList`,
///   `extendAttrList`, 0/1 flags, and `openId` / `appId` / `unionId` (taken as a scoped
///   `wechat` identity and a `wechat-unionid`, after the list).
///
/// Either may carry `identityPriorityStrategy`, `targetCustomerStrategy`, `autoMerge` and
/// `matchByFields` at the top level.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolveRequest {
    /// Field values to apply to the target customer.
    pub patch: CustomerPatch,
    /// The identities, in request order.
    pub identities: Vec<IdentityInput>,
    /// The strategies.
    pub options: ResolveOptions,
    /// What caused this request (a record id, an API call id), kept in merge history.
    pub cause: Option<String>,
    /// When the touchpoint happened; the engine's clock is used when absent.
    pub event_time: Option<DateTime<Utc>>,
}

const OPTION_KEYS: &[&str] = &[
    "identityPriorityStrategy",
    "targetCustomerStrategy",
    "autoMerge",
    "matchByFields",
];

impl ResolveRequest {
    /// A request with these identities, an empty patch and default options.
    pub fn new(identities: impl IntoIterator<Item = IdentityInput>) -> Self {
        Self {
            identities: identities.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Sets the patch (builder style).
    pub fn with_patch(mut self, patch: CustomerPatch) -> Self {
        self.patch = patch;
        self
    }

    /// Sets the options (builder style).
    pub fn with_options(mut self, options: ResolveOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets the cause recorded in history (builder style).
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// Reads a 002 or 001 request body (see the type's docs). A body nested deeper than
    /// [`MAX_JSON_DEPTH`](crate::limits::MAX_JSON_DEPTH) is an [`Error::Payload`], refused
    /// before any of it is copied.
    ///
    /// ```
    /// let body = serde_json::json!({
    ///     "customer": {"name": "小D", "mobile": "18612341234"},
    ///     "customerIdentities": [
    ///         {"identityType": "wechat", "identityValue": "o123456", "identityName": "微信昵称"}
    ///     ]
    /// });
    /// let req = oneid::ResolveRequest::from_json(&body).unwrap();
    /// assert_eq!(req.identities[0].identity_type, "wechat");
    /// ```
    pub fn from_json(body: &serde_json::Value) -> Result<Self> {
        super::json::check_depth(body)?;
        let map = body
            .as_object()
            .ok_or_else(|| Error::Payload("a resolve request must be a JSON object".into()))?;
        let mut options_map = serde_json::Map::new();
        for key in OPTION_KEYS {
            if let Some(v) = map.get(*key) {
                options_map.insert(key.to_string(), v.clone());
            }
        }
        let options: ResolveOptions = serde_json::from_value(serde_json::Value::Object(options_map))
            .map_err(|e| Error::Payload(format!("options: {e}")))?;
        let identities_of = |key: &str| -> Result<Vec<IdentityInput>> {
            match map.get(key) {
                None | Some(serde_json::Value::Null) => Ok(Vec::new()),
                Some(serde_json::Value::Array(items)) => {
                    // 001: type and value are sent together or not at all; an entry with
                    // neither is no identity, not an error.
                    let blank = |v: Option<&serde_json::Value>| {
                        v.is_none_or(|v| v.is_null() || v.as_str() == Some(""))
                    };
                    items
                        .iter()
                        .filter(|item| !(blank(item.get("identityType")) && blank(item.get("identityValue"))))
                        .map(|item| {
                            serde_json::from_value(item.clone())
                                .map_err(|e| Error::Payload(format!("{key}: {e}")))
                        })
                        .collect()
                }
                Some(v) => {
                    serde_json::from_value(v.clone()).map_err(|e| Error::Payload(format!("{key}: {e}")))
                }
            }
        };
        let mut request = if map.contains_key("customer") || map.contains_key("customerIdentities") {
            // 002: {"customer": {...}, "customerIdentities": [...]}
            for key in map.keys() {
                if !matches!(key.as_str(), "customer" | "customerIdentities")
                    && !OPTION_KEYS.contains(&key.as_str())
                {
                    return Err(Error::UnknownField { field: key.clone() });
                }
            }
            let patch = match map.get("customer") {
                None | Some(serde_json::Value::Null) => CustomerPatch::new(),
                Some(c) => CustomerPatch::from_checked_json(c)?,
            };
            ResolveRequest {
                patch,
                identities: identities_of("customerIdentities")?,
                options,
                ..Default::default()
            }
        } else {
            // 001: a flat body.
            let mut patch = CustomerPatch::new();
            let mut open_id = None;
            let mut app_id = None;
            let mut union_id = None;
            for (key, v) in map {
                let text = || v.as_str().map(str::to_string).filter(|s| !s.is_empty());
                match key.as_str() {
                    "identityList" => {}
                    k if OPTION_KEYS.contains(&k) => {}
                    "openId" => open_id = text(),
                    "appId" => app_id = text(),
                    "unionId" => union_id = text(),
                    _ => super::flat::read_flat_key(&mut patch, key, v)?,
                }
            }
            super::bounds::check_count(
                "attr",
                patch.attrs.len(),
                crate::limits::MAX_ATTRS,
                "extended attributes",
            )?;
            let mut identities = identities_of("identityList")?;
            if let Some(open_id) = open_id {
                let mut id = IdentityInput::new(super::IdentityType::WECHAT, open_id);
                id.scope = app_id;
                identities.push(id);
            }
            if let Some(union_id) = union_id {
                identities.push(IdentityInput::new(super::IdentityType::WECHAT_UNIONID, union_id));
            }
            ResolveRequest {
                patch,
                identities,
                options,
                ..Default::default()
            }
        };
        request.cause = None;
        Ok(request)
    }
}
