//! The resolve algorithm of SEMANTICS §2, in two phases.
//!
//! [`plan`] reads through a transaction and decides everything: validated and ordered
//! identities, the target, links, merges, and the target's new data. It writes nothing, so a
//! dry run is a plan that is never applied. [`apply`] then performs the plan's writes; every
//! check that can fail has already passed.

use super::fields::{apply_patch, patch_changes, reconcile};
use super::outcome::{ChangedField, Outcome, RefusedMerge, RejectReason, Rejection};
use crate::error::{Error, InvalidIdentityReason, Result};
use crate::history::Cause;
use crate::model::{
    Customer, CustomerId, Field, Identity, IdentityInput, IdentityType, PriorityStrategy, ResolveRequest,
    TargetStrategy, TenantId, is_valid_type,
};
use crate::settings::IdentitySettings;
use crate::store::Txn;
use chrono::{DateTime, Utc};
use std::sync::Arc;

const MAX_VALUE_CHARS: usize = 128;
const MAX_NAME_CHARS: usize = 256;
const MAX_SCOPE_CHARS: usize = 64;

/// Step 1: validates and normalizes one identity. `Ok(Err(identity))` is a blocked value.
pub(crate) fn normalize_one(
    settings: &IdentitySettings,
    index: usize,
    input: &IdentityInput,
    buf: &mut String,
) -> Result<Result<Identity, Identity>> {
    let invalid = |reason| Error::InvalidIdentity {
        index,
        identity_type: input.identity_type.clone(),
        value: input.identity_value.clone(),
        reason,
    };
    if !is_valid_type(&input.identity_type) {
        return Err(invalid(InvalidIdentityReason::BadType));
    }
    if let Some(name) = &input.identity_name {
        let chars = name.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(invalid(InvalidIdentityReason::NameTooLong { chars }));
        }
    }
    let scope = match &input.scope {
        None => None,
        Some(s) if s.is_empty() || s.chars().count() > MAX_SCOPE_CHARS => {
            return Err(invalid(InvalidIdentityReason::BadScope));
        }
        Some(s) => Some(Arc::<str>::from(s.as_str())),
    };
    let rule = settings.rule(&input.identity_type);
    let identity_type = if rule.ty.as_str() == input.identity_type {
        rule.ty.clone()
    } else {
        IdentityType::new(&input.identity_type).ok_or_else(|| invalid(InvalidIdentityReason::BadType))?
    };
    let make = |value: &str| Identity {
        identity_type: identity_type.clone(),
        scope: scope.clone(),
        identity_value: Arc::from(value),
        identity_name: input.identity_name.as_deref().map(Arc::from),
    };
    // Placeholders are checked as sent first: `null` is blocked, not an invalid email.
    let raw = input.identity_value.trim();
    if settings.rule_blocks(rule, raw) {
        return Ok(Err(make(raw)));
    }
    buf.clear();
    rule.normalizer
        .normalize(&input.identity_value, buf)
        .map_err(|why| invalid(InvalidIdentityReason::Normalizer(why)))?;
    if buf.is_empty() {
        return Err(invalid(InvalidIdentityReason::EmptyValue));
    }
    if buf.chars().any(char::is_control) {
        return Err(invalid(InvalidIdentityReason::Normalizer(
            "identity values must not contain control characters".into(),
        )));
    }
    let chars = buf.chars().count();
    if chars > MAX_VALUE_CHARS {
        return Err(invalid(InvalidIdentityReason::ValueTooLong { chars }));
    }
    let identity = make(buf);
    if settings.rule_blocks(rule, buf) {
        return Ok(Err(identity));
    }
    Ok(Ok(identity))
}

/// A request's identities after steps 1 and 2: the store is not involved yet, so requests
/// can be prepared in parallel.
#[derive(Clone)]
pub(crate) struct Prepared {
    /// Validated, normalized, deduplicated and ordered.
    pub(crate) identities: Vec<Identity>,
    /// Blocked ones (and, with match-by-fields, invalid patch contacts).
    pub(crate) rejected: Vec<Rejection>,
}

/// Steps 1 and 2: the request's identities validated, normalized, deduplicated and ordered,
/// plus the blocked ones (and, with match-by-fields, invalid patch contacts).
pub(crate) fn prepare(settings: &IdentitySettings, request: &ResolveRequest) -> Result<Prepared> {
    let mut identities: Vec<Identity> = Vec::with_capacity(request.identities.len() + 2);
    let mut rejected = Vec::new();
    let mut buf = String::new();
    for (index, input) in request.identities.iter().enumerate() {
        match normalize_one(settings, index, input, &mut buf)? {
            Ok(identity) => {
                if !identities.iter().any(|i| i.key() == identity.key()) {
                    identities.push(identity);
                }
            }
            Err(blocked) => rejected.push(Rejection {
                identity: blocked,
                reason: RejectReason::Blocked,
            }),
        }
    }
    if request.options.identity_priority_strategy == PriorityStrategy::System {
        // Stable: equal ranks (and unranked types) keep request order.
        identities.sort_by_key(|i| settings.rank(&i.identity_type).unwrap_or(usize::MAX));
    }
    if request.options.match_by_fields {
        for (field, ty) in [
            (Field::Mobile, IdentityType::MOBILE),
            (Field::Email, IdentityType::EMAIL),
        ] {
            let Some(value) = request.patch.fields.text(field) else {
                continue;
            };
            let input = IdentityInput::new(ty, value);
            match normalize_one(settings, request.identities.len(), &input, &mut buf) {
                Ok(Ok(identity)) => {
                    if !identities.iter().any(|i| i.key() == identity.key()) {
                        identities.push(identity);
                    }
                }
                Ok(Err(blocked)) => rejected.push(Rejection {
                    identity: blocked,
                    reason: RejectReason::Blocked,
                }),
                Err(e) => {
                    let why = match e {
                        Error::InvalidIdentity { reason, .. } => reason.to_string(),
                        other => other.to_string(),
                    };
                    let identity = Identity {
                        identity_type: IdentityType::new(ty).expect("built-in type"),
                        scope: None,
                        identity_value: Arc::from(value),
                        identity_name: None,
                    };
                    rejected.push(Rejection {
                        identity,
                        reason: RejectReason::Invalid { why },
                    });
                }
            }
        }
    }
    Ok(Prepared { identities, rejected })
}

/// A customer's identities of limited types, fetched once per customer and plan.
struct LimitedHoldings {
    customer: CustomerId,
    identities: Vec<Identity>,
}

impl LimitedHoldings {
    /// How many identities of `identity`'s type and scope the customer holds.
    fn count_like(&self, identity: &Identity) -> usize {
        self.identities
            .iter()
            .filter(|h| h.identity_type == identity.identity_type && h.scope == identity.scope)
            .count()
    }
}

/// Reads (once) the limited-type identities a customer holds.
fn holdings<'h, T: Txn>(
    cache: &'h mut Vec<LimitedHoldings>,
    txn: &T,
    settings: &IdentitySettings,
    tenant: &TenantId,
    customer: CustomerId,
) -> Result<&'h LimitedHoldings> {
    if let Some(i) = cache.iter().position(|h| h.customer == customer) {
        return Ok(&cache[i]);
    }
    let mut identities = txn.identities(tenant, customer)?;
    identities.retain(|i| settings.limit(&i.identity_type).is_some());
    cache.push(LimitedHoldings { customer, identities });
    Ok(cache.last().expect("just pushed"))
}

/// The decided target.
#[derive(Debug, Clone, Copy)]
enum Target {
    Existing(CustomerId),
    New,
}

/// Everything a resolve will write.
pub(crate) struct Plan {
    identities: Vec<Identity>,
    target: Target,
    /// Indices into `identities`.
    links: Vec<usize>,
    merges: Vec<CustomerId>,
    /// The target's new data when it changes (or is created).
    customer: Option<Customer>,
    /// New quarantine evidence: (suspect, conflicting identity).
    evidence: Vec<(Identity, Identity)>,
    pub(crate) outcome: Outcome,
    at: DateTime<Utc>,
}

/// The placeholder defence (see [`IdentitySettings::quarantine_after`]): finds new evidence
/// against owned identities and drops the quarantined ones from the request, reporting them.
/// Returns the identities still in play, their owners, and the evidence to record.
#[allow(clippy::type_complexity)]
fn quarantine<T: Txn>(
    txn: &T,
    settings: &IdentitySettings,
    tenant: &TenantId,
    identities: Vec<Identity>,
    lookups: &[crate::store::Lookup],
    rejected: &mut Vec<Rejection>,
) -> Result<(Vec<Identity>, Vec<Option<CustomerId>>, Vec<(Identity, Identity)>)> {
    let owners: Vec<Option<CustomerId>> = lookups.iter().map(|l| l.owner).collect();
    let Some(threshold) = settings.quarantine_after() else {
        return Ok((identities, owners, Vec::new()));
    };
    let n = identities.len();
    let mut quarantined: Vec<bool> = lookups
        .iter()
        .map(|l| l.owner.is_some() && l.suspicion >= threshold)
        .collect();
    let mut evidence = Vec::new();
    // Every owned identity is checked against the request's identities its owner does not
    // hold; only requests that bring something new to a customer pay for the read.
    let mut held_cache: Vec<(CustomerId, Vec<Identity>)> = Vec::new();
    for i in 0..n {
        let Some(c) = owners[i] else { continue };
        if quarantined[i] {
            continue;
        }
        let foreign = |j: usize, q: &[bool]| j != i && owners[j] != Some(c) && !q[j];
        if !(0..n).any(|j| foreign(j, &quarantined)) {
            continue;
        }
        let held = match held_cache.iter().position(|(id, _)| *id == c) {
            Some(p) => &held_cache[p].1,
            None => {
                held_cache.push((c, txn.identities(tenant, c)?));
                &held_cache.last().expect("just pushed").1
            }
        };
        // `c` holds a value of j's type and (since it does not own j) none equal to j.
        let conflicting = (0..n).find(|&j| {
            foreign(j, &quarantined)
                && held
                    .iter()
                    .any(|h| h.identity_type == identities[j].identity_type && h.scope == identities[j].scope)
        });
        if let Some(j) = conflicting {
            if !txn.is_suspected_with(tenant, identities[i].key(), identities[j].key())? {
                evidence.push((identities[i].clone(), identities[j].clone()));
                if lookups[i].suspicion + 1 >= threshold {
                    quarantined[i] = true;
                }
            }
        }
    }
    if !quarantined.contains(&true) {
        return Ok((identities, owners, evidence));
    }
    let mut kept = Vec::with_capacity(n);
    let mut kept_owners = Vec::with_capacity(n);
    for ((identity, owner), q) in identities.into_iter().zip(owners).zip(quarantined) {
        if q {
            rejected.push(Rejection {
                identity,
                reason: RejectReason::Quarantined {
                    owner: owner.expect("only owned identities are quarantined"),
                },
            });
        } else {
            kept.push(identity);
            kept_owners.push(owner);
        }
    }
    Ok((kept, kept_owners, evidence))
}

/// Steps 1–9 without writing.
pub(crate) fn plan<T: Txn>(
    txn: &T,
    settings: &IdentitySettings,
    tenant: &TenantId,
    request: &ResolveRequest,
    prepared: Prepared,
    at: DateTime<Utc>,
) -> Result<Plan> {
    let Prepared {
        identities,
        mut rejected,
    } = prepared;

    // Step 3: owners.
    let keys: Vec<_> = identities.iter().map(Identity::key).collect();
    let lookups = txn.lookup_many(tenant, &keys)?;
    let (identities, owners, evidence) =
        quarantine(txn, settings, tenant, identities, &lookups, &mut rejected)?;

    let mut cache: Vec<LimitedHoldings> = Vec::new();
    // Step 4: conflict(C, i).
    let mut conflicts = |c: CustomerId, i: usize| -> Result<bool> {
        let Some(limit) = settings.limit(&identities[i].identity_type) else {
            return Ok(false);
        };
        if owners[i] == Some(c) {
            return Ok(false);
        }
        let held = holdings(&mut cache, txn, settings, tenant, c)?;
        Ok(held.count_like(&identities[i]) >= limit as usize)
    };

    // Step 5: target.
    let mut target = Target::New;
    match request.options.target_customer_strategy {
        TargetStrategy::CustomerFirst => {
            if let Some(c) = owners.iter().flatten().next() {
                target = Target::Existing(*c);
            }
        }
        TargetStrategy::IdentityFirst => {
            let mut refused: Vec<CustomerId> = Vec::new();
            'candidates: for (k, owner) in owners.iter().enumerate() {
                let Some(c) = *owner else { continue };
                if refused.contains(&c) {
                    continue;
                }
                for j in 0..k {
                    if conflicts(c, j)? {
                        refused.push(c);
                        continue 'candidates;
                    }
                }
                target = Target::Existing(c);
                break;
            }
        }
    }

    // The target's limited holdings as they grow through this request.
    let mut target_limited: Vec<Identity> = match target {
        Target::Existing(c) if settings.has_limits() => {
            holdings(&mut cache, txn, settings, tenant, c)?.identities.clone()
        }
        _ => Vec::new(),
    };
    let target_id = match target {
        Target::Existing(c) => Some(c),
        Target::New => None,
    };

    // Step 6: link unowned identities unless they conflict.
    let mut matched = Vec::new();
    let mut links = Vec::new();
    for (i, identity) in identities.iter().enumerate() {
        match owners[i] {
            Some(o) if Some(o) == target_id => matched.push(identity.clone()),
            Some(_) => {}
            None => {
                if let Some(limit) = settings.limit(&identity.identity_type) {
                    let mut same = target_limited
                        .iter()
                        .filter(|h| h.identity_type == identity.identity_type && h.scope == identity.scope);
                    let first = same.next().cloned();
                    let count = first.iter().count() + same.count();
                    if count >= limit as usize {
                        let with = first.expect("limit >= 1 so count >= 1");
                        rejected.push(Rejection {
                            identity: identity.clone(),
                            reason: RejectReason::Conflict { with, limit },
                        });
                        continue;
                    }
                    target_limited.push(identity.clone());
                }
                links.push(i);
            }
        }
    }

    // Step 7: merge the other owners that fit within the limits.
    let mut merges = Vec::new();
    let mut refused_merges = Vec::new();
    let mut others: Vec<CustomerId> = Vec::new();
    for owner in owners.iter().flatten() {
        if Some(*owner) != target_id && !others.contains(owner) {
            others.push(*owner);
        }
    }
    if request.options.auto_merge {
        for &other in &others {
            let held = holdings(&mut cache, txn, settings, tenant, other)?;
            let mut refusal = None;
            for identity in &held.identities {
                let limit = settings
                    .limit(&identity.identity_type)
                    .expect("holdings are limited types");
                let same =
                    |h: &&Identity| h.identity_type == identity.identity_type && h.scope == identity.scope;
                let target_holds = target_limited.iter().filter(same).count();
                let other_holds = held.identities.iter().filter(same).count();
                if target_holds + other_holds > limit as usize {
                    refusal = Some(RefusedMerge {
                        customer: other,
                        identity_type: identity.identity_type.clone(),
                        scope: identity.scope.clone(),
                        limit,
                        target_holds,
                        other_holds,
                    });
                    break;
                }
            }
            match refusal {
                Some(r) => refused_merges.push(r),
                None => {
                    target_limited.extend(held.identities.iter().cloned());
                    merges.push(other);
                }
            }
        }
    }
    // Identities that stay with customers that were not merged.
    for (i, identity) in identities.iter().enumerate() {
        if let Some(o) = owners[i] {
            if Some(o) != target_id && !merges.contains(&o) {
                rejected.push(Rejection {
                    identity: identity.clone(),
                    reason: RejectReason::OwnedByOther { owner: o },
                });
            }
        }
    }

    // Step 8: the target's new data (only copied when something changes).
    let mut changed = Vec::new();
    let customer = match target {
        Target::New => {
            let mut c = Customer::new(CustomerId(0), at);
            apply_patch(settings, &mut c, &request.patch);
            changed = patch_changes(settings, &Customer::new(CustomerId(0), at), &request.patch);
            Some(c)
        }
        Target::Existing(id) => {
            let current = txn.customer(tenant, id)?.ok_or(Error::CustomerNotFound(id))?;
            if merges.is_empty() {
                changed = patch_changes(settings, &current, &request.patch);
                if changed.is_empty() && links.is_empty() {
                    None
                } else {
                    let mut c = current.into_owned();
                    apply_patch(settings, &mut c, &request.patch);
                    c.updated = at;
                    Some(c)
                }
            } else {
                let mut c = current.into_owned();
                for &m in &merges {
                    let merged = txn.customer(tenant, m)?.ok_or(Error::CustomerNotFound(m))?;
                    reconcile(settings, &mut c, &merged, &mut changed);
                }
                for f in patch_changes(settings, &c, &request.patch) {
                    if !changed.contains(&f) {
                        changed.push(f);
                    }
                }
                apply_patch(settings, &mut c, &request.patch);
                c.updated = at;
                Some(c)
            }
        }
    };

    let outcome = Outcome {
        customer: target_id,
        created: matches!(target, Target::New),
        dry_run: true,
        matched,
        linked: links.iter().map(|&i| identities[i].clone()).collect(),
        rejected,
        merged: merges.clone(),
        refused_merges,
        changed: dedup(changed),
    };
    Ok(Plan {
        identities,
        target,
        links,
        merges,
        customer,
        evidence,
        outcome,
        at,
    })
}

fn dedup(mut changed: Vec<ChangedField>) -> Vec<ChangedField> {
    let mut seen = Vec::with_capacity(changed.len());
    changed.retain(|c| {
        if seen.contains(c) {
            false
        } else {
            seen.push(c.clone());
            true
        }
    });
    changed
}

/// Performs a plan's writes. Nothing here can fail for a reason the plan could have seen.
pub(crate) fn apply<T: Txn>(txn: &mut T, tenant: &TenantId, plan: Plan, cause: &Cause) -> Result<Outcome> {
    let Plan {
        identities,
        target,
        links,
        merges,
        customer,
        evidence,
        mut outcome,
        at,
    } = plan;
    for (suspect, conflicting) in &evidence {
        txn.add_suspicion(tenant, suspect.key(), conflicting.key())?;
    }
    let id = match target {
        Target::Existing(id) => id,
        Target::New => txn.create_customer(tenant, at, cause)?,
    };
    for &i in &links {
        txn.link(tenant, id, &identities[i], at, cause)?;
    }
    for &m in &merges {
        txn.merge(tenant, m, id, at, cause)?;
    }
    if let Some(mut c) = customer {
        c.id = id;
        txn.put_customer(tenant, c)?;
    }
    outcome.customer = Some(id);
    outcome.dry_run = false;
    Ok(outcome)
}
