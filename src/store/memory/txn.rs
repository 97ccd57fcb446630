//! Transactions on the memory store: [`MemoryTxn`] and [`MemoryReader`], the engine's
//! [`Txn`] and [`ReadTxn`] over one tenant's [`Tables`].
//!
//! A transaction holds its tenant's lock (`shards`) and answers for that tenant only: a call
//! naming another is refused with [`Error::Invariant`]. Writes apply at once and cannot fail after the engine's checks, so there is nothing to roll
//! back and commit has nothing left to do. Reads only compress union-find paths, through
//! atomics, so several threads may read through one transaction at once (`ReadTxn::shared`). A
//! request's keys are looked up together, so that their cache misses overlap
//! (`ReadTxn::lookup_many`).

use super::arena::NONE;
use super::entry::SUSPECTED_BIT;
use super::event::{Event, Kind};
use super::ids::BlockCounter;
use super::packed;
use super::shards::{ReadGuard, WriteGuard};
use super::slot::micros;
use super::tables::Tables;
use crate::error::{Error, Result};
use crate::history::{Cause, HistoryEvent};
use crate::model::{Customer, CustomerId, CustomerPatch, Fields, HashedKey, Identity, IdentityKey, TenantId};
use crate::prefetch::prefetch;
use crate::quarantine::Contradiction;
use crate::query::{CustomerFilter, CustomerPage, CustomerQuery};
use crate::store::{KindCount, Lookup, ReadTxn, ResolveWrites, StoredSettings, TargetData, Txn};
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::marker::PhantomData;

/// A transaction that writes, on a [`MemoryStore`](super::MemoryStore): it holds its
/// tenant's write lock, and no other tenant's. Writes apply at once and cannot fail after the
/// engine's checks, so commit has nothing left to do.
pub struct MemoryTxn<'a> {
    pub(super) tables: WriteGuard,
    /// Where a new customer takes a block of ids when its tenant's are used up.
    pub(super) blocks: &'a BlockCounter,
}

/// A transaction that only reads, on a [`MemoryStore`](super::MemoryStore): it holds its
/// tenant's read lock, beside other readers.
pub struct MemoryReader<'a> {
    pub(super) tables: ReadGuard,
    /// Borrowed from the store, as a writer's blocks are.
    pub(super) store: PhantomData<&'a ()>,
}

/// The reads of both transactions, written once: `self.tables` derefs to the tenant's tables
/// either way, and every read first checks that it names the transaction's tenant.
macro_rules! reads {
    () => {
        fn lookup(&self, tenant: &TenantId, key: IdentityKey<'_>) -> Result<Lookup> {
            let s = self.tables.of(tenant)?;
            Ok(s.lookup_of(s.find_entry(key)))
        }

        fn lookup_many(
            &self,
            tenant: &TenantId,
            keys: &[HashedKey<'_>],
            out: &mut Vec<Lookup>,
        ) -> Result<()> {
            let s = self.tables.of(tenant)?;
            // A cold lookup is a chain of cache misses: the index slot, then the entry (with the
            // value in it) and the owner's parent, and then the owner's slot, which a resolve
            // that finds the owner writes. Walking each step for all keys before the next lets
            // the misses of different keys overlap instead of queueing one after another, and
            // the slot's hint (the owner's slot when it was linked) lets the last three start
            // together.
            for k in keys {
                s.index.prefetch(k.hash as u32);
            }
            // The first entry with a key's hash bits is nearly always the key's.
            let mut candidates: smallvec::SmallVec<[Option<(u32, u32)>; 8]> = smallvec::SmallVec::new();
            for k in keys {
                candidates.push(s.index.candidate(k.hash as u32));
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
            for (key, &candidate) in keys.iter().zip(&candidates) {
                let confirmed = candidate.and_then(|(ix, _)| {
                    let e = &s.entries[ix];
                    s.entry_holds_key(e, key.key)
                        .then(|| s.lookup_of_entry(ix, e))
                });
                // Another key with the same hash bits came first: probe on.
                out.push(confirmed.unwrap_or_else(|| s.lookup_of(s.find_hashed(key.key, key.hash))));
            }
            Ok(())
        }

        fn prefetch(&self, tenant: &TenantId, keys: &[HashedKey<'_>]) {
            // Only a hint: a call naming another tenant prefetches nothing.
            if let Ok(s) = self.tables.of(tenant) {
                for key in keys {
                    s.index.prefetch(key.hash as u32);
                }
            }
        }

        fn is_suspected_with(
            &self,
            tenant: &TenantId,
            key: HashedKey<'_>,
            conflicting: HashedKey<'_>,
        ) -> Result<bool> {
            let s = self.tables.of(tenant)?;
            Ok(s.suspicions.contains(&(key.hash, conflicting.hash)))
        }

        fn customer(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<Cow<'_, Customer>>> {
            let s = self.tables.of(tenant)?;
            Ok(s.live_slot(id).map(|slot| Cow::Owned(s.customer_at(slot))))
        }

        fn canonical_id(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<CustomerId>> {
            let s = self.tables.of(tenant)?;
            Ok(s.live_slot(id).map(|slot| s.ids.id_of(slot)))
        }

        fn holds_fields(&self, tenant: &TenantId, id: CustomerId, fields: &Fields) -> Result<Option<bool>> {
            let s = self.tables.of(tenant)?;
            Ok(s.live_slot(id)
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
            let s = self.tables.of(tenant)?;
            Ok(match s.live_slot(id) {
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
            let s = self.tables.of(tenant)?;
            Ok(match s.live_slot(id) {
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
            let s = self.tables.of(tenant)?;
            // Counted by interned space, without walking a large ring (`held`).
            Ok(
                match (s.live_slot(id), s.space_named(identity_type, scope)) {
                    (Some(slot), Some(space)) => s.count_in(slot, space),
                    _ => 0,
                },
            )
        }

        fn first_of_type(
            &self,
            tenant: &TenantId,
            id: CustomerId,
            identity_type: &str,
            scope: Option<&str>,
        ) -> Result<Option<Identity>> {
            let s = self.tables.of(tenant)?;
            Ok(
                match (s.live_slot(id), s.space_named(identity_type, scope)) {
                    (Some(slot), Some(space)) => s
                        .first_in(slot, space)
                        .map(|e| s.identity_of(&s.entries[e])),
                    _ => None,
                },
            )
        }

        fn kinds_matching(
            &self,
            tenant: &TenantId,
            id: CustomerId,
            wanted: &dyn Fn(&str) -> bool,
        ) -> Result<Vec<KindCount>> {
            let s = self.tables.of(tenant)?;
            let Some(slot) = s.live_slot(id) else {
                return Ok(Vec::new());
            };
            let mut held = s.held(slot);
            held.retain(|h| wanted(s.types[s.spaces[h.space as usize].ty as usize].as_str()));
            // In the order of each kind's first link, as the identities would list them.
            held.sort_unstable_by_key(|h| h.first);
            Ok(held
                .iter()
                .map(|h| {
                    let space = s.spaces[h.space as usize];
                    KindCount {
                        identity_type: s.types[space.ty as usize].clone(),
                        scope: (space.scope != NONE).then(|| s.scopes[space.scope as usize].clone()),
                        count: h.count as usize,
                    }
                })
                .collect())
        }

        fn history(&self, tenant: &TenantId, id: CustomerId) -> Result<Vec<HistoryEvent>> {
            let s = self.tables.of(tenant)?;
            let Some(root) = s.live_slot(id) else {
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

        fn query(&self, tenant: &TenantId, query: &CustomerQuery) -> Result<CustomerPage> {
            self.tables.of(tenant)?.query_page(query)
        }

        fn count(&self, tenant: &TenantId, filter: &CustomerFilter) -> Result<u64> {
            Ok(self.tables.of(tenant)?.count_matching(filter))
        }

        fn shared(&self) -> Option<&(dyn ReadTxn + Sync)> {
            // Reads only compress union-find paths, through atomics.
            Some(self)
        }

        fn settings_version(&self, tenant: &TenantId) -> Result<u64> {
            Ok(self.tables.of(tenant)?.settings.len() as u64)
        }

        fn settings(&self, tenant: &TenantId) -> Result<Option<StoredSettings>> {
            Ok(self.tables.of(tenant)?.settings.last().cloned())
        }

        fn settings_history(&self, tenant: &TenantId) -> Result<Vec<StoredSettings>> {
            Ok(self.tables.of(tenant)?.settings.clone())
        }

        fn evidence(&self, tenant: &TenantId) -> Result<Vec<(Identity, Contradiction)>> {
            self.tables
                .of(tenant)?
                .evidence
                .iter()
                .map(|e| e.listed())
                .collect()
        }
    };
}

impl ReadTxn for MemoryTxn<'_> {
    reads!();
}

impl ReadTxn for MemoryReader<'_> {
    reads!();
}

impl Txn for MemoryTxn<'_> {
    fn add_suspicion(
        &mut self,
        tenant: &TenantId,
        key: HashedKey<'_>,
        conflicting: HashedKey<'_>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<()> {
        let s = self.tables.of_mut(tenant)?;
        let Some(e) = s.find_hashed(key.key, key.hash) else {
            return Err(Error::Invariant(format!(
                "no identity {key} to record suspicion against"
            )));
        };
        if s.suspicions.insert((key.hash, conflicting.hash)) {
            *s.suspicion_counts.entry(e).or_insert(0) += 1;
            s.entries[e].flags |= SUSPECTED_BIT;
            s.evidence.push(super::evidence::Evidence::new(
                key.key,
                conflicting.key,
                at,
                cause,
            ));
        }
        Ok(())
    }

    fn create_customer(&mut self, tenant: &TenantId, at: DateTime<Utc>, cause: &Cause) -> Result<CustomerId> {
        let s = self.tables.of_mut(tenant)?;
        let cause = s.intern_cause(cause.operation, cause.reference.as_deref())?;
        let slot = s.create_in(self.blocks, micros(at), cause, None)?;
        Ok(s.ids.id_of(slot))
    }

    fn create_customer_with(
        &mut self,
        tenant: &TenantId,
        at: DateTime<Utc>,
        cause: &Cause,
        patch: &CustomerPatch,
    ) -> Result<CustomerId> {
        let s = self.tables.of_mut(tenant)?;
        let cause = s.intern_cause(cause.operation, cause.reference.as_deref())?;
        // Packed straight from the patch: no `Customer` is built and dropped on the way.
        let slot = s.create_in(self.blocks, micros(at), cause, packed::pack_new(patch))?;
        Ok(s.ids.id_of(slot))
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
        let s = self.tables.of_mut(tenant)?;
        let slot = s.live_for_write(id)?;
        let cause = s.intern_cause(cause.operation, cause.reference.as_deref())?;
        s.link_in(slot, key, name, micros(at), cause)
    }

    fn merge(
        &mut self,
        tenant: &TenantId,
        from: CustomerId,
        into: CustomerId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<()> {
        let s = self.tables.of_mut(tenant)?;
        let from_slot = s.live_for_write(from)?;
        let into_slot = s.live_for_write(into)?;
        if from_slot == into_slot {
            return Err(Error::Invariant(format!(
                "cannot merge customer {from} into itself"
            )));
        }
        let cause = s.intern_cause(cause.operation, cause.reference.as_deref())?;
        s.merge_in(from_slot, into_slot, micros(at), cause)
    }

    fn delete(&mut self, tenant: &TenantId, id: CustomerId, at: DateTime<Utc>, cause: &Cause) -> Result<()> {
        let s = self.tables.of_mut(tenant)?;
        let slot = s.live_for_write(id)?;
        s.events.next_index("history events")?;
        let start = s.slots[slot].ring;
        let mut cur = start;
        while cur != NONE {
            let e = &mut s.entries[cur];
            e.linked_to = NONE;
            cur = if e.next == start { NONE } else { e.next };
            e.next = NONE;
        }
        s.held_cleared(slot);
        s.unindex(slot);
        let slot_ref = &mut s.slots[slot];
        slot_ref.ring = NONE;
        slot_ref.set_gone(false);
        s.live -= 1;
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
        self.tables.of_mut(tenant)?.erase_customer(id, at, cause)
    }

    fn unlink(
        &mut self,
        tenant: &TenantId,
        key: IdentityKey<'_>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<bool> {
        let s = self.tables.of_mut(tenant)?;
        let Some(e) = s.find_entry(key) else {
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

    fn put_customer(&mut self, tenant: &TenantId, customer: Customer) -> Result<()> {
        let s = self.tables.of_mut(tenant)?;
        let slot = s.live_for_write(customer.id)?;
        let live = s.ids.id_of(slot);
        if live != customer.id {
            return Err(Error::Invariant(format!(
                "customer {} is an alias of {live}; write the live customer",
                customer.id
            )));
        }
        s.put_in(slot, &customer);
        Ok(())
    }

    fn write_resolve(&mut self, tenant: &TenantId, writes: ResolveWrites<'_>) -> Result<CustomerId> {
        // A new type is the one thing a tenant can fill up (65,536 of them), so the links'
        // types are interned before anything is written: a resolve refused for it writes
        // nothing. (An interned type nothing uses yet is invisible.)
        let s = self.tables.of_mut(tenant)?;
        for &(key, _) in writes.links {
            s.intern_type(key.key.identity_type)?;
        }
        if !writes.evidence.is_empty() {
            let cause = Cause {
                operation: writes.operation,
                reference: writes.reference.map(std::sync::Arc::from),
            };
            for &(suspect, conflicting) in writes.evidence {
                self.add_suspicion(tenant, suspect, conflicting, writes.at, &cause)?;
            }
        }
        let blocks = self.blocks;
        let s = self.tables.of_mut(tenant)?;
        let at = micros(writes.at);
        // The target found, or created, once; the cause interned once, when first recorded.
        let mut cause = None;
        let mut cause_ix = |s: &mut Tables| -> Result<u32> {
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
            Some(id) => s.live_for_write(id)?,
            None => {
                let c = cause_ix(s)?;
                s.create_in(blocks, at, c, writes.new_data.and_then(packed::pack_new))?
            }
        };
        for &(key, name) in writes.links {
            let c = cause_ix(s)?;
            s.link_in(slot, key, name, at, c)?;
        }
        for &from in writes.merges {
            let from_slot = s.live_for_write(from)?;
            if from_slot == slot {
                return Err(Error::Invariant(format!(
                    "cannot merge customer {from} into itself"
                )));
            }
            let c = cause_ix(s)?;
            s.merge_in(from_slot, slot, at, c)?;
        }
        match writes.data {
            TargetData::Unchanged => {}
            TargetData::Touched => s.set_updated(slot, at),
            TargetData::Put(customer) => s.put_in(slot, &customer),
        }
        Ok(s.ids.id_of(slot))
    }

    fn touch(&mut self, tenant: &TenantId, id: CustomerId, at: DateTime<Utc>) -> Result<()> {
        let s = self.tables.of_mut(tenant)?;
        let slot = s.live_for_write(id)?;
        s.set_updated(slot, micros(at));
        Ok(())
    }

    fn put_settings(
        &mut self,
        tenant: &TenantId,
        document: &str,
        at: DateTime<Utc>,
        cause: Option<&str>,
    ) -> Result<u64> {
        let versions = &mut self.tables.of_mut(tenant)?.settings;
        let version = versions.len() as u64 + 1;
        versions.push(StoredSettings {
            version,
            document: document.to_owned(),
            changed: at,
            cause: cause.map(str::to_owned),
        });
        Ok(version)
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
        use crate::store::{ReadTxn, Store};
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
        let empty = MemoryStore::new();
        empty
            .read(&TenantId::new("t"))
            .unwrap()
            .prefetch(&TenantId::new("t"), &hashed);
        let tenant = TenantId::new("t");
        let resolver = Resolver::new(MemoryStore::new());
        let out = resolver
            .resolve(
                &tenant,
                &ResolveRequest::new([IdentityInput::new("mobile", "13812345678")]),
            )
            .unwrap();
        let txn = resolver.store().read(&tenant).unwrap();
        txn.prefetch(&TenantId::new("other"), &hashed);
        txn.prefetch(&tenant, &hashed);
        // The lookup after it answers as ever.
        assert_eq!(txn.lookup(&tenant, key).unwrap().owner, out.customer);
    }
}
