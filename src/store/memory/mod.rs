//! The in-memory store: the embedded default, and the one on the benchmarked hot path.
//!
//! Its layout is chosen for few cache misses per identity and few bytes per customer. Each part
//! is described in its own file:
//!
//! - `slots`: customers, in slots of 56 bytes indexed by `id - 1`, their data packed into one
//!   small allocation (`packed`);
//! - `rings`: merges, as a union-find over slots whose root is the business survivor, and each
//!   customer's identities, as a circular list through their entries;
//! - `identities`: identities, in entries of 48 bytes that keep short values in place, found
//!   by hash through an index of entry numbers (`key_index`);
//! - `intern`: the tenants, types, scopes and `(tenant, type, scope)` combinations that slots
//!   and entries name by number;
//! - `log`: history, as one append-only log of 24-byte events;
//! - `erase`: erasure, which scrubs every value a customer held;
//! - `txn`: the store's transactions, through which the engine reads and writes all of it.
//!
//! The chunks of slots, entries and events grow with the store (up to 262,144 elements,
//! `arena`), and on Linux every table of 4 MiB or more is advised onto transparent huge pages
//! (`pages`): a cold lookup in a store of millions then misses the cache but rarely the TLB as
//! well.

mod arena;
mod erase;
mod identities;
mod intern;
mod key_index;
mod log;
mod packed;
mod pages;
mod rings;
mod slots;
mod txn;

use super::{Store, StoredSettings};
use crate::error::Result;
use crate::model::{IdentityType, TenantId};
use arena::{Chunked, TextArena};
use identities::Entry;
use intern::Space;
use key_index::KeyIndex;
use log::{Event, StoredCause};
use parking_lot::RwLock;
use slots::Slot;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use txn::{MemoryReader, MemoryTxn};

const NONE: u32 = u32::MAX;

type FastMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::RandomState>;

/// One store's tables: customers, identities, history and settings of every tenant.
pub(super) struct Tables {
    tenants: FastMap<TenantId, u32>,
    /// Tenant ids by index, and the index last asked for: nearly every call names the same
    /// tenant as the one before, which an `Arc` pointer comparison confirms without hashing.
    tenant_names: Vec<TenantId>,
    last_tenant: AtomicU32,
    slots: Chunked<Slot>,
    /// Union-find parent of each slot; atomics so reads through `&self` can compress paths.
    parent: Vec<AtomicU32>,
    entries: Chunked<Entry>,
    /// Entry numbers by key hash (see `key_index`).
    index: KeyIndex,
    /// Interned identity types and scopes, and the `(tenant, type, scope)` combinations.
    types: Vec<IdentityType>,
    /// Where each type's name sits, for the scan that finds an interned name by address.
    type_ptrs: Vec<(usize, usize)>,
    type_ix: FastMap<Box<str>, u16>,
    scopes: Vec<Arc<str>>,
    scope_ix: FastMap<Arc<str>, u32>,
    spaces: Vec<Space>,
    space_ix: FastMap<Space, u32>,
    /// The spaces without a scope, by tenant and type (`NONE` where none is interned yet).
    plain_spaces: Vec<Vec<u32>>,
    /// Identity display names (rare: most identities have none).
    names: Vec<Arc<str>>,
    /// Values too long to keep in their entries.
    values: TextArena,
    /// `(hash of the suspect key, hash of the conflicting key)` pairs recorded as quarantine
    /// evidence.
    suspicions: hashbrown::HashSet<(u64, u64), foldhash::fast::RandomState>,
    /// Distinct conflicting identities seen with an entry's identity, by entry (only
    /// entries with the `SUSPECTED` bit have one).
    suspicion_counts: FastMap<u32, u32>,
    events: Chunked<Event>,
    /// Causes of recorded events; consecutive events of one request share one.
    causes: Chunked<StoredCause>,
    cause_texts: TextArena,
    /// Each tenant's identity settings, every version, oldest first.
    settings: FastMap<TenantId, Vec<StoredSettings>>,
}

impl Default for Tables {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables")
            .field("tenants", &self.tenants.len())
            .field("customers", &self.slots.len())
            .field("identities", &self.entries.len())
            .field("events", &self.events.len())
            .finish()
    }
}

impl Tables {
    /// Empty tables.
    pub fn new() -> Self {
        Self {
            tenants: FastMap::default(),
            tenant_names: Vec::new(),
            last_tenant: AtomicU32::new(NONE),
            slots: Chunked::default(),
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
            events: Chunked::default(),
            causes: Chunked::default(),
            cause_texts: TextArena::default(),
            settings: FastMap::default(),
        }
    }

    /// An empty store with room for this many customers and identities (storage grows in
    /// chunks anyway; this sizes the identity index so it never rehashes below that count).
    fn with_capacity(customers: usize, identities: usize) -> Self {
        let mut s = Self::new();
        pages::reserve_huge(&mut s.parent, customers);
        s.index.reserve(identities);
        s
    }

    /// How many customer ids were assigned (live, merged and deleted), in all tenants.
    fn customer_ids(&self) -> usize {
        self.slots.len() as usize
    }
}

/// The in-memory store. `Default` gives an empty store.
///
/// ```
/// use oneid::{IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
/// let resolver = Resolver::new(MemoryStore::new());
/// let tenant = TenantId::new("shop-1");
/// let out = resolver.resolve(&tenant, &ResolveRequest::new([IdentityInput::new("mobile", "13812345678")])).unwrap();
/// assert!(out.created);
/// ```
pub struct MemoryStore {
    tables: RwLock<Tables>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MemoryStore").field(&*self.tables.read()).finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            tables: RwLock::new(Tables::new()),
        }
    }

    /// An empty store with room for this many customers and identities (storage grows in
    /// chunks anyway; this sizes the identity index so it never rehashes below that count).
    pub fn with_capacity(customers: usize, identities: usize) -> Self {
        Self {
            tables: RwLock::new(Tables::with_capacity(customers, identities)),
        }
    }

    /// How many customer ids were assigned (live, merged and deleted), in all tenants.
    pub fn customer_ids(&self) -> usize {
        self.tables.read().customer_ids()
    }
}

impl Store for MemoryStore {
    type Reader<'a> = MemoryReader<'a>;
    type Writer<'a> = MemoryTxn<'a>;

    fn read(&self, _tenant: &TenantId) -> Result<MemoryReader<'_>> {
        Ok(MemoryReader {
            store: self.tables.read(),
        })
    }

    fn write(&self, _tenant: &TenantId) -> Result<MemoryTxn<'_>> {
        Ok(MemoryTxn {
            store: self.tables.write(),
        })
    }
}
