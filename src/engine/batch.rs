//! Batch resolution: requests prepared ahead (on all cores, or on a thread of their own
//! while earlier ones are planned), applied in order.
//!
//! Planning (lookups, quarantine checks, limits, the target's new data) only reads. With
//! parallel planning on and a store whose transactions allow parallel reads, every request
//! that shares no identity with an earlier request of the batch is first planned against
//! the state the batch started from, on all cores. The plans are then applied in request
//! order. A plan stays exactly what one-by-one resolution would plan as long as nothing it
//! read has changed since the batch started: none of its identities was touched by an
//! earlier request of the batch (linked, matched, or given quarantine evidence) and none of
//! the customers its identities led to was written (a target or a merged customer).
//! Otherwise the request is planned again at its turn, against the current state.
//!
//! The dependency check works on hashes: a collision only makes a request be planned again,
//! never makes a stale plan be applied.

use super::outcome::Outcome;
use super::resolve::{self, Plan, Prepared};
use super::resolve_one;
use crate::error::{Error, Result};
use crate::history::Operation;
use crate::model::{CustomerId, ResolveRequest, TenantId};
use crate::settings::IdentitySettings;
use crate::store::Txn;
use chrono::{DateTime, Utc};
use std::hash::BuildHasher;

type FastSet<T> = hashbrown::HashSet<T, foldhash::fast::RandomState>;

/// What phase 1 left for a request's turn.
enum Ahead {
    /// A plan made against the batch's starting state, with the hashes of the request's
    /// identity keys. (A failed plan is always made again: what it read is unknown.) Boxed:
    /// a plan is hundreds of bytes, which every request planned in order, holding none,
    /// would otherwise copy from step to step of the pipeline.
    Planned { keys: Vec<u64>, plan: Box<Plan> },
    /// Prepared only: to be planned at its turn.
    Prepared(Prepared),
    /// Planning failed: to be prepared and planned again at its turn.
    Again,
}

/// What a batch resolves: a tenant's requests, with the tenant's settings and each
/// request's event time.
#[derive(Clone, Copy)]
pub(crate) struct Batch<'a> {
    pub(crate) settings: &'a IdentitySettings,
    pub(crate) tenant: &'a TenantId,
    pub(crate) requests: &'a [ResolveRequest],
    pub(crate) times: &'a [DateTime<Utc>],
}

/// Resolves a batch's prepared requests in order inside one transaction, planning the
/// independent ones in parallel first when asked to (`parallel`) and the transaction allows
/// it. Per-request input errors are returned in place; any other error aborts the batch.
pub(crate) fn resolve_in_order<T: Txn>(
    txn: &mut T,
    batch: Batch<'_>,
    prepared: impl IntoIterator<Item = Result<Prepared>>,
    parallel: bool,
) -> Result<Vec<Result<Outcome>>> {
    use rayon::prelude::*;
    let Batch {
        settings,
        tenant,
        requests,
        times,
    } = batch;
    let hasher = foldhash::fast::RandomState::default();

    // Phase 1: plan, against the batch's starting state, every request that shares no
    // identity with an earlier request of the batch (the others would be planned in vain).
    match txn.shared() {
        Some(shared) if parallel && requests.len() > 1 => {
            let prepared: Vec<Result<Prepared>> = prepared.into_iter().collect();
            let key_hashes = |p: &Prepared| key_hashes(&hasher, p);
            let keys: Vec<Option<Vec<u64>>> = prepared
                .par_iter()
                .with_min_len(256)
                .map(|p| p.as_ref().ok().map(key_hashes))
                .collect();
            let mut seen: FastSet<u64> = FastSet::default();
            let independent: Vec<bool> = keys
                .iter()
                .map(|k| {
                    let k = k.as_deref().unwrap_or_default();
                    let fresh = !k.iter().any(|h| seen.contains(h));
                    seen.extend(k.iter().copied());
                    fresh
                })
                .collect();
            let ahead = prepared
                .into_par_iter()
                .zip(keys)
                .zip(independent)
                .zip(requests.par_iter().zip(times.par_iter()))
                .with_min_len(64)
                .map(|(((prepared, keys), independent), (request, at))| {
                    let prepared = prepared?;
                    Ok(match keys {
                        Some(keys) if independent => {
                            match resolve::plan(shared, settings, tenant, request, prepared, *at) {
                                Ok(plan) => Ahead::Planned {
                                    keys,
                                    plan: Box::new(plan),
                                },
                                Err(_) => Ahead::Again,
                            }
                        }
                        _ => Ahead::Prepared(prepared),
                    })
                })
                .collect::<Vec<Result<Ahead>>>();
            let track = ahead.iter().any(|a| matches!(a, Ok(Ahead::Planned { .. })));
            apply_in_order(txn, batch, ahead, track, &hasher)
        }
        // Nothing planned ahead: each request is planned at its turn, as its preparation
        // arrives (the caller may still be preparing later ones).
        _ => {
            let ahead = prepared.into_iter().map(|p| p.map(Ahead::Prepared));
            apply_in_order(txn, batch, ahead, false, &hasher)
        }
    }
}

fn key_hashes(hasher: &foldhash::fast::RandomState, p: &Prepared) -> Vec<u64> {
    p.identities.iter().map(|i| hasher.hash_one(i.key())).collect()
}

/// Phase 2: applies in order, planning again whatever an earlier request changed. What the
/// requests touch is only tracked (`track`) when some plan was made ahead and may have gone
/// stale.
fn apply_in_order<T: Txn>(
    txn: &mut T,
    batch: Batch<'_>,
    ahead: impl IntoIterator<Item = Result<Ahead>>,
    track: bool,
    hasher: &foldhash::fast::RandomState,
) -> Result<Vec<Result<Outcome>>> {
    let Batch {
        settings,
        tenant,
        requests,
        times,
    } = batch;
    let mut touched_keys: FastSet<u64> = FastSet::default();
    let mut touched_customers: FastSet<CustomerId> = FastSet::default();
    let mut outcomes = Vec::with_capacity(requests.len());
    for ((ahead, request), at) in ahead.into_iter().zip(requests).zip(times) {
        let ahead = match ahead {
            Ok(a) => a,
            Err(e) => {
                outcomes.push(Err(e));
                continue;
            }
        };
        let (keys, result) = match ahead {
            Ahead::Planned { keys, plan }
                if !keys.iter().any(|k| touched_keys.contains(k))
                    && !plan.read.iter().any(|c| touched_customers.contains(c)) =>
            {
                (
                    keys,
                    resolve::apply(txn, tenant, *plan, Operation::Resolve, request.cause.as_deref()),
                )
            }
            // Planned too early (something it read has changed) or planning failed: prepare
            // again, and plan now, in order, like one prepared only.
            stale => {
                let prepared = match stale {
                    Ahead::Prepared(p) => Ok(p),
                    _ => resolve::prepare(settings, request),
                };
                match prepared {
                    Err(e) => (Vec::new(), Err(e)),
                    Ok(p) => {
                        let keys = if track { key_hashes(hasher, &p) } else { Vec::new() };
                        let result = resolve_one(txn, settings, tenant, request, p, *at, Operation::Resolve);
                        (keys, result)
                    }
                }
            }
        };
        match result {
            Ok(outcome) => {
                if track {
                    touched_keys.extend(keys);
                    touched_customers.extend(outcome.customer);
                    touched_customers.extend(outcome.merged.iter().copied());
                }
                outcomes.push(Ok(outcome));
            }
            // Only input errors are per request; anything else is the store's.
            Err(e @ (Error::InvalidIdentity { .. } | Error::InvalidField { .. })) => outcomes.push(Err(e)),
            Err(e) => return Err(e),
        }
    }
    Ok(outcomes)
}
