//! A custom store: the engine talks to storage only through the `Store`, `ReadTxn` and `Txn`
//! traits, so wrapping or replacing a store is an ordinary trait implementation outside the
//! crate.
//!
//! ```text
//! cargo run --example custom_store
//! ```
//!
//! `Outbox<S>` wraps any store and collects a change event for every write of a transaction,
//! publishing them only when the transaction commits: the transactional-outbox pattern a
//! service uses to tell other services "customer 2 was merged into customer 1". Read
//! transactions are the inner store's own, and a writer's reads are passed straight through.
//! A request that fails, or a dry run, publishes nothing.

use chrono::{DateTime, Utc};
use oneid::{
    Cause, Contradiction, Customer, CustomerFilter, CustomerId, CustomerPage, CustomerQuery, HashedKey,
    HistoryEvent, Identity, IdentityInput, IdentityKey, Lookup, MemoryStore, ReadTxn, ResolveRequest,
    Resolver, Store, StoredSettings, TenantId, Txn,
};
use std::borrow::Cow;
use std::sync::Mutex;

/// A change another service may want to hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Created(CustomerId),
    Linked(CustomerId, String),
    Unlinked(String),
    Merged { from: CustomerId, into: CustomerId },
    Deleted(CustomerId),
    Erased(Vec<CustomerId>),
    Updated(CustomerId),
}

/// Any store, plus the events of its committed transactions.
struct Outbox<S> {
    inner: S,
    published: Mutex<Vec<Change>>,
}

impl<S> Outbox<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            published: Mutex::new(Vec::new()),
        }
    }

    fn published(&self) -> Vec<Change> {
        self.published.lock().unwrap().clone()
    }
}

/// A write transaction of the inner store, plus the events it will publish on commit.
struct OutboxTxn<'a, T> {
    inner: T,
    pending: Vec<Change>,
    published: &'a Mutex<Vec<Change>>,
}

impl<S: Store> Store for Outbox<S> {
    // Reads write nothing: the inner store's readers as they are.
    type Reader<'a>
        = S::Reader<'a>
    where
        Self: 'a;
    type Writer<'a>
        = OutboxTxn<'a, S::Writer<'a>>
    where
        Self: 'a;

    fn read(&self, tenant: &TenantId) -> oneid::Result<Self::Reader<'_>> {
        self.inner.read(tenant)
    }

    fn write(&self, tenant: &TenantId) -> oneid::Result<Self::Writer<'_>> {
        Ok(OutboxTxn {
            inner: self.inner.write(tenant)?,
            pending: Vec::new(),
            published: &self.published,
        })
    }
}

impl<T: Txn> ReadTxn for OutboxTxn<'_, T> {
    // Reads: straight through.
    fn lookup(&self, tenant: &TenantId, key: IdentityKey<'_>) -> oneid::Result<Lookup> {
        self.inner.lookup(tenant, key)
    }

    fn is_suspected_with(
        &self,
        tenant: &TenantId,
        key: HashedKey<'_>,
        conflicting: HashedKey<'_>,
    ) -> oneid::Result<bool> {
        self.inner.is_suspected_with(tenant, key, conflicting)
    }

    fn customer(&self, tenant: &TenantId, id: CustomerId) -> oneid::Result<Option<Cow<'_, Customer>>> {
        self.inner.customer(tenant, id)
    }

    fn identities(&self, tenant: &TenantId, id: CustomerId) -> oneid::Result<Vec<Identity>> {
        self.inner.identities(tenant, id)
    }

    fn identities_of_type(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        identity_type: &str,
        scope: Option<&str>,
    ) -> oneid::Result<Vec<Identity>> {
        self.inner.identities_of_type(tenant, id, identity_type, scope)
    }

    fn history(&self, tenant: &TenantId, id: CustomerId) -> oneid::Result<Vec<HistoryEvent>> {
        self.inner.history(tenant, id)
    }

    fn query(&self, tenant: &TenantId, query: &CustomerQuery) -> oneid::Result<CustomerPage> {
        self.inner.query(tenant, query)
    }

    fn count(&self, tenant: &TenantId, filter: &CustomerFilter) -> oneid::Result<u64> {
        self.inner.count(tenant, filter)
    }

    fn settings_version(&self, tenant: &TenantId) -> oneid::Result<u64> {
        self.inner.settings_version(tenant)
    }

    fn settings(&self, tenant: &TenantId) -> oneid::Result<Option<StoredSettings>> {
        self.inner.settings(tenant)
    }

    fn settings_history(&self, tenant: &TenantId) -> oneid::Result<Vec<StoredSettings>> {
        self.inner.settings_history(tenant)
    }

    fn evidence(&self, tenant: &TenantId) -> oneid::Result<Vec<(Identity, Contradiction)>> {
        self.inner.evidence(tenant)
    }
}

impl<T: Txn> Txn for OutboxTxn<'_, T> {
    // Writes: through, and remembered.
    fn create_customer(
        &mut self,
        tenant: &TenantId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> oneid::Result<CustomerId> {
        let id = self.inner.create_customer(tenant, at, cause)?;
        self.pending.push(Change::Created(id));
        Ok(id)
    }

    fn add_suspicion(
        &mut self,
        tenant: &TenantId,
        key: HashedKey<'_>,
        conflicting: HashedKey<'_>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> oneid::Result<()> {
        self.inner.add_suspicion(tenant, key, conflicting, at, cause)
    }

    fn link(
        &mut self,
        tenant: &TenantId,
        id: CustomerId,
        key: HashedKey<'_>,
        name: Option<&str>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> oneid::Result<()> {
        self.inner.link(tenant, id, key, name, at, cause)?;
        self.pending.push(Change::Linked(id, key.to_string()));
        Ok(())
    }

    fn merge(
        &mut self,
        tenant: &TenantId,
        from: CustomerId,
        into: CustomerId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> oneid::Result<()> {
        self.inner.merge(tenant, from, into, at, cause)?;
        self.pending.push(Change::Merged { from, into });
        Ok(())
    }

    fn delete(
        &mut self,
        tenant: &TenantId,
        id: CustomerId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> oneid::Result<()> {
        self.inner.delete(tenant, id, at, cause)?;
        self.pending.push(Change::Deleted(id));
        Ok(())
    }

    fn erase(
        &mut self,
        tenant: &TenantId,
        id: CustomerId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> oneid::Result<Vec<CustomerId>> {
        let erased = self.inner.erase(tenant, id, at, cause)?;
        self.pending.push(Change::Erased(erased.clone()));
        Ok(erased)
    }

    fn unlink(
        &mut self,
        tenant: &TenantId,
        key: IdentityKey<'_>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> oneid::Result<bool> {
        let unlinked = self.inner.unlink(tenant, key, at, cause)?;
        if unlinked {
            self.pending.push(Change::Unlinked(key.to_string()));
        }
        Ok(unlinked)
    }

    fn put_customer(&mut self, tenant: &TenantId, customer: Customer) -> oneid::Result<()> {
        let id = customer.id;
        self.inner.put_customer(tenant, customer)?;
        if !self.pending.contains(&Change::Updated(id)) {
            self.pending.push(Change::Updated(id));
        }
        Ok(())
    }

    fn put_settings(
        &mut self,
        tenant: &TenantId,
        document: &str,
        at: DateTime<Utc>,
        cause: Option<&str>,
    ) -> oneid::Result<u64> {
        self.inner.put_settings(tenant, document, at, cause)
    }

    // Publish only what was committed.
    fn commit(self) -> oneid::Result<()> {
        self.inner.commit()?;
        self.published.lock().unwrap().extend(self.pending);
        Ok(())
    }
}

fn main() -> oneid::Result<()> {
    let resolver = Resolver::new(Outbox::new(MemoryStore::new()));
    let tenant = TenantId::new("shop");
    let mobile = || IdentityInput::new("mobile", "13812345678");
    let email = || IdentityInput::new("email", "ming@example.com");

    let first = resolver.resolve(&tenant, &ResolveRequest::new([mobile()]))?;
    let second = resolver.resolve(&tenant, &ResolveRequest::new([email()]))?;
    // Nothing is written by a dry run or by a request that fails validation.
    resolver.dry_run(&tenant, &ResolveRequest::new([email(), mobile()]))?;
    let invalid = resolver.resolve(
        &tenant,
        &ResolveRequest::new([mobile(), IdentityInput::new("email", "not an address")]),
    );
    assert!(invalid.is_err());
    // The touchpoint that carries both merges the email's customer into the mobile's.
    let both = resolver.resolve(&tenant, &ResolveRequest::new([email(), mobile()]))?;
    assert_eq!(both.merged, [second.customer.unwrap()]);

    let (one, two) = (first.customer.unwrap(), second.customer.unwrap());
    let published = resolver.store().published();
    let identity_events: Vec<&Change> = published
        .iter()
        .filter(|c| !matches!(c, Change::Updated(_)))
        .collect();
    assert_eq!(
        identity_events,
        [
            &Change::Created(one),
            &Change::Linked(one, "mobile 13812345678".into()),
            &Change::Created(two),
            &Change::Linked(two, "email ming@example.com".into()),
            &Change::Merged { from: two, into: one },
        ]
    );
    // Reads go through the wrapper to the inner store, merges and all.
    assert_eq!(resolver.get(&tenant, two)?.map(|c| c.id), Some(one));
    // Other operations publish too.
    resolver.delete(&tenant, one)?;
    let published = resolver.store().published();
    assert_eq!(published.last(), Some(&Change::Deleted(one)));

    println!("published {} events", published.len());
    for change in &published {
        println!("   {change:?}");
    }
    Ok(())
}
