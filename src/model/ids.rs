//! The ids of customers and tenants: plain values every other part of the crate names, so
//! this file depends on nothing else of it.

#[cfg(doc)]
use crate::limits::MAX_TENANT_ID_CHARS;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A customer's id: 64-bit, assigned by the store, never reused. A merged customer's id
/// stays valid as an alias of the customer it was merged into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(pub u64);

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A tenant (租户; 000's `shopId` plays the same role). Nothing crosses tenants:
/// uniqueness, lookups, queries and merges are all per tenant. Cheap to clone, and clones
/// compare equal without comparing their text.
#[derive(Debug, Clone, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(Arc<str>);

// By hand: `Arc<str>`'s own equality compares the text even for two clones of one `Arc`
// (its pointer shortcut needs a sized type), and stores compare the tenant on every call.
impl PartialEq for TenantId {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for TenantId {}

// Of the text, as equality is.
impl std::hash::Hash for TenantId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl TenantId {
    /// A tenant id from its name. Any text will do but one with a NUL character (no
    /// database keeps NUL in text) or longer than [`MAX_TENANT_ID_CHARS`] (the
    /// stores' indexes lead with it), which the engine refuses with
    /// [`Error::InvalidTenant`](crate::Error::InvalidTenant).
    pub fn new(name: impl AsRef<str>) -> Self {
        Self(Arc::from(name.as_ref()))
    }

    /// The tenant's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for TenantId {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_equal_by_name_whether_cloned_or_not() {
        use std::hash::BuildHasher;
        let a = TenantId::new("shop-1");
        let (clone, twin, other) = (a.clone(), TenantId::new("shop-1"), TenantId::new("shop-2"));
        assert_eq!(a, clone);
        assert_eq!(a, twin);
        assert_ne!(a, other);
        // Equal ids hash alike, as maps need.
        let state = std::hash::RandomState::new();
        assert_eq!(state.hash_one(&a), state.hash_one(&twin));
    }
}
