//! The in-memory store: the embedded default, and the one on the benchmarked hot path.
//!
//! Layout, chosen for few cache misses per identity and few bytes per customer:
//!
//! - customers live in chunked slots of 56 bytes indexed by `id - 1` (ids are global across
//!   tenants, so a slot also records its tenant and every read checks it); a customer's
//!   fields, attributes, tags and groups are packed into one small allocation (`packed`) and
//!   unpacked into a [`Customer`] on read;
//! - merge aliases are a union-find over slots (`parent`), with the business survivor always
//!   the root: a merge points the merged slot at the target, and reads compress paths;
//! - identities live in chunked entries of 48 bytes, found through an index of entry numbers
//!   keyed by the foldhash of `(tenant, type, scope, value)`, which keeps 32 bits of each
//!   hash and a hint of the owner's slot beside the entry number, so a probe reads one cache
//!   line (`key_index`). An entry names its interned `(tenant, type, scope)` in 4 bytes and
//!   keeps a value of up to 30 bytes in place (nearly all are: phone numbers, ids, openids),
//!   so a cold lookup is two rounds of cache misses: the index slot, then the entry and the
//!   owner's union-find parent together, and no text elsewhere; longer values go to a text
//!   arena. An identity costs no allocation of its own. An entry records the slot it was
//!   linked to; its live owner is that slot's union-find root, so a merge moves every
//!   identity at once without touching them. Entries are added in link order (a new link
//!   always gets a new entry), so their numbers order a customer's identities;
//! - each customer's identities form a circular linked list through the entries, so a merge
//!   splices two lists in O(1) and listing a customer's identities needs no per-customer
//!   allocation;
//! - history is one append-only log of 24-byte events; each slot points at its newest event
//!   and each event at the slot's previous one, so recording an event allocates nothing, and
//!   an event's index in the log is its recording order. Causes are deduplicated and their
//!   references packed into a text arena;
//! - the chunks of slots, entries and events grow with the store (up to 262,144 elements),
//!   and on Linux every table of 4 MiB or more is advised onto transparent huge pages
//!   (`pages`): a cold lookup in a store of millions then misses the cache but rarely the
//!   TLB as well.

mod arena;
mod key_index;
mod packed;
mod pages;

use super::{Lookup, ResolveWrites, Store, TargetData, Txn};
use crate::error::{Error, Result};
use crate::history::{Cause, EventKind, HistoryEvent, Operation};
use crate::model::{
    Customer, CustomerId, CustomerPatch, CustomerStatus, Fields, HashedKey, Identity, IdentityKey,
    IdentityType, TenantId,
};
use crate::prefetch::prefetch;
use crate::query::{CustomerFilter, CustomerPage, CustomerQuery};
use arena::{Chunked, ShortText, TextArena, TextRef};
use chrono::{DateTime, Utc};
use key_index::KeyIndex;
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

const NONE: u32 = u32::MAX;

type FastMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::RandomState>;

struct Slot {
    tenant: u32,
    /// The tail of this customer's identity ring (including merged customers'), or `NONE`.
    ring: u32,
    /// This slot's newest event in the log, or `NONE`.
    last_event: u32,
    status: Status,
    /// Microseconds since the epoch, like every time the store keeps.
    created: i64,
    updated: i64,
    /// Fields, attributes, tags and groups, packed; `None` when it has none.
    data: Option<Box<[u8]>>,
}

/// [`CustomerStatus`] in 8 bytes: a merge target is a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Active,
    MergedInto(u32),
    Deleted,
    Erased,
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn instant(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).expect("stored from a DateTime")
}

impl Slot {
    fn is_active(&self) -> bool {
        self.status == Status::Active
    }

    /// The customer this slot (at `ix`) holds.
    fn customer(&self, ix: u32) -> Customer {
        let data = packed::unpack(self.data.as_deref());
        Customer {
            id: slot_id(ix),
            status: match self.status {
                Status::Active => CustomerStatus::Active,
                Status::MergedInto(slot) => CustomerStatus::Merged { into: slot_id(slot) },
                Status::Deleted => CustomerStatus::Deleted,
                Status::Erased => CustomerStatus::Erased,
            },
            fields: data.fields,
            attrs: data.attrs,
            tags: data.tags,
            groups: data.groups,
            created: instant(self.created),
            updated: instant(self.updated),
        }
    }
}

/// A history event as the memory store keeps it: links point at their identity entry, and
/// causes are shared.
struct Event {
    /// Microseconds since the epoch (the engine keeps times to the microsecond).
    at: i64,
    /// Index into `MemoryStore::causes`.
    cause: u32,
    /// The same slot's previous event, or `NONE`.
    prev: u32,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Created,
    /// The linked entry (every link has an entry of its own).
    Linked(u32),
    /// The unlinked entry (an unlinked entry is never linked again: a new link of the value
    /// gets a new entry).
    Unlinked(u32),
    Merged(u32),
    MergedInto(u32),
    Deleted,
    Erased,
}

struct Entry {
    /// Index into `MemoryStore::spaces`: the identity's tenant, type and scope.
    space: u32,
    /// Index into `MemoryStore::names`, or `NONE`.
    name: u32,
    /// Slot the identity was linked to; the live owner is its union-find root.
    /// `NONE` when released.
    linked_to: u32,
    /// Next entry in the owner's ring.
    next: u32,
    /// `ERASED` and `SUSPECTED` bits.
    flags: u8,
    /// Scrubbed, and read as `[erased]`, once erased.
    value: ShortText,
}

/// The value was erased.
const ERASED_BIT: u8 = 1;
/// `MemoryStore::suspicion_counts` holds a count for the entry (rare: most have none, and a lookup
/// of those reads nothing more).
const SUSPECTED_BIT: u8 = 2;

/// What an identity's key holds besides its value, interned: the few combinations in use
/// are named by 4 bytes in each entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Space {
    tenant: u32,
    /// Index into `MemoryStore::types`.
    ty: u16,
    /// Index into `MemoryStore::scopes`, or `NONE`.
    scope: u32,
}

// The sizes the layout notes above promise (on 64-bit targets).
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(std::mem::size_of::<Slot>() == 56);
    assert!(std::mem::size_of::<Entry>() == 48);
    assert!(std::mem::size_of::<Event>() == 24);
};

/// A cause as stored: the operation and, if any, its reference in the cause arena.
struct StoredCause {
    reference: TextRef,
    has_reference: bool,
    operation: Operation,
}

/// The in-memory store. `Default` gives an empty store.
///
/// ```
/// use oneid::{IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
/// let mut resolver = Resolver::new(MemoryStore::new());
/// let tenant = TenantId::new("shop-1");
/// let out = resolver.resolve(&tenant, &ResolveRequest::new([IdentityInput::new("mobile", "13812345678")])).unwrap();
/// assert!(out.created);
/// ```
pub struct MemoryStore {
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
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("tenants", &self.tenants.len())
            .field("customers", &self.slots.len())
            .field("identities", &self.entries.len())
            .field("events", &self.events.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
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
        }
    }

    /// An empty store with room for this many customers and identities (storage grows in
    /// chunks anyway; this sizes the identity index so it never rehashes below that count).
    pub fn with_capacity(customers: usize, identities: usize) -> Self {
        let mut s = Self::new();
        pages::reserve_huge(&mut s.parent, customers);
        s.index.reserve(identities);
        s
    }

    /// How many customer ids were assigned (live, merged and deleted), in all tenants.
    pub fn customer_ids(&self) -> usize {
        self.slots.len() as usize
    }

    fn tenant_ix(&self, tenant: &TenantId) -> Option<u32> {
        let last = self.last_tenant.load(Ordering::Relaxed);
        // `Arc<str>` equality compares pointers first.
        if self.tenant_names.get(last as usize) == Some(tenant) {
            return Some(last);
        }
        let t = self.tenants.get(tenant).copied()?;
        self.last_tenant.store(t, Ordering::Relaxed);
        Some(t)
    }

    fn tenant_ix_or_insert(&mut self, tenant: &TenantId) -> u32 {
        if let Some(t) = self.tenant_ix(tenant) {
            return t;
        }
        let next = self.tenants.len() as u32;
        self.tenants.insert(tenant.clone(), next);
        self.tenant_names.push(tenant.clone());
        next
    }

    fn hash_key(&self, tenant: u32, key: IdentityKey<'_>) -> u64 {
        in_tenant(tenant, key.hash64())
    }

    fn space_of(&self, e: &Entry) -> Space {
        self.spaces[e.space as usize]
    }

    fn type_name(&self, e: &Entry) -> &IdentityType {
        &self.types[self.space_of(e).ty as usize]
    }

    fn scope_of(&self, e: &Entry) -> Option<&Arc<str>> {
        let scope = self.space_of(e).scope;
        (scope != NONE).then(|| &self.scopes[scope as usize])
    }

    fn value_of<'a>(&'a self, e: &'a Entry) -> &'a str {
        if e.flags & ERASED_BIT != 0 {
            ERASED
        } else {
            e.value.as_str(&self.values)
        }
    }

    /// An entry's identity key.
    fn key_of<'a>(&'a self, e: &'a Entry) -> IdentityKey<'a> {
        IdentityKey {
            identity_type: self.type_name(e).as_str(),
            scope: self.scope_of(e).map(|s| &**s),
            value: self.value_of(e),
        }
    }

    /// An entry's identity as the public type.
    fn identity_of(&self, e: &Entry) -> Identity {
        Identity {
            identity_type: self.type_name(e).clone(),
            scope: self.scope_of(e).cloned(),
            identity_value: self.value_of(e).into(),
            identity_name: (e.name != NONE).then(|| self.names[e.name as usize].clone()),
        }
    }

    /// Whether entry `ix` holds `key` in tenant `tenant`.
    fn holds_key(&self, ix: u32, tenant: u32, key: IdentityKey<'_>) -> bool {
        self.entry_holds_key(&self.entries[ix], tenant, key)
    }

    /// [`holds_key`](Self::holds_key) of an entry already at hand.
    fn entry_holds_key(&self, e: &Entry, tenant: u32, key: IdentityKey<'_>) -> bool {
        let space = self.space_of(e);
        let ty = self.types[space.ty as usize].as_str();
        space.tenant == tenant
            // The engine's type names are mostly the very strings interned here.
            && (std::ptr::eq(ty, key.identity_type) || ty == key.identity_type)
            && e.flags & ERASED_BIT == 0
            && e.value.is(key.value.as_bytes(), &self.values)
            && self.scope_of(e).map(|s| &**s) == key.scope
    }

    /// The interned index of a type name. Types are few, and the engine's type names are
    /// mostly the very strings interned here, so a scan comparing pointers first beats
    /// hashing.
    fn type_of(&self, name: &str) -> Option<u16> {
        if self.types.len() <= 16 {
            let key = (name.as_ptr() as usize, name.len());
            if let Some(ix) = self.type_ptrs.iter().position(|&t| t == key) {
                return Some(ix as u16);
            }
            return self
                .types
                .iter()
                .position(|t| t.as_str() == name)
                .map(|ix| ix as u16);
        }
        self.type_ix.get(name).copied()
    }

    fn find_entry(&self, tenant: u32, key: IdentityKey<'_>) -> Option<u32> {
        self.find_hashed(tenant, key, self.hash_key(tenant, key))
    }

    /// What a lookup answers for the entry found (or none).
    fn lookup_of(&self, entry: Option<u32>) -> Lookup {
        entry.map_or_else(Lookup::default, |ix| self.lookup_of_entry(ix, &self.entries[ix]))
    }

    /// [`lookup_of`](Self::lookup_of) an entry already at hand (`e` is entry `ix`).
    fn lookup_of_entry(&self, ix: u32, e: &Entry) -> Lookup {
        Lookup {
            owner: (e.linked_to != NONE).then(|| slot_id(self.root(e.linked_to))),
            suspicion: self.entry_suspicion(ix, e),
        }
    }

    /// Distinct conflicting identities seen with entry `ix`'s identity.
    fn suspicion_of(&self, ix: u32) -> u32 {
        self.entry_suspicion(ix, &self.entries[ix])
    }

    fn entry_suspicion(&self, ix: u32, e: &Entry) -> u32 {
        if e.flags & SUSPECTED_BIT == 0 {
            return 0;
        }
        self.suspicion_counts.get(&ix).copied().unwrap_or(0)
    }

    fn find_hashed(&self, tenant: u32, key: IdentityKey<'_>, hash: u64) -> Option<u32> {
        self.index.find(hash as u32, |ix| self.holds_key(ix, tenant, key))
    }

    fn intern_type(&mut self, name: &str) -> Result<u16> {
        if let Some(ix) = self.type_of(name) {
            return Ok(ix);
        }
        let ty = IdentityType::new(name)
            .ok_or_else(|| Error::Store(format!("{name:?} is not an identity type")))?;
        let ix = u16::try_from(self.types.len())
            .map_err(|_| Error::Store("the memory store holds at most 65,536 identity types".into()))?;
        self.type_ptrs.push((ty.as_str().as_ptr() as usize, ty.len()));
        self.types.push(ty);
        self.type_ix.insert(name.into(), ix);
        Ok(ix)
    }

    fn intern_space(&mut self, space: Space) -> Result<u32> {
        // The usual space has no scope: found by tenant and type in two loads.
        let plain = space.scope == NONE;
        if plain {
            let known = self
                .plain_spaces
                .get(space.tenant as usize)
                .and_then(|by_type| by_type.get(usize::from(space.ty)));
            if let Some(&ix) = known.filter(|&&ix| ix != NONE) {
                return Ok(ix);
            }
        }
        let ix = self.intern_space_slow(space)?;
        if plain {
            let tenant = space.tenant as usize;
            if self.plain_spaces.len() <= tenant {
                self.plain_spaces.resize(tenant + 1, Vec::new());
            }
            let by_type = &mut self.plain_spaces[tenant];
            if by_type.len() <= usize::from(space.ty) {
                by_type.resize(usize::from(space.ty) + 1, NONE);
            }
            by_type[usize::from(space.ty)] = ix;
        }
        Ok(ix)
    }

    fn intern_space_slow(&mut self, space: Space) -> Result<u32> {
        // Usually a handful (one per tenant and type): a scan beats hashing.
        if self.spaces.len() <= 16 {
            if let Some(ix) = self.spaces.iter().position(|s| *s == space) {
                return Ok(ix as u32);
            }
        } else if let Some(&ix) = self.space_ix.get(&space) {
            return Ok(ix);
        }
        let ix = u32::try_from(self.spaces.len()).map_err(|_| {
            Error::Store("the memory store holds at most 2^32 tenant, type and scope combinations".into())
        })?;
        self.spaces.push(space);
        self.space_ix.insert(space, ix);
        Ok(ix)
    }

    fn intern_scope(&mut self, scope: &str) -> u32 {
        if let Some(&ix) = self.scope_ix.get(scope) {
            return ix;
        }
        let ix = self.scopes.len() as u32;
        let scope: Arc<str> = Arc::from(scope);
        self.scopes.push(scope.clone());
        self.scope_ix.insert(scope, ix);
        ix
    }

    /// Union-find root of a slot, compressing the path.
    fn root(&self, slot: u32) -> u32 {
        let mut root = slot;
        loop {
            let p = self.parent[root as usize].load(Ordering::Relaxed);
            if p == root {
                break;
            }
            root = p;
        }
        let mut s = slot;
        while s != root {
            let p = self.parent[s as usize].swap(root, Ordering::Relaxed);
            s = p;
        }
        root
    }

    /// The slot an id leads to in a tenant, after following merges.
    fn live_slot(&self, tenant: &TenantId, id: CustomerId) -> Option<u32> {
        let t = self.tenant_ix(tenant)?;
        let ix = u32::try_from(id.0.checked_sub(1)?).ok()?;
        let slot = self.slots.get(ix)?;
        (slot.tenant == t).then(|| self.root(ix))
    }

    /// A customer's entries, oldest ring member first: the slot points at the ring's tail,
    /// whose successor is the head.
    fn ring(&self, slot: u32) -> impl Iterator<Item = u32> + '_ {
        let tail = self.slots[slot].ring;
        let start = if tail == NONE {
            NONE
        } else {
            self.entries[tail].next
        };
        let mut cur = start;
        std::iter::from_fn(move || {
            if cur == NONE {
                return None;
            }
            let ix = cur;
            let next = self.entries[cur].next;
            cur = if next == start { NONE } else { next };
            Some(ix)
        })
    }

    /// Creates an active customer holding `data` in tenant `t`, at `micros`, of the
    /// interned cause `cause`; returns its slot.
    fn create_in(&mut self, t: u32, micros: i64, cause: u32, data: Option<Box<[u8]>>) -> Result<u32> {
        let ix = self.slots.next_index("customers")?;
        self.events.next_index("history events")?;
        self.slots.push(Slot {
            tenant: t,
            ring: NONE,
            last_event: NONE,
            status: Status::Active,
            created: micros,
            updated: micros,
            data,
        });
        pages::reserve_huge(&mut self.parent, 1);
        self.parent.push(AtomicU32::new(ix));
        self.record_at(ix, micros, Kind::Created, cause)?;
        Ok(ix)
    }

    /// Binds an unowned identity to a live slot of tenant `t`.
    fn link_in(
        &mut self,
        t: u32,
        slot: u32,
        key: HashedKey<'_>,
        name: Option<&str>,
        micros: i64,
        cause: u32,
    ) -> Result<()> {
        // Every link gets an entry of its own, so the history of an earlier owner of a released
        // value keeps pointing at its own link (and an erasure redacts only its own).
        let hash = in_tenant(t, key.hash);
        // One probe finds an earlier entry of the value and where this one goes.
        self.index.reserve(1);
        let probe = self
            .index
            .probe_for(hash as u32, |ix| self.holds_key(ix, t, key.key));
        let previous = match probe {
            key_index::Probe::Found { entry, .. } => Some(entry),
            key_index::Probe::Vacant(_) => None,
        };
        if previous.is_some_and(|p| self.entries[p].linked_to != NONE) {
            return Err(Error::Store(format!("identity {key} is already owned")));
        }
        let e = self.entries.next_index("identities")?;
        if e > key_index::MAX_ENTRY {
            return Err(Error::Store(
                "the memory store holds at most 2^32 - 3 identity links".into(),
            ));
        }
        self.events.next_index("history events")?;
        let ty = self.intern_type(key.key.identity_type)?;
        let scope = key.key.scope.map_or(NONE, |sc| self.intern_scope(sc));
        let space = self.intern_space(Space { tenant: t, ty, scope })?;
        let name = match name {
            Some(n) => {
                self.names.push(Arc::from(n));
                (self.names.len() - 1) as u32
            }
            None => NONE,
        };
        let value = ShortText::new(key.key.value, &mut self.values)?;
        // Evidence against the value outlives its earlier links.
        let suspicion = previous.map_or(0, |p| self.suspicion_of(p));
        if suspicion > 0 {
            self.suspicion_counts.insert(e, suspicion);
        }
        // Appended to the owner's ring: it becomes the new tail.
        let tail = std::mem::replace(&mut self.slots[slot].ring, e);
        let next = if tail == NONE {
            e
        } else {
            std::mem::replace(&mut self.entries[tail].next, e)
        };
        self.entries.push(Entry {
            space,
            name,
            linked_to: slot,
            next,
            flags: if suspicion > 0 { SUSPECTED_BIT } else { 0 },
            value,
        });
        match probe {
            key_index::Probe::Found { at, .. } => self.index.replace_at(at, e, slot),
            key_index::Probe::Vacant(at) => self.index.insert_at(at, hash as u32, e, slot),
        }
        self.record_at(slot, micros, Kind::Linked(e), cause)?;
        Ok(())
    }

    /// Merges live slot `from` into live slot `into` (two different ones).
    fn merge_in(&mut self, from_slot: u32, into_slot: u32, micros: i64, cause: u32) -> Result<()> {
        if self.events.len() >= NONE - 1 {
            return Err(Error::Store(
                "the memory store holds at most 2^32 - 1 history events".into(),
            ));
        }
        // Splice rings: swapping the successors of the two tails appends `from`'s list to
        // `into`'s, and `from`'s tail becomes the tail.
        let (a, b) = (self.slots[from_slot].ring, self.slots[into_slot].ring);
        match (a, b) {
            (NONE, _) => {}
            (a, NONE) => self.slots[into_slot].ring = a,
            (a, b) => {
                let an = self.entries[a].next;
                let bn = self.entries[b].next;
                self.entries[a].next = bn;
                self.entries[b].next = an;
                self.slots[into_slot].ring = a;
            }
        }
        self.slots[from_slot].ring = NONE;
        self.parent[from_slot as usize].store(into_slot, Ordering::Relaxed);
        let merged = &mut self.slots[from_slot];
        merged.status = Status::MergedInto(into_slot);
        merged.updated = micros;
        self.record_at(from_slot, micros, Kind::MergedInto(into_slot), cause)?;
        self.record_at(into_slot, micros, Kind::Merged(from_slot), cause)?;
        Ok(())
    }

    /// Overwrites a live slot's data with a customer's.
    fn put_in(&mut self, slot: u32, customer: &Customer) {
        let stored = &mut self.slots[slot];
        stored.data = packed::pack(
            &customer.fields,
            &customer.attrs,
            &customer.tags,
            &customer.groups,
        );
        stored.created = micros(customer.created);
        stored.updated = micros(customer.updated);
        stored.status = Status::Active;
    }

    /// Records an event on a slot.
    fn record(&mut self, slot: u32, at: DateTime<Utc>, kind: Kind, cause: &Cause) -> Result<u32> {
        let cause = self.intern_cause(cause.operation, cause.reference.as_deref())?;
        self.record_at(slot, micros(at), kind, cause)
    }

    /// The index of a cause in `causes`: the last one when it is the same (consecutive events
    /// of a request share one), else a new one.
    fn intern_cause(&mut self, operation: Operation, reference: Option<&str>) -> Result<u32> {
        if let Some(last_ix) = self.causes.len().checked_sub(1) {
            let last = &self.causes[last_ix];
            let same = last.operation == operation
                && match reference {
                    Some(r) => last.has_reference && self.cause_texts.get(last.reference) == r,
                    None => !last.has_reference,
                };
            if same {
                return Ok(last_ix);
            }
        }
        let ix = self.causes.next_index("causes")?;
        let text = self.cause_texts.push(reference.unwrap_or(""))?;
        self.causes.push(StoredCause {
            reference: text,
            has_reference: reference.is_some(),
            operation,
        });
        Ok(ix)
    }

    /// Records an event, at `micros` and of the interned cause `cause`, on a slot.
    fn record_at(&mut self, slot: u32, micros: i64, kind: Kind, cause: u32) -> Result<u32> {
        let ix = self.events.next_index("history events")?;
        let last = &mut self.slots[slot].last_event;
        let prev = std::mem::replace(last, ix);
        self.events.push(Event {
            at: micros,
            cause,
            prev,
            kind,
        });
        Ok(ix)
    }

    /// A slot's own events, newest first, with their indices.
    fn events_of(&self, slot: u32) -> impl Iterator<Item = (u32, &Event)> + '_ {
        let mut cur = self.slots[slot].last_event;
        std::iter::from_fn(move || {
            if cur == NONE {
                return None;
            }
            let ix = cur;
            let e = &self.events[ix];
            cur = e.prev;
            Some((ix, e))
        })
    }

    fn cause_of(&self, event: &Event) -> Cause {
        let stored = &self.causes[event.cause];
        Cause {
            operation: stored.operation,
            reference: stored
                .has_reference
                .then(|| Arc::from(self.cause_texts.get(stored.reference))),
        }
    }

    /// An event as the public type.
    fn materialize(&self, slot: u32, event: &Event) -> HistoryEvent {
        let kind = match event.kind {
            Kind::Created => EventKind::Created,
            Kind::Linked(entry) => {
                let e = &self.entries[entry];
                // An erased customer's links say nothing personal, even where the value was
                // released and now belongs to someone else.
                let identity = if self.slots[slot].status == Status::Erased {
                    redacted(self.type_name(e))
                } else {
                    self.identity_of(e)
                };
                EventKind::Linked { identity }
            }
            Kind::Unlinked(entry) => EventKind::Unlinked {
                identity: self.identity_of(&self.entries[entry]),
            },
            Kind::Merged(from) => EventKind::Merged { from: slot_id(from) },
            Kind::MergedInto(into) => EventKind::MergedInto { into: slot_id(into) },
            Kind::Deleted => EventKind::Deleted,
            Kind::Erased => EventKind::Erased,
        };
        HistoryEvent {
            customer: slot_id(slot),
            at: instant(event.at),
            kind,
            cause: self.cause_of(event),
        }
    }

    /// The slot and every slot merged into it, breadth-first through the recorded merges.
    fn members(&self, root: u32) -> Vec<u32> {
        let mut members = vec![root];
        let mut i = 0;
        while i < members.len() {
            // In the order the merges happened (the log links newest first).
            let start = members.len();
            for (_, event) in self.events_of(members[i]) {
                if let Kind::Merged(from) = event.kind {
                    members.push(from);
                }
            }
            members[start..].reverse();
            i += 1;
        }
        members
    }

    /// Identities in the order they were linked (a merged customer's ring is spliced after
    /// the survivor's, so ring order alone is not link order; entry numbers are).
    fn in_link_order(&self, entries: impl Iterator<Item = u32>) -> Vec<Identity> {
        let mut found: Vec<u32> = entries.collect();
        found.sort_unstable();
        found
            .into_iter()
            .map(|e| self.identity_of(&self.entries[e]))
            .collect()
    }

    /// The live customers of a tenant (each once: merged slots are skipped).
    fn live_customers(&self, tenant: &TenantId) -> impl Iterator<Item = Customer> + '_ {
        let t = self.tenant_ix(tenant);
        self.slots
            .iter()
            .zip(0..)
            .filter(move |(s, _)| Some(s.tenant) == t && s.is_active())
            .map(|(s, ix)| s.customer(ix))
    }

    fn live_for_write(&self, tenant: &TenantId, id: CustomerId) -> Result<u32> {
        match self.live_slot(tenant, id) {
            Some(s) if self.slots[s].is_active() => Ok(s),
            _ => Err(Error::CustomerNotFound(id)),
        }
    }

    /// Takes an entry out of the owner's ring (found by walking to its predecessor).
    fn cut_from_ring(&mut self, slot: u32, e: u32) {
        let next = self.entries[e].next;
        let mut prev = e;
        while self.entries[prev].next != e {
            prev = self.entries[prev].next;
        }
        if next == e {
            self.slots[slot].ring = NONE;
        } else {
            self.entries[prev].next = next;
            if self.slots[slot].ring == e {
                // The tail left: its predecessor is the new tail.
                self.slots[slot].ring = prev;
            }
        }
        let entry = &mut self.entries[e];
        entry.linked_to = NONE;
        entry.next = NONE;
    }

    /// Erases a live customer and everyone merged into it; returns their ids.
    fn erase_customer(
        &mut self,
        tenant: &TenantId,
        id: CustomerId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<Vec<CustomerId>> {
        let s = self;
        let root = s.live_slot(tenant, id).ok_or(Error::CustomerNotFound(id))?;
        s.events.next_index("history events")?;
        let t = s.slots[root].tenant;
        // The customer and everyone merged into it, through any number of merges.
        let members = s.members(root);
        // Every identity these customers ever held: their current ring, and the links in
        // their history (identities released by a delete are no longer in the ring).
        let mut doomed: Vec<u32> = Vec::new();
        let mut forgotten = hashbrown::HashSet::<u64>::new();
        let start = s.slots[root].ring;
        let mut cur = start;
        while cur != NONE {
            doomed.push(cur);
            let next = s.entries[cur].next;
            cur = if next == start { NONE } else { next };
        }
        for &m in &members {
            for (_, event) in s.events_of(m) {
                // Their own entries: a value they gave up and someone else linked since has
                // an entry (and a history) of its own.
                let found = match event.kind {
                    Kind::Linked(entry) | Kind::Unlinked(entry) => Some(entry),
                    _ => None,
                };
                if let Some(e) = found {
                    // Evidence about the value goes in any case (as the SQL stores do).
                    forgotten.insert(s.hash_key(t, s.key_of(&s.entries[e])));
                    // The value itself, unless someone else holds it now.
                    let linked = s.entries[e].linked_to;
                    if linked == NONE || s.root(linked) == root {
                        doomed.push(e);
                    }
                }
            }
        }
        doomed.sort_unstable();
        doomed.dedup();
        doomed.retain(|&e| s.entries[e].flags & ERASED_BIT == 0);
        // An erased identity keeps its type (history says what kind of identity went) but
        // not its scope. Interned before anything changes, as interning is what can fail.
        let mut erased_spaces = Vec::with_capacity(doomed.len());
        for &e in &doomed {
            let ty = s.space_of(&s.entries[e]).ty;
            erased_spaces.push(s.intern_space(Space {
                tenant: t,
                ty,
                scope: NONE,
            })?);
        }
        for (e, space) in doomed.into_iter().zip(erased_spaces) {
            let hash = s.hash_key(t, s.key_of(&s.entries[e]));
            forgotten.insert(hash);
            s.index.remove(hash as u32, e);
            s.suspicion_counts.remove(&e);
            let entry = &mut s.entries[e];
            entry.flags = ERASED_BIT;
            entry.space = space;
            entry.name = NONE;
            entry.linked_to = NONE;
            entry.next = NONE;
            entry.value.scrub(&mut s.values);
        }
        // Quarantine evidence about the erased values goes too, and no longer counts against
        // the values that stay (as the SQL stores count evidence rows).
        let mut relieved: Vec<u64> = Vec::new();
        s.suspicions.retain(|(a, b)| {
            let keep = !forgotten.contains(a) && !forgotten.contains(b);
            if !keep && !forgotten.contains(a) {
                relieved.push(*a);
            }
            keep
        });
        for a in relieved {
            let found = s
                .index
                .find(a as u32, |e| s.hash_key(t, s.key_of(&s.entries[e])) == a);
            if let Some(count) = found.and_then(|e| s.suspicion_counts.get_mut(&e)) {
                *count = count.saturating_sub(1);
            }
        }
        // A forgotten value that someone else holds now has no evidence left either.
        for &h in &forgotten {
            if let Some(e) = s
                .index
                .find(h as u32, |e| s.hash_key(t, s.key_of(&s.entries[e])) == h)
            {
                s.suspicion_counts.remove(&e);
            }
        }
        s.slots[root].ring = NONE;
        let mut erased = Vec::with_capacity(members.len());
        for &m in &members {
            let slot = &mut s.slots[m];
            slot.status = Status::Erased;
            slot.updated = micros(at);
            slot.data = None;
            erased.push(slot_id(m));
        }
        s.record(root, at, Kind::Erased, cause)?;
        Ok(erased)
    }
}

/// What an erased identity reads as.
const ERASED: &str = "[erased]";

/// What an erased identity leaves in history: its type, nothing personal.
fn redacted(identity_type: &IdentityType) -> Identity {
    Identity {
        identity_type: identity_type.clone(),
        scope: None,
        identity_value: ERASED.into(),
        identity_name: None,
    }
}

/// A key's hash within a tenant: the engine's hash of the key ([`IdentityKey::hash64`]) mixed
/// with the tenant, so that equal keys of different tenants sit apart in the index.
fn in_tenant(tenant: u32, hash: u64) -> u64 {
    hash ^ u64::from(tenant).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn slot_id(slot: u32) -> CustomerId {
    CustomerId(u64::from(slot) + 1)
}

/// A transaction on a [`MemoryStore`]. Writes apply at once and cannot fail after the
/// engine's checks, so commit has nothing left to do.
pub struct MemoryTxn<'a> {
    store: &'a mut MemoryStore,
}

impl Store for MemoryStore {
    type Txn<'a> = MemoryTxn<'a>;

    fn begin(&mut self) -> Result<MemoryTxn<'_>> {
        Ok(MemoryTxn { store: self })
    }
}

impl Txn for MemoryTxn<'_> {
    fn lookup(&self, tenant: &TenantId, key: IdentityKey<'_>) -> Result<Lookup> {
        let s = &*self.store;
        let Some(t) = s.tenant_ix(tenant) else {
            return Ok(Lookup::default());
        };
        Ok(s.lookup_of(s.find_entry(t, key)))
    }

    fn lookup_many(&self, tenant: &TenantId, keys: &[HashedKey<'_>], out: &mut Vec<Lookup>) -> Result<()> {
        let s = &*self.store;
        let Some(t) = s.tenant_ix(tenant) else {
            out.extend(keys.iter().map(|_| Lookup::default()));
            return Ok(());
        };
        // A cold lookup is a chain of cache misses: the index slot, then the entry (with the
        // value in it) and the owner's parent, and then the owner's slot, which a resolve
        // that finds the owner writes. Walking each step for all keys before the next lets
        // the misses of different keys overlap instead of queueing one after another, and
        // the slot's hint (the owner's slot when it was linked) lets the last three start
        // together.
        let mut hashes: smallvec::SmallVec<[u64; 8]> = smallvec::SmallVec::new();
        for k in keys {
            hashes.push(in_tenant(t, k.hash));
        }
        for &hash in &hashes {
            s.index.prefetch(hash as u32);
        }
        // The first entry with a key's hash bits is nearly always the key's.
        let mut candidates: smallvec::SmallVec<[Option<(u32, u32)>; 8]> = smallvec::SmallVec::new();
        for &hash in &hashes {
            candidates.push(s.index.candidate(hash as u32));
        }
        let mut last_hint = NONE;
        for &(e, hint) in candidates.iter().flatten() {
            prefetch(&s.entries[e]);
            // A request's keys are mostly one customer's: its parent and slot once.
            if hint == last_hint {
                continue;
            }
            last_hint = hint;
            if let Some(parent) = s.parent.get(hint as usize) {
                prefetch(parent);
            }
            if let Some(slot) = s.slots.get(hint) {
                prefetch(slot);
            }
        }
        // Values too long to keep in place (rare) are one more round.
        for &(e, _) in candidates.iter().flatten() {
            if let Some(text) = s.entries[e].value.spilled() {
                std::hint::black_box(s.values.get(text).as_bytes().first().copied());
            }
        }
        for ((key, &hash), &candidate) in keys.iter().zip(&hashes).zip(&candidates) {
            let key = key.key;
            let confirmed = candidate.and_then(|(ix, _)| {
                let e = &s.entries[ix];
                s.entry_holds_key(e, t, key).then(|| s.lookup_of_entry(ix, e))
            });
            // Another key with the same hash bits came first: probe on.
            out.push(confirmed.unwrap_or_else(|| s.lookup_of(s.find_hashed(t, key, hash))));
        }
        Ok(())
    }

    fn prefetch(&self, tenant: &TenantId, keys: &[HashedKey<'_>]) {
        let s = &*self.store;
        if let Some(t) = s.tenant_ix(tenant) {
            for key in keys {
                s.index.prefetch(in_tenant(t, key.hash) as u32);
            }
        }
    }

    fn is_suspected_with(
        &self,
        tenant: &TenantId,
        key: HashedKey<'_>,
        conflicting: HashedKey<'_>,
    ) -> Result<bool> {
        let s = &*self.store;
        let Some(t) = s.tenant_ix(tenant) else {
            return Ok(false);
        };
        Ok(s.suspicions
            .contains(&(in_tenant(t, key.hash), in_tenant(t, conflicting.hash))))
    }

    fn add_suspicion(
        &mut self,
        tenant: &TenantId,
        key: HashedKey<'_>,
        conflicting: HashedKey<'_>,
    ) -> Result<()> {
        let s = &mut *self.store;
        let found = s
            .tenant_ix(tenant)
            .and_then(|t| Some((t, s.find_hashed(t, key.key, in_tenant(t, key.hash))?)));
        let Some((t, e)) = found else {
            return Err(Error::Store(format!(
                "no identity {key} to record suspicion against"
            )));
        };
        if s.suspicions
            .insert((in_tenant(t, key.hash), in_tenant(t, conflicting.hash)))
        {
            *s.suspicion_counts.entry(e).or_insert(0) += 1;
            s.entries[e].flags |= SUSPECTED_BIT;
        }
        Ok(())
    }

    fn customer(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<Cow<'_, Customer>>> {
        let s = &*self.store;
        Ok(s.live_slot(tenant, id)
            .map(|slot| Cow::Owned(s.slots[slot].customer(slot))))
    }

    fn canonical_id(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<CustomerId>> {
        Ok(self.store.live_slot(tenant, id).map(slot_id))
    }

    fn holds_fields(&self, tenant: &TenantId, id: CustomerId, fields: &Fields) -> Result<Option<bool>> {
        let s = &*self.store;
        Ok(s.live_slot(tenant, id)
            .map(|slot| packed::holds(s.slots[slot].data.as_deref(), fields)))
    }

    fn identities(&self, tenant: &TenantId, id: CustomerId) -> Result<Vec<Identity>> {
        self.identities_matching(tenant, id, &|_| true)
    }

    fn identities_matching(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Identity>> {
        let s = &*self.store;
        Ok(match s.live_slot(tenant, id) {
            Some(slot) => s.in_link_order(
                s.ring(slot)
                    .filter(|&e| wanted(s.type_name(&s.entries[e]).as_str())),
            ),
            None => Vec::new(),
        })
    }

    fn identities_of_type(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        identity_type: &str,
        scope: Option<&str>,
    ) -> Result<Vec<Identity>> {
        let s = &*self.store;
        Ok(match s.live_slot(tenant, id) {
            Some(slot) => s.in_link_order(s.ring(slot).filter(|&e| {
                let key = s.key_of(&s.entries[e]);
                key.identity_type == identity_type && key.scope == scope
            })),
            None => Vec::new(),
        })
    }

    fn count_of_type(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        identity_type: &str,
        scope: Option<&str>,
    ) -> Result<usize> {
        let s = &*self.store;
        let Some(slot) = s.live_slot(tenant, id) else {
            return Ok(0);
        };
        // Compared as interned spaces: the ring's entries name theirs in 4 bytes.
        let t = s.slots[slot].tenant;
        let Some(ty) = s.type_of(identity_type) else {
            return Ok(0);
        };
        let scope = match scope {
            None => NONE,
            Some(sc) => match s.scope_ix.get(sc) {
                Some(&ix) => ix,
                None => return Ok(0),
            },
        };
        let wanted = Space { tenant: t, ty, scope };
        Ok(s.ring(slot)
            .filter(|&e| s.space_of(&s.entries[e]) == wanted)
            .count())
    }

    fn history(&self, tenant: &TenantId, id: CustomerId) -> Result<Vec<HistoryEvent>> {
        let s = &*self.store;
        let Some(root) = s.live_slot(tenant, id) else {
            return Ok(Vec::new());
        };
        let mut events: Vec<(u32, u32, &Event)> = Vec::new();
        for slot in s.members(root) {
            events.extend(s.events_of(slot).map(|(ix, e)| (slot, ix, e)));
        }
        // Oldest first; events of one instant in the order they were recorded.
        events.sort_by_key(|(_, ix, e)| (e.at, *ix));
        Ok(events
            .into_iter()
            .map(|(slot, _, e)| s.materialize(slot, e))
            .collect())
    }

    fn create_customer(&mut self, tenant: &TenantId, at: DateTime<Utc>, cause: &Cause) -> Result<CustomerId> {
        let s = &mut *self.store;
        let t = s.tenant_ix_or_insert(tenant);
        let cause = s.intern_cause(cause.operation, cause.reference.as_deref())?;
        Ok(slot_id(s.create_in(t, micros(at), cause, None)?))
    }

    fn create_customer_with(
        &mut self,
        tenant: &TenantId,
        at: DateTime<Utc>,
        cause: &Cause,
        patch: &CustomerPatch,
    ) -> Result<CustomerId> {
        let s = &mut *self.store;
        let t = s.tenant_ix_or_insert(tenant);
        let cause = s.intern_cause(cause.operation, cause.reference.as_deref())?;
        // Packed straight from the patch: no `Customer` is built and dropped on the way.
        Ok(slot_id(s.create_in(
            t,
            micros(at),
            cause,
            packed::pack_new(patch),
        )?))
    }

    fn link(
        &mut self,
        tenant: &TenantId,
        id: CustomerId,
        key: HashedKey<'_>,
        name: Option<&str>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<()> {
        let slot = self.store.live_for_write(tenant, id)?;
        let s = &mut *self.store;
        let t = s.slots[slot].tenant;
        let cause = s.intern_cause(cause.operation, cause.reference.as_deref())?;
        s.link_in(t, slot, key, name, micros(at), cause)
    }

    fn merge(
        &mut self,
        tenant: &TenantId,
        from: CustomerId,
        into: CustomerId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<()> {
        let from_slot = self.store.live_for_write(tenant, from)?;
        let into_slot = self.store.live_for_write(tenant, into)?;
        if from_slot == into_slot {
            return Err(Error::Store(format!("cannot merge customer {from} into itself")));
        }
        let s = &mut *self.store;
        let cause = s.intern_cause(cause.operation, cause.reference.as_deref())?;
        s.merge_in(from_slot, into_slot, micros(at), cause)
    }

    fn delete(&mut self, tenant: &TenantId, id: CustomerId, at: DateTime<Utc>, cause: &Cause) -> Result<()> {
        let slot = self.store.live_for_write(tenant, id)?;
        let s = &mut *self.store;
        s.events.next_index("history events")?;
        let start = s.slots[slot].ring;
        let mut cur = start;
        while cur != NONE {
            let e = &mut s.entries[cur];
            e.linked_to = NONE;
            cur = if e.next == start { NONE } else { e.next };
            e.next = NONE;
        }
        let slot_ref = &mut s.slots[slot];
        slot_ref.ring = NONE;
        slot_ref.status = Status::Deleted;
        slot_ref.updated = micros(at);
        s.record(slot, at, Kind::Deleted, cause)?;
        Ok(())
    }

    fn erase(
        &mut self,
        tenant: &TenantId,
        id: CustomerId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<Vec<CustomerId>> {
        self.store.erase_customer(tenant, id, at, cause)
    }

    fn unlink(
        &mut self,
        tenant: &TenantId,
        key: IdentityKey<'_>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<bool> {
        let s = &mut *self.store;
        let Some(t) = s.tenant_ix(tenant) else {
            return Ok(false);
        };
        let Some(e) = s.find_entry(t, key) else {
            return Ok(false);
        };
        let linked = s.entries[e].linked_to;
        if linked == NONE {
            return Ok(false);
        }
        s.events.next_index("history events")?;
        let slot = s.root(linked);
        s.cut_from_ring(slot, e);
        s.record(slot, at, Kind::Unlinked(e), cause)?;
        Ok(true)
    }

    fn query(&self, tenant: &TenantId, query: &CustomerQuery) -> Result<CustomerPage> {
        let matches = query.filter.matcher();
        let mut rows: Vec<Customer> = self.store.live_customers(tenant).filter(|c| matches(c)).collect();
        let total = rows.len() as u64;
        rows.sort_by(|a, b| query.compare(a, b));
        let size = query.size.min(CustomerQuery::MAX_SIZE) as usize;
        let offset = usize::try_from(query.offset()).unwrap_or(usize::MAX);
        let rows = rows.into_iter().skip(offset).take(size).collect();
        Ok(CustomerPage { rows, total })
    }

    fn count(&self, tenant: &TenantId, filter: &CustomerFilter) -> Result<u64> {
        let matches = filter.matcher();
        Ok(self.store.live_customers(tenant).filter(|c| matches(c)).count() as u64)
    }

    fn put_customer(&mut self, tenant: &TenantId, customer: Customer) -> Result<()> {
        let slot = self.store.live_for_write(tenant, customer.id)?;
        if slot_id(slot) != customer.id {
            return Err(Error::Store(format!(
                "customer {} is an alias of {}; write the live customer",
                customer.id,
                slot_id(slot)
            )));
        }
        self.store.put_in(slot, &customer);
        Ok(())
    }

    fn write_resolve(&mut self, tenant: &TenantId, writes: ResolveWrites<'_>) -> Result<CustomerId> {
        for &(suspect, conflicting) in writes.evidence {
            self.add_suspicion(tenant, suspect, conflicting)?;
        }
        let s = &mut *self.store;
        let at = micros(writes.at);
        // The target found, or created, once; the cause interned once, when first recorded.
        let mut cause = None;
        let mut cause_ix = |s: &mut MemoryStore| -> Result<u32> {
            match cause {
                Some(c) => Ok(c),
                None => {
                    let c = s.intern_cause(writes.operation, writes.reference)?;
                    cause = Some(c);
                    Ok(c)
                }
            }
        };
        let slot = match writes.target {
            Some(id) => s.live_for_write(tenant, id)?,
            None => {
                let t = s.tenant_ix_or_insert(tenant);
                let c = cause_ix(s)?;
                s.create_in(t, at, c, writes.new_data.and_then(packed::pack_new))?
            }
        };
        let t = s.slots[slot].tenant;
        for &(key, name) in writes.links {
            let c = cause_ix(s)?;
            s.link_in(t, slot, key, name, at, c)?;
        }
        for &from in writes.merges {
            let from_slot = s.live_for_write(tenant, from)?;
            if from_slot == slot {
                return Err(Error::Store(format!("cannot merge customer {from} into itself")));
            }
            let c = cause_ix(s)?;
            s.merge_in(from_slot, slot, at, c)?;
        }
        match writes.data {
            TargetData::Unchanged => {}
            TargetData::Touched => s.slots[slot].updated = at,
            TargetData::Put(customer) => s.put_in(slot, &customer),
        }
        Ok(slot_id(slot))
    }

    fn touch(&mut self, tenant: &TenantId, id: CustomerId, at: DateTime<Utc>) -> Result<()> {
        let slot = self.store.live_for_write(tenant, id)?;
        self.store.slots[slot].updated = micros(at);
        Ok(())
    }

    fn shared(&self) -> Option<&(dyn Txn + Sync)> {
        // Reads only compress union-find paths, through atomics.
        Some(self)
    }

    fn commit(self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};

    #[test]
    fn prefetching_is_only_a_hint() {
        use crate::model::{HashedKey, IdentityKey};
        use crate::store::{Store, Txn};
        let key = IdentityKey {
            identity_type: "mobile",
            scope: None,
            value: "13812345678",
        };
        let hashed = [HashedKey {
            key,
            hash: key.hash64(),
        }];
        // An empty store, then a tenant it does not know: nothing to load, nothing breaks.
        let mut empty = MemoryStore::new();
        empty.begin().unwrap().prefetch(&TenantId::new("t"), &hashed);
        let tenant = TenantId::new("t");
        let mut resolver = Resolver::new(MemoryStore::new());
        let out = resolver
            .resolve(
                &tenant,
                &ResolveRequest::new([IdentityInput::new("mobile", "13812345678")]),
            )
            .unwrap();
        let store = resolver.store_mut();
        let txn = store.begin().unwrap();
        txn.prefetch(&TenantId::new("other"), &hashed);
        txn.prefetch(&tenant, &hashed);
        // The lookup after it answers as ever.
        assert_eq!(txn.lookup(&tenant, key).unwrap().owner, out.customer);
    }

    #[test]
    fn long_values_are_found_and_erasure_leaves_no_value_bytes() {
        let tenant = TenantId::new("t");
        let mut resolver = Resolver::new(MemoryStore::new());
        let short = "13812345678";
        let long = "someone.with.a.long.address@example.com";
        let out = resolver
            .resolve(
                &tenant,
                &ResolveRequest::new([
                    IdentityInput::new("mobile", short),
                    IdentityInput::new("email", long),
                ]),
            )
            .unwrap();
        // A value too long to keep in its entry is found through the arena.
        let again = resolver
            .resolve(&tenant, &ResolveRequest::new([IdentityInput::new("email", long)]))
            .unwrap();
        assert_eq!((again.customer, again.created), (out.customer, false));
        let store = resolver.store();
        let held = |s: &MemoryStore, value: &str| {
            s.values.contains(value)
                || s.entries
                    .iter()
                    .any(|e| e.value.as_bytes(&s.values) == value.as_bytes())
        };
        assert!(held(store, short) && held(store, long), "kept before erasure");
        resolver.erase(&tenant, out.customer.unwrap()).unwrap();
        let store = resolver.store();
        assert!(!held(store, short) && !held(store, long), "scrubbed by erasure");
    }
}
