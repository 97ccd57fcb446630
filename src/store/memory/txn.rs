//! Transactions on the memory store: [`MemoryTxn`], the engine's [`Txn`] over a
//! [`Tables`].
//!
//! Writes apply at once and cannot fail after the engine's checks, so there is nothing to roll
//! back and commit has nothing left to do. Reads only compress union-find paths, through
//! atomics, so several threads may read through one transaction at once (`ReadTxn::shared`). A
//! request's keys are looked up together, so that their cache misses overlap
//! (`ReadTxn::lookup_many`).

use super::identities::{SUSPECTED_BIT, in_tenant};
use super::intern::Space;
use super::log::{Event, Kind};
use super::slots::{Status, micros, slot_id};
use super::{NONE, Tables, packed};
use crate::error::{Error, Result};
use crate::history::{Cause, HistoryEvent};
use crate::model::{Customer, CustomerId, CustomerPatch, Fields, HashedKey, Identity, IdentityKey, TenantId};
use crate::prefetch::prefetch;
use crate::query::{CustomerFilter, CustomerPage, CustomerQuery};
use crate::store::{Lookup, ReadTxn, ResolveWrites, StoredSettings, TargetData, Txn};
use chrono::{DateTime, Utc};
use parking_lot::{RwLockReadGuard, RwLockWriteGuard};
use std::borrow::Cow;

/// A transaction that writes, on a [`MemoryStore`](super::MemoryStore): it holds the
/// store's write lock. Writes apply at once and cannot fail after the engine's checks, so
/// commit has nothing left to do.
pub struct MemoryTxn<'a> {
    pub(super) store: RwLockWriteGuard<'a, Tables>,
}

/// A transaction that only reads, on a [`MemoryStore`](super::MemoryStore): it holds the
/// store's read lock, beside other readers.
pub struct MemoryReader<'a> {
    pub(super) store: RwLockReadGuard<'a, Tables>,
}

/// The reads of both transactions, written once: `self.store` is the tables either way.
macro_rules! reads {
    () => {
        fn lookup(&self, tenant: &TenantId, key: IdentityKey<'_>) -> Result<Lookup> {
            let s = &*self.store;
            let Some(t) = s.tenant_ix(tenant) else {
                return Ok(Lookup::default());
            };
            Ok(s.lookup_of(s.find_entry(t, key)))
        }

        fn lookup_many(
            &self,
            tenant: &TenantId,
            keys: &[HashedKey<'_>],
            out: &mut Vec<Lookup>,
        ) -> Result<()> {
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
                    s.entry_holds_key(e, t, key)
                        .then(|| s.lookup_of_entry(ix, e))
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
            let wanted = Space {
                tenant: t,
                ty,
                scope,
            };
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

        fn query(&self, tenant: &TenantId, query: &CustomerQuery) -> Result<CustomerPage> {
            let matches = query.filter.matcher();
            let mut rows: Vec<Customer> = self
                .store
                .live_customers(tenant)
                .filter(|c| matches(c))
                .collect();
            let total = rows.len() as u64;
            rows.sort_by(|a, b| query.compare(a, b));
            let size = query.size.min(crate::limits::MAX_PAGE_SIZE) as usize;
            let offset = usize::try_from(query.offset()).unwrap_or(usize::MAX);
            let rows = rows.into_iter().skip(offset).take(size).collect();
            Ok(CustomerPage { rows, total })
        }

        fn count(&self, tenant: &TenantId, filter: &CustomerFilter) -> Result<u64> {
            let matches = filter.matcher();
            Ok(self
                .store
                .live_customers(tenant)
                .filter(|c| matches(c))
                .count() as u64)
        }

        fn shared(&self) -> Option<&(dyn ReadTxn + Sync)> {
            // Reads only compress union-find paths, through atomics.
            Some(self)
        }

        fn settings_version(&self, tenant: &TenantId) -> Result<u64> {
            Ok(self
                .store
                .settings
                .get(tenant)
                .map_or(0, |v| v.len() as u64))
        }

        fn settings(&self, tenant: &TenantId) -> Result<Option<StoredSettings>> {
            Ok(self
                .store
                .settings
                .get(tenant)
                .and_then(|v| v.last())
                .cloned())
        }

        fn settings_history(&self, tenant: &TenantId) -> Result<Vec<StoredSettings>> {
            Ok(self.store.settings.get(tenant).cloned().unwrap_or_default())
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
    ) -> Result<()> {
        let s = &mut *self.store;
        let found = s
            .tenant_ix(tenant)
            .and_then(|t| Some((t, s.find_hashed(t, key.key, in_tenant(t, key.hash))?)));
        let Some((t, e)) = found else {
            return Err(Error::Invariant(format!(
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
            return Err(Error::Invariant(format!(
                "cannot merge customer {from} into itself"
            )));
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

    fn put_customer(&mut self, tenant: &TenantId, customer: Customer) -> Result<()> {
        let slot = self.store.live_for_write(tenant, customer.id)?;
        if slot_id(slot) != customer.id {
            return Err(Error::Invariant(format!(
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
                return Err(Error::Invariant(format!(
                    "cannot merge customer {from} into itself"
                )));
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

    fn put_settings(
        &mut self,
        tenant: &TenantId,
        document: &str,
        at: DateTime<Utc>,
        cause: Option<&str>,
    ) -> Result<u64> {
        let versions = self.store.settings.entry(tenant.clone()).or_default();
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
