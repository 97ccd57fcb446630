//! Telling a body's dialect by the keys only one source uses.

use super::Dialect;
use serde_json::Value;

/// Keys that only one source's request bodies use.
const MARKERS: &[(Dialect, &[&str])] = &[
    (
        Dialect::DmHub,
        &[
            "customer",
            "customerIdentities",
            "homeAddress",
            "officeAddress",
            "dateJoin",
            "attr",
        ],
    ),
    (
        Dialect::Baiyao,
        &[
            "identityList",
            "extendAttrList",
            "openId",
            "unionId",
            "district",
            "groupId",
            "attrKeyList",
            "isExtendAttr",
        ],
    ),
    (
        Dialect::Clinic,
        &[
            "shopId",
            "mrn",
            "tag",
            "fromChannel",
            "fromReferrer",
            "fromActivity",
            "wechatNickname",
            "wechatHeadimgurl",
            "LastSigninAt",
        ],
    ),
    (
        Dialect::Beauty,
        &[
            "telnum",
            "telnum1",
            "sex",
            "erpId",
            "channelName",
            "channelUserName",
            "preConsultName",
            "cusId",
        ],
    ),
];

impl Dialect {
    /// The dialect of a request body, when its keys say it unambiguously: it holds a key
    /// that only one source uses, and none that only another uses. `None` for a body every
    /// source could have sent (such as `{"name": …, "mobile": …}`), for one mixing two
    /// sources' keys, and for anything but an object.
    ///
    /// ```
    /// use oneid::dialect::Dialect;
    /// use serde_json::json;
    /// assert_eq!(Dialect::detect(&json!({"identityList": [], "name": "王"})), Some(Dialect::Baiyao));
    /// assert_eq!(Dialect::detect(&json!({"shopId": "s1", "name": "王"})), Some(Dialect::Clinic));
    /// assert_eq!(Dialect::detect(&json!({"name": "王", "mobile": "13800138000"})), None);
    /// assert_eq!(Dialect::detect(&json!({"shopId": "s1", "identityList": []})), None);
    /// ```
    pub fn detect(body: &Value) -> Option<Dialect> {
        let map = body.as_object()?;
        let mut found = None;
        for (dialect, keys) in MARKERS {
            if keys.iter().any(|k| map.contains_key(*k)) {
                if found.is_some() {
                    return None;
                }
                found = Some(*dialect);
            }
        }
        found
    }
}
