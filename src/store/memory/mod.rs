//! The in-memory store: the embedded default, and the one on the benchmarked hot path.
//!
//! It keeps each tenant's data in tables of its own (`tables`), each behind a lock of its own
//! (`shards`): writers of different tenants run in parallel, and whatever a tenant fills
//! (types, scopes, texts, evidence, history) is its own, so no tenant can exhaust what
//! another needs. Customer ids are unique across tenants, handed out in blocks of 1,024
//! (`ids`); a store with one tenant numbers them 1, 2, 3, …
//!
//! Within a tenant, the layout is chosen for few cache misses per identity and few bytes per
//! customer. Each part is described in its own file:
//!
//! - `slot`: customers, in slots of 48 bytes, their data packed into one small allocation
//!   (`packed`); `customers` creates and reads them;
//! - `rings`: merges, as a union-find over slots whose root is the business survivor, and each
//!   customer's identities, as a circular list through their entries; `held` counts them by
//!   type and scope, so that a resolve's limit checks cost the same however many it holds;
//! - `entry`: identities, in entries of 48 bytes that keep short values in place, found by
//!   hash through an index of entry numbers (`key_index`, `identities`);
//! - `space` and `intern`: the types, scopes and `(type, scope)` combinations that entries
//!   name by number;
//! - `event` and `log`: history, as one append-only log of 24-byte events;
//! - `erase`: erasure, which scrubs every value a customer held;
//! - `filter_index`: the live customers by each value of the columns queries filter on, and
//!   by creation and update time, in sets that count (`ranked`), built by a tenant's first
//!   query and kept by every write after it;
//! - `query`: queries and counts, answered from those indexes, the slots and packed bytes,
//!   building only the page;
//! - `txn`: the store's transactions, through which the engine reads and writes all of it.
//!
//! The chunks of slots, entries and events grow with the tenant (from a few elements, up to
//! 262,144, `arena`), and on Linux every table of 4 MiB or more is advised onto transparent
//! huge pages (`pages`): a cold lookup in a store of millions then misses the cache but rarely
//! the TLB as well.

mod arena;
mod counts;
mod customers;
mod entry;
mod erase;
mod event;
mod evidence;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod export;
mod filter_index;
mod held;
mod identities;
mod ids;
mod intern;
mod key_index;
mod log;
mod packed;
mod pages;
mod query;
mod ranked;
mod rings;
mod shards;
mod slot;
mod space;
mod tables;
mod txn;

use super::Store;
use crate::error::Result;
use crate::model::TenantId;
use ids::BlockCounter;
use shards::Shards;
use std::marker::PhantomData;
use txn::{MemoryReader, MemoryTxn};

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use export::{EventRef, IdentityRef, TenantExport};

/// The in-memory store. `Default` gives an empty store.
///
/// Each tenant's data is kept apart, behind a lock of its own: a writing transaction locks
/// its tenant only, so writers of different tenants run in parallel, and readers run beside
/// each other. A tenant's tables are made by its first write; reading a tenant that has none
/// reads nothing and makes nothing. A transaction answers for the tenant it was begun for
/// only: a call on it naming another fails with [`Error::Invariant`](crate::Error::Invariant).
///
/// Customer ids are unique in the store: they are handed to tenants in blocks of 1,024, so in a
/// store with one tenant they are 1, 2, 3, …, and a tenant's ids are increasing but, beside
/// other tenants, not consecutive. An id of one tenant's is not found in another.
///
/// Each tenant's tables are bounded on their own, and a write that would pass a bound fails
/// with [`Error::Capacity`](crate::Error::Capacity), in that tenant only: 65,536 identity
/// types ([`MAX_TENANT_IDENTITY_TYPES`](crate::limits::MAX_TENANT_IDENTITY_TYPES)) and
/// 2^32 − 1 customers, history events and causes; 2^32 − 3 identity links; 4 GiB of identity
/// values longer than 30 bytes and 4 GiB of cause references. The store as a whole hands out
/// at most 2^42 customer ids, in blocks: one tenant's 2^32 customers take 1/1,024 of them.
///
/// ```
/// use oneid::{IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
/// let resolver = Resolver::new(MemoryStore::new());
/// let tenant = TenantId::new("shop-1");
/// let out = resolver.resolve(&tenant, &ResolveRequest::new([IdentityInput::new("mobile", "13812345678")])).unwrap();
/// assert!(out.created);
/// ```
pub struct MemoryStore {
    shards: Shards,
    blocks: BlockCounter,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("tenants", &self.shards)
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            shards: Shards::new(None),
            blocks: BlockCounter::default(),
        }
    }

    /// An empty store whose first tenant starts with room for this many customers and
    /// identities: a store that serves one tenant (storage grows in chunks anyway; this sizes
    /// the identity index so it never rehashes below that count). Other tenants start empty;
    /// [`reserve`](Self::reserve) makes room in any tenant.
    pub fn with_capacity(customers: usize, identities: usize) -> Self {
        Self {
            shards: Shards::new(Some((customers, identities))),
            blocks: BlockCounter::default(),
        }
    }

    /// Makes room in `tenant`'s tables for this many more customers and identities (making
    /// the tables if it has none), as [`with_capacity`](Self::with_capacity) does for the
    /// first tenant. Waits for the tenant's transactions.
    pub fn reserve(&self, tenant: &TenantId, customers: usize, identities: usize) {
        self.shards.write(tenant).reserve(customers, identities);
    }

    /// How many customer ids were assigned (live, merged and deleted), in all tenants. Waits
    /// for each tenant's writer, if any, in turn.
    pub fn customer_ids(&self) -> usize {
        self.shards
            .all()
            .iter()
            .map(|(_, shard)| shard.read().slots.len() as usize)
            .sum()
    }
}

impl Store for MemoryStore {
    type Reader<'a> = MemoryReader<'a>;
    type Writer<'a> = MemoryTxn<'a>;

    #[inline]
    fn read(&self, tenant: &TenantId) -> Result<MemoryReader<'_>> {
        Ok(MemoryReader {
            tables: self.shards.read(tenant),
            store: PhantomData,
        })
    }

    #[inline]
    fn write(&self, tenant: &TenantId) -> Result<MemoryTxn<'_>> {
        Ok(MemoryTxn {
            tables: self.shards.write(tenant),
            blocks: &self.blocks,
        })
    }

    fn may_block(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::MemoryStore;
    use crate::error::Error;
    use crate::history::{Cause, Operation};
    use crate::model::{HashedKey, IdentityKey};
    use crate::store::{ReadTxn, Store, Txn};
    use crate::{CustomerId, IdentityInput, ResolveRequest, Resolver, TenantId};
    use std::sync::mpsc;
    use std::time::Duration;

    fn cause() -> Cause {
        Cause {
            operation: Operation::Resolve,
            reference: None,
        }
    }

    fn mobile(n: u64) -> ResolveRequest {
        ResolveRequest::new([IdentityInput::new("mobile", format!("138{n:08}"))])
    }

    fn hashed(key: IdentityKey<'_>) -> HashedKey<'_> {
        HashedKey {
            key,
            hash: key.hash64(),
        }
    }

    #[test]
    fn ids_are_1_2_3_in_one_tenant_and_unique_across_tenants() {
        let (a, b) = (TenantId::new("a"), TenantId::new("b"));
        let r = Resolver::new(MemoryStore::new());
        let create = |t: &TenantId, n: u64| r.resolve(t, &mobile(n)).unwrap().customer.unwrap();
        let first: Vec<CustomerId> = (0..3).map(|n| create(&a, n)).collect();
        assert_eq!(first, [CustomerId(1), CustomerId(2), CustomerId(3)]);
        // b takes the next block; a keeps numbering its first block, then takes the one after.
        assert_eq!(create(&b, 0), CustomerId(1025));
        for n in 3..1024 {
            assert_eq!(create(&a, n), CustomerId(n + 1));
        }
        assert_eq!(create(&a, 1024), CustomerId(2049));
        assert_eq!(create(&b, 1), CustomerId(1026));
        // Each tenant finds its own ids and none of the other's.
        for (t, own, other) in [(&a, 2049, 1025), (&b, 1026, 1024)] {
            assert_eq!(r.get(t, CustomerId(own)).unwrap().unwrap().id, CustomerId(own));
            assert!(
                r.get(t, CustomerId(other)).unwrap().is_none(),
                "{t} reads {other}"
            );
        }
        assert!(r.get(&a, CustomerId(2050)).unwrap().is_none(), "not assigned yet");
        assert_eq!(r.store().customer_ids(), 1025 + 2);
    }

    #[test]
    fn reading_a_tenant_without_tables_makes_none() {
        let store = MemoryStore::new();
        let t = TenantId::new("nobody");
        let reader = store.read(&t).unwrap();
        assert_eq!(reader.settings_version(&t).unwrap(), 0);
        assert!(reader.customer(&t, CustomerId(1)).unwrap().is_none());
        drop(reader);
        assert!(store.shards.all().is_empty());
        drop(store.write(&t).unwrap());
        assert_eq!(store.shards.all().len(), 1);
    }

    #[test]
    fn a_transaction_answers_for_its_own_tenant_only() {
        let store = MemoryStore::new();
        let (a, b) = (TenantId::new("a"), TenantId::new("b"));
        let key = IdentityKey {
            identity_type: "mobile",
            scope: None,
            value: "13800000000",
        };
        let mut txn = store.write(&a).unwrap();
        let id = txn.create_customer(&a, chrono::Utc::now(), &cause()).unwrap();
        assert!(matches!(txn.lookup(&b, key), Err(Error::Invariant(_))));
        assert!(matches!(txn.customer(&b, id), Err(Error::Invariant(_))));
        let refused = txn.link(&b, id, hashed(key), None, chrono::Utc::now(), &cause());
        assert!(matches!(refused, Err(Error::Invariant(_))));
        // A clone of the tenant id, or an equal one made apart, is the same tenant.
        assert!(txn.customer(&TenantId::new("a"), id).unwrap().is_some());
        assert!(txn.customer(&a.clone(), id).unwrap().is_some());
    }

    #[test]
    fn writers_of_different_tenants_do_not_wait_for_each_other() {
        let r = Resolver::new(MemoryStore::new());
        let (a, b, c) = (TenantId::new("a"), TenantId::new("b"), TenantId::new("c"));
        r.resolve(&b, &mobile(1)).unwrap();
        // A writer of a holds its lock while others write b (known) and c (new), and read b.
        let held = r.store().write(&a).unwrap();
        let (done, finished) = mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                r.resolve(&b, &mobile(2)).unwrap();
                r.resolve(&c, &mobile(3)).unwrap();
                assert!(
                    r.find_by_identity(&b, &IdentityInput::new("mobile", "13800000001"))
                        .unwrap()
                        .is_some()
                );
                done.send(()).unwrap();
            });
            let waited = finished.recv_timeout(Duration::from_secs(30));
            let shown = format!("{:?}", r.store());
            drop(held);
            assert!(shown.contains(r#""a": locked"#), "{shown}");
            waited.expect("writers of other tenants ran while a's writer held its lock");
        });
        assert_eq!(r.store().customer_ids(), 3);
    }

    #[test]
    fn a_tenant_that_fills_its_type_table_stops_only_itself() {
        let r = Resolver::new(MemoryStore::new());
        let (full, other) = (TenantId::new("full"), TenantId::new("other"));
        let names: Vec<String> = (0..=65_536u32).map(|n| format!("t{n}")).collect();
        let mut txn = r.store().write(&full).unwrap();
        let id = txn.create_customer(&full, chrono::Utc::now(), &cause()).unwrap();
        let link = |txn: &mut super::MemoryTxn<'_>, ty: &str| {
            let key = IdentityKey {
                identity_type: ty,
                scope: None,
                value: "1",
            };
            txn.link(&full, id, hashed(key), None, chrono::Utc::now(), &cause())
        };
        for name in &names[..65_536] {
            link(&mut txn, name).unwrap();
        }
        let Err(Error::Capacity(message)) = link(&mut txn, &names[65_536]) else {
            panic!("a 65,537th type is refused");
        };
        assert!(message.contains("65,536 identity types"), "{message}");
        assert!(message.contains("limits::MAX_TENANT_IDENTITY_TYPES"), "{message}");
        txn.commit().unwrap();
        // A resolve of the full tenant that needs a new type is refused, and writes nothing.
        let new_type = ResolveRequest::new([IdentityInput::new("t65536", "1")]);
        assert!(matches!(r.resolve(&full, &new_type), Err(Error::Capacity(_))));
        assert_eq!(r.store().customer_ids(), 1, "no customer was left behind");
        // The full tenant still resolves the types it has; every other tenant, any type.
        let known = ResolveRequest::new([IdentityInput::new("t7", "1")]);
        assert_eq!(r.resolve(&full, &known).unwrap().customer, Some(id));
        for ty in ["mobile", "t65536", "t9"] {
            let out = r
                .resolve(
                    &other,
                    &ResolveRequest::new([IdentityInput::new(ty, "13812345678")]),
                )
                .unwrap();
            assert!(out.created, "{ty}");
        }
    }

    #[test]
    fn many_tenants_with_a_rare_type_each_cost_little() {
        let r = Resolver::new(MemoryStore::new());
        let tenants: Vec<TenantId> = (0..2_000).map(|n| TenantId::new(format!("shop-{n}"))).collect();
        for (n, t) in tenants.iter().enumerate() {
            let request = ResolveRequest::new([
                IdentityInput::new("mobile", "13812345678"),
                IdentityInput::new(format!("rare-{n}"), "x"),
            ]);
            r.resolve(t, &request).unwrap();
        }
        let shards = r.store().shards.all();
        assert_eq!(shards.len(), 2_000);
        for (_, shard) in &shards {
            let tables = shard.read();
            // Its own two types, each with one space, each space without a scope found in
            // one load: nothing sized by the other tenants' types.
            assert_eq!(tables.types.len(), 2);
            assert_eq!(tables.spaces.len(), 2);
            assert_eq!(tables.plain_spaces.len(), 2);
            // Its arrays and arenas, each sized for its one customer.
            let bytes = tables.allocated();
            assert!(
                bytes < 4_096,
                "a tenant of one customer holds room for {bytes} bytes"
            );
        }
    }

    #[test]
    fn room_is_made_for_the_first_tenant_and_on_request() {
        let (a, b) = (TenantId::new("a"), TenantId::new("b"));
        let store = MemoryStore::with_capacity(1_000, 10_000);
        drop(store.write(&a).unwrap());
        drop(store.write(&b).unwrap());
        let room = |t: &TenantId| {
            let reader = store.read(t).unwrap();
            (reader.tables.parent.capacity(), reader.tables.index.allocated())
        };
        let (parents, index) = room(&a);
        assert!(parents >= 1_000 && index >= 10_000 * 12, "{parents} {index}");
        assert_eq!(room(&b), (0, 0), "later tenants start empty");
        store.reserve(&b, 500, 2_000);
        let (parents, index) = room(&b);
        assert!(parents >= 500 && index >= 2_000 * 12, "{parents} {index}");
        // A tenant that has no tables gets them.
        store.reserve(&TenantId::new("c"), 1, 1);
        assert_eq!(store.shards.all().len(), 3);
    }
}
