//! A tenant's identity settings as a store keeps them.

use chrono::{DateTime, Utc};

/// One version of a tenant's identity settings, as a store keeps it: the document
/// [`IdentitySettings`](crate::IdentitySettings) serializes to, its version, and when and why
/// it was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSettings {
    /// 1 for the first settings stored, one more for each change.
    pub version: u64,
    /// The settings, as JSON.
    pub document: String,
    /// When this version was stored.
    pub changed: DateTime<Utc>,
    /// Why, as the caller said.
    pub cause: Option<String>,
}
