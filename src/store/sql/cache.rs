//! The transaction cache: what a [`SqlTxn`](super::SqlTxn) has read, and the writes it holds
//! back until the database must be up to date.
//!
//! A resolve reads the same few customers and identities several times (owners, limits,
//! quarantine evidence) and writes each changed customer once at the end: the cache answers
//! the repeated reads from memory, and the writes go out together in multi-row statements
//! instead of a round trip each. Identity keys are hashed as their four parts, so a borrowed
//! [`KeyRef`] finds an [`OwnedKey`] without copying.

use super::SqlValue;
use crate::model::{Customer, Identity, IdentityKey, TenantId};
use crate::store::Lookup;

/// Hash maps of the transaction cache (fast hashing; nothing here comes from outside the
/// process unhashed by a random seed).
pub(super) type FastMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::RandomState>;

/// `(tenant, type, scope, value)` of an identity, owned.
#[derive(PartialEq, Eq)]
pub(super) struct OwnedKey([Box<str>; 4]);

/// The same, borrowed: looks up an [`OwnedKey`] without copying.
pub(super) struct KeyRef<'a>([&'a str; 4]);

impl<'a> KeyRef<'a> {
    pub(super) fn new(tenant: &'a TenantId, key: IdentityKey<'a>) -> Self {
        KeyRef([
            tenant.as_str(),
            key.identity_type,
            key.scope.unwrap_or(""),
            key.value,
        ])
    }

    pub(super) fn owned(&self) -> OwnedKey {
        OwnedKey(self.0.map(Box::from))
    }
}

impl std::hash::Hash for OwnedKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for part in &self.0 {
            state.write(part.as_bytes());
            state.write_u8(0xff);
        }
    }
}

impl std::hash::Hash for KeyRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for part in &self.0 {
            state.write(part.as_bytes());
            state.write_u8(0xff);
        }
    }
}

impl hashbrown::Equivalent<OwnedKey> for KeyRef<'_> {
    fn equivalent(&self, key: &OwnedKey) -> bool {
        self.0.iter().zip(&key.0).all(|(a, b)| *a == &**b)
    }
}

/// `(customer, type, scope)`: one kind of identity a customer holds, owned.
#[derive(PartialEq, Eq)]
pub(super) struct KindKey(u64, [Box<str>; 2]);

/// The same, borrowed.
pub(super) struct KindRef<'a>(u64, [&'a str; 2]);

impl<'a> KindRef<'a> {
    pub(super) fn new(customer: u64, identity_type: &'a str, scope: Option<&'a str>) -> Self {
        KindRef(customer, [identity_type, scope.unwrap_or("")])
    }

    pub(super) fn owned(&self) -> KindKey {
        KindKey(self.0, self.1.map(Box::from))
    }
}

impl std::hash::Hash for KindKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
        for part in &self.1 {
            state.write(part.as_bytes());
            state.write_u8(0xff);
        }
    }
}

impl std::hash::Hash for KindRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
        for part in &self.1 {
            state.write(part.as_bytes());
            state.write_u8(0xff);
        }
    }
}

impl hashbrown::Equivalent<KindKey> for KindRef<'_> {
    fn equivalent(&self, key: &KindKey) -> bool {
        self.0 == key.0 && self.1.iter().zip(&key.1).all(|(a, b)| *a == &**b)
    }
}

/// What `oneid_counts` holds for one kind of a customer: how many, and the `seq` of the first
/// in link order; `None`: no row (none held).
pub(super) type StoredCount = Option<(usize, i64)>;

/// What a transaction has read, and the writes it holds back until commit.
#[derive(Default)]
pub(super) struct Cache {
    /// Customer rows read (by their own id) or written in this transaction, with their tenant.
    pub(super) customers: FastMap<u64, (TenantId, Customer)>,
    /// The full identity lists (link order) of cached customers, including held-back links.
    pub(super) identities: FastMap<u64, Vec<Identity>>,
    /// Customers whose row is written when the held-back writes go out (at commit or
    /// before), in the order they first changed.
    pub(super) dirty: indexmap::IndexSet<u64>,
    /// Customers created in this transaction whose row does not exist yet (their id was
    /// reserved); written with an `INSERT` when the held-back writes go out.
    pub(super) fresh: hashbrown::HashSet<u64, foldhash::fast::RandomState>,
    /// The live customer each customer id read leads to (its set's survivor).
    pub(super) survivors: FastMap<u64, u64>,
    /// Counts read from `oneid_counts` (without the held-back links).
    pub(super) counts: FastMap<KindKey, StoredCount>,
    /// Customers every count of which was read at once (a batch's owners, looked up ahead):
    /// a kind missing from `counts` is one they hold none of.
    pub(super) counted: hashbrown::HashSet<u64, foldhash::fast::RandomState>,
    /// The held-back links of each kind: how many, and where the first is in `links`.
    pub(super) pending: FastMap<KindKey, (usize, usize)>,
    /// Where in `links` the first held-back link of each kind to a customer is, in order.
    pub(super) pending_kinds: FastMap<u64, Vec<usize>>,
    /// Held-back links, in order: (tenant, identity, customer).
    pub(super) links: Vec<(TenantId, Identity, u64)>,
    /// The owners held-back links give their identities.
    pub(super) linked: FastMap<OwnedKey, u64>,
    /// What identities a batch looked up ahead were found to be (owner and evidence count),
    /// until something this transaction does could change it.
    pub(super) looked_up: FastMap<OwnedKey, Lookup>,
    /// Held-back history rows (the eleven columns of `oneid_history` after `seq`).
    pub(super) history: Vec<[SqlValue; 11]>,
    /// The next customer id to hand out, where the backend lets the transaction assign ids.
    pub(super) next_id: Option<i64>,
    /// Ids drawn ahead for the customers a batch expects to create, the next one last.
    pub(super) drawn_ids: Vec<i64>,
}

impl Cache {
    pub(super) fn pending(&self) -> bool {
        !self.dirty.is_empty() || !self.links.is_empty() || !self.history.is_empty()
    }

    /// Forgets the counts read, once they may have changed.
    pub(super) fn forget_counts(&mut self) {
        self.counts.clear();
        self.counted.clear();
    }

    pub(super) fn customer(&self, tenant: &TenantId, id: u64) -> Option<&Customer> {
        self.customers
            .get(&id)
            .filter(|(t, _)| t == tenant)
            .map(|(_, c)| c)
    }
}
