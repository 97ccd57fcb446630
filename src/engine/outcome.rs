//! What a resolve did (or, in a dry run, would do).

use super::resolve::{Decided, Fate, Prep};
use crate::model::{CustomerId, Field, Identity, IdentityKey, IdentityType};
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

/// A merge that `autoMerge` wanted but the limits refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefusedMerge {
    /// The customer that was not merged.
    pub customer: CustomerId,
    /// The limited type whose limit the merge would have exceeded.
    pub identity_type: IdentityType,
    /// Its scope, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Arc<str>>,
    /// The limit.
    pub limit: u32,
    /// How many identities of that type the target holds.
    pub target_holds: usize,
    /// How many the refused customer holds.
    pub other_holds: usize,
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
    /// Merges refused by the limits, in order.
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

/// A resolve's outcome read in place, as [`Resolver::resolve_batch_with`] reports each one:
/// the same facts as an [`Outcome`], without copies of the request's identities (the matched
/// and linked ones are read from the request as it was prepared). [`to_outcome`] makes the
/// [`Outcome`].
///
/// [`Resolver::resolve_batch_with`]: crate::Resolver::resolve_batch_with
/// [`to_outcome`]: OutcomeView::to_outcome
#[derive(Clone, Copy)]
pub struct OutcomeView<'a> {
    decided: &'a Decided,
    prep: Prep<'a>,
    dry_run: bool,
}

impl std::fmt::Debug for OutcomeView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.to_outcome(), f)
    }
}

impl<'a> OutcomeView<'a> {
    pub(crate) fn new(decided: &'a Decided, prep: Prep<'a>, dry_run: bool) -> Self {
        Self {
            decided,
            prep,
            dry_run,
        }
    }

    /// The target customer; `None` only in a dry run that would create a new customer.
    pub fn customer(&self) -> Option<CustomerId> {
        self.decided.customer
    }

    /// Whether the target is (or, in a dry run, would be) a new customer.
    pub fn created(&self) -> bool {
        self.decided.created
    }

    /// Whether this was a dry run (nothing written).
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    fn with_fate(&self, fate: Fate) -> impl Iterator<Item = IdentityKey<'a>> + 'a {
        let prep = self.prep;
        self.decided
            .fates
            .iter()
            .enumerate()
            .filter(move |(_, f)| **f == fate)
            .map(move |(i, _)| prep.key(i))
    }

    /// Identities of the request the target already held, in resolve order.
    pub fn matched(&self) -> impl Iterator<Item = IdentityKey<'a>> + 'a {
        self.with_fate(Fate::Matched)
    }

    /// Unowned identities bound to the target, in resolve order.
    pub fn linked(&self) -> impl Iterator<Item = IdentityKey<'a>> + 'a {
        self.with_fate(Fate::Linked)
    }

    /// Identities not bound to the target, and why.
    pub fn rejected(&self) -> &'a [Rejection] {
        &self.decided.rejected
    }

    /// Customers merged into the target, in order.
    pub fn merged(&self) -> &'a [CustomerId] {
        &self.decided.merged
    }

    /// Merges refused by the limits, in order.
    pub fn refused_merges(&self) -> &'a [RefusedMerge] {
        &self.decided.refused_merges
    }

    /// What changed on the target's data (by merges and by the patch).
    pub fn changed(&self) -> &'a [ChangedField] {
        &self.decided.changed
    }

    /// Whether the resolve changed nothing at all (an idempotent repeat, for instance).
    pub fn is_noop(&self) -> bool {
        !self.created()
            && self.linked().next().is_none()
            && self.merged().is_empty()
            && self.changed().is_empty()
    }

    /// The outcome as an [`Outcome`] (which copies the identities it lists).
    pub fn to_outcome(&self) -> Outcome {
        let identities = |fate| {
            self.decided
                .fates
                .iter()
                .enumerate()
                .filter(|(_, f)| **f == fate)
                .map(|(i, _)| self.prep.identity(i))
                .collect()
        };
        Outcome {
            customer: self.decided.customer,
            created: self.decided.created,
            dry_run: self.dry_run,
            matched: identities(Fate::Matched),
            linked: identities(Fate::Linked),
            rejected: self.decided.rejected.clone(),
            merged: self.decided.merged.to_vec(),
            refused_merges: self.decided.refused_merges.clone(),
            changed: self.decided.changed.to_vec(),
        }
    }
}
