//! What a resolve did (or, in a dry run, would do), as plain data: an [`Outcome`], with the
//! [`Rejection`]s, [`RefusedMerge`]s and [`ChangedField`]s it lists.
//!
//! These are what a caller keeps, and the pieces a resolve records as it decides; an
//! [`OutcomeView`](super::OutcomeView) reads the same facts without copying the request's
//! identities.

use crate::model::{CustomerId, Field, Identity, IdentityType};
use serde::Serialize;
use std::sync::Arc;

/// What changed on a target, as a resolve collects it (a handful at most, on the stack).
pub(crate) type Changed = smallvec::SmallVec<[ChangedField; 4]>;

/// Why an identity of a request was not bound to the target customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "camelCase")]
#[non_exhaustive]
pub enum RejectReason {
    /// The value is blocked (a placeholder such as `13800000000`); it links nobody.
    Blocked,
    /// Binding it would put the target over the type's limit; `with` is the identity of the
    /// same type the target already holds (or was given earlier in this request).
    Conflict {
        /// The identity it clashed with.
        with: Identity,
        /// The type's limit.
        limit: u32,
    },
    /// Another customer owns it and was not merged (`autoMerge` off, or the merge was
    /// refused), so it stays with that customer.
    OwnedByOther {
        /// Its owner.
        owner: CustomerId,
    },
    /// The value is quarantined: it was seen with too many conflicting identities to be
    /// trusted (a placeholder on no blocklist). It stays with its owner but matches and links
    /// nobody.
    Quarantined {
        /// The customer that holds it.
        owner: CustomerId,
    },
    /// Only for identities taken from the patch's `mobile`/`email` (match by fields): the
    /// field's value is not a valid identity. The field itself is still applied.
    Invalid {
        /// Why.
        why: String,
    },
}

/// An identity that was not bound to the target, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    /// The identity (normalized, except for blocked values that failed normalization).
    pub identity: Identity,
    /// Why it was not bound.
    #[serde(flatten)]
    pub reason: RejectReason,
}

/// A merge that `autoMerge` wanted but that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefusedMerge {
    /// The customer that was not merged.
    pub customer: CustomerId,
    /// Why it was not.
    #[serde(flatten)]
    pub reason: RefusalReason,
}

/// Why a merge was refused: the two customers together would break a limit, or their data
/// would not fit one customer. Nothing of either is changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "camelCase", rename_all_fields = "camelCase")]
#[non_exhaustive]
pub enum RefusalReason {
    /// Together they would hold more identities of a limited type (and scope) than its
    /// limit.
    Limit {
        /// The limited type whose limit the merge would have exceeded.
        identity_type: IdentityType,
        /// Its scope, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        scope: Option<Arc<str>>,
        /// The limit.
        limit: u32,
        /// How many identities of that type the target holds.
        target_holds: usize,
        /// How many the refused customer holds.
        other_holds: usize,
    },
    /// A field the tenant merges by [`MergeRule::Sum`](crate::MergeRule::Sum) would not fit
    /// a 64-bit integer: the sum of the two values overflows, and no money or points may be
    /// lost to a sum cut short.
    Overflow {
        /// The field.
        field: Field,
        /// The target's value.
        target: i64,
        /// The refused customer's value.
        other: i64,
    },
    /// Together they would hold more extended attributes than a customer may
    /// ([`MAX_ATTRS`](crate::limits::MAX_ATTRS)).
    TooManyAttributes {
        /// How many the two hold together.
        united: usize,
    },
    /// Together they would hold more tags than a customer may
    /// ([`MAX_TAGS`](crate::limits::MAX_TAGS)).
    TooManyTags {
        /// How many the two hold together.
        united: usize,
    },
    /// Together they would belong to more groups than a customer may
    /// ([`MAX_GROUPS`](crate::limits::MAX_GROUPS)).
    TooManyGroups {
        /// How many the two hold together.
        united: usize,
    },
}

/// A part of the target customer that changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ChangedField {
    /// A well-known field.
    Field(Field),
    /// An extended attribute, by key.
    Attr(String),
    /// The tag list.
    Tags,
    /// The group list.
    Groups,
}

/// What a resolve did: the target, what was linked, rejected, merged, refused and changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The target customer. `None` only in a dry run that would create a new customer.
    pub customer: Option<CustomerId>,
    /// Whether the target is (or, in a dry run, would be) a new customer.
    pub created: bool,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Identities of the request the target already held, in resolve order.
    pub matched: Vec<Identity>,
    /// Unowned identities bound to the target, in resolve order.
    pub linked: Vec<Identity>,
    /// Identities not bound to the target, and why.
    pub rejected: Vec<Rejection>,
    /// Customers merged into the target, in order.
    pub merged: Vec<CustomerId>,
    /// Merges refused, in order, each with its reason.
    pub refused_merges: Vec<RefusedMerge>,
    /// What changed on the target's data (by merges and by the patch).
    pub changed: Vec<ChangedField>,
}

impl Outcome {
    /// Whether the resolve changed nothing at all (an idempotent repeat, for instance).
    pub fn is_noop(&self) -> bool {
        !self.created && self.linked.is_empty() && self.merged.is_empty() && self.changed.is_empty()
    }
}
