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
/// Free to clone: the first 1,024 distinct names a process uses are kept for its lifetime
/// (at most 32 KiB), and every type of such a name points at the one kept copy, so a clone
/// copies a pointer and touches no reference count that other threads also touch. Further
/// names are shared strings.
#[derive(Clone)]
pub struct IdentityType(Name);

#[derive(Clone)]
enum Name {
    /// One of the names kept for the life of the process.
    Kept(&'static str),
    /// A name beyond those.
    Shared(Arc<str>),
}

impl IdentityType {
    /// Mobile phone number.
    pub const MOBILE: &'static str = "mobile";
    /// Email address.
    pub const EMAIL: &'static str = "email";
    /// WeChat openid (issued per official account or mini program).
    pub const WECHAT: &'static str = "wechat";
    /// WeChat unionid (spans the accounts of one WeChat open platform).
    pub const WECHAT_UNIONID: &'static str = "wechat-unionid";

    /// The type's name.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Name::Kept(s) => s,
            Name::Shared(s) => s,
        }
    }

    /// Validates a type name; `None` if it does not match `[a-z0-9][a-z0-9_-]{0,31}`.
    ///
    /// ```
    /// use oneid::IdentityType;
    /// assert!(IdentityType::new("member-id").is_some());
    /// assert!(IdentityType::new("Member ID").is_none());
    /// ```
    pub fn new(name: &str) -> Option<Self> {
        // A valid name is returned as its kept copy (kept now if there is room), or else as
        // a shared string. Equal kept names are one pointer, which stores and settings
        // compare first.
        use std::cell::RefCell;
        use std::sync::RwLock;
        const MAX_KEPT: usize = 1024;
        static KEPT: RwLock<Vec<&'static str>> = RwLock::new(Vec::new());
        thread_local! {
            // This thread's copy of the kept names it used, read without locking.
            static LOCAL: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
        }
        let kept = |s: &'static str| Some(Self(Name::Kept(s)));
        // Kept names were valid when they were kept.
        let same = |s: &&'static str| {
            s.len() == name.len() && s.as_bytes().first() == name.as_bytes().first() && *s == name
        };
        if let Some(s) = LOCAL.with_borrow(|l| l.iter().copied().find(same)) {
            return kept(s);
        }
        if !is_valid_type(name) {
            return None;
        }
        let found = {
            let read = KEPT.read().unwrap_or_else(|e| e.into_inner());
            read.iter().find(|&&s| s == name).copied()
        };
        let s = match found {
            Some(s) => s,
            None => {
                let mut write = KEPT.write().unwrap_or_else(|e| e.into_inner());
                match write.iter().find(|&&s| s == name) {
                    Some(&s) => s,
                    None if write.len() < MAX_KEPT => {
                        // Bounded: at most 1,024 names of at most 32 bytes.
                        let s: &'static str = Box::leak(name.into());
                        write.push(s);
                        s
                    }
                    None => return Some(Self(Name::Shared(Arc::from(name)))),
                }
            }
        };
        LOCAL.with_borrow_mut(|l| {
            if l.len() < 64 {
                l.push(s);
            }
        });
        kept(s)
    }
}

impl PartialEq for IdentityType {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.as_str(), other.as_str());
        std::ptr::eq(a, b) || a == b
    }
}

impl Eq for IdentityType {}

impl std::hash::Hash for IdentityType {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for IdentityType {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IdentityType {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Serialize for IdentityType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `[a-z0-9][a-z0-9_-]{0,31}`: at most [`MAX_IDENTITY_TYPE_CHARS`](crate::limits::MAX_IDENTITY_TYPE_CHARS).
pub(crate) fn is_valid_type(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= crate::limits::MAX_IDENTITY_TYPE_CHARS
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

impl fmt::Debug for IdentityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for IdentityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::ops::Deref for IdentityType {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<'de> Deserialize<'de> for IdentityType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        IdentityType::new(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "identity type {s:?} must match [a-z0-9][a-z0-9_-]{{0,{}}}",
                crate::limits::MAX_IDENTITY_TYPE_CHARS - 1
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
    /// Its normalized value (kept in place when short, as most are).
    pub identity_value: super::Text,
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

impl<'a> IdentityKey<'a> {
    /// A 64-bit hash of the key: equal keys hash alike within a process. The seed is random
    /// per process, so identities crafted to collide cannot be aimed at a store. The engine
    /// hashes each key of a request once, while it prepares the request (on another thread
    /// in a batch), and hands the hash to the store with the key ([`HashedKey`]).
    ///
    /// ```
    /// use oneid::IdentityKey;
    /// let key = |value| IdentityKey { identity_type: "mobile", scope: None, value };
    /// assert_eq!(key("13800138000").hash64(), key("13800138000").hash64());
    /// assert_ne!(key("13800138000").hash64(), key("13800138001").hash64());
    /// ```
    pub fn hash64(&self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        static STATE: std::sync::LazyLock<foldhash::fast::RandomState> =
            std::sync::LazyLock::new(foldhash::fast::RandomState::default);
        let mut h = STATE.build_hasher();
        // Each part ends with a byte no UTF-8 text holds, so the parts cannot run together.
        h.write(self.identity_type.as_bytes());
        h.write_u8(0xff);
        if let Some(scope) = self.scope {
            h.write(scope.as_bytes());
            h.write_u8(0xfe);
        }
        h.write(self.value.as_bytes());
        h.finish()
    }

    /// The key with its [`hash64`](Self::hash64).
    pub fn hashed(self) -> HashedKey<'a> {
        HashedKey {
            hash: self.hash64(),
            key: self,
        }
    }
}

/// An identity key with its [`IdentityKey::hash64`], computed once by the engine so that a
/// store that finds keys by hash need not hash them again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashedKey<'a> {
    /// The key.
    pub key: IdentityKey<'a>,
    /// `key.hash64()`.
    pub hash: u64,
}

impl fmt::Display for HashedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.key.fmt(f)
    }
}

impl fmt::Display for IdentityKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scope {
            Some(scope) => write!(f, "{}@{} {}", self.identity_type, scope, self.value),
            None => write!(f, "{} {}", self.identity_type, self.value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn kept_and_shared_names_compare_hash_and_order_as_their_text() {
        let kept = IdentityType::new("member-id").unwrap();
        let again = IdentityType::new("member-id").unwrap();
        assert!(std::ptr::eq(kept.as_str(), again.as_str()), "one kept copy");
        let shared = IdentityType(Name::Shared(Arc::from("member-id")));
        let hasher = std::hash::RandomState::new();
        assert_eq!(kept, shared);
        assert_eq!(hasher.hash_one(&kept), hasher.hash_one(&shared));
        assert_eq!(hasher.hash_one(&kept), hasher.hash_one("member-id"));
        let other = IdentityType(Name::Shared(Arc::from("mobile")));
        assert_ne!(kept, other);
        assert!(kept < other);
        assert_eq!(serde_json::to_string(&shared).unwrap(), r#""member-id""#);
        assert_eq!(format!("{kept} {shared:?}"), r#"member-id "member-id""#);
        assert!(IdentityType::new("Member ID").is_none());
    }
}
