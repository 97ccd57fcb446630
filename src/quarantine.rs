//! The quarantine report: a tenant's quarantined values, each with the evidence against it
//! (docs/SEMANTICS.md §7).

use crate::history::Cause;
use crate::model::{CustomerId, Identity};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One piece of quarantine evidence against a value: an identity that arrived with it and
/// contradicted its holder, and when and why it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contradiction {
    /// The identity that contradicted the value's holder (no display name).
    pub identity: Identity,
    /// When the request that brought it happened; `None` for evidence a SQL store recorded
    /// before it kept the time (schema version 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// The operation and the caller's reference of that request; `None` as for `at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

/// A quarantined value: it stays with its holder but matches and links nobody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantinedValue {
    /// The value (no display name).
    pub identity: Identity,
    /// The live customer holding it.
    pub owner: CustomerId,
    /// The evidence against it, oldest first (ties, and evidence without a time, in the
    /// identities' order).
    pub evidence: Vec<Contradiction>,
}
