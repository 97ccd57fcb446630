//! The in-memory store: the embedded default, and the one on the benchmarked hot path.
//!
//! Layout, chosen for few cache misses per identity:
//!
//! - customers live in one `Vec` indexed by `id - 1` (ids are global across tenants, so a
//!   slot also records its tenant and every read checks it);
//! - merge aliases are a union-find over slots (`parent`), with the business survivor always
//!   the root: a merge points the merged slot at the target, and reads compress paths;
//! - identities live in one `Vec` of entries, found through a `hashbrown::HashTable` of entry
//!   indices keyed by `(tenant, type, scope, value)` with foldhash. An entry records the slot
//!   it was linked to; its live owner is that slot's union-find root, so a merge moves every
//!   identity at once without touching them;
//! - each customer's identities form a circular linked list through the entries, so a merge
//!   splices two lists in O(1) and listing a customer's identities needs no per-customer
//!   allocation.

use super::{Lookup, Store, Txn};
use crate::error::{Error, Result};
use crate::history::{Cause, EventKind, HistoryEvent};
use crate::model::{Customer, CustomerId, CustomerStatus, Identity, IdentityKey, TenantId};
use crate::query::{CustomerFilter, CustomerPage, CustomerQuery};
use chrono::{DateTime, Utc};
use hashbrown::HashTable;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, Ordering};

const NONE: u32 = u32::MAX;

struct Slot {
    tenant: u32,
    customer: Customer,
    /// Some identity of this customer's ring (including merged customers'), or `NONE`.
    ring: u32,
    history: Vec<Event>,
}

/// A history event as the memory store keeps it: links point at their identity entry instead
/// of copying it, and causes are shared, so an event takes a few dozen bytes.
struct Event {
    /// Global recording order, which breaks ties between equal times.
    seq: u64,
    at: DateTime<Utc>,
    /// Index into `MemoryStore::causes`.
    cause: u32,
    kind: Kind,
}

enum Kind {
    Created,
    /// The entry's identity, with the name it had when linked.
    Linked {
        entry: u32,
        name: Option<std::sync::Arc<str>>,
    },
    Unlinked(Box<Identity>),
    Merged(u32),
    MergedInto(u32),
    Deleted,
    Erased,
}

struct Entry {
    tenant: u32,
    identity: Identity,
    /// Slot the identity was linked to; the live owner is its union-find root.
    /// `NONE` when released.
    linked_to: u32,
    /// Next entry in the owner's ring.
    next: u32,
    /// Distinct conflicting identities seen with this one (see `suspicions`).
    suspicion: u32,
    /// When it was (last) linked, in recording order: identities list in link order.
    linked_seq: u64,
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
    tenants: HashMap<TenantId, u32>,
    slots: Vec<Slot>,
    /// Union-find parent of each slot; atomics so reads through `&self` can compress paths.
    parent: Vec<AtomicU32>,
    entries: Vec<Entry>,
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    /// `(entry, hash of the conflicting key)` pairs recorded as quarantine evidence.
    /// `(hash of the suspect key, hash of the conflicting key)` pairs recorded as quarantine
    /// evidence.
    suspicions: hashbrown::HashSet<(u64, u64), foldhash::fast::RandomState>,
    /// Causes of recorded events; consecutive events of one request share one.
    causes: Vec<Cause>,
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
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            tenants: HashMap::new(),
            slots: Vec::new(),
            parent: Vec::new(),
            entries: Vec::new(),
            index: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            suspicions: Default::default(),
            causes: Vec::new(),
        }
    }

    /// An empty store with room for this many customers and identities.
    pub fn with_capacity(customers: usize, identities: usize) -> Self {
        let mut s = Self::new();
        s.slots.reserve(customers);
        s.parent.reserve(customers);
        s.entries.reserve(identities);
        s.index.reserve(identities, |_| 0);
        s
    }

    /// How many customer ids were assigned (live, merged and deleted), in all tenants.
    pub fn customer_ids(&self) -> usize {
        self.slots.len()
    }

    fn tenant_ix(&self, tenant: &TenantId) -> Option<u32> {
        self.tenants.get(tenant).copied()
    }

    fn tenant_ix_or_insert(&mut self, tenant: &TenantId) -> u32 {
        let next = self.tenants.len() as u32;
        *self.tenants.entry(tenant.clone()).or_insert(next)
    }

    fn hash_key(&self, tenant: u32, key: IdentityKey<'_>) -> u64 {
        self.hasher
            .hash_one((tenant, key.identity_type, key.scope, key.value))
    }

    fn find_entry(&self, tenant: u32, key: IdentityKey<'_>) -> Option<u32> {
        let hash = self.hash_key(tenant, key);
        self.index
            .find(hash, |&e| {
                let e = &self.entries[e as usize];
                e.tenant == tenant && e.identity.key() == key
            })
            .copied()
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
        let slot = self.slots.get(ix as usize)?;
        (slot.tenant == t).then(|| self.root(ix))
    }

    /// A customer's identities in link order: the slot points at the ring's tail, whose
    /// successor is the oldest link.
    fn ring(&self, slot: u32) -> impl Iterator<Item = &Entry> + '_ {
        let tail = self.slots[slot as usize].ring;
        let start = if tail == NONE {
            NONE
        } else {
            self.entries[tail as usize].next
        };
        let mut cur = start;
        std::iter::from_fn(move || {
            if cur == NONE {
                return None;
            }
            let e = &self.entries[cur as usize];
            cur = if e.next == start { NONE } else { e.next };
            Some(e)
        })
    }

    /// Records an event on a slot.
    fn record(&mut self, slot: u32, at: DateTime<Utc>, kind: Kind, cause: &Cause) {
        let same = self.causes.last().is_some_and(|last| {
            last.operation == cause.operation
                && match (&last.reference, &cause.reference) {
                    (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b) || a == b,
                    (None, None) => true,
                    _ => false,
                }
        });
        if !same {
            self.causes.push(cause.clone());
        }
        let cause = (self.causes.len() - 1) as u32;
        self.slots[slot as usize].history.push(Event {
            seq: next_seq(),
            at,
            cause,
            kind,
        });
    }

    /// An event as the public type.
    fn materialize(&self, slot: u32, event: &Event) -> HistoryEvent {
        let kind = match &event.kind {
            Kind::Created => EventKind::Created,
            Kind::Linked { entry, name } => {
                let identity = &self.entries[*entry as usize].identity;
                // An erased customer's links say nothing personal, even where the value was
                // released and now belongs to someone else.
                let identity = if self.slots[slot as usize].customer.status == CustomerStatus::Erased {
                    redacted(identity)
                } else {
                    Identity {
                        identity_name: name.clone(),
                        ..identity.clone()
                    }
                };
                EventKind::Linked { identity }
            }
            Kind::Unlinked(identity) => EventKind::Unlinked {
                identity: (**identity).clone(),
            },
            Kind::Merged(from) => EventKind::Merged { from: slot_id(*from) },
            Kind::MergedInto(into) => EventKind::MergedInto { into: slot_id(*into) },
            Kind::Deleted => EventKind::Deleted,
            Kind::Erased => EventKind::Erased,
        };
        HistoryEvent {
            customer: slot_id(slot),
            at: event.at,
            kind,
            cause: self.causes[event.cause as usize].clone(),
        }
    }

    /// The slot and every slot merged into it, breadth-first through the recorded merges.
    fn members(&self, root: u32) -> Vec<u32> {
        let mut members = vec![root];
        let mut i = 0;
        while i < members.len() {
            for event in &self.slots[members[i] as usize].history {
                if let Kind::Merged(from) = event.kind {
                    members.push(from);
                }
            }
            i += 1;
        }
        members
    }

    /// Identities in the order they were linked (a merged customer's ring is spliced after
    /// the survivor's, so ring order alone is not link order).
    fn in_link_order<'e>(&self, entries: impl Iterator<Item = &'e Entry>) -> Vec<Identity> {
        let mut found: Vec<&Entry> = entries.collect();
        found.sort_by_key(|e| e.linked_seq);
        found.into_iter().map(|e| e.identity.clone()).collect()
    }

    /// The live customers of a tenant (each once: merged slots are skipped).
    fn live_customers(&self, tenant: &TenantId) -> impl Iterator<Item = &Customer> + '_ {
        let t = self.tenant_ix(tenant);
        self.slots
            .iter()
            .filter(move |s| Some(s.tenant) == t && s.customer.is_active())
            .map(|s| &s.customer)
    }

    fn live_for_write(&self, tenant: &TenantId, id: CustomerId) -> Result<u32> {
        match self.live_slot(tenant, id) {
            Some(s) if self.slots[s as usize].customer.is_active() => Ok(s),
            _ => Err(Error::CustomerNotFound(id)),
        }
    }
}

/// What an erased identity leaves in history: its type, nothing personal.
fn redacted(identity: &Identity) -> Identity {
    Identity {
        identity_type: identity.identity_type.clone(),
        scope: None,
        identity_value: std::sync::Arc::from("[erased]"),
        identity_name: None,
    }
}

static NEXT_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A number that grows with every recorded event (only its order matters).
fn next_seq() -> u64 {
    NEXT_SEQ.fetch_add(1, Ordering::Relaxed)
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
        Ok(match s.find_entry(t, key) {
            None => Lookup::default(),
            Some(e) => {
                let e = &s.entries[e as usize];
                Lookup {
                    owner: (e.linked_to != NONE).then(|| slot_id(s.root(e.linked_to))),
                    suspicion: e.suspicion,
                }
            }
        })
    }

    fn is_suspected_with(
        &self,
        tenant: &TenantId,
        key: IdentityKey<'_>,
        conflicting: IdentityKey<'_>,
    ) -> Result<bool> {
        let s = &*self.store;
        let Some(t) = s.tenant_ix(tenant) else {
            return Ok(false);
        };
        Ok(s.suspicions
            .contains(&(s.hash_key(t, key), s.hash_key(t, conflicting))))
    }

    fn add_suspicion(
        &mut self,
        tenant: &TenantId,
        key: IdentityKey<'_>,
        conflicting: IdentityKey<'_>,
    ) -> Result<()> {
        let s = &mut *self.store;
        let found = s.tenant_ix(tenant).and_then(|t| Some((t, s.find_entry(t, key)?)));
        let Some((t, e)) = found else {
            return Err(Error::Store(format!(
                "no identity {key} to record suspicion against"
            )));
        };
        if s.suspicions
            .insert((s.hash_key(t, key), s.hash_key(t, conflicting)))
        {
            s.entries[e as usize].suspicion += 1;
        }
        Ok(())
    }

    fn customer(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<Cow<'_, Customer>>> {
        let s = &*self.store;
        Ok(s.live_slot(tenant, id)
            .map(|slot| Cow::Borrowed(&s.slots[slot as usize].customer)))
    }

    fn identities(&self, tenant: &TenantId, id: CustomerId) -> Result<Vec<Identity>> {
        let s = &*self.store;
        Ok(match s.live_slot(tenant, id) {
            Some(slot) => s.in_link_order(s.ring(slot)),
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
            Some(slot) => s.in_link_order(s.ring(slot).filter(|e| {
                e.identity.identity_type.as_str() == identity_type && e.identity.scope.as_deref() == scope
            })),
            None => Vec::new(),
        })
    }

    fn history(&self, tenant: &TenantId, id: CustomerId) -> Result<Vec<HistoryEvent>> {
        let s = &*self.store;
        let Some(root) = s.live_slot(tenant, id) else {
            return Ok(Vec::new());
        };
        let mut events: Vec<(u32, &Event)> = Vec::new();
        for slot in s.members(root) {
            events.extend(s.slots[slot as usize].history.iter().map(|e| (slot, e)));
        }
        // Oldest first; events of one instant in the order they were recorded.
        events.sort_by_key(|(_, e)| (e.at, e.seq));
        Ok(events
            .into_iter()
            .map(|(slot, e)| s.materialize(slot, e))
            .collect())
    }

    fn create_customer(&mut self, tenant: &TenantId, at: DateTime<Utc>, cause: &Cause) -> Result<CustomerId> {
        let s = &mut *self.store;
        let t = s.tenant_ix_or_insert(tenant);
        let ix = u32::try_from(s.slots.len())
            .ok()
            .filter(|&ix| ix != NONE)
            .ok_or_else(|| Error::Store("the memory store holds at most 2^32 - 1 customers".into()))?;
        let id = slot_id(ix);
        s.slots.push(Slot {
            tenant: t,
            customer: Customer::new(id, at),
            ring: NONE,
            history: Vec::new(),
        });
        s.parent.push(AtomicU32::new(ix));
        s.record(ix, at, Kind::Created, cause);
        Ok(id)
    }

    fn link(
        &mut self,
        tenant: &TenantId,
        id: CustomerId,
        identity: &Identity,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<()> {
        let slot = self.store.live_for_write(tenant, id)?;
        let s = &mut *self.store;
        let t = s.tenant_ix_or_insert(tenant);
        // Every link gets an entry of its own, so the history of an earlier owner of a released
        // value keeps pointing at its own link (and an erasure redacts only its own).
        let previous = s.find_entry(t, identity.key());
        if previous.is_some_and(|p| s.entries[p as usize].linked_to != NONE) {
            return Err(Error::Store(format!("identity {identity} is already owned")));
        }
        let e = u32::try_from(s.entries.len())
            .ok()
            .filter(|&e| e != NONE)
            .ok_or_else(|| Error::Store("the memory store holds at most 2^32 - 1 identities".into()))?;
        let hash = s.hash_key(t, identity.key());
        s.entries.push(Entry {
            tenant: t,
            identity: identity.clone(),
            linked_to: NONE,
            next: e,
            suspicion: previous.map_or(0, |p| s.entries[p as usize].suspicion),
            linked_seq: 0,
        });
        match previous.and_then(|p| s.index.find_mut(hash, |&x| x == p)) {
            Some(slot_in_index) => *slot_in_index = e,
            None => {
                let (entries, hasher) = (&s.entries, &s.hasher);
                s.index.insert_unique(hash, e, |&x| {
                    let k = entries[x as usize].identity.key();
                    hasher.hash_one((entries[x as usize].tenant, k.identity_type, k.scope, k.value))
                });
            }
        }
        // Append the entry to the owner's ring: it becomes the new tail.
        let tail = s.slots[slot as usize].ring;
        if tail == NONE {
            s.entries[e as usize].next = e;
        } else {
            s.entries[e as usize].next = s.entries[tail as usize].next;
            s.entries[tail as usize].next = e;
        }
        s.slots[slot as usize].ring = e;
        s.entries[e as usize].linked_to = slot;
        s.entries[e as usize].linked_seq = next_seq();
        let name = identity.identity_name.clone();
        s.record(slot, at, Kind::Linked { entry: e, name }, cause);
        Ok(())
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
        // Splice rings: swapping the successors of the two tails appends `from`'s list to
        // `into`'s, and `from`'s tail becomes the tail.
        let (a, b) = (s.slots[from_slot as usize].ring, s.slots[into_slot as usize].ring);
        match (a, b) {
            (NONE, _) => {}
            (a, NONE) => s.slots[into_slot as usize].ring = a,
            (a, b) => {
                let an = s.entries[a as usize].next;
                let bn = s.entries[b as usize].next;
                s.entries[a as usize].next = bn;
                s.entries[b as usize].next = an;
                s.slots[into_slot as usize].ring = a;
            }
        }
        s.slots[from_slot as usize].ring = NONE;
        s.parent[from_slot as usize].store(into_slot, Ordering::Relaxed);
        let from_slot_ref = &mut s.slots[from_slot as usize];
        from_slot_ref.customer.status = CustomerStatus::Merged { into };
        from_slot_ref.customer.updated = at;
        s.record(from_slot, at, Kind::MergedInto(into_slot), cause);
        s.record(into_slot, at, Kind::Merged(from_slot), cause);
        Ok(())
    }

    fn delete(&mut self, tenant: &TenantId, id: CustomerId, at: DateTime<Utc>, cause: &Cause) -> Result<()> {
        let slot = self.store.live_for_write(tenant, id)?;
        let s = &mut *self.store;
        let start = s.slots[slot as usize].ring;
        let mut cur = start;
        while cur != NONE {
            let e = &mut s.entries[cur as usize];
            e.linked_to = NONE;
            cur = if e.next == start { NONE } else { e.next };
            e.next = NONE;
        }
        let slot_ref = &mut s.slots[slot as usize];
        slot_ref.ring = NONE;
        slot_ref.customer.status = CustomerStatus::Deleted;
        slot_ref.customer.updated = at;
        s.record(slot, at, Kind::Deleted, cause);
        Ok(())
    }

    fn erase(
        &mut self,
        tenant: &TenantId,
        id: CustomerId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<Vec<CustomerId>> {
        let s = &mut *self.store;
        let root = s.live_slot(tenant, id).ok_or(Error::CustomerNotFound(id))?;
        let t = s.slots[root as usize].tenant;
        // The customer and everyone merged into it, through any number of merges.
        let members = s.members(root);
        // Every identity these customers ever held: their current ring, and the links in
        // their history (identities released by a delete are no longer in the ring).
        let mut doomed: Vec<u32> = Vec::new();
        let mut forgotten = hashbrown::HashSet::<u64>::new();
        let start = s.slots[root as usize].ring;
        let mut cur = start;
        while cur != NONE {
            doomed.push(cur);
            let next = s.entries[cur as usize].next;
            cur = if next == start { NONE } else { next };
        }
        for &m in &members {
            for event in &s.slots[m as usize].history {
                let found = match &event.kind {
                    Kind::Linked { entry, .. } => Some(*entry),
                    Kind::Unlinked(identity) => s.find_entry(t, identity.key()),
                    _ => None,
                };
                if let Some(e) = found {
                    // Evidence about the value goes in any case (as the SQL stores do).
                    forgotten.insert(s.hash_key(t, s.entries[e as usize].identity.key()));
                    // The value itself, unless someone else holds it now.
                    let linked = s.entries[e as usize].linked_to;
                    if linked == NONE || s.root(linked) == root {
                        doomed.push(e);
                    }
                }
            }
        }
        doomed.sort_unstable();
        doomed.dedup();
        for e in doomed {
            let hash = s.hash_key(t, s.entries[e as usize].identity.key());
            forgotten.insert(hash);
            if let Ok(found) = s.index.find_entry(hash, |&x| x == e) {
                found.remove();
            }
            let entry = &mut s.entries[e as usize];
            entry.identity = redacted(&entry.identity);
            entry.linked_to = NONE;
            entry.next = NONE;
        }
        // Quarantine evidence about the erased values goes too.
        // and no longer counts against the values that stay (as the SQL stores count rows).
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
                .find(a, |&e| {
                    let e = &s.entries[e as usize];
                    s.hash_key(e.tenant, e.identity.key()) == a
                })
                .copied();
            if let Some(e) = found {
                let entry = &mut s.entries[e as usize];
                entry.suspicion = entry.suspicion.saturating_sub(1);
            }
        }
        s.slots[root as usize].ring = NONE;
        let mut erased = Vec::with_capacity(members.len());
        for &m in &members {
            let slot = &mut s.slots[m as usize];
            let c = &mut slot.customer;
            *c = Customer {
                status: CustomerStatus::Erased,
                updated: at,
                ..Customer::new(c.id, c.created)
            };
            for event in &mut slot.history {
                match &mut event.kind {
                    Kind::Linked { name, .. } => *name = None,
                    Kind::Unlinked(identity) => **identity = redacted(identity),
                    _ => {}
                }
            }
            erased.push(c.id);
        }
        s.record(root, at, Kind::Erased, cause);
        Ok(erased)
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
        let linked = s.entries[e as usize].linked_to;
        if linked == NONE {
            return Ok(false);
        }
        let slot = s.root(linked);
        // Find the predecessor in the circular list to cut the entry out.
        let next = s.entries[e as usize].next;
        let mut prev = e;
        while s.entries[prev as usize].next != e {
            prev = s.entries[prev as usize].next;
        }
        let slot_ref = &mut s.slots[slot as usize];
        if next == e {
            slot_ref.ring = NONE;
        } else {
            s.entries[prev as usize].next = next;
            if slot_ref.ring == e {
                // The tail left: its predecessor is the new tail.
                slot_ref.ring = prev;
            }
        }
        let entry = &mut s.entries[e as usize];
        entry.linked_to = NONE;
        entry.next = NONE;
        let identity = Box::new(entry.identity.clone());
        s.record(slot, at, Kind::Unlinked(identity), cause);
        Ok(true)
    }

    fn query(&self, tenant: &TenantId, query: &CustomerQuery) -> Result<CustomerPage> {
        let mut rows: Vec<&Customer> = self
            .store
            .live_customers(tenant)
            .filter(|c| query.filter.matches(c))
            .collect();
        let total = rows.len() as u64;
        rows.sort_by(|a, b| query.compare(a, b));
        let size = query.size.min(CustomerQuery::MAX_SIZE) as usize;
        let offset = usize::try_from(query.offset()).unwrap_or(usize::MAX);
        let rows = rows.into_iter().skip(offset).take(size).cloned().collect();
        Ok(CustomerPage { rows, total })
    }

    fn count(&self, tenant: &TenantId, filter: &CustomerFilter) -> Result<u64> {
        Ok(self
            .store
            .live_customers(tenant)
            .filter(|c| filter.matches(c))
            .count() as u64)
    }

    fn put_customer(&mut self, tenant: &TenantId, customer: Customer) -> Result<()> {
        let slot = self.store.live_for_write(tenant, customer.id)?;
        let stored = &mut self.store.slots[slot as usize].customer;
        if stored.id != customer.id {
            return Err(Error::Store(format!(
                "customer {} is an alias of {}; write the live customer",
                customer.id, stored.id
            )));
        }
        *stored = customer;
        stored.status = CustomerStatus::Active;
        Ok(())
    }

    fn commit(self) -> Result<()> {
        Ok(())
    }
}
