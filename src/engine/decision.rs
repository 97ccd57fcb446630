//! What a resolve decided (or, in a dry run, would do): a [`Decided`].
//!
//! Planning fills it and applying the plan only sets the target's id in it: it is written
//! once, where it stays. It keeps the fate of each prepared identity ([`Fate`]) rather than
//! copies of the identities, so an [`OutcomeView`](super::OutcomeView) reads it in place,
//! beside the prepared request, and an [`Outcome`](super::Outcome) is made of it only when
//! one is asked for.

use super::outcome::{Changed, RefusedMerge, RejectReason, Rejection};
use crate::model::{Customer, CustomerId};
use smallvec::SmallVec;

/// Requests rarely carry more identities than this; per-identity scratch lists up to this
/// length live on the stack.
pub(crate) const INLINE: usize = 8;

/// What became of one of a request's prepared identities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Already the target's.
    Matched,
    /// Linked to the target.
    Linked,
    /// Came with a customer merged into the target.
    Merged,
    /// Not the target's: quarantined, over a limit, or another's (the reason is in
    /// [`Decided::rejected`]).
    Rejected,
}

/// What a resolve did (or, in a dry run, would do), without copies of the request's
/// identities: their fates say which were matched and linked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Decided {
    /// The target; `None` only in a dry run that would create it.
    pub(crate) customer: Option<CustomerId>,
    pub(crate) created: bool,
    /// One per prepared identity, in resolve order.
    pub(crate) fates: SmallVec<[Fate; INLINE]>,
    /// The identities not bound to the target, in the order an `Outcome` lists them.
    pub(crate) rejected: Vec<Rejection>,
    pub(crate) merged: SmallVec<[CustomerId; 2]>,
    pub(crate) refused_merges: Vec<RefusedMerge>,
    pub(crate) changed: Changed,
    /// The target as the resolve left it, read in its transaction when the caller asked
    /// (a batch's `read_back`).
    pub(crate) read_back: Option<Box<Customer>>,
}

impl Decided {
    /// The customers the decision depends on: every owner of one of the request's
    /// identities (the target, the merged, and those whose identities were rejected).
    pub(crate) fn read(&self) -> impl Iterator<Item = CustomerId> + '_ {
        self.customer
            .into_iter()
            .chain(self.merged.iter().copied())
            .chain(self.rejected.iter().filter_map(|r| match r.reason {
                RejectReason::OwnedByOther { owner } | RejectReason::Quarantined { owner } => Some(owner),
                _ => None,
            }))
    }
}
