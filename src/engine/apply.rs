//! Applying a plan: a resolve's writes, in one store call.
//!
//! [`apply`] performs what [`plan`](super::plan::plan) decided with one
//! [`Txn::write_resolve`]. Every check that can fail has passed while planning; a repeat visit
//! writes nothing at all.

use super::decision::{Decided, Fate, INLINE};
use super::plan::{Plan, Target, Write};
use super::prepare::Prep;
use crate::error::Result;
use crate::history::Operation;
use crate::model::{HashedKey, ResolveRequest, TenantId};
use crate::store::{ResolveWrites, TargetData, Txn};
use smallvec::SmallVec;

/// Performs a plan's writes and sets the target's id in what it decided. Nothing here can
/// fail for a reason the plan could have seen.
pub(crate) fn apply<T: Txn>(
    txn: &mut T,
    tenant: &TenantId,
    plan: Plan,
    decided: &mut Decided,
    prep: Prep<'_>,
    request: &ResolveRequest,
    operation: Operation,
) -> Result<()> {
    let Plan {
        target,
        customer,
        evidence,
        at,
    } = plan;
    let mut links: SmallVec<[(HashedKey<'_>, Option<&str>); INLINE]> = SmallVec::new();
    for (i, fate) in decided.fates.iter().enumerate() {
        if *fate == Fate::Linked {
            links.push((prep.hashed(i), prep.name(i)));
        }
    }
    let mut pairs: SmallVec<[(HashedKey<'_>, HashedKey<'_>); 2]> = SmallVec::new();
    for &(suspect, conflicting) in &evidence {
        pairs.push((prep.hashed(suspect), prep.hashed(conflicting)));
    }
    // A repeat visit writes nothing at all.
    if let (Target::Existing(id), Write::Nothing, true, true) =
        (target, &customer, links.is_empty(), pairs.is_empty())
        && decided.merged.is_empty()
    {
        decided.customer = Some(id);
        return Ok(());
    }
    let (data, new_data) = match customer {
        Write::Nothing => (TargetData::Unchanged, None),
        Write::Touch => (TargetData::Touched, None),
        Write::Put(c) => (TargetData::Put(c), None),
        Write::New => (TargetData::Unchanged, Some(&request.patch)),
    };
    let id = txn.write_resolve(
        tenant,
        ResolveWrites {
            target: match target {
                Target::Existing(id) => Some(id),
                Target::New => None,
            },
            new_data,
            links: &links,
            merges: &decided.merged,
            evidence: &pairs,
            data,
            at,
            operation,
            reference: request.cause.as_deref(),
        },
    )?;
    decided.customer = Some(id);
    Ok(())
}
