//! The [`Resolver`]: a store, a clock and each tenant's identity settings, and the resolve
//! operations over them.
//!
//! A resolve prepares the request, then plans and applies it in one transaction, run again
//! on a transient conflict; a dry run plans without applying; a batch does the same for many
//! requests in one transaction. The other operations (identities added and removed, updates,
//! deletion, queries) are in `ops`.

use super::begin::begin_in;
use super::decision::Decided;
use super::outcome::Outcome;
use super::retry::retry;
use super::view::OutcomeView;
use super::{apply, batch, plan, prepare};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::history::{HistoryEvent, Operation};
use crate::model::{
    Customer, CustomerId, CustomerPatch, Field, Identity, IdentityInput, IdentityType, PriorityStrategy,
    ResolveOptions, ResolveRequest, TargetStrategy, TenantId,
};
use crate::settings::IdentitySettings;
use crate::store::{Store, Txn};
use std::collections::HashMap;
use std::sync::Arc;

/// `t` truncated to the microsecond, the precision every store keeps. (Cheaper than
/// chrono's `trunc_subsecs`, which goes through duration arithmetic, and than
/// `DateTime::with_nanosecond`, which goes through time-zone conversion.) A leap second
/// (second 60) becomes that far into the next second, as the memory store, which keeps a
/// count of microseconds, would read it: every store then keeps the same instant.
fn to_micros(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::Timelike;
    let naive = t.naive_utc();
    let nanos = naive.nanosecond();
    if nanos >= 1_000_000_000 {
        return chrono::DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t);
    }
    naive
        .with_nanosecond(nanos - nanos % 1_000)
        .map_or(t, |n| n.and_utc())
}

/// Which contact fields a plain create uses as its identity list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PlainCreate {
    /// 001 `customer/add` and 003 `addCustomer`: the mobile only.
    MobileOnly,
    /// 002 `POST customers`: the mobile and the email.
    #[default]
    MobileAndEmail,
}

/// The engine: a store, a clock, and each tenant's identity settings.
///
/// ```
/// use oneid::{CustomerPatch, Field, IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
///
/// let mut resolver = Resolver::new(MemoryStore::new());
/// let shop = TenantId::new("shop");
/// let first = resolver.resolve(&shop, &ResolveRequest::new([
///     IdentityInput::new("wechat", "o-abc"),
///     IdentityInput::new("mobile", "+86 138-0013-8000"),
/// ])).unwrap();
/// assert!(first.created);
///
/// // The same person, seen later by email and mobile: found, and the email linked.
/// let second = resolver.resolve(&shop, &ResolveRequest::new([
///     IdentityInput::new("email", "Jane@Example.com"),
///     IdentityInput::new("mobile", "13800138000"),
/// ]).with_patch(CustomerPatch::new().with(Field::Name, "Jane").unwrap())).unwrap();
/// assert_eq!(second.customer, first.customer);
/// assert_eq!(second.linked.len(), 1);
/// ```
pub struct Resolver<S, C = SystemClock> {
    pub(super) store: S,
    clock: C,
    default_settings: Arc<IdentitySettings>,
    tenant_settings: HashMap<TenantId, Arc<IdentitySettings>>,
    parallel_planning: bool,
    /// Memory kept between calls: prepared blocks and decisions.
    scratch: batch::BatchScratch,
}

impl<S: std::fmt::Debug, C> std::fmt::Debug for Resolver<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("store", &self.store)
            .field("tenants_with_settings", &self.tenant_settings.len())
            .finish()
    }
}

impl<S: Store> Resolver<S> {
    /// An engine over `store` with the system clock and default settings for every tenant.
    pub fn new(store: S) -> Self {
        Self {
            store,
            clock: SystemClock,
            default_settings: Arc::new(IdentitySettings::default()),
            tenant_settings: HashMap::new(),
            parallel_planning: false,
            scratch: batch::BatchScratch::default(),
        }
    }
}

impl<S: Store, C: Clock> Resolver<S, C> {
    /// Replaces the clock (e.g. with a [`ManualClock`](crate::ManualClock) in tests).
    pub fn with_clock<C2: Clock>(self, clock: C2) -> Resolver<S, C2> {
        Resolver {
            store: self.store,
            clock,
            default_settings: self.default_settings,
            tenant_settings: self.tenant_settings,
            parallel_planning: self.parallel_planning,
            scratch: self.scratch,
        }
    }

    /// Lets [`resolve_batch`](Self::resolve_batch) plan the requests of a batch that share no
    /// identity with an earlier one in parallel, on stores that allow it (the memory store),
    /// before applying them in order. Off by default.
    ///
    /// It can pay when most requests of a batch are independent, planning dominates and
    /// several cores are idle. On a 2-core machine it did not: planned in order (preparation
    /// then runs beside the planning), 100k hits on a store of 1M customers took 161–164 ms
    /// against 211–214 ms, 100k requests of 40k people 135–159 ms against 300–319 ms, and
    /// the main-job example was slower too. Outcomes are the same either way.
    pub fn with_parallel_planning(mut self, on: bool) -> Self {
        self.parallel_planning = on;
        self
    }

    /// Sets the settings of tenants that have none of their own.
    pub fn with_default_settings(mut self, settings: IdentitySettings) -> Self {
        self.default_settings = Arc::new(settings);
        self
    }

    /// Sets one tenant's settings.
    pub fn set_settings(&mut self, tenant: &TenantId, settings: IdentitySettings) {
        self.tenant_settings.insert(tenant.clone(), Arc::new(settings));
    }

    /// A tenant's settings.
    pub fn settings(&self, tenant: &TenantId) -> &IdentitySettings {
        self.tenant_settings.get(tenant).unwrap_or(&self.default_settings)
    }

    #[inline]
    pub(super) fn settings_arc(&self, tenant: &TenantId) -> Arc<IdentitySettings> {
        self.tenant_settings
            .get(tenant)
            .unwrap_or(&self.default_settings)
            .clone()
    }

    /// Now, to the microsecond: every store keeps times at that precision, so all of them
    /// read back exactly what was written. A clock outside the years every store can keep
    /// (0000 to 9999) is an error, before anything is written.
    pub(super) fn now(&self) -> Result<chrono::DateTime<chrono::Utc>> {
        use chrono::Datelike;
        let now = to_micros(self.clock.now());
        if crate::model::storable_year(now.year()) {
            Ok(now)
        } else {
            Err(Error::ClockOutOfRange(now))
        }
    }

    /// When a request happened: its event time (which preparing the request checks), or now;
    /// to the microsecond.
    fn event_time(&self, request: &ResolveRequest) -> Result<chrono::DateTime<chrono::Utc>> {
        match request.event_time {
            Some(t) => Ok(to_micros(t)),
            None => self.now(),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Resolves a request (SEMANTICS §2) and returns what happened. Atomic: on error nothing
    /// was written.
    pub fn resolve(&mut self, tenant: &TenantId, request: &ResolveRequest) -> Result<Outcome> {
        self.resolve_as(tenant, request, Operation::Resolve)
    }

    fn resolve_as(
        &mut self,
        tenant: &TenantId,
        request: &ResolveRequest,
        operation: Operation,
    ) -> Result<Outcome> {
        let settings = self.settings_arc(tenant);
        let at = self.event_time(request)?;
        let mut block = self.scratch.spare_block();
        let outcome = (|| {
            let prep = block.prepare_one(&settings, request)?;
            let decided = retry(|| {
                let mut txn = begin_in(&mut self.store, tenant)?;
                let mut decided = Decided::default();
                let plan = plan::plan(&txn, &settings, tenant, request, prep, at, &mut decided)?;
                apply::apply(&mut txn, tenant, plan, &mut decided, prep, request, operation)?;
                txn.commit()?;
                Ok(decided)
            })?;
            Ok(OutcomeView::new(&decided, prep, false).to_outcome())
        })();
        self.scratch.give_back(block);
        outcome
    }

    /// Resolves many requests in one store transaction, with exactly the outcomes that
    /// resolving them one by one in order would give.
    ///
    /// Built for throughput: validation and normalization run beside the planning, shared
    /// with a thread of their own for a large batch (512 requests or more) planned in order,
    /// so that the work balances between the two. With
    /// [`with_parallel_planning`](Self::with_parallel_planning), on a store whose
    /// transactions allow parallel reads ([`Txn::shared`], the memory store), the requests
    /// that share no identity with an earlier request of the batch are also planned in
    /// parallel against the state the batch started from. Plans are then applied in order; a
    /// request whose identities or customers an earlier request of the batch touched
    /// (directly, or through the customers its identities lead to) is planned again at its
    /// turn, so independent requests are resolved in parallel and dependent ones in order.
    ///
    /// The inner results are per request: an invalid request gets its error and writes
    /// nothing, the others go on. The outer error is a store failure, an invalid tenant id,
    /// or a clock outside the storable years ([`Error::ClockOutOfRange`], when a request
    /// has no event time of its own), after which nothing of the batch was committed. [`resolve_batch_with`](Self::resolve_batch_with) is the
    /// same without building an [`Outcome`] per request.
    ///
    /// ```
    /// use oneid::{IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
    /// let mut resolver = Resolver::new(MemoryStore::new());
    /// let t = TenantId::new("t");
    /// let outcomes = resolver.resolve_batch(&t, &[
    ///     ResolveRequest::new([IdentityInput::new("mobile", "13812345678")]),
    ///     ResolveRequest::new([IdentityInput::new("mobile", "bad number")]),
    ///     ResolveRequest::new([IdentityInput::new("mobile", "+86 138 1234 5678")]),
    /// ]).unwrap();
    /// assert!(outcomes[1].is_err());
    /// assert_eq!(outcomes[0].as_ref().unwrap().customer, outcomes[2].as_ref().unwrap().customer);
    /// ```
    pub fn resolve_batch(
        &mut self,
        tenant: &TenantId,
        requests: &[ResolveRequest],
    ) -> Result<Vec<Result<Outcome>>> {
        let mut outcomes = Vec::with_capacity(requests.len());
        self.resolve_batch_with(tenant, requests, |_, outcome| {
            outcomes.push(outcome.map(|o| o.to_outcome()));
        })?;
        Ok(outcomes)
    }

    /// [`resolve_batch`](Self::resolve_batch) that hands each request's outcome to `each` as
    /// an [`OutcomeView`], in request order, instead of collecting [`Outcome`]s: the way to
    /// resolve millions of requests. The memory a batch uses (prepared requests, decisions)
    /// is kept by the resolver and reused by the next batch, so a batch allocates nothing
    /// per request on the way.
    ///
    /// `each` is called after the batch has been committed (so never for a batch that
    /// failed, and once per request even when a transient conflict with another writer made
    /// the batch run again), with the request's index and its outcome or its input error.
    ///
    /// ```
    /// use oneid::{IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
    /// let mut resolver = Resolver::new(MemoryStore::new());
    /// let t = TenantId::new("t");
    /// let requests = [
    ///     ResolveRequest::new([IdentityInput::new("mobile", "13812345678")]),
    ///     ResolveRequest::new([IdentityInput::new("mobile", "+86 138 1234 5678"), IdentityInput::new("email", "li@example.com")]),
    /// ];
    /// let (mut created, mut linked) = (0, 0);
    /// resolver.resolve_batch_with(&t, &requests, |_, outcome| {
    ///     let outcome = outcome.expect("valid requests");
    ///     created += usize::from(outcome.created());
    ///     linked += outcome.linked().count();
    /// }).unwrap();
    /// assert_eq!((created, linked), (1, 2));
    /// ```
    pub fn resolve_batch_with<F>(
        &mut self,
        tenant: &TenantId,
        requests: &[ResolveRequest],
        mut each: F,
    ) -> Result<()>
    where
        F: FnMut(usize, Result<OutcomeView<'_>>),
    {
        let settings = self.settings_arc(tenant);
        // Read the clock in request order, as one-by-one resolution would.
        let times = requests
            .iter()
            .map(|r| self.event_time(r))
            .collect::<Result<Vec<_>>>()?;
        let parallel = self.parallel_planning;
        let scratch = &mut self.scratch;
        let store = &mut self.store;
        retry(|| {
            let mut txn = begin_in(store, tenant)?;
            let batch = batch::Batch {
                settings: &settings,
                tenant,
                requests,
                times: &times,
            };
            batch::run(&mut txn, batch, scratch, parallel)?;
            txn.commit()
        })?;
        // Read in place; only a request's error is taken out, to be handed over.
        let mut decided = std::mem::take(&mut scratch.decided);
        for (i, d) in decided.iter_mut().enumerate() {
            match d {
                Ok(d) => each(
                    i,
                    Ok(OutcomeView::new(d, scratch.prep(i).expect("prepared"), false)),
                ),
                Err(e) => each(i, Err(std::mem::replace(e, Error::handed_over()))),
            }
        }
        scratch.decided = decided;
        Ok(())
    }

    /// What [`resolve`](Self::resolve) would do, without writing anything (001's
    /// `getCustomerIdByIdentityList`). In the outcome, `customer` is `None` when a new
    /// customer would be created.
    pub fn dry_run(&mut self, tenant: &TenantId, request: &ResolveRequest) -> Result<Outcome> {
        let settings = self.settings_arc(tenant);
        let at = self.event_time(request)?;
        let mut block = self.scratch.spare_block();
        let outcome = (|| {
            let prep = block.prepare_one(&settings, request)?;
            let txn = begin_in(&mut self.store, tenant)?;
            let mut decided = Decided::default();
            plan::plan(&txn, &settings, tenant, request, prep, at, &mut decided)?;
            Ok(OutcomeView::new(&decided, prep, true).to_outcome())
        })();
        self.scratch.give_back(block);
        outcome
    }

    /// The id a customer id reads as now: itself for a live or deleted customer, the survivor
    /// for a merged one; `None` if the id was never assigned in this tenant. Cheaper than
    /// [`get`](Self::get) when only the id is needed.
    pub fn canonical_id(&mut self, tenant: &TenantId, id: CustomerId) -> Result<Option<CustomerId>> {
        begin_in(&mut self.store, tenant)?.canonical_id(tenant, id)
    }

    /// Plain create (001 `customer/add`, 002 `POST customers`, 003 `addCustomer`): the
    /// patch's mobile (and, for [`PlainCreate::MobileAndEmail`], email) act as the identity
    /// list; a customer found by them is updated instead of duplicated; nothing is merged.
    pub fn create(
        &mut self,
        tenant: &TenantId,
        patch: CustomerPatch,
        variant: PlainCreate,
    ) -> Result<Outcome> {
        let mut identities = Vec::new();
        if let Some(mobile) = patch.fields.text(Field::Mobile) {
            identities.push(IdentityInput::new(IdentityType::MOBILE, mobile));
        }
        if variant == PlainCreate::MobileAndEmail
            && let Some(email) = patch.fields.text(Field::Email)
        {
            identities.push(IdentityInput::new(IdentityType::EMAIL, email));
        }
        let request = ResolveRequest {
            patch,
            identities,
            options: ResolveOptions {
                identity_priority_strategy: PriorityStrategy::System,
                target_customer_strategy: TargetStrategy::CustomerFirst,
                auto_merge: false,
                match_by_fields: false,
            },
            cause: None,
            event_time: None,
        };
        self.resolve_as(tenant, &request, Operation::Create)
    }

    /// A live customer by id, following merges (a merged id reads as the customer it was
    /// merged into). Deleted customers and unknown ids read as `None`.
    pub fn get(&mut self, tenant: &TenantId, id: CustomerId) -> Result<Option<Customer>> {
        let txn = begin_in(&mut self.store, tenant)?;
        Ok(txn
            .customer(tenant, id)?
            .filter(|c| c.is_active())
            .map(|c| c.into_owned()))
    }

    /// The live customer that owns an identity, after normalizing the value. Invalid values
    /// are errors; blocked values find nobody.
    pub fn find_by_identity(
        &mut self,
        tenant: &TenantId,
        identity: &IdentityInput,
    ) -> Result<Option<Customer>> {
        let settings = self.settings_arc(tenant);
        let store = &mut self.store;
        // Normalized in this thread's buffer: nothing is allocated to find the key.
        prepare::with_scratch(|buf| match prepare::normalize_one(&settings, 0, identity, buf)? {
            prepare::Checked::Blocked(_) => Ok(None),
            prepare::Checked::Valid {
                identity_type, scope, ..
            } => {
                let key = crate::model::IdentityKey {
                    identity_type: identity_type.as_str(),
                    scope: scope.as_deref(),
                    value: buf,
                };
                let txn = begin_in(store, tenant)?;
                let Some(owner) = txn.owner(tenant, key)? else {
                    return Ok(None);
                };
                Ok(txn
                    .customer(tenant, owner)?
                    .filter(|c| c.is_active())
                    .map(|c| c.into_owned()))
            }
        })
    }

    /// The identities a customer holds (following merges).
    pub fn identities(&mut self, tenant: &TenantId, id: CustomerId) -> Result<Vec<Identity>> {
        begin_in(&mut self.store, tenant)?.identities(tenant, id)
    }

    /// The links and merges that made a customer, oldest first, each with time and cause.
    pub fn history(&mut self, tenant: &TenantId, id: CustomerId) -> Result<Vec<HistoryEvent>> {
        begin_in(&mut self.store, tenant)?.history(tenant, id)
    }
}

#[cfg(test)]
mod tests {
    use super::to_micros;
    use chrono::{SubsecRound, TimeZone, Timelike, Utc};

    #[test]
    fn to_micros_truncates_as_chrono_does_and_folds_leap_seconds() {
        let base = Utc.with_ymd_and_hms(2024, 6, 30, 23, 59, 59).unwrap();
        for nanos in [
            0,
            999,
            1_000,
            123_456_789,
            999_999_999,
            1_000_000_000,
            1_999_999_999,
        ] {
            let t = base.with_nanosecond(nanos).unwrap();
            let want = match nanos.checked_sub(1_000_000_000) {
                // In the leap second: that far into the next second.
                Some(past) => (base + chrono::Duration::seconds(1))
                    .with_nanosecond(past)
                    .unwrap(),
                None => t,
            };
            assert_eq!(to_micros(t), want.trunc_subsecs(6), "{nanos}");
        }
    }
}
