//! A resolve's outcome read in place: an [`OutcomeView`].
//!
//! A batch reports each request's outcome without building an [`Outcome`]: the view reads
//! what was decided (a [`Decided`]) beside the request as it was prepared (a [`Prep`]), and
//! copies identities only when [`OutcomeView::to_outcome`] is asked for.

use super::decision::{Decided, Fate};
use super::outcome::{ChangedField, Outcome, RefusedMerge, Rejection};
use super::prepare::Prep;
use crate::model::{CustomerId, IdentityKey};

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
