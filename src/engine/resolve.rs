//! The resolve algorithm of SEMANTICS §2, in two phases.
//!
//! [`plan`] reads through a transaction and decides everything: validated and ordered
//! identities, the target, links, merges, and the target's new data. It writes nothing, so a
//! dry run is a plan that is never applied. [`apply`] then performs the plan's writes; every
//! check that can fail has already passed.

use super::fields::{apply_patch, blank_field, patch_changes, reconcile};
use super::outcome::{ChangedField, Outcome, RefusedMerge, RejectReason, Rejection};
use crate::error::{Error, InvalidIdentityReason, Result};
use crate::history::{Cause, Operation};
use crate::model::{
    Customer, CustomerId, CustomerPatch, Field, Identity, IdentityInput, IdentityKey, IdentityType,
    PriorityStrategy, ResolveRequest, TargetStrategy, TenantId, is_valid_type,
};
use crate::settings::IdentitySettings;
use crate::store::Txn;
use chrono::{DateTime, Utc};
use smallvec::SmallVec;
use std::sync::Arc;

/// Requests rarely carry more identities than this; per-identity scratch lists up to this
/// length live on the stack.
const INLINE: usize = 8;

/// The owner of each of a request's identities, in order.
type Owners = SmallVec<[Option<CustomerId>; INLINE]>;

const MAX_VALUE_CHARS: usize = 128;
const MAX_NAME_CHARS: usize = 256;
const MAX_SCOPE_CHARS: usize = 64;

/// What step 1 made of a valid identity.
pub(crate) enum Checked {
    /// Normalized and not blocked, with its type's system priority (`usize::MAX` when
    /// unranked), read from the rule that normalized it.
    Valid { identity: Identity, rank: usize },
    /// On a blocklist, as sent or once normalized.
    Blocked(Identity),
}

/// Step 1: validates and normalizes one identity.
pub(crate) fn normalize_one(
    settings: &IdentitySettings,
    index: usize,
    input: &IdentityInput,
    buf: &mut String,
) -> Result<Checked> {
    let invalid = |reason| Error::InvalidIdentity {
        index,
        identity_type: input.identity_type.clone(),
        value: input.identity_value.clone(),
        reason,
    };
    // A type a rule names is valid (rules are built from valid types); others are checked.
    let named = settings.named_rule(&input.identity_type);
    if named.is_none() && !is_valid_type(&input.identity_type) {
        return Err(invalid(InvalidIdentityReason::BadType));
    }
    let rule = named.unwrap_or(settings.default_rule());
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
    let identity_type = match named {
        Some(rule) => rule.ty.clone(),
        None => {
            IdentityType::new(&input.identity_type).ok_or_else(|| invalid(InvalidIdentityReason::BadType))?
        }
    };
    let make = |value: &str| Identity {
        identity_type: identity_type.clone(),
        scope: scope.clone(),
        identity_value: Arc::from(value),
        identity_name: input.identity_name.as_deref().map(Arc::from),
    };
    // Placeholders are checked as sent first: `null` is blocked, not an invalid email.
    let raw = crate::settings::normalize::trim(&input.identity_value);
    if settings.rule_blocks(rule, raw) {
        return Ok(Checked::Blocked(make(raw)));
    }
    buf.clear();
    rule.normalizer
        .normalize(&input.identity_value, buf)
        .map_err(|why| invalid(InvalidIdentityReason::Normalizer(why)))?;
    if buf.is_empty() {
        return Err(invalid(InvalidIdentityReason::EmptyValue));
    }
    // One pass over the bytes for the usual ASCII value.
    let (control, chars) = if buf.is_ascii() {
        (buf.bytes().any(|b| b.is_ascii_control()), buf.len())
    } else {
        (buf.chars().any(char::is_control), buf.chars().count())
    };
    if control {
        return Err(invalid(InvalidIdentityReason::Normalizer(
            "identity values must not contain control characters".into(),
        )));
    }
    if chars > MAX_VALUE_CHARS {
        return Err(invalid(InvalidIdentityReason::ValueTooLong { chars }));
    }
    let identity = make(buf);
    // Values that normalizing left as sent (most) were checked above.
    if buf.as_str() != raw && settings.rule_blocks(rule, buf) {
        return Ok(Checked::Blocked(identity));
    }
    Ok(Checked::Valid {
        identity,
        rank: rule.rank.unwrap_or(usize::MAX),
    })
}

thread_local! {
    /// `prepare`'s normalizing buffer, kept between calls: room for any valid value (128
    /// chars) in the usual ASCII, so normalizing never allocates.
    static SCRATCH: std::cell::Cell<String> = std::cell::Cell::new(String::with_capacity(160));
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
    let mut buf = SCRATCH.take();
    let prepared = prepare_with(settings, request, &mut buf);
    SCRATCH.set(buf);
    prepared
}

fn prepare_with(settings: &IdentitySettings, request: &ResolveRequest, buf: &mut String) -> Result<Prepared> {
    let mut identities: Vec<Identity> = Vec::with_capacity(request.identities.len() + 2);
    let mut ranks: SmallVec<[usize; INLINE]> = SmallVec::new();
    let mut rejected = Vec::new();
    for (index, input) in request.identities.iter().enumerate() {
        match normalize_one(settings, index, input, buf)? {
            Checked::Valid { identity, rank } => {
                if !identities.iter().any(|i| i.key() == identity.key()) {
                    identities.push(identity);
                    ranks.push(rank);
                }
            }
            Checked::Blocked(blocked) => rejected.push(Rejection {
                identity: blocked,
                reason: RejectReason::Blocked,
            }),
        }
    }
    // Stable: equal ranks (and unranked types) keep request order. Most requests come in
    // order already (or hold one identity), and checking is cheaper than sorting.
    if request.options.identity_priority_strategy == PriorityStrategy::System && !ranks.is_sorted() {
        let mut ranked: Vec<(usize, Identity)> = ranks.into_iter().zip(identities).collect();
        ranked.sort_by_key(|(rank, _)| *rank);
        identities = ranked.into_iter().map(|(_, identity)| identity).collect();
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
            match normalize_one(settings, request.identities.len(), &input, buf) {
                Ok(Checked::Valid { identity, .. }) => {
                    if !identities.iter().any(|i| i.key() == identity.key()) {
                        identities.push(identity);
                    }
                }
                Ok(Checked::Blocked(blocked)) => rejected.push(Rejection {
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
fn holdings<'h, T: Txn + ?Sized>(
    cache: &'h mut Vec<LimitedHoldings>,
    txn: &T,
    settings: &IdentitySettings,
    tenant: &TenantId,
    customer: CustomerId,
) -> Result<&'h LimitedHoldings> {
    if let Some(i) = cache.iter().position(|h| h.customer == customer) {
        return Ok(&cache[i]);
    }
    let identities = txn.identities_matching(tenant, customer, &|ty| settings.limit(ty).is_some())?;
    cache.push(LimitedHoldings { customer, identities });
    Ok(cache.last().expect("just pushed"))
}

/// The decided target.
#[derive(Debug, Clone, Copy)]
enum Target {
    Existing(CustomerId),
    New,
}

/// Everything a resolve will write: the outcome says what to link and merge.
pub(crate) struct Plan {
    /// The owners the plan read (the customers whose data it depends on).
    pub(crate) read: SmallVec<[CustomerId; INLINE]>,
    target: Target,
    /// What becomes of the target's data.
    customer: Write,
    /// New quarantine evidence: (suspect, conflicting identity).
    evidence: Vec<(Identity, Identity)>,
    pub(crate) outcome: Outcome,
    at: DateTime<Utc>,
}

/// The placeholder defence (see [`IdentitySettings::quarantine_after`]): finds new evidence
/// against owned identities and drops the quarantined ones from the request, reporting them.
/// Returns the identities still in play, their owners, and the evidence to record.
#[allow(clippy::type_complexity)]
fn quarantine<T: Txn + ?Sized>(
    txn: &T,
    settings: &IdentitySettings,
    tenant: &TenantId,
    identities: Vec<Identity>,
    lookups: &[crate::store::Lookup],
    rejected: &mut Vec<Rejection>,
) -> Result<(Vec<Identity>, Owners, Vec<(Identity, Identity)>)> {
    let owners: Owners = lookups.iter().map(|l| l.owner).collect();
    let Some(threshold) = settings.quarantine_after() else {
        return Ok((identities, owners, Vec::new()));
    };
    let n = identities.len();
    let mut quarantined: SmallVec<[bool; INLINE]> = lookups
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
                // Only identities of the request's types can conflict.
                let requested = |ty: &str| identities.iter().any(|r| r.identity_type.as_str() == ty);
                held_cache.push((c, txn.identities_matching(tenant, c, &requested)?));
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
    let mut kept_owners = Owners::with_capacity(n);
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
pub(crate) fn plan<T: Txn + ?Sized>(
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
    // One call, so a SQL store reads every owner in one query.
    let lookups = {
        let keys: SmallVec<[IdentityKey<'_>; INLINE]> = identities.iter().map(Identity::key).collect();
        txn.lookup_many(tenant, &keys)?
    };
    let read: SmallVec<[CustomerId; INLINE]> = lookups.iter().filter_map(|l| l.owner).collect();
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

    let target_id = match target {
        Target::Existing(c) => Some(c),
        Target::New => None,
    };
    // The target's limited holdings as they grow through this request. Only read when
    // something can be checked against them: an unowned identity of a limited type to link,
    // or another customer to merge.
    let needs_holdings = settings.has_limits()
        && ((0..identities.len())
            .any(|i| owners[i].is_none() && settings.limit(&identities[i].identity_type).is_some())
            || owners.iter().flatten().any(|o| Some(*o) != target_id));
    let mut target_limited: Vec<Identity> = match target {
        Target::Existing(c) if needs_holdings => {
            holdings(&mut cache, txn, settings, tenant, c)?.identities.clone()
        }
        _ => Vec::new(),
    };

    // Step 6: link unowned identities unless they conflict. What becomes of each identity
    // is decided here and below; the identities then move into the outcome, uncopied.
    let mut fates: SmallVec<[Fate; INLINE]> = smallvec::smallvec![Fate::Matched; identities.len()];
    let mut links = 0;
    for (i, identity) in identities.iter().enumerate() {
        match owners[i] {
            // The target's (matched) or another's (merged or rejected below).
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
                        fates[i] = Fate::Rejected(Box::new(RejectReason::Conflict { with, limit }));
                        continue;
                    }
                    target_limited.push(identity.clone());
                }
                fates[i] = Fate::Linked;
                links += 1;
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
    // Identities that stay with customers that were not merged; those of merged customers
    // come with them and are neither matched nor linked.
    for (i, owner) in owners.iter().enumerate() {
        if let Some(o) = *owner {
            if Some(o) != target_id {
                fates[i] = if merges.contains(&o) {
                    Fate::Merged
                } else {
                    Fate::Rejected(Box::new(RejectReason::OwnedByOther { owner: o }))
                };
            }
        }
    }

    // Step 8: the target's new data (only copied when something changes).
    let mut changed = Vec::new();
    // When no field changes, new links still change when it was last updated.
    let unchanged = if links == 0 { Write::Nothing } else { Write::Touch };
    let customer = match target {
        Target::New => {
            let mut c = Customer::new(CustomerId(0), at);
            changed = patch_changes(settings, &c, &request.patch);
            apply_patch(settings, &mut c, &request.patch);
            Write::Put(c)
        }
        // Nothing to compare: the customer need not be read.
        Target::Existing(_) if merges.is_empty() && request.patch.is_empty() => unchanged,
        // Fields only, each already the customer's (the usual repeat visit): nothing
        // changes, which the store can tell without the customer being read.
        Target::Existing(id)
            if merges.is_empty()
                && only_fields(&request.patch)
                && txn.holds_fields(tenant, id, &request.patch.fields)? == Some(true) =>
        {
            unchanged
        }
        Target::Existing(id) => {
            let current = txn.customer(tenant, id)?.ok_or(Error::CustomerNotFound(id))?;
            if merges.is_empty() {
                changed = patch_changes(settings, &current, &request.patch);
                if changed.is_empty() {
                    unchanged
                } else {
                    let mut c = current.into_owned();
                    apply_patch(settings, &mut c, &request.patch);
                    c.updated = at;
                    Write::Put(c)
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
                Write::Put(c)
            }
        }
    };

    let (matched, linked) = if fates.iter().all(|f| matches!(f, Fate::Matched)) {
        // The usual hit: the request's list is the outcome's, as it is.
        (identities, Vec::new())
    } else {
        let mut matched = Vec::new();
        let mut linked = Vec::with_capacity(links);
        for (identity, fate) in identities.into_iter().zip(fates) {
            match fate {
                Fate::Matched => matched.push(identity),
                Fate::Linked => linked.push(identity),
                Fate::Merged => {}
                Fate::Rejected(reason) => rejected.push(Rejection {
                    identity,
                    reason: *reason,
                }),
            }
        }
        (matched, linked)
    };
    let outcome = Outcome {
        customer: target_id,
        created: matches!(target, Target::New),
        dry_run: true,
        matched,
        linked,
        rejected,
        merged: merges,
        refused_merges,
        changed: dedup(changed),
    };
    Ok(Plan {
        read,
        target,
        customer,
        evidence,
        outcome,
        at,
    })
}

/// What a resolve writes of its target's data.
enum Write {
    /// Nothing changes.
    Nothing,
    /// Only when it was last updated (identities were linked).
    Touch,
    /// Its new data (or, for a new customer, its first).
    Put(Customer),
}

/// What becomes of one of a request's identities.
#[derive(Clone)]
enum Fate {
    /// Already the target's.
    Matched,
    /// Linked to the target.
    Linked,
    /// Comes with a customer merged into the target.
    Merged,
    /// Not the target's, for this reason (boxed: rare, and it keeps the per-identity
    /// scratch list small enough to copy cheaply).
    Rejected(Box<RejectReason>),
}

/// Whether a patch sets fields only, none of them blank: then it changes nothing exactly
/// when the customer already holds every one of its fields (see `patch_changes`).
fn only_fields(patch: &CustomerPatch) -> bool {
    patch.attrs.is_empty()
        && patch.tags.is_empty()
        && patch.groups.is_empty()
        && !patch.fields.iter().any(|(_, value)| blank_field(value))
}

/// Drops repeated entries, keeping the first of each (lists are a handful long).
fn dedup(mut changed: Vec<ChangedField>) -> Vec<ChangedField> {
    let mut i = 1;
    while i < changed.len() {
        if changed[..i].contains(&changed[i]) {
            changed.remove(i);
        } else {
            i += 1;
        }
    }
    changed
}

/// Performs a plan's writes. Nothing here can fail for a reason the plan could have seen.
///
/// `operation` and `reference` make the [`Cause`] kept in history, built only when a
/// history event is written (a create, a link, a merge): the usual hit allocates none.
pub(crate) fn apply<T: Txn>(
    txn: &mut T,
    tenant: &TenantId,
    plan: Plan,
    operation: Operation,
    reference: Option<&str>,
) -> Result<Outcome> {
    let Plan {
        read: _,
        target,
        customer,
        evidence,
        mut outcome,
        at,
    } = plan;
    let cause = std::cell::OnceCell::new();
    let cause = || {
        cause.get_or_init(|| Cause {
            operation,
            reference: reference.map(Arc::from),
        })
    };
    for (suspect, conflicting) in &evidence {
        txn.add_suspicion(tenant, suspect.key(), conflicting.key())?;
    }
    let id = match target {
        Target::Existing(id) => id,
        Target::New => txn.create_customer(tenant, at, cause())?,
    };
    for identity in &outcome.linked {
        txn.link(tenant, id, identity, at, cause())?;
    }
    for &m in &outcome.merged {
        txn.merge(tenant, m, id, at, cause())?;
    }
    match customer {
        Write::Nothing => {}
        Write::Touch => txn.touch(tenant, id, at)?,
        Write::Put(mut c) => {
            c.id = id;
            txn.put_customer(tenant, c)?;
        }
    }
    outcome.customer = Some(id);
    outcome.dry_run = false;
    Ok(outcome)
}
