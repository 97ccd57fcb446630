//! The transactions a [`Store`](super::Store) hands out: [`ReadTxn`] for reads, [`Txn`] for
//! writes, and what crosses between them and the engine.

use super::StoredSettings;
use crate::error::Result;
use crate::history::{Cause, HistoryEvent, Operation};
use crate::model::{
    Customer, CustomerId, CustomerPatch, Fields, HashedKey, Identity, IdentityKey, IdentityType, TenantId,
};
use crate::quarantine::Contradiction;
use crate::query::{CustomerFilter, CustomerPage, CustomerQuery};
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::sync::Arc;

/// What a store knows of an identity: its live owner and how many distinct conflicting
/// identities were seen with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lookup {
    /// The live owner, if any.
    pub owner: Option<CustomerId>,
    /// How many distinct conflicting identities were recorded against it.
    pub suspicion: u32,
}

/// How many identities of one type and scope a customer holds
/// ([`ReadTxn::kinds_matching`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindCount {
    /// The identities' type.
    pub identity_type: IdentityType,
    /// Their scope, if any.
    pub scope: Option<Arc<str>>,
    /// How many the customer holds (at least one).
    pub count: usize,
}

/// What a resolve writes of its target's data.
#[derive(Debug)]
pub enum TargetData {
    /// Nothing (a repeat visit).
    Unchanged,
    /// Only when it was last updated: identities were linked to it.
    Touched,
    /// Its new data, written with [`Txn::put_customer`] (the id is the target's; boxed, so
    /// that the usual writes, which carry none, stay small).
    Put(Box<Customer>),
}

/// Everything one resolve writes, as [`Txn::write_resolve`] receives it, in the order it is
/// written: the quarantine evidence, the target (created if there is none yet), its links,
/// its merges, its data.
#[derive(Debug)]
pub struct ResolveWrites<'a> {
    /// The target; `None` to create one.
    pub target: Option<CustomerId>,
    /// A created target's first data: this patch applied to none (see
    /// [`Txn::create_customer_with`]); `None` creates it with no data.
    pub new_data: Option<&'a CustomerPatch>,
    /// Identities to link to the target, with their display names, in order.
    pub links: &'a [(HashedKey<'a>, Option<&'a str>)],
    /// Customers to merge into the target, in order.
    pub merges: &'a [CustomerId],
    /// Quarantine evidence to record: (suspect, conflicting identity) pairs.
    pub evidence: &'a [(HashedKey<'a>, HashedKey<'a>)],
    /// What becomes of the target's data.
    pub data: TargetData,
    /// When.
    pub at: DateTime<Utc>,
    /// What caused it, kept in history with every event the writes record.
    pub operation: Operation,
    /// The caller's reference (see [`Cause::reference`]).
    pub reference: Option<&'a str>,
}

/// The reads of one transaction of one tenant's customers, identities and settings.
///
/// Every store's readers and writers implement it; a writer's reads see its own writes.
pub trait ReadTxn {
    /// The live owner of an identity, if any, and how suspicious the identity is.
    fn lookup(&self, tenant: &TenantId, key: IdentityKey<'_>) -> Result<Lookup>;

    /// [`ReadTxn::lookup`] of several identities (a resolve's, in order): appends one answer per
    /// key to `out`, in order. Each key comes with its hash. Stores that can read them all at
    /// once (the SQL stores, in one query) or that find keys by hash (the memory store)
    /// override it; the default asks one by one.
    fn lookup_many(&self, tenant: &TenantId, keys: &[HashedKey<'_>], out: &mut Vec<Lookup>) -> Result<()> {
        for key in keys {
            out.push(self.lookup(tenant, key.key)?);
        }
        Ok(())
    }

    /// A hint that `keys` will be looked up soon: a batch gives it for a request a little
    /// before the request's turn. A store that keeps its index in memory can start loading
    /// the keys' places in it, so that the lookup at the turn does not wait for memory. It
    /// reads nothing back, changes nothing and cannot fail; the default does nothing.
    fn prefetch(&self, tenant: &TenantId, keys: &[HashedKey<'_>]) {
        let _ = (tenant, keys);
    }

    /// A hint that a batch is about to look `keys` up, in the order of its requests: a store
    /// whose every read is a round trip (the SQL stores) can look them all up now, at once,
    /// and answer the lookups to come from what it read, as long as nothing the transaction
    /// does changes those answers. The default does nothing; [`warms`](Self::warms) says
    /// whether a store does anything.
    fn warm(&self, tenant: &TenantId, keys: &[HashedKey<'_>]) -> Result<()> {
        let _ = (tenant, keys);
        Ok(())
    }

    /// Whether [`warm`](Self::warm) does anything (so a batch gathers its keys only then).
    fn warms(&self) -> bool {
        false
    }

    /// The live owner of an identity, if any.
    fn owner(&self, tenant: &TenantId, key: IdentityKey<'_>) -> Result<Option<CustomerId>> {
        Ok(self.lookup(tenant, key)?.owner)
    }

    /// Whether `conflicting` is already recorded as evidence against the owned identity `key`
    /// (see [`IdentitySettings::quarantine_after`](crate::IdentitySettings::quarantine_after)).
    fn is_suspected_with(
        &self,
        tenant: &TenantId,
        key: HashedKey<'_>,
        conflicting: HashedKey<'_>,
    ) -> Result<bool>;

    /// The customer an id leads to after following merges: a live or a deleted customer, or
    /// `None` if the id was never assigned in this tenant.
    fn customer(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<Cow<'_, Customer>>>;

    /// Whether the customer an id leads to (as [`customer`](Self::customer) finds it) holds
    /// every one of `fields` with that very value; `None` if the id was never assigned. A
    /// resolve whose patch changes nothing asks this instead of reading the customer. The
    /// default reads the customer; stores that keep customers packed compare the bytes.
    fn holds_fields(&self, tenant: &TenantId, id: CustomerId, fields: &Fields) -> Result<Option<bool>> {
        Ok(self.customer(tenant, id)?.map(|c| {
            fields
                .iter()
                .all(|(field, value)| c.fields.get(field) == Some(value))
        }))
    }

    /// The id [`customer`](Self::customer) would return, without reading the customer's
    /// data. The default reads the customer; stores that can follow merges by id override it.
    fn canonical_id(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<CustomerId>> {
        Ok(self.customer(tenant, id)?.map(|c| c.id))
    }

    /// The identities a customer (after following merges) holds, in link order.
    fn identities(&self, tenant: &TenantId, id: CustomerId) -> Result<Vec<Identity>>;

    /// The identities a customer (after following merges) holds whose type `wanted` accepts,
    /// in link order. The engine asks for the few types it checks (limited types, the types
    /// of a request's new identities), so a store can skip building the rest.
    fn identities_matching(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Identity>> {
        let mut all = self.identities(tenant, id)?;
        all.retain(|i| wanted(i.identity_type.as_str()));
        Ok(all)
    }

    /// The identities of one type and scope a customer holds, in link order. Called only for
    /// limited types, so it may be slower than [`ReadTxn::owner`].
    fn identities_of_type(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        identity_type: &str,
        scope: Option<&str>,
    ) -> Result<Vec<Identity>>;

    /// How many identities of one type and scope a customer (after following merges) holds.
    /// A resolve asks it to check limits and to find quarantine evidence. The default counts
    /// [`identities_of_type`](Self::identities_of_type); stores that can count without
    /// building the identities override it.
    fn count_of_type(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        identity_type: &str,
        scope: Option<&str>,
    ) -> Result<usize> {
        Ok(self.identities_of_type(tenant, id, identity_type, scope)?.len())
    }

    /// The first identity linked (in link order) of one type and scope a customer (after
    /// following merges) holds, if any: the one a refusal over a limit names. The default
    /// takes the first of [`identities_of_type`](Self::identities_of_type); stores that can
    /// find it without building the rest override it.
    fn first_of_type(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        identity_type: &str,
        scope: Option<&str>,
    ) -> Result<Option<Identity>> {
        Ok(self
            .identities_of_type(tenant, id, identity_type, scope)?
            .into_iter()
            .next())
    }

    /// How many identities of each type and scope whose type `wanted` accepts a customer
    /// (after following merges) holds, each kind once, in the order of its first identity's
    /// link. A resolve asks it of each customer it would merge, for the limited types. The
    /// default counts [`identities_matching`](Self::identities_matching); stores that count
    /// by kind override it.
    fn kinds_matching(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<KindCount>> {
        let mut kinds: Vec<KindCount> = Vec::new();
        for identity in self.identities_matching(tenant, id, wanted)? {
            let same =
                |k: &&mut KindCount| k.identity_type == identity.identity_type && k.scope == identity.scope;
            match kinds.iter_mut().find(same) {
                Some(kind) => kind.count += 1,
                None => kinds.push(KindCount {
                    identity_type: identity.identity_type,
                    scope: identity.scope,
                    count: 1,
                }),
            }
        }
        Ok(kinds)
    }

    /// The events that made a customer: its own and those of every customer merged into it,
    /// oldest first, events of the same instant in the order they were recorded.
    fn history(&self, tenant: &TenantId, id: CustomerId) -> Result<Vec<HistoryEvent>>;

    /// One page of the live customers matching a query, and how many match in all.
    fn query(&self, tenant: &TenantId, query: &CustomerQuery) -> Result<CustomerPage>;

    /// How many live customers match a filter.
    fn count(&self, tenant: &TenantId, filter: &CustomerFilter) -> Result<u64>;

    /// This transaction as a handle that several threads may read through at once, if the
    /// store allows that; `None` (the default) if not. `resolve_batch` uses it to plan the
    /// requests of a batch in parallel before it applies them in order.
    fn shared(&self) -> Option<&(dyn ReadTxn + Sync)> {
        None
    }

    /// The version of the tenant's identity settings: `0` when none are stored. In a
    /// [`Txn`], the version read stays current until the transaction ends: a settings change
    /// by another writer waits for it (or the store serializes writers anyway).
    fn settings_version(&self, tenant: &TenantId) -> Result<u64>;

    /// Takes `version` (a version of the tenant's settings read before, not `0`) as the one
    /// this transaction runs under without reading it now, where the store reads it again
    /// as the transaction commits and fails the commit with [`Error::Transient`] if it is
    /// not the current one, so that the operation runs again: a read saved where every read
    /// is a round trip. Returns whether the store took it; the default does not, and the
    /// caller reads the version with [`settings_version`](Self::settings_version).
    ///
    /// [`Error::Transient`]: crate::Error::Transient
    fn assume_settings_version(&self, tenant: &TenantId, version: u64) -> Result<bool> {
        let _ = (tenant, version);
        Ok(false)
    }

    /// The tenant's current identity settings, `None` when none are stored.
    fn settings(&self, tenant: &TenantId) -> Result<Option<StoredSettings>>;

    /// Every version of the tenant's identity settings, oldest first.
    fn settings_history(&self, tenant: &TenantId) -> Result<Vec<StoredSettings>>;

    /// Every piece of quarantine evidence the tenant keeps, in no particular order: the
    /// suspect identity and what contradicted it (identities without display names).
    fn evidence(&self, tenant: &TenantId) -> Result<Vec<(Identity, Contradiction)>>;
}

/// One transaction that writes: the reads of [`ReadTxn`], and the writes of one tenant's
/// customers, identities and settings.
///
/// Writes are only called by the engine after every check has passed; dropping the
/// transaction without [`Txn::commit`] must leave the store as it was before
/// [`Store::write`](super::Store::write). Code that writes through a transaction itself skips
/// those checks and must keep to the same bounds (docs/SEMANTICS.md §1, the constants of
/// [`limits`](crate::limits)): a store may fail to read back, or the memory store panic on,
/// data the engine would have refused.
pub trait Txn: ReadTxn {
    /// Creates an active customer with no data and returns its new id.
    fn create_customer(&mut self, tenant: &TenantId, at: DateTime<Utc>, cause: &Cause) -> Result<CustomerId>;

    /// A hint that this transaction is about to create about `n` customers (a batch whose
    /// lookups found none of some requests' identities owned): a store that draws each id
    /// from its database in a round trip of its own can draw them all at once. Ids drawn
    /// and not used are skipped. The default does nothing.
    fn expect_creates(&mut self, n: usize) -> Result<()> {
        let _ = n;
        Ok(())
    }

    /// Creates an active customer whose data is `patch` applied to none (what a resolve that
    /// creates its target writes): blank values (`""`) left out, tags and groups each once.
    /// Returns the new id. The default creates the customer, then writes the data with
    /// [`put_customer`](Self::put_customer); stores that keep customers packed pack the
    /// patch directly.
    fn create_customer_with(
        &mut self,
        tenant: &TenantId,
        at: DateTime<Utc>,
        cause: &Cause,
        patch: &CustomerPatch,
    ) -> Result<CustomerId> {
        let id = self.create_customer(tenant, at, cause)?;
        if !patch.is_empty() {
            self.put_customer(tenant, crate::model::new_customer(id, at, patch))?;
        }
        Ok(id)
    }

    /// Records `conflicting` as evidence against the owned identity `key`, brought at `at`
    /// by `cause`: afterwards [`Lookup::suspicion`] of `key` counts it (each distinct
    /// `conflicting` once, keeping the first time and cause) and [`ReadTxn::evidence`] lists it.
    fn add_suspicion(
        &mut self,
        tenant: &TenantId,
        key: HashedKey<'_>,
        conflicting: HashedKey<'_>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<()>;

    /// Binds an unowned identity (its key, with its display name if it has one) to a live
    /// customer.
    fn link(
        &mut self,
        tenant: &TenantId,
        id: CustomerId,
        key: HashedKey<'_>,
        name: Option<&str>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<()>;

    /// Merges live customer `from` into live customer `into`: `from`'s identities move to
    /// `into`, `from` becomes `Merged { into }` and its id an alias. Field reconciliation is
    /// the engine's job: it writes the survivor with [`Txn::put_customer`].
    fn merge(
        &mut self,
        tenant: &TenantId,
        from: CustomerId,
        into: CustomerId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<()>;

    /// Logically deletes a live customer: its status becomes `Deleted` and its identities
    /// (including those of customers merged into it) are released, so a later resolve of
    /// them creates a new customer.
    fn delete(&mut self, tenant: &TenantId, id: CustomerId, at: DateTime<Utc>, cause: &Cause) -> Result<()>;

    /// Erases a customer for good: the live customer an id leads to and every customer merged
    /// into it lose their fields, attributes, tags, groups and identities (which are removed,
    /// not just released), the identities in their history are redacted, and they become
    /// `Erased` tombstones. Returns the erased ids (the customer first). Works on deleted
    /// customers too.
    fn erase(
        &mut self,
        tenant: &TenantId,
        id: CustomerId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<Vec<CustomerId>>;

    /// Unbinds an identity from its live owner; `Ok(false)` if nobody owned it.
    fn unlink(
        &mut self,
        tenant: &TenantId,
        key: IdentityKey<'_>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<bool>;

    /// Overwrites a live customer's data (fields, attributes, tags, groups, timestamps).
    fn put_customer(&mut self, tenant: &TenantId, customer: Customer) -> Result<()>;

    /// Performs everything one resolve writes (see [`ResolveWrites`]) and returns the
    /// target's id. The default makes the calls one by one (`add_suspicion`,
    /// `create_customer_with`, `link`, `merge`, `touch` or `put_customer`); a store can take
    /// them together, finding the target and recording the cause once.
    fn write_resolve(&mut self, tenant: &TenantId, writes: ResolveWrites<'_>) -> Result<CustomerId> {
        // Built once, and only when an event is recorded.
        let cause = std::cell::OnceCell::new();
        let cause = || {
            cause.get_or_init(|| Cause {
                operation: writes.operation,
                reference: writes.reference.map(std::sync::Arc::from),
            })
        };
        for &(suspect, conflicting) in writes.evidence {
            self.add_suspicion(tenant, suspect, conflicting, writes.at, cause())?;
        }
        let id = match writes.target {
            Some(id) => id,
            None => match writes.new_data {
                Some(patch) => self.create_customer_with(tenant, writes.at, cause(), patch)?,
                None => self.create_customer(tenant, writes.at, cause())?,
            },
        };
        for &(key, name) in writes.links {
            self.link(tenant, id, key, name, writes.at, cause())?;
        }
        for &from in writes.merges {
            self.merge(tenant, from, id, writes.at, cause())?;
        }
        match writes.data {
            TargetData::Unchanged => {}
            TargetData::Touched => self.touch(tenant, id, writes.at)?,
            TargetData::Put(mut customer) => {
                customer.id = id;
                self.put_customer(tenant, *customer)?;
            }
        }
        Ok(id)
    }

    /// Sets when a live customer was last updated, leaving its data as it is (a resolve that
    /// only linked identities). The default reads and writes the whole customer.
    fn touch(&mut self, tenant: &TenantId, id: CustomerId, at: DateTime<Utc>) -> Result<()> {
        let mut customer = self
            .customer(tenant, id)?
            .ok_or(crate::error::Error::CustomerNotFound(id))?
            .into_owned();
        customer.updated = at;
        self.put_customer(tenant, customer)
    }

    /// Stores a new version of the tenant's identity settings (a document
    /// [`IdentitySettings`](crate::IdentitySettings) serializes to) and returns its version:
    /// one more than the current one. The change is kept in the tenant's settings history
    /// with its time and cause.
    fn put_settings(
        &mut self,
        tenant: &TenantId,
        document: &str,
        at: DateTime<Utc>,
        cause: Option<&str>,
    ) -> Result<u64>;

    /// Makes every write of this transaction durable and visible.
    fn commit(self) -> Result<()>
    where
        Self: Sized;
}
