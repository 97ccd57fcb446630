//! The resolve algorithm of SEMANTICS §2, in three steps.
//!
//! [`prepare`] validates, normalizes, deduplicates and orders a request's identities (steps 1
//! and 2). It needs no store, so a batch prepares its requests on a thread of their own
//! while it plans earlier ones. Normalized values go to one buffer per block of requests and
//! each key is hashed once, there, so that preparing allocates nothing per request.
//!
//! [`plan`] reads through a transaction and decides everything: the target, links, merges,
//! refusals, quarantine evidence and the target's new data. It writes nothing, so a dry run is
//! a plan that is never applied. [`apply`] then performs the plan's writes; every check that
//! can fail has already passed.
//!
//! What a resolve did is a [`Decided`]: the fate of each prepared identity rather than copies
//! of them. An [`OutcomeView`](super::OutcomeView) reads it in place, beside the prepared
//! request; an [`Outcome`](super::Outcome) is made of it only when one is asked for.

use super::fields::{apply_patch, new_patch_changes, patch_changes, reconcile};
use super::outcome::{Changed, RefusedMerge, RejectReason, Rejection};
use crate::error::{Error, InvalidIdentityReason, Result};
use crate::history::Operation;
use crate::model::{
    Customer, CustomerId, CustomerPatch, Field, HashedKey, Identity, IdentityInput, IdentityKey,
    IdentityType, PriorityStrategy, ResolveRequest, TargetStrategy, TenantId, blank_field, is_valid_type,
};
use crate::settings::IdentitySettings;
use crate::store::{Lookup, ResolveWrites, TargetData, Txn};
use chrono::{DateTime, Utc};
use smallvec::SmallVec;
use std::sync::Arc;

/// Requests rarely carry more identities than this; per-identity scratch lists up to this
/// length live on the stack.
const INLINE: usize = 8;

const MAX_VALUE_CHARS: usize = 128;
const MAX_NAME_CHARS: usize = 256;
const MAX_SCOPE_CHARS: usize = 64;

/// What step 1 made of a valid identity.
pub(crate) enum Checked {
    /// Normalized (the value is in the caller's buffer) and not blocked, with what its type's
    /// rule says of it.
    Valid {
        identity_type: IdentityType,
        scope: Option<Arc<str>>,
        /// Its type's system priority (`usize::MAX` when unranked).
        rank: usize,
        /// Its type's limit.
        limit: Option<u32>,
    },
    /// On a blocklist, as sent or once normalized.
    Blocked(Identity),
}

/// Step 1: validates and normalizes one identity; a valid one's value is left in `buf`.
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
        // Databases cannot keep NUL in text: refused here, every store behaves alike.
        if name.contains('\0') {
            return Err(invalid(InvalidIdentityReason::NulInName));
        }
    }
    let scope = match &input.scope {
        None => None,
        Some(s) if s.is_empty() || s.chars().count() > MAX_SCOPE_CHARS || s.contains('\0') => {
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
    let blocked = |value: &str, scope: Option<Arc<str>>| {
        Checked::Blocked(Identity {
            identity_type: identity_type.clone(),
            scope,
            identity_value: value.into(),
            identity_name: input.identity_name.as_deref().map(Arc::from),
        })
    };
    // Placeholders are checked as sent first: `null` is blocked, not an invalid email.
    let raw = crate::settings::normalize::trim(&input.identity_value);
    if settings.rule_blocks(rule, raw) {
        return Ok(blocked(raw, scope));
    }
    buf.clear();
    rule.normalizer
        .normalize(&input.identity_value, buf)
        .map_err(|why| invalid(InvalidIdentityReason::Normalizer(why)))?;
    if buf.is_empty() {
        return Err(invalid(InvalidIdentityReason::EmptyValue));
    }
    let (high, low) = scan_ascii(buf.as_bytes());
    let (control, chars) = if !high {
        (low, buf.len())
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
    // Values that normalizing left as sent (most) were checked above, and a value of a length
    // no blocked value has needs no comparing.
    if settings.rule_may_block_length(rule, buf.len())
        && buf.as_str() != raw
        && settings.rule_blocks(rule, buf)
    {
        return Ok(blocked(buf, scope));
    }
    Ok(Checked::Valid {
        identity_type,
        scope,
        rank: rule.rank.unwrap_or(usize::MAX),
        limit: rule.limit,
    })
}

/// Whether `bytes` hold a byte of 0x80 or more (not ASCII), and whether they hold an ASCII
/// control (below 0x20, or 0x7f). Eight bytes at a time, without early exits: identity
/// values are short, and a byte loop costs several instructions a byte.
fn scan_ascii(bytes: &[u8]) -> (bool, bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    if bytes.len() < 8 {
        return bytes.iter().fold((false, false), |(h, l), &b| {
            (h | (b >= 0x80), l | (b < 0x20) | (b == 0x7f))
        });
    }
    let (mut any, mut control) = (0u64, 0u64);
    let mut add = |word: &[u8]| {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        any |= w;
        // A byte below 0x20 borrows when 0x20 is taken from it, and 0x7f, xored with 0x7f, is
        // a zero that borrows when 1 is taken from it: either sets the byte's top bit (a
        // borrow can set the top bits of higher bytes too, but only after a true one). Bytes
        // of 0x80 and more are masked out; they send the value down the slow path anyway.
        control |= (w.wrapping_sub(ONES * 0x20) | (w ^ (ONES * 0x7f)).wrapping_sub(ONES)) & !w;
    };
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        add(word);
    }
    if !words.remainder().is_empty() {
        // The last eight bytes, overlapping the words before: a second look at a byte
        // changes neither answer.
        add(&bytes[bytes.len() - 8..]);
    }
    (any & HIGH != 0, control & HIGH != 0)
}

thread_local! {
    /// The normalizing buffer, kept between calls: room for any valid value (128 chars) in
    /// the usual ASCII, so normalizing never allocates.
    static SCRATCH: std::cell::Cell<String> = std::cell::Cell::new(String::with_capacity(160));
}

/// Runs `f` with this thread's normalizing buffer.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut String) -> R) -> R {
    let mut buf = SCRATCH.take();
    let r = f(&mut buf);
    SCRATCH.set(buf);
    r
}

/// A valid identity of a prepared request. Its normalized value sits in the value buffer of
/// the block it was prepared into.
pub(crate) struct PreparedIdentity {
    identity_type: IdentityType,
    scope: Option<Arc<str>>,
    name: Option<Arc<str>>,
    /// Where the value sits in the block's buffer.
    start: u32,
    len: u32,
    /// Its type's system priority (`u32::MAX` when unranked).
    rank: u32,
    /// Its type's limit.
    limit: Option<u32>,
    /// Its key's [`IdentityKey::hash64`].
    hash: u64,
}

/// Where prepared requests keep their identities: the normalized values back to back, and
/// the identities of one request after another. A batch prepares a block of requests into
/// one, cleared and reused for the next block, so preparing allocates nothing per request.
#[derive(Default)]
pub(crate) struct Pool {
    values: String,
    identities: Vec<PreparedIdentity>,
}

impl Pool {
    /// Empties it, keeping its memory.
    pub(crate) fn clear(&mut self) {
        self.values.clear();
        self.identities.clear();
    }

    /// A request prepared into this pool.
    pub(crate) fn prep<'a>(&'a self, prepared: &'a Prepared) -> Prep<'a> {
        Prep {
            identities: &self.identities[prepared.first as usize..prepared.end as usize],
            values: &self.values,
            rejected: &prepared.rejected,
        }
    }
}

/// A request's identities after steps 1 and 2: validated, normalized, deduplicated and
/// ordered (a range of its pool's identities), plus the blocked ones (and, with
/// match-by-fields, invalid patch contacts).
pub(crate) struct Prepared {
    first: u32,
    end: u32,
    rejected: Vec<Rejection>,
}

/// A prepared request, read from its pool.
#[derive(Clone, Copy)]
pub(crate) struct Prep<'a> {
    identities: &'a [PreparedIdentity],
    values: &'a str,
    rejected: &'a [Rejection],
}

impl<'a> Prep<'a> {
    /// How many valid identities the request has.
    pub(crate) fn len(&self) -> usize {
        self.identities.len()
    }

    #[inline]
    fn get(&self, i: usize) -> &'a PreparedIdentity {
        &self.identities[i]
    }

    #[inline]
    pub(crate) fn key(&self, i: usize) -> IdentityKey<'a> {
        let p = self.get(i);
        IdentityKey {
            identity_type: p.identity_type.as_str(),
            scope: p.scope.as_deref(),
            value: &self.values[p.start as usize..(p.start + p.len) as usize],
        }
    }

    #[inline]
    pub(crate) fn hashed(&self, i: usize) -> HashedKey<'a> {
        HashedKey {
            key: self.key(i),
            hash: self.get(i).hash,
        }
    }

    fn identity_type(&self, i: usize) -> &'a IdentityType {
        &self.get(i).identity_type
    }

    fn scope(&self, i: usize) -> Option<&'a Arc<str>> {
        self.get(i).scope.as_ref()
    }

    fn limit(&self, i: usize) -> Option<u32> {
        self.get(i).limit
    }

    pub(crate) fn name(&self, i: usize) -> Option<&'a str> {
        self.get(i).name.as_deref()
    }

    /// Whether identities `i` and `j` are of one type and scope.
    fn same_kind(&self, i: usize, j: usize) -> bool {
        let (a, b) = (self.get(i), self.get(j));
        a.identity_type == b.identity_type && a.scope == b.scope
    }

    /// Identity `i` as the public type.
    pub(crate) fn identity(&self, i: usize) -> Identity {
        let p = self.get(i);
        Identity {
            identity_type: p.identity_type.clone(),
            scope: p.scope.clone(),
            identity_value: self.key(i).value.into(),
            identity_name: p.name.clone(),
        }
    }

    /// The blocked identities (and invalid patch contacts) found while preparing.
    pub(crate) fn rejected(&self) -> &'a [Rejection] {
        self.rejected
    }
}

/// Steps 1 and 2 for one request, into `pool` (where nothing is left of it when the request
/// is invalid).
pub(crate) fn prepare(
    settings: &IdentitySettings,
    request: &ResolveRequest,
    pool: &mut Pool,
) -> Result<Prepared> {
    let (values, identities) = (pool.values.len(), pool.identities.len());
    let prepared = with_scratch(|buf| prepare_with(settings, request, buf, pool));
    if prepared.is_err() {
        pool.values.truncate(values);
        pool.identities.truncate(identities);
    }
    prepared
}

/// Refuses what a request carries, besides its identities' values, that some store could not
/// keep: more than [`ResolveRequest::MAX_IDENTITIES`] identities (the SQL stores look them
/// up in one statement), an event time outside the storable years, a cause with a NUL, and
/// tags or attributes the model refuses (a patch built in code has not been checked as a
/// parsed one has).
fn check_request(request: &ResolveRequest) -> Result<()> {
    let count = request.identities.len();
    if count > ResolveRequest::MAX_IDENTITIES {
        return Err(Error::field(
            "identities",
            format!(
                "a request holds at most {} identities, this one {count}",
                ResolveRequest::MAX_IDENTITIES
            ),
        ));
    }
    if let Some(t) = &request.event_time {
        crate::model::check_storable_time("eventTime", t)?;
    }
    if request.cause.as_deref().is_some_and(|c| c.contains('\0')) {
        return Err(Error::field("cause", "a cause must not contain NUL"));
    }
    if !request.patch.tags.is_empty() {
        crate::model::check_tags(request.patch.tags.iter().map(String::as_str))?;
    }
    if !request.patch.attrs.is_empty() {
        crate::model::check_attrs(request.patch.attrs.iter().map(|(k, a)| (k.as_str(), &a.value)))?;
    }
    Ok(())
}

/// Appends a valid identity (the value in `buf`) to the pool unless the request, whose
/// identities start at `first`, already has it.
fn push_valid(pool: &mut Pool, first: usize, buf: &str, checked: Checked, name: Option<&str>) -> Result<()> {
    let Pool { values, identities } = pool;
    let Checked::Valid {
        identity_type,
        scope,
        rank,
        limit,
    } = checked
    else {
        return Ok(());
    };
    let duplicate = identities[first..].iter().any(|p| {
        p.len as usize == buf.len()
            && p.identity_type == identity_type
            && p.scope == scope
            && &values[p.start as usize..(p.start + p.len) as usize] == buf
    });
    if duplicate {
        return Ok(());
    }
    let too_big = || Error::Store("a batch holds at most 4 GiB of identity values".into());
    let start = u32::try_from(values.len()).map_err(|_| too_big())?;
    let len = buf.len() as u32;
    start.checked_add(len).ok_or_else(too_big)?;
    values.push_str(buf);
    let key = IdentityKey {
        identity_type: identity_type.as_str(),
        scope: scope.as_deref(),
        value: buf,
    };
    let hash = key.hash64();
    identities.push(PreparedIdentity {
        identity_type,
        scope,
        name: name.map(Arc::from),
        start,
        len,
        rank: u32::try_from(rank).unwrap_or(u32::MAX),
        limit,
        hash,
    });
    Ok(())
}

fn prepare_with(
    settings: &IdentitySettings,
    request: &ResolveRequest,
    buf: &mut String,
    pool: &mut Pool,
) -> Result<Prepared> {
    check_request(request)?;
    let first = pool.identities.len();
    let too_many = || Error::Store("a batch holds at most 2^32 identities".into());
    let mut rejected = Vec::new();
    for (index, input) in request.identities.iter().enumerate() {
        match normalize_one(settings, index, input, buf)? {
            Checked::Blocked(identity) => rejected.push(Rejection {
                identity,
                reason: RejectReason::Blocked,
            }),
            valid => push_valid(pool, first, buf, valid, input.identity_name.as_deref())?,
        }
    }
    // Stable: equal ranks (and unranked types) keep request order. Most requests come in
    // order already (or hold one identity), and checking is cheaper than sorting.
    let identities = &mut pool.identities[first..];
    if request.options.identity_priority_strategy == PriorityStrategy::System
        && !identities.is_sorted_by_key(|p| p.rank)
    {
        identities.sort_by_key(|p| p.rank);
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
                Ok(Checked::Blocked(identity)) => rejected.push(Rejection {
                    identity,
                    reason: RejectReason::Blocked,
                }),
                Ok(valid) => push_valid(pool, first, buf, valid, None)?,
                Err(e) => {
                    let why = match e {
                        Error::InvalidIdentity { reason, .. } => reason.to_string(),
                        other => other.to_string(),
                    };
                    let identity = Identity {
                        identity_type: IdentityType::new(ty).expect("built-in type"),
                        scope: None,
                        identity_value: value.into(),
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
    Ok(Prepared {
        first: u32::try_from(first).map_err(|_| too_many())?,
        end: u32::try_from(pool.identities.len()).map_err(|_| too_many())?,
        rejected,
    })
}

/// The decided target.
#[derive(Debug, Clone, Copy)]
enum Target {
    Existing(CustomerId),
    New,
}

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

/// Everything a resolve will write (what it decided is kept apart, in the [`Decided`] the
/// plan fills, so that it is written once, where it stays).
pub(crate) struct Plan {
    target: Target,
    /// What becomes of the target's data.
    customer: Write,
    /// New quarantine evidence: (suspect, conflicting identity), as prepared indices.
    evidence: SmallVec<[(usize, usize); 2]>,
    at: DateTime<Utc>,
}

/// What a resolve writes of its target's data.
enum Write {
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
fn limited_count<'l, T: Txn + ?Sized>(
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
pub(crate) fn plan<T: Txn + ?Sized>(
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

fn plan_with<T: Txn + ?Sized>(
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
        return Err(Error::Store(format!(
            "the store answered {} lookups for {n} identities",
            lookups.len()
        )));
    }
    let lookups = &lookups[..];
    #[cfg(test)]
    let usual = !tests::GENERAL_ONLY.get();
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
                        txn.identities_of_type(tenant, c, key.identity_type, key.scope)?
                            .into_iter()
                            .next()
                            .ok_or_else(|| Error::Store(format!("customer {c} lost an identity")))?
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

    // Step 7: merge the other owners that fit within the limits.
    let mut others: SmallVec<[CustomerId; 4]> = SmallVec::new();
    for i in (0..n).filter(|&i| live(i, fates)) {
        if let Some(o) = owners(i)
            && Some(o) != target_id
            && !others.contains(&o)
        {
            others.push(o);
        }
    }
    if request.options.auto_merge && !others.is_empty() {
        for &other in &others {
            let held = if settings.has_limits() {
                txn.identities_matching(tenant, other, &|ty| settings.limit(ty).is_some())?
            } else {
                Vec::new()
            };
            match merge_refusal(txn, settings, tenant, target, &mut limited, other, &held)? {
                Some(r) => refused_merges.push(r),
                None => {
                    for h in &held {
                        limited_count(
                            &mut limited,
                            txn,
                            tenant,
                            target,
                            &h.identity_type,
                            h.scope.as_ref(),
                        )?
                        .merged += 1;
                    }
                    merged.push(other);
                }
            }
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
    let customer = target_data(ask, target, merged, links, changed)?;
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
/// what changes to `changed`.
fn target_data<T: Txn + ?Sized>(
    ask: Ask<'_, T>,
    target: Target,
    merged: &[CustomerId],
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
    Ok(match target {
        Target::New if merged.is_empty() => {
            new_patch_changes(&request.patch, changed);
            Write::New
        }
        // Nothing to compare: the customer need not be read.
        Target::Existing(_) if merged.is_empty() && request.patch.is_empty() => unchanged,
        // Fields only, each already the customer's (the usual repeat visit): nothing
        // changes, which the store can tell without the customer being read.
        Target::Existing(id)
            if merged.is_empty()
                && only_fields(&request.patch)
                && txn.holds_fields(tenant, id, &request.patch.fields)? == Some(true) =>
        {
            unchanged
        }
        Target::Existing(id) if merged.is_empty() => {
            let current = txn.customer(tenant, id)?.ok_or(Error::CustomerNotFound(id))?;
            patch_changes(settings, &current, &request.patch, changed);
            if changed.is_empty() {
                unchanged
            } else {
                let mut c = Box::new(current.into_owned());
                apply_patch(settings, &mut c, &request.patch);
                c.updated = at;
                Write::Put(c)
            }
        }
        _ => {
            // Merges: the target's data (none for a new one) reconciled with each merged
            // customer's, then the patch.
            let mut c = match target {
                Target::Existing(id) => txn
                    .customer(tenant, id)?
                    .ok_or(Error::CustomerNotFound(id))?
                    .into_owned(),
                Target::New => Customer::new(CustomerId(0), at),
            };
            for &m in merged {
                let other = txn.customer(tenant, m)?.ok_or(Error::CustomerNotFound(m))?;
                reconcile(settings, &mut c, &other, changed);
            }
            let mut from_patch = Changed::new();
            patch_changes(settings, &c, &request.patch, &mut from_patch);
            for f in from_patch {
                if !changed.contains(&f) {
                    changed.push(f);
                }
            }
            apply_patch(settings, &mut c, &request.patch);
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
fn plan_usual<T: Txn + ?Sized>(
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
    let customer = target_data(ask, target, &[], links, &mut decided.changed)?;
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

/// The placeholder defence (see [`IdentitySettings::quarantine_after`]): finds new evidence
/// against owned identities and marks the quarantined ones rejected, reporting them.
fn quarantine<T: Txn + ?Sized>(
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
        // `c` holds a value of j's type and (since it does not own j) none equal to j.
        let mut conflicting = None;
        for j in (0..n).filter(|&j| foreign(j, &quarantined)) {
            let key = prep.key(j);
            if txn.count_of_type(tenant, c, key.identity_type, key.scope)? > 0 {
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

/// Why merging `other` (holding the limited identities `held`) into the target would break a
/// limit, if it would.
fn merge_refusal<T: Txn + ?Sized>(
    txn: &T,
    settings: &IdentitySettings,
    tenant: &TenantId,
    target: Target,
    limited: &mut SmallVec<[LimitedCount; 4]>,
    other: CustomerId,
    held: &[Identity],
) -> Result<Option<RefusedMerge>> {
    for identity in held {
        let limit = settings
            .limit(&identity.identity_type)
            .expect("holdings are limited types");
        let same = |h: &&Identity| h.identity_type == identity.identity_type && h.scope == identity.scope;
        let other_holds = held.iter().filter(same).count();
        let target_holds = limited_count(
            limited,
            txn,
            tenant,
            target,
            &identity.identity_type,
            identity.scope.as_ref(),
        )?
        .total();
        if target_holds + other_holds > limit as usize {
            return Ok(Some(RefusedMerge {
                customer: other,
                identity_type: identity.identity_type.clone(),
                scope: identity.scope.clone(),
                limit,
                target_holds,
                other_holds,
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

/// Drops repeated entries, keeping the first of each (lists are a handful long).
fn dedup(changed: &mut Changed) {
    if changed.len() < 2 {
        return;
    }
    let mut i = 1;
    while i < changed.len() {
        if changed[..i].contains(&changed[i]) {
            changed.remove(i);
        } else {
            i += 1;
        }
    }
}

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

#[cfg(test)]
mod tests {
    use crate::{
        CustomerId, CustomerPatch, Field, IdentityInput, IdentitySettings, ManualClock, MemoryStore,
        PriorityStrategy, ResolveOptions, ResolveRequest, Resolver, TargetStrategy, TenantId,
    };
    use proptest::prelude::*;

    thread_local! {
        /// Set to plan every request with the general steps only.
        pub(super) static GENERAL_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    proptest! {
        #[test]
        fn scan_ascii_is_the_byte_by_byte_answer(
            bytes in prop::collection::vec(
                prop_oneof![any::<u8>(), 0x20u8..0x7f, Just(0x7fu8), Just(0x1fu8), Just(0x80u8)],
                0..40,
            ),
        ) {
            let by_bytes = bytes.iter().fold((false, false), |(h, l), &b| {
                (h | (b >= 0x80), l | (b < 0x20) | (b == 0x7f))
            });
            prop_assert_eq!(super::scan_ascii(&bytes), by_bytes);
        }
    }

    #[test]
    fn scan_ascii_finds_each_kind_of_byte_anywhere() {
        for len in 0..40 {
            let plain = vec![b'a'; len];
            assert_eq!(super::scan_ascii(&plain), (false, false), "{len}");
            for at in 0..len {
                for (byte, want) in [
                    (0x00, (false, true)),
                    (0x1f, (false, true)),
                    (0x7f, (false, true)),
                    (0x20, (false, false)),
                    (0x7e, (false, false)),
                    (0x80, (true, false)),
                    (0xff, (true, false)),
                ] {
                    let mut v = plain.clone();
                    v[at] = byte;
                    assert_eq!(super::scan_ascii(&v), want, "{byte:#x} at {at} of {len}");
                }
            }
        }
    }

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
        let mut r = Resolver::new(MemoryStore::new())
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
