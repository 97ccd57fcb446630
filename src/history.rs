//! Merge history: every link and merge, with its time and cause.

use crate::model::{CustomerId, Identity};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

/// Which operation caused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Operation {
    /// A resolve (create by identity list).
    Resolve,
    /// A plain create (mobile/email as identities).
    Create,
    /// An update of fields or attributes.
    Update,
    /// An identity added to a customer directly.
    AddIdentity,
    /// An identity removed from a customer.
    RemoveIdentity,
    /// A logical delete.
    Delete,
    /// Erasure of personal data.
    Erase,
}

/// Why something happened: the operation and the caller's reference for the request (e.g. a
/// record id), if it gave one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cause {
    /// The operation.
    pub operation: Operation,
    /// The caller's reference, from [`ResolveRequest::cause`](crate::ResolveRequest::cause).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<Arc<str>>,
}

/// What happened to a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[non_exhaustive]
pub enum EventKind {
    /// The customer was created.
    Created,
    /// An identity was bound to the customer.
    Linked {
        /// The identity.
        identity: Identity,
    },
    /// Another customer was merged into this one.
    Merged {
        /// The customer merged in; its id is now an alias of this one.
        from: CustomerId,
    },
    /// An identity was unbound from the customer.
    Unlinked {
        /// The identity.
        identity: Identity,
    },
    /// The customer was logically deleted and its identities released.
    Deleted,
    /// This customer was merged into another.
    MergedInto {
        /// The surviving customer.
        into: CustomerId,
    },
}

/// One entry of a customer's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    /// The customer the event belongs to.
    pub customer: CustomerId,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
    /// Why.
    pub cause: Cause,
}
