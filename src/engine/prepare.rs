//! Preparing a request (SEMANTICS §2, steps 1 and 2): its identities validated, normalized,
//! deduplicated and ordered.
//!
//! Preparing needs no store, so a batch prepares its requests on a thread of their own while
//! it plans earlier ones. The normalized values of a block of requests go to one buffer, a
//! [`Pool`], and each key is hashed once, there, so that preparing allocates nothing per
//! request. A [`Prep`] reads one prepared request from its pool: planning, applying and the
//! outcome all read the request's identities through it.

use super::outcome::{RejectReason, Rejection};
use crate::error::{Error, InvalidIdentityReason, Result};
use crate::model::{
    Field, HashedKey, Identity, IdentityInput, IdentityKey, IdentityType, PriorityStrategy, ResolveRequest,
    is_valid_type,
};
use crate::settings::IdentitySettings;
use std::sync::Arc;

use crate::limits::{
    MAX_IDENTITY_NAME_CHARS, MAX_IDENTITY_SCOPE_CHARS, MAX_IDENTITY_VALUE_CHARS, MAX_REQUEST_IDENTITIES,
};

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
        if chars > MAX_IDENTITY_NAME_CHARS {
            return Err(invalid(InvalidIdentityReason::NameTooLong { chars }));
        }
        // Databases cannot keep NUL in text: refused here, every store behaves alike.
        if name.contains('\0') {
            return Err(invalid(InvalidIdentityReason::NulInName));
        }
    }
    let scope = match &input.scope {
        None => None,
        Some(s) if s.is_empty() || s.chars().count() > MAX_IDENTITY_SCOPE_CHARS || s.contains('\0') => {
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
    if chars > MAX_IDENTITY_VALUE_CHARS {
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

    pub(crate) fn identity_type(&self, i: usize) -> &'a IdentityType {
        &self.get(i).identity_type
    }

    pub(crate) fn scope(&self, i: usize) -> Option<&'a Arc<str>> {
        self.get(i).scope.as_ref()
    }

    pub(crate) fn limit(&self, i: usize) -> Option<u32> {
        self.get(i).limit
    }

    pub(crate) fn name(&self, i: usize) -> Option<&'a str> {
        self.get(i).name.as_deref()
    }

    /// Whether identities `i` and `j` are of one type and scope.
    pub(crate) fn same_kind(&self, i: usize, j: usize) -> bool {
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
/// keep or that would make its customer larger than a customer may be: more than
/// [`MAX_REQUEST_IDENTITIES`] identities (the SQL stores look them up in one statement), an
/// event time outside the storable years, a cause with a NUL or too long, and fields, tags,
/// groups or attributes the model refuses (a patch built in code has not been checked as a
/// parsed one has). Cheap for the usual request: a few lengths and the patch's few fields.
pub(crate) fn check_request(request: &ResolveRequest) -> Result<()> {
    let count = request.identities.len();
    if count > MAX_REQUEST_IDENTITIES {
        return Err(Error::field(
            "identities",
            format!(
                "a request holds at most {} identities, this one {count}",
                MAX_REQUEST_IDENTITIES
            ),
        ));
    }
    if let Some(t) = &request.event_time {
        crate::model::check_storable_time("eventTime", t)?;
    }
    if let Some(cause) = &request.cause {
        crate::model::check_cause(cause)?;
    }
    let patch = &request.patch;
    for (field, value) in patch.fields.iter() {
        field.check(value)?;
    }
    if !patch.tags.is_empty() {
        crate::model::check_tags(&patch.tags)?;
    }
    if !patch.groups.is_empty() {
        crate::model::check_groups(&patch.groups)?;
    }
    if !patch.attrs.is_empty() {
        crate::model::check_attrs(
            patch
                .attrs
                .iter()
                .map(|(k, a)| (k.as_str(), a.name.as_deref(), &a.value)),
        )?;
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
    let too_big = || Error::Capacity("a batch holds at most 4 GiB of identity values".into());
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
    let too_many = || Error::Capacity("a batch holds at most 2^32 identities".into());
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

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
}
