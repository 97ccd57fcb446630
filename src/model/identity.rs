//! Identities: the typed keys (`mobile 13800138000`, `wechat o123…`) that tie touchpoint
//! records to customers.
//!
//! An identity arrives as an [`IdentityInput`] exactly as a source sent it. Resolution
//! validates and normalizes it into an [`Identity`], whose `(type, scope, value)` is the key
//! that at most one live customer of a tenant may own.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The type of an identity: a built-in (`mobile`, `email`, `wechat`, `wechat-unionid`) or a
/// custom type matching `[a-z0-9][a-z0-9_-]{0,31}` (e.g. `idcard`, `member-id`).
///
/// Cheap to clone (shared string).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct IdentityType(Arc<str>);

impl IdentityType {
    /// Mobile phone number.
    pub const MOBILE: &'static str = "mobile";
    /// Email address.
    pub const EMAIL: &'static str = "email";
    /// WeChat openid (issued per official account or mini program).
    pub const WECHAT: &'static str = "wechat";
    /// WeChat unionid (spans the accounts of one WeChat open platform).
    pub const WECHAT_UNIONID: &'static str = "wechat-unionid";

    /// Validates a type name; `None` if it does not match `[a-z0-9][a-z0-9_-]{0,31}`.
    ///
    /// ```
    /// use oneid::IdentityType;
    /// assert!(IdentityType::new("member-id").is_some());
    /// assert!(IdentityType::new("Member ID").is_none());
    /// ```
    pub fn new(name: &str) -> Option<Self> {
        is_valid_type(name).then(|| Self(Arc::from(name)))
    }

    /// The type's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Like [`IdentityType::new`], but equal names share one string: stores then compare
    /// types by pointer, and resolving a type no settings rule names allocates nothing.
    /// Up to 1,024 distinct names are shared; more are allocated each time.
    pub(crate) fn interned(name: &str) -> Option<Self> {
        use std::cell::RefCell;
        use std::sync::RwLock;
        const MAX_SHARED: usize = 1024;
        static SHARED: RwLock<Vec<IdentityType>> = RwLock::new(Vec::new());
        thread_local! {
            // This thread's copy of the shared names it used, read without locking.
            static LOCAL: RefCell<Vec<IdentityType>> = const { RefCell::new(Vec::new()) };
        }
        if !is_valid_type(name) {
            return None;
        }
        let local = LOCAL.with_borrow(|l| l.iter().find(|t| t.as_str() == name).cloned());
        if local.is_some() {
            return local;
        }
        let shared = {
            let read = SHARED.read().unwrap_or_else(|e| e.into_inner());
            read.iter().find(|t| t.as_str() == name).cloned()
        };
        let ty = match shared {
            Some(t) => t,
            None => {
                let mut write = SHARED.write().unwrap_or_else(|e| e.into_inner());
                match write.iter().find(|t| t.as_str() == name) {
                    Some(t) => t.clone(),
                    None if write.len() < MAX_SHARED => {
                        let t = Self(Arc::from(name));
                        write.push(t.clone());
                        t
                    }
                    None => return Some(Self(Arc::from(name))),
                }
            }
        };
        LOCAL.with_borrow_mut(|l| {
            if l.len() < 64 {
                l.push(ty.clone());
            }
        });
        Some(ty)
    }
}

/// `[a-z0-9][a-z0-9_-]{0,31}`
pub(crate) fn is_valid_type(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 32
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

impl fmt::Debug for IdentityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for IdentityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for IdentityType {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for IdentityType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        IdentityType::new(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "identity type {s:?} must match [a-z0-9][a-z0-9_-]{{0,31}}"
            ))
        })
    }
}

/// An identity as a source sent it: not yet validated or normalized.
///
/// Deserializes the sources' own shape: `{"identityType", "identityValue", "identityName"}`
/// (002, 001), with an optional `scope` (alias `appId`) for identities issued per
/// application, such as WeChat openids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityInput {
    /// Type name as given, e.g. `"mobile"`.
    #[serde(alias = "type")]
    pub identity_type: String,
    /// Value as given, e.g. `"+86 138-0013-8000"`.
    #[serde(alias = "value")]
    pub identity_value: String,
    /// Optional display name (e.g. the WeChat nickname), at most 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_name: Option<String>,
    /// Optional scope, e.g. the WeChat `appId` an openid was issued for.
    #[serde(default, alias = "appId", skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl IdentityInput {
    /// An identity with a type and a value and nothing else.
    ///
    /// ```
    /// let id = oneid::IdentityInput::new("mobile", "+86 138-0013-8000");
    /// assert_eq!(id.identity_type, "mobile");
    /// ```
    pub fn new(identity_type: impl Into<String>, identity_value: impl Into<String>) -> Self {
        Self {
            identity_type: identity_type.into(),
            identity_value: identity_value.into(),
            identity_name: None,
            scope: None,
        }
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.identity_name = Some(name.into());
        self
    }

    /// Sets the scope (e.g. the WeChat `appId`).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }
}

/// A validated, normalized identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// Its type.
    pub identity_type: IdentityType,
    /// Its scope, if the type is issued per application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Arc<str>>,
    /// Its normalized value.
    pub identity_value: Arc<str>,
    /// Its display name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_name: Option<Arc<str>>,
}

impl Identity {
    /// The `(type, scope, value)` key that one live customer may own.
    pub fn key(&self) -> IdentityKey<'_> {
        IdentityKey {
            identity_type: self.identity_type.as_str(),
            scope: self.scope.as_deref(),
            value: &self.identity_value,
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.key().fmt(f)
    }
}

/// The borrowed `(type, scope, value)` key of a normalized identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityKey<'a> {
    /// The type name.
    pub identity_type: &'a str,
    /// The scope, if any.
    pub scope: Option<&'a str>,
    /// The normalized value.
    pub value: &'a str,
}

impl fmt::Display for IdentityKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scope {
            Some(scope) => write!(f, "{}@{} {}", self.identity_type, scope, self.value),
            None => write!(f, "{} {}", self.identity_type, self.value),
        }
    }
}
