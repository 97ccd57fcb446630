//! Each tenant's tables behind a lock of its own, found by the tenant's name.
//!
//! A transaction locks one tenant's [`Tables`] and nothing else: writers of different tenants
//! run in parallel, readers beside each other, and a tenant's writer waits only for its own
//! tenant's transactions. The map from names to tables has a lock of its own, held only while
//! a name is looked up (or a new tenant's tables are added), never while a transaction waits
//! for its tenant's lock or holds it, so a long write in one tenant delays no other tenant
//! even when a new one arrives meanwhile. Tables are shared through `Arc`s, so a transaction
//! owns its lock guard, and they are never removed: a tenant's live as long as the store.
//!
//! Nearly every transaction names the same tenant as the one before, which an `Arc` pointer
//! comparison confirms without hashing the name. A reader of a tenant that has no tables
//! reads one shared set of empty tables, so reading creates nothing; a tenant's tables are
//! made by its first write.

use super::tables::{FastMap, Tables};
use crate::model::TenantId;
use parking_lot::{ArcRwLockReadGuard, ArcRwLockWriteGuard, RawRwLock, RwLock};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// One tenant's tables, as transactions lock them.
type Shard = Arc<RwLock<Tables>>;

/// What a reading transaction holds: its tenant's tables, locked to read.
pub(super) type ReadGuard = ArcRwLockReadGuard<RawRwLock, Tables>;

/// What a writing transaction holds: its tenant's tables, locked to write.
pub(super) type WriteGuard = ArcRwLockWriteGuard<RawRwLock, Tables>;

/// Every tenant's tables, by name.
pub(super) struct Shards {
    map: RwLock<Map>,
    /// What readers of a tenant without tables lock: empty, and never written.
    empty: Shard,
}

struct Map {
    by_name: FastMap<TenantId, u32>,
    shards: Vec<(TenantId, Shard)>,
    /// The index in `shards` found last.
    last: AtomicU32,
    /// The room the first tenant's tables are made with, until they are.
    first_room: Option<(usize, usize)>,
}

impl Map {
    #[inline]
    fn find(&self, tenant: &TenantId) -> Option<&Shard> {
        let last = self.last.load(Ordering::Relaxed);
        // `TenantId` equality compares pointers first.
        if let Some((name, shard)) = self.shards.get(last as usize)
            && name == tenant
        {
            return Some(shard);
        }
        self.find_by_name(tenant)
    }

    #[inline(never)]
    fn find_by_name(&self, tenant: &TenantId) -> Option<&Shard> {
        let found = *self.by_name.get(tenant)?;
        self.last.store(found, Ordering::Relaxed);
        Some(&self.shards[found as usize].1)
    }

    fn insert(&mut self, tenant: &TenantId) -> &Shard {
        let mut tables = Tables::new(Some(tenant.clone()));
        if let Some((customers, identities)) = self.first_room.take() {
            tables.reserve(customers, identities);
        }
        // Fewer than 2^32 tenants: each holds tables of its own, far more than 4 bytes.
        let ix = self.shards.len() as u32;
        self.by_name.insert(tenant.clone(), ix);
        self.shards.push((tenant.clone(), Arc::new(RwLock::new(tables))));
        self.last.store(ix, Ordering::Relaxed);
        &self.shards[ix as usize].1
    }
}

impl Shards {
    /// No tenants yet; the first tenant's tables will be made with room for this many
    /// customers and identities.
    pub(super) fn new(first_room: Option<(usize, usize)>) -> Self {
        Self {
            map: RwLock::new(Map {
                by_name: FastMap::default(),
                shards: Vec::new(),
                last: AtomicU32::new(u32::MAX),
                first_room,
            }),
            empty: Arc::new(RwLock::new(Tables::new(None))),
        }
    }

    /// Locks `tenant`'s tables to read (empty tables if it has none).
    #[inline]
    pub(super) fn read(&self, tenant: &TenantId) -> ReadGuard {
        let map = self.map.read();
        let shard = map.find(tenant).unwrap_or(&self.empty);
        // At once when no writer holds them; else the wait happens without the map.
        if let Some(guard) = shard.try_read_arc() {
            return guard;
        }
        let shard = Arc::clone(shard);
        drop(map);
        shard.read_arc()
    }

    /// Locks `tenant`'s tables to write, making them if it has none.
    #[inline]
    pub(super) fn write(&self, tenant: &TenantId) -> WriteGuard {
        let map = self.map.read();
        if let Some(shard) = map.find(tenant) {
            if let Some(guard) = shard.try_write_arc() {
                return guard;
            }
            let shard = Arc::clone(shard);
            drop(map);
            return shard.write_arc();
        }
        drop(map);
        self.write_new(tenant)
    }

    /// [`write`](Self::write) of a tenant that had no tables when looked up.
    #[cold]
    #[inline(never)]
    fn write_new(&self, tenant: &TenantId) -> WriteGuard {
        let mut map = self.map.write();
        // Another writer may have made them meanwhile.
        let shard = match map.find(tenant) {
            Some(shard) => Arc::clone(shard),
            None => Arc::clone(map.insert(tenant)),
        };
        drop(map);
        shard.write_arc()
    }

    /// Every tenant with its tables, as they are now (to lock one by one).
    pub(super) fn all(&self) -> Vec<(TenantId, Shard)> {
        self.map.read().shards.clone()
    }
}

impl std::fmt::Debug for Shards {
    /// Each tenant's tables by name, without waiting: a tenant being written shows as locked.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut tenants = f.debug_map();
        for (tenant, shard) in self.all() {
            match shard.try_read() {
                Some(tables) => tenants.entry(&tenant.as_str(), &*tables),
                None => tenants.entry(&tenant.as_str(), &format_args!("locked")),
            };
        }
        tenants.finish()
    }
}
