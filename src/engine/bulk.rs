//! [`BulkLoad`]: filling an empty tenant of a durable store at in-memory speed.
//!
//! A load resolves its requests with the same engine, settings, normalizers and clock as its
//! [`Resolver`], but into a [`MemoryStore`] of its own, numbered from where the durable store's
//! next free ids begin; [`BulkLoad::finish`] then writes the tenant it built to the durable
//! store in one transaction, as the rows resolving the requests one by one would have left.

use super::resolver::Resolver;
use crate::clock::Clock;
use crate::engine::{Outcome, OutcomeView};
use crate::error::{Error, Result};
use crate::model::{CustomerId, ResolveRequest, TenantId};
use crate::store::bulk::sealed::BulkStart;
use crate::store::{BulkStore, MemoryStore, Store, Txn};
use std::sync::Arc;

/// A bulk load of one empty tenant of a durable store, begun with
/// [`Resolver::bulk_load`]: requests are resolved in memory, then written out at once by
/// [`finish`](Self::finish).
///
/// What the durable store holds afterwards is what resolving the same requests one by one
/// into it would have left: the same customers and ids (on a database where no other
/// tenant's customers were numbered, the very same ids; past them otherwise, see
/// [`Resolver::bulk_load`]), identities and owners, merges, per-type counts, history,
/// quarantine evidence and the settings stored; the store then works as usual.
///
/// Until `finish`, the durable store is not touched: dropping the load, or a crash, leaves it
/// as it was. `finish` writes in one transaction, so a failure or a crash while it runs
/// leaves nothing of the load either (the load is then run again from the start).
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use oneid::{IdentityInput, ResolveRequest, Resolver, SqliteStore, TenantId};
/// let resolver = Resolver::new(SqliteStore::open_in_memory().unwrap());
/// let tenant = TenantId::new("shop");
/// let load = resolver.bulk_load(&tenant).unwrap();
/// let requests = [
///     ResolveRequest::new([IdentityInput::new("mobile", "13800000001")]),
///     ResolveRequest::new([IdentityInput::new("mobile", "13800000001"), IdentityInput::new("email", "a@example.com")]),
/// ];
/// let mut targets = Vec::new();
/// load.resolve_batch_with(&requests, |_, outcome| targets.push(outcome.unwrap().customer())).unwrap();
/// load.finish().unwrap();
/// // Now in the durable store, as if resolved there.
/// let found = resolver.find_by_identity(&tenant, &IdentityInput::new("email", "a@example.com")).unwrap();
/// assert_eq!(found.map(|c| c.id), targets[0]);
/// // A second load into the same tenant is refused.
/// assert!(matches!(resolver.bulk_load(&tenant), Err(oneid::Error::TenantNotEmpty(_))));
/// # }
/// ```
pub struct BulkLoad<'r, S, C> {
    target: &'r Resolver<S, C>,
    tenant: TenantId,
    start: BulkStart,
    memory: Resolver<MemoryStore, C>,
}

impl<S, C> std::fmt::Debug for BulkLoad<'_, S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkLoad")
            .field("tenant", &self.tenant)
            .field("first_id", &self.start.first_id)
            .finish()
    }
}

impl<S: BulkStore, C: Clock> Resolver<S, C> {
    /// Begins a bulk load of `tenant` (see [`BulkLoad`]), which must hold no customer:
    /// otherwise [`Error::TenantNotEmpty`]. The tenant's stored settings, if any, are the ones
    /// it resolves under; a load that stores the defaults stores them as a resolve would.
    ///
    /// Customer ids are numbered from the first id past every id the database holds, rounded
    /// up to one more than a multiple of 1,024 (so from 1 in a new database: the ids
    /// resolving one by one would give). If other writers create customers or change the
    /// tenant's settings before [`finish`](BulkLoad::finish) writes, the load is refused
    /// with [`Error::Contention`] and nothing is written.
    pub fn bulk_load(&self, tenant: &TenantId) -> Result<BulkLoad<'_, S, C>> {
        let start = self.store.bulk_begin(tenant)?;
        let block = u32::try_from((start.first_id - 1) / 1024)
            .map_err(|_| Error::Capacity("a bulk load numbers customers below 2^42".into()))?;
        let memory = MemoryStore::for_bulk_load(block, 0, 0);
        if !start.settings.is_empty() {
            let mut txn = memory.write(tenant)?;
            for s in &start.settings {
                txn.put_settings(tenant, &s.document, s.changed, s.cause.as_deref())?;
            }
            txn.commit()?;
        }
        let memory = Resolver {
            store: Arc::new(memory),
            clock: self.clock.clone(),
            defaults: self.defaults.clone(),
            settings: self.settings.clone(),
            parallel_planning: self.parallel_planning,
            groups: None,
        };
        Ok(BulkLoad {
            target: self,
            tenant: tenant.clone(),
            start,
            memory,
        })
    }
}

impl<S: BulkStore, C: Clock> BulkLoad<'_, S, C> {
    /// Makes room for this many more customers and identities (as
    /// [`MemoryStore::reserve`] does), so the load's index never rehashes on the way.
    pub fn reserve(&self, customers: usize, identities: usize) {
        self.memory.store.reserve(&self.tenant, customers, identities);
    }

    /// Resolves one request, as [`Resolver::resolve`] would.
    pub fn resolve(&self, request: &ResolveRequest) -> Result<Outcome> {
        self.memory.resolve(&self.tenant, request)
    }

    /// Resolves requests in order, as [`Resolver::resolve_batch_with`] would, handing each
    /// outcome to `each`.
    pub fn resolve_batch_with<F>(&self, requests: &[ResolveRequest], each: F) -> Result<()>
    where
        F: FnMut(usize, Result<OutcomeView<'_>>),
    {
        self.memory.resolve_batch_with(&self.tenant, requests, each)
    }

    /// The id a customer id of the load leads to after its merges so far, as
    /// [`Resolver::canonical_id`] answers.
    pub fn canonical_id(&self, id: CustomerId) -> Result<Option<CustomerId>> {
        self.memory.canonical_id(&self.tenant, id)
    }

    /// Writes the tenant the load built to the durable store, in one transaction, and ends
    /// the load. On an error nothing is written.
    pub fn finish(self) -> Result<()> {
        let Self {
            target,
            tenant,
            start,
            memory,
        } = self;
        memory
            .store
            .export(&tenant, |export| target.store.bulk_write(&tenant, &start, export))
    }
}
