//! Planning a resolve (SEMANTICS §2, steps 3 to 9) without writing anything.
//!
//! [`plan`] reads through a transaction and decides everything: the target, links, merges,
//! refusals, quarantine evidence and the target's new data. What it decided goes into a
//! [`Decided`]; what is to be written, into the [`Plan`] it returns. Nothing is written, so a
//! dry run is a plan that is never applied. The two usual shapes of a request (a repeat
//! visit, a new customer) are decided directly, with the same result as the general steps.

use super::decision::{Decided, Fate, INLINE};
use super::fields::{apply_patch, new_patch_changes, patch_changes, reconcile, reconcile_refusal};
use super::outcome::{Changed, RefusalReason, RefusedMerge, RejectReason, Rejection};
use super::prepare::Prep;
use crate::error::{Error, Result};
use crate::model::{
    Customer, CustomerId, CustomerPatch, HashedKey, IdentityType, ResolveRequest, TargetStrategy, TenantId,
    blank_field, check_held, repeats,
};
use crate::settings::IdentitySettings;
use crate::store::{KindCount, Lookup, ReadTxn};
use chrono::{DateTime, Utc};
use smallvec::SmallVec;
use std::sync::Arc;

/// The decided target.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    Existing(CustomerId),
    New,
}

/// Everything a resolve will write (what it decided is kept apart, in the [`Decided`] the
/// plan fills, so that it is written once, where it stays).
pub(crate) struct Plan {
    pub(crate) target: Target,
    /// What becomes of the target's data.
    pub(crate) customer: Write,
    /// New quarantine evidence: (suspect, conflicting identity), as prepared indices.
    pub(crate) evidence: SmallVec<[(usize, usize); 2]>,
    pub(crate) at: DateTime<Utc>,
}

/// What a resolve writes of its target's data.
pub(crate) enum Write {
    /// Nothing changes.
    Nothing,
    /// Only when it was last updated (identities were linked).
    Touch,
    /// Its new data (boxed: rare, and a plan is moved about).
    Put(Box<Customer>),
    /// A new customer's first data: the request's patch applied to none.
    New,
}

/// How many identities of one type and scope the target holds as a plan goes: those it held
/// (read from the store when first needed), those linked to it so far, those that came with
/// merged customers.
struct LimitedCount {
    identity_type: IdentityType,
    scope: Option<Arc<str>>,
    held: usize,
    /// The first identity of the request linked of this kind, if any.
    first_linked: Option<usize>,
    linked: usize,
    merged: usize,
}

impl LimitedCount {
    fn total(&self) -> usize {
        self.held + self.linked + self.merged
    }
}

/// The target's count of one limited kind, read from the store when first needed.
fn limited_count<'l, T: ReadTxn + ?Sized>(
    limited: &'l mut SmallVec<[LimitedCount; 4]>,
    txn: &T,
    tenant: &TenantId,
    target: Target,
    identity_type: &IdentityType,
    scope: Option<&Arc<str>>,
) -> Result<&'l mut LimitedCount> {
    if let Some(at) = limited
        .iter()
        .position(|l| &l.identity_type == identity_type && l.scope.as_ref() == scope)
    {
        return Ok(&mut limited[at]);
    }
    let held = match target {
        Target::Existing(c) => txn.count_of_type(tenant, c, identity_type.as_str(), scope.map(|s| &**s))?,
        Target::New => 0,
    };
    limited.push(LimitedCount {
        identity_type: identity_type.clone(),
        scope: scope.cloned(),
        held,
        first_linked: None,
        linked: 0,
        merged: 0,
    });
    Ok(limited.last_mut().expect("just pushed"))
}

/// Steps 3–9 without writing: decides into `decided` (which starts empty) and returns what
/// to write.
pub(crate) fn plan<T: ReadTxn + ?Sized>(
    txn: &T,
    settings: &IdentitySettings,
    tenant: &TenantId,
    request: &ResolveRequest,
    prep: Prep<'_>,
    at: DateTime<Utc>,
    decided: &mut Decided,
) -> Result<Plan> {
    // Step 3: owners, in one call, so a SQL store reads every owner in one query. Answered
    // into a buffer kept between calls (given back however planning ends).
    let ask = Ask {
        txn,
        settings,
        tenant,
        request,
        prep,
        at,
    };
    let mut lookups = LOOKUPS.take();
    let plan = plan_with(ask, &mut lookups, decided);
    LOOKUPS.set(lookups);
    plan
}

/// What planning a request reads: the transaction, the tenant and its settings, the request
/// as sent and as prepared, and its time.
struct Ask<'a, T: ?Sized> {
    txn: &'a T,
    settings: &'a IdentitySettings,
    tenant: &'a TenantId,
    request: &'a ResolveRequest,
    prep: Prep<'a>,
    at: DateTime<Utc>,
}

// By hand: a derive would ask `T: Copy` of the transaction itself.
impl<T: ?Sized> Clone for Ask<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Ask<'_, T> {}

fn plan_with<T: ReadTxn + ?Sized>(
    ask: Ask<'_, T>,
    lookups: &mut Vec<Lookup>,
    decided: &mut Decided,
) -> Result<Plan> {
    let Ask {
        txn,
        settings,
        tenant,
        request,
        prep,
        at,
    } = ask;
    let n = prep.len();
    decided.rejected.extend_from_slice(prep.rejected());
    {
        let mut keys: SmallVec<[HashedKey<'_>; INLINE]> = SmallVec::new();
        for i in 0..n {
            keys.push(prep.hashed(i));
        }
        lookups.clear();
        txn.lookup_many(tenant, &keys, lookups)?;
    }
    if lookups.len() != n {
        return Err(Error::Invariant(format!(
            "the store answered {} lookups for {n} identities",
            lookups.len()
        )));
    }
    let lookups = &lookups[..];
    #[cfg(test)]
    let usual = !GENERAL_ONLY.get();
    #[cfg(not(test))]
    let usual = true;
    if usual && let Some(plan) = plan_usual(ask, lookups, decided)? {
        return Ok(plan);
    }
    let Decided {
        customer: decided_customer,
        created,
        fates,
        rejected,
        merged,
        refused_merges,
        changed,
        read_back: _,
    } = decided;
    let owners = |i: usize| lookups[i].owner;

    // The placeholder defence: quarantined identities take no further part.
    fates.extend(std::iter::repeat_n(Fate::Matched, n));
    let mut evidence = SmallVec::new();
    quarantine(ask, lookups, fates, &mut evidence, rejected)?;
    let live = |i: usize, fates: &[Fate]| fates[i] != Fate::Rejected;

    // Step 4: conflict(C, i): C would exceed i's type's limit by taking i.
    let conflicts = |c: CustomerId, i: usize| -> Result<bool> {
        let Some(limit) = prep.limit(i) else {
            return Ok(false);
        };
        if owners(i) == Some(c) {
            return Ok(false);
        }
        let key = prep.key(i);
        Ok(txn.count_of_type(tenant, c, key.identity_type, key.scope)? >= limit as usize)
    };

    // Step 5: target.
    let mut target = Target::New;
    match request.options.target_customer_strategy {
        TargetStrategy::CustomerFirst => {
            if let Some(c) = (0..n).filter(|&i| live(i, fates)).find_map(owners) {
                target = Target::Existing(c);
            }
        }
        TargetStrategy::IdentityFirst => {
            let mut refused: SmallVec<[CustomerId; 4]> = SmallVec::new();
            'candidates: for k in (0..n).filter(|&k| live(k, fates)) {
                let Some(c) = owners(k) else { continue };
                if refused.contains(&c) {
                    continue;
                }
                for j in (0..k).filter(|&j| live(j, fates)) {
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

    // The target's holdings of each limited kind met, as they grow through this request.
    let mut limited: SmallVec<[LimitedCount; 4]> = SmallVec::new();

    // Step 6: link unowned identities unless they conflict.
    let mut links = 0;
    let mut reasons: SmallVec<[(usize, RejectReason); 2]> = SmallVec::new();
    for i in 0..n {
        if !live(i, fates) || owners(i).is_some() {
            // Quarantined, or the target's (matched) or another's (merged or rejected below).
            continue;
        }
        if let Some(limit) = prep.limit(i) {
            let kind = limited_count(
                &mut limited,
                txn,
                tenant,
                target,
                prep.identity_type(i),
                prep.scope(i),
            )?;
            if kind.total() >= limit as usize {
                let with = match kind.first_linked {
                    // The target held none of this kind: the one linked earlier here.
                    Some(j) if kind.held == 0 => prep.identity(j),
                    _ => {
                        let key = prep.key(i);
                        let c = target_id.expect("only an existing target holds identities");
                        txn.first_of_type(tenant, c, key.identity_type, key.scope)?
                            .ok_or_else(|| Error::Invariant(format!("customer {c} lost an identity")))?
                    }
                };
                fates[i] = Fate::Rejected;
                reasons.push((i, RejectReason::Conflict { with, limit }));
                continue;
            }
            kind.linked += 1;
            kind.first_linked.get_or_insert(i);
        }
        fates[i] = Fate::Linked;
        links += 1;
    }

    // Step 7: merge the other owners that fit within the limits and whose data fits beside
    // the target's, reconciled into the target's data as each is merged.
    let mut others: SmallVec<[CustomerId; 4]> = SmallVec::new();
    for i in (0..n).filter(|&i| live(i, fates)) {
        if let Some(o) = owners(i)
            && Some(o) != target_id
            && !others.contains(&o)
        {
            others.push(o);
        }
    }
    // The target's data with that of each customer merged so far (read at the first merge).
    let mut united: Option<Customer> = None;
    if request.options.auto_merge && !others.is_empty() {
        for &other in &others {
            let held = if settings.has_limits() {
                txn.kinds_matching(tenant, other, &|ty| settings.limit(ty).is_some())?
            } else {
                Vec::new()
            };
            if let Some(r) = merge_refusal(txn, settings, tenant, target, &mut limited, other, &held)? {
                refused_merges.push(r);
                continue;
            }
            let data = match &mut united {
                Some(data) => data,
                None => united.insert(match target {
                    Target::Existing(id) => txn
                        .customer(tenant, id)?
                        .ok_or(Error::CustomerNotFound(id))?
                        .into_owned(),
                    Target::New => Customer::new(CustomerId(0), at),
                }),
            };
            let incoming = txn
                .customer(tenant, other)?
                .ok_or(Error::CustomerNotFound(other))?;
            if let Some(reason) = reconcile_refusal(settings, data, &incoming) {
                refused_merges.push(RefusedMerge {
                    customer: other,
                    reason,
                });
                continue;
            }
            reconcile(settings, data, &incoming, changed);
            for h in &held {
                limited_count(
                    &mut limited,
                    txn,
                    tenant,
                    target,
                    &h.identity_type,
                    h.scope.as_ref(),
                )?
                .merged += h.count;
            }
            merged.push(other);
        }
    }
    // Identities that stay with customers that were not merged; those of merged customers
    // come with them and are neither matched nor linked.
    for i in 0..n {
        if !live(i, fates) {
            continue;
        }
        if let Some(o) = owners(i)
            && Some(o) != target_id
        {
            if merged.contains(&o) {
                fates[i] = Fate::Merged;
            } else {
                fates[i] = Fate::Rejected;
                reasons.push((i, RejectReason::OwnedByOther { owner: o }));
            }
        }
    }
    // Rejections in resolve order, after the blocked and quarantined ones.
    reasons.sort_by_key(|(i, _)| *i);
    for (i, reason) in reasons.drain(..) {
        rejected.push(Rejection {
            identity: prep.identity(i),
            reason,
        });
    }

    // Step 8: the target's new data.
    let united = if merged.is_empty() { None } else { united };
    let customer = target_data(ask, target, united, links, changed)?;
    dedup(changed);
    *decided_customer = target_id;
    *created = matches!(target, Target::New);
    Ok(Plan {
        target,
        customer,
        evidence,
        at,
    })
}

/// Step 8: what becomes of the target's data (only copied when something changes), adding
/// what changes to `changed`. `united` is the target's data reconciled with the customers
/// merged into it, when there are any. A patch that would leave the target with more
/// attributes, tags or groups than a customer holds is refused here, before anything is
/// written.
fn target_data<T: ReadTxn + ?Sized>(
    ask: Ask<'_, T>,
    target: Target,
    united: Option<Customer>,
    links: usize,
    changed: &mut Changed,
) -> Result<Write> {
    let Ask {
        txn,
        settings,
        tenant,
        request,
        at,
        ..
    } = ask;
    // When no field changes, new links still change when it was last updated.
    let unchanged = if links == 0 { Write::Nothing } else { Write::Touch };
    Ok(match (target, united) {
        // A new customer's data is the patch's, within the bounds as the patch is.
        (Target::New, None) => {
            new_patch_changes(&request.patch, changed);
            Write::New
        }
        // Nothing to compare: the customer need not be read.
        (Target::Existing(_), None) if request.patch.is_empty() => unchanged,
        // Fields only, each already the customer's (the usual repeat visit): nothing
        // changes, which the store can tell without the customer being read.
        (Target::Existing(id), None)
            if only_fields(&request.patch)
                && txn.holds_fields(tenant, id, &request.patch.fields)? == Some(true) =>
        {
            unchanged
        }
        (Target::Existing(id), None) => {
            let current = txn.customer(tenant, id)?.ok_or(Error::CustomerNotFound(id))?;
            patch_changes(settings, &current, &request.patch, changed);
            if changed.is_empty() {
                unchanged
            } else {
                let mut c = Box::new(current.into_owned());
                apply_patch(settings, &mut c, &request.patch);
                check_held(c.attrs.len(), c.tags.len(), c.groups.len())?;
                c.updated = at;
                Write::Put(c)
            }
        }
        (_, Some(mut c)) => {
            // Merges: the target's data (none for a new one) reconciled with each merged
            // customer's, then the patch.
            patch_changes(settings, &c, &request.patch, changed);
            apply_patch(settings, &mut c, &request.patch);
            check_held(c.attrs.len(), c.tags.len(), c.groups.len())?;
            c.updated = at;
            Write::Put(Box::new(c))
        }
    })
}

/// The two usual shapes of a request, decided directly: every identity owned by one
/// customer, none of them quarantined (a repeat visit), or none owned (a new customer). Each
/// is what the general steps decide for it, with most of them empty: no quarantine evidence
/// (no owned identity comes with a foreign one), the one owner (or a new customer) as the
/// target, nothing to merge. `None` for any other shape.
fn plan_usual<T: ReadTxn + ?Sized>(
    ask: Ask<'_, T>,
    lookups: &[Lookup],
    decided: &mut Decided,
) -> Result<Option<Plan>> {
    let Ask {
        settings, prep, at, ..
    } = ask;
    let owner = lookups.first().and_then(|l| l.owner);
    if !lookups.iter().all(|l| l.owner == owner) {
        return Ok(None);
    }
    let target = match owner {
        Some(c) => {
            let suspicious = settings
                .quarantine_after()
                .is_some_and(|threshold| lookups.iter().any(|l| l.suspicion >= threshold));
            if suspicious {
                return Ok(None);
            }
            decided
                .fates
                .extend(std::iter::repeat_n(Fate::Matched, prep.len()));
            Target::Existing(c)
        }
        None => {
            // Every identity is linked to the new customer, but for those over their type's
            // limit counting the ones linked before them (the new customer holds none).
            for i in 0..prep.len() {
                let over = prep.limit(i).and_then(|limit| {
                    let like = |j: &usize| decided.fates[*j] == Fate::Linked && prep.same_kind(i, *j);
                    let first = (0..i).find(like)?;
                    ((0..i).filter(like).count() >= limit as usize).then_some((first, limit))
                });
                match over {
                    Some((first, limit)) => {
                        decided.fates.push(Fate::Rejected);
                        decided.rejected.push(Rejection {
                            identity: prep.identity(i),
                            reason: RejectReason::Conflict {
                                with: prep.identity(first),
                                limit,
                            },
                        });
                    }
                    None => decided.fates.push(Fate::Linked),
                }
            }
            Target::New
        }
    };
    let links = decided.fates.iter().filter(|f| **f == Fate::Linked).count();
    let customer = target_data(ask, target, None, links, &mut decided.changed)?;
    dedup(&mut decided.changed);
    decided.customer = owner;
    decided.created = owner.is_none();
    Ok(Some(Plan {
        target,
        customer,
        evidence: SmallVec::new(),
        at,
    }))
}

thread_local! {
    /// The buffer stores answer lookups into, kept between calls.
    static LOOKUPS: std::cell::Cell<Vec<Lookup>> = const { std::cell::Cell::new(Vec::new()) };
}

#[cfg(test)]
thread_local! {
    /// Set to plan every request with the general steps only.
    static GENERAL_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The placeholder defence (see [`IdentitySettings::quarantine_after`]): finds new evidence
/// against owned identities and marks the quarantined ones rejected, reporting them.
fn quarantine<T: ReadTxn + ?Sized>(
    ask: Ask<'_, T>,
    lookups: &[Lookup],
    fates: &mut [Fate],
    evidence: &mut SmallVec<[(usize, usize); 2]>,
    rejected: &mut Vec<Rejection>,
) -> Result<()> {
    let Ask {
        txn,
        settings,
        tenant,
        prep,
        ..
    } = ask;
    let Some(threshold) = settings.quarantine_after() else {
        return Ok(());
    };
    let n = lookups.len();
    let mut quarantined: SmallVec<[bool; INLINE]> = SmallVec::new();
    let mut any_owned = false;
    for l in lookups {
        quarantined.push(l.owner.is_some() && l.suspicion >= threshold);
        any_owned |= l.owner.is_some();
    }
    if !any_owned {
        return Ok(());
    }
    // Every owned identity is checked against the request's identities its owner does not
    // hold; only requests that bring something new to a customer pay for a read.
    for i in 0..n {
        let Some(c) = lookups[i].owner else { continue };
        if quarantined[i] {
            continue;
        }
        let foreign = |j: usize, q: &[bool]| j != i && lookups[j].owner != Some(c) && !q[j];
        if !(0..n).any(|j| foreign(j, &quarantined)) {
            continue;
        }
        let mut conflicting = None;
        for j in (0..n).filter(|&j| foreign(j, &quarantined)) {
            let key = prep.key(j);
            // What `c` holds of j's kind, none of it equal to j (`c` does not own j).
            let held = txn.count_of_type(tenant, c, key.identity_type, key.scope)?;
            if contradicts(prep.limit(j), held, lookups[j].owner.is_some()) {
                conflicting = Some(j);
                break;
            }
        }
        if let Some(j) = conflicting
            && !txn.is_suspected_with(tenant, prep.hashed(i), prep.hashed(j))?
        {
            evidence.push((i, j));
            if lookups[i].suspicion + 1 >= threshold {
                quarantined[i] = true;
            }
        }
    }
    for (i, q) in quarantined.iter().enumerate() {
        if *q {
            fates[i] = Fate::Rejected;
            rejected.push(Rejection {
                identity: prep.identity(i),
                reason: RejectReason::Quarantined {
                    owner: lookups[i].owner.expect("only owned identities are quarantined"),
                },
            });
        }
    }
    Ok(())
}

/// Whether an identity `j` arriving beside a value of customer `C`, which holds `held` other
/// values of j's kind, is evidence that the value is shared by different people: when j's
/// limit forbids `C` another value of its kind, or when j is another customer's (`owned`)
/// and both customers already hold a value of that kind (two people, each known by their own
/// value, meeting at this one). A new value of a kind the limit allows is what a real person
/// brings over time (a new phone, another device), and is no evidence.
fn contradicts(limit: Option<u32>, held: usize, owned: bool) -> bool {
    match limit {
        Some(limit) if held >= limit as usize => true,
        _ => owned && held > 0,
    }
}

/// Why merging `other` (holding `held` of the limited kinds, in the order of their first
/// links) into the target would break a limit, if it would.
fn merge_refusal<T: ReadTxn + ?Sized>(
    txn: &T,
    settings: &IdentitySettings,
    tenant: &TenantId,
    target: Target,
    limited: &mut SmallVec<[LimitedCount; 4]>,
    other: CustomerId,
    held: &[KindCount],
) -> Result<Option<RefusedMerge>> {
    for kind in held {
        let Some(limit) = settings.limit(&kind.identity_type) else {
            continue;
        };
        let other_holds = kind.count;
        let target_holds = limited_count(
            limited,
            txn,
            tenant,
            target,
            &kind.identity_type,
            kind.scope.as_ref(),
        )?
        .total();
        if target_holds + other_holds > limit as usize {
            return Ok(Some(RefusedMerge {
                customer: other,
                reason: RefusalReason::Limit {
                    identity_type: kind.identity_type.clone(),
                    scope: kind.scope.clone(),
                    limit,
                    target_holds,
                    other_holds,
                },
            }));
        }
    }
    Ok(None)
}

/// Whether a patch sets fields only, none of them blank: then it changes nothing exactly
/// when the customer already holds every one of its fields (see `patch_changes`).
fn only_fields(patch: &CustomerPatch) -> bool {
    patch.attrs.is_empty()
        && patch.tags.is_empty()
        && patch.groups.is_empty()
        && !patch.fields.iter().any(|(_, value)| blank_field(value))
}

/// Drops repeated entries, keeping the first of each: in place for the handful most
/// resolves change, by hash for a merge that brings many attributes.
fn dedup(changed: &mut Changed) {
    if changed.len() < 2 {
        return;
    }
    if changed.len() <= 16 {
        let mut i = 1;
        while i < changed.len() {
            if changed[..i].contains(&changed[i]) {
                changed.remove(i);
            } else {
                i += 1;
            }
        }
        return;
    }
    let mut repeated = repeats(changed).into_iter();
    changed.retain(|_| !repeated.next().unwrap_or(false));
}

#[cfg(test)]
mod tests {
    use super::GENERAL_ONLY;
    use crate::{
        CustomerId, CustomerPatch, Field, IdentityInput, IdentitySettings, ManualClock, MemoryStore,
        PriorityStrategy, ResolveOptions, ResolveRequest, Resolver, TargetStrategy, TenantId,
    };
    use proptest::prelude::*;

    fn identity() -> impl Strategy<Value = IdentityInput> {
        prop_oneof![
            (0..5u8).prop_map(|i| IdentityInput::new("mobile", format!("1380000000{i}"))),
            (0..5u8).prop_map(|i| IdentityInput::new("email", format!("p{i}@x.cn"))),
            (0..3u8).prop_map(|i| IdentityInput::new("wechat-unionid", format!("u{i}"))),
            (0..3u8).prop_map(|i| IdentityInput::new("idcard", format!("53{i:016}"))),
            (0..3u8).prop_map(
                |i| IdentityInput::new("wechat", format!("o{i}")).with_scope(format!("app{}", i % 2))
            ),
            Just(IdentityInput::new("email", "null")),
        ]
    }

    fn request() -> impl Strategy<Value = ResolveRequest> {
        (
            prop::collection::vec(identity(), 0..5),
            any::<(bool, bool, bool)>(),
            prop::option::of(0..3u8),
        )
            .prop_map(|(ids, (custom, customer_first, auto_merge), city)| {
                let mut patch = CustomerPatch::new();
                if let Some(c) = city {
                    patch = patch.with(Field::City, format!("c{c}")).unwrap();
                }
                ResolveRequest::new(ids)
                    .with_patch(patch)
                    .with_options(ResolveOptions {
                        identity_priority_strategy: if custom {
                            PriorityStrategy::Custom
                        } else {
                            PriorityStrategy::System
                        },
                        target_customer_strategy: if customer_first {
                            TargetStrategy::CustomerFirst
                        } else {
                            TargetStrategy::IdentityFirst
                        },
                        auto_merge,
                        match_by_fields: false,
                    })
            })
    }

    /// Resolves `requests` one by one, with the direct path for the usual shapes or without.
    fn run(
        requests: &[ResolveRequest],
        settings: &IdentitySettings,
        general_only: bool,
    ) -> (Vec<String>, Vec<String>) {
        let clock = ManualClock::ticking(
            "2024-01-01T00:00:00Z".parse().unwrap(),
            chrono::Duration::seconds(1),
        );
        let r = Resolver::new(MemoryStore::new())
            .with_clock(clock)
            .with_default_settings(settings.clone());
        let t = TenantId::new("t");
        GENERAL_ONLY.set(general_only);
        let outcomes = requests
            .iter()
            .map(|q| format!("{:?}", r.resolve(&t, q)))
            .collect();
        GENERAL_ONLY.set(false);
        let state = (1..=requests.len() as u64)
            .map(|id| {
                let id = CustomerId(id);
                format!(
                    "{:?} {:?} {:?}",
                    r.get(&t, id),
                    r.identities(&t, id),
                    r.history(&t, id)
                )
            })
            .collect();
        (outcomes, state)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        /// The direct path decides every request of the usual shapes as the general steps do
        /// (and leaves the others to them): same outcomes, same customers afterwards.
        #[test]
        fn the_usual_shapes_are_decided_as_the_general_steps_decide_them(
            requests in prop::collection::vec(request(), 1..30),
            quarantine in prop::option::of(2..4u32),
        ) {
            let settings = IdentitySettings::default().with_quarantine(quarantine).unwrap();
            prop_assert_eq!(run(&requests, &settings, false), run(&requests, &settings, true));
        }
    }
}
