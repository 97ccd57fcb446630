//! One tenant's tables: its customers, identities, history and settings, all of them.
//!
//! The store keeps one [`Tables`] per tenant, each behind its own lock (`shards`), and
//! nothing a tenant fills is shared with another: types, scopes, spaces, names, texts, quarantine
//! evidence and history are counted and bounded per tenant, so no tenant can exhaust a table
//! that others need, and a tenant costs what it holds. Only customer ids are numbered across
//! tenants (`ids`).
//!
//! The tables are plain data; what they do is written beside the part it concerns:
//! `customers` (slots), `identities` (entries and the index), `intern` (types, scopes and
//! spaces), `rings` (merges and each customer's identities), `held` (their counts), `log` (history),
//! `filter_index` (what queries find customers by) and `erase`.

use super::arena::{Chunked, TextArena};
use super::counts::Held;
use super::entry::Entry;
use super::event::{Event, StoredCause};
use super::filter_index::FilterIndex;
use super::ids::IdBlocks;
use super::key_index::KeyIndex;
use super::pages;
use super::slot::Slot;
use super::space::Space;
use crate::error::{Error, Result};
use crate::model::{IdentityType, TenantId};
use crate::store::StoredSettings;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

pub(super) type FastMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::RandomState>;

/// One tenant's customers, identities, history and settings.
pub(super) struct Tables {
    /// Whose they are; `None` for the empty tables that readers of a tenant without any share.
    pub(super) tenant: Option<TenantId>,
    /// The customer ids this tenant's slots stand for.
    pub(super) ids: IdBlocks,
    pub(super) slots: Chunked<Slot>,
    /// How many slots are active (live customers): a query without a filter's total.
    pub(super) live: u32,
    /// The live customers by the values and times queries filter on (`filter_index`).
    pub(super) filters: FilterIndex,
    /// Union-find parent of each slot; atomics so reads through `&self` can compress paths.
    pub(super) parent: Vec<AtomicU32>,
    pub(super) entries: Chunked<Entry>,
    /// Entry numbers by key hash (see `key_index`).
    pub(super) index: KeyIndex,
    /// Interned identity types and scopes, and the `(type, scope)` combinations.
    pub(super) types: Vec<IdentityType>,
    /// Where each type's name sits, for the scan that finds an interned name by address.
    pub(super) type_ptrs: Vec<(usize, usize)>,
    pub(super) type_ix: FastMap<Box<str>, u16>,
    pub(super) scopes: Vec<Arc<str>>,
    pub(super) scope_ix: FastMap<Arc<str>, u32>,
    pub(super) spaces: Vec<Space>,
    pub(super) space_ix: FastMap<Space, u32>,
    /// The spaces without a scope, by type (`NONE` where none is interned yet).
    pub(super) plain_spaces: Vec<u32>,
    /// Identity display names (rare: most identities have none).
    pub(super) names: Vec<Arc<str>>,
    /// Values too long to keep in their entries.
    pub(super) values: TextArena,
    /// `(hash of the suspect key, hash of the conflicting key)` pairs recorded as quarantine
    /// evidence.
    pub(super) suspicions: hashbrown::HashSet<(u64, u64), foldhash::fast::RandomState>,
    /// Distinct conflicting identities seen with an entry's identity, by entry (only
    /// entries with the `SUSPECTED` bit have one).
    pub(super) suspicion_counts: FastMap<u32, u32>,
    /// The evidence recorded, as text with its time and cause, in recording order (the hash
    /// pairs above cannot be read back).
    pub(super) evidence: Vec<super::evidence::Evidence>,
    /// Counts by space of the rings longer than `held::SMALL_RING`, by slot (`held`).
    pub(super) held: FastMap<u32, Held>,
    pub(super) events: Chunked<Event>,
    /// Causes of recorded events; consecutive events of one request share one.
    pub(super) causes: Chunked<StoredCause>,
    pub(super) cause_texts: TextArena,
    /// The tenant's identity settings, every version, oldest first.
    pub(super) settings: Vec<StoredSettings>,
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables")
            .field("customers", &self.slots.len())
            .field("identities", &self.entries.len())
            .field("events", &self.events.len())
            .finish()
    }
}

impl Tables {
    /// Empty tables of `tenant` (`None`: of no tenant, only ever read).
    pub(super) fn new(tenant: Option<TenantId>) -> Self {
        Self {
            tenant,
            ids: IdBlocks::default(),
            slots: Chunked::default(),
            live: 0,
            filters: FilterIndex::default(),
            parent: Vec::new(),
            entries: Chunked::default(),
            index: KeyIndex::default(),
            types: Vec::new(),
            type_ptrs: Vec::new(),
            type_ix: FastMap::default(),
            scopes: Vec::new(),
            scope_ix: FastMap::default(),
            spaces: Vec::new(),
            space_ix: FastMap::default(),
            plain_spaces: Vec::new(),
            names: Vec::new(),
            values: TextArena::default(),
            suspicions: Default::default(),
            suspicion_counts: FastMap::default(),
            evidence: Vec::new(),
            held: FastMap::default(),
            events: Chunked::default(),
            causes: Chunked::default(),
            cause_texts: TextArena::default(),
            settings: Vec::new(),
        }
    }

    /// Makes room for this many more customers and identities (storage grows in chunks
    /// anyway; this sizes the identity index so it never rehashes below that count).
    pub(super) fn reserve(&mut self, customers: usize, identities: usize) {
        pages::reserve_huge(&mut self.parent, customers);
        self.index.reserve(identities);
    }

    /// The bytes the tables' arrays and arenas hold room for (the per-element tables; the
    /// few small maps beside them are left out), for tests of what a tenant costs.
    #[cfg(test)]
    pub(super) fn allocated(&self) -> usize {
        use std::mem::size_of;
        fn vec<T>(v: &Vec<T>) -> usize {
            v.capacity() * size_of::<T>()
        }
        self.slots.allocated()
            + self.filters.allocated()
            + vec(&self.parent)
            + self.entries.allocated()
            + self.index.allocated()
            + vec(&self.types)
            + vec(&self.type_ptrs)
            + vec(&self.scopes)
            + vec(&self.spaces)
            + vec(&self.plain_spaces)
            + vec(&self.names)
            + self.values.allocated()
            + self.events.allocated()
            + self.causes.allocated()
            + self.cause_texts.allocated()
            + vec(&self.settings)
    }

    /// These tables, if they may answer for `tenant`: a transaction works in the tenant it
    /// was begun for, and a call naming another is refused rather than answered from the
    /// wrong tenant's data.
    #[inline]
    pub(super) fn of(&self, tenant: &TenantId) -> Result<&Self> {
        match &self.tenant {
            Some(own) if own != tenant => Err(other_tenant(own, tenant)),
            _ => Ok(self),
        }
    }

    /// [`of`](Self::of), to write.
    #[inline]
    pub(super) fn of_mut(&mut self, tenant: &TenantId) -> Result<&mut Self> {
        self.of(tenant)?;
        Ok(self)
    }
}

#[cold]
fn other_tenant(own: &TenantId, asked: &TenantId) -> Error {
    Error::Invariant(format!(
        "a memory store transaction of tenant {:?} was asked about tenant {:?}",
        own.as_str(),
        asked.as_str()
    ))
}
