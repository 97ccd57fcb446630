//! The [`Resolver`]: a store, a clock and each tenant's identity settings, and the resolve
//! operations over them.
//!
//! A resolve prepares the request, then plans and applies it in one transaction, run again
//! on a transient conflict; a dry run plans without applying; a batch does the same for many
//! requests in one transaction. The other operations (identities added and removed, updates,
//! deletion, queries) are in `ops`.

use super::begin::{read_in, write_in};
use super::decision::Decided;
use super::group_commit::Groups;
use super::outcome::Outcome;
use super::retry::retry;
use super::tenant_settings::{Defaults, TenantSettings};
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
use crate::settings::normalize::Normalizer;
use crate::store::{ReadTxn, Store, StoredSettings, Txn};
use crate::trace;
use std::cell::RefCell;
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

/// The engine: a store, a clock, and the handle's default identity settings. A cheap,
/// shared handle: `Clone + Send + Sync`, every operation on `&self`, so one resolver serves
/// every thread or task of a service (clones share the store and what the handle caches).
///
/// Each tenant's settings are kept in the store ([`set_settings`](Self::set_settings));
/// every operation runs under the settings its transaction reads there, so two instances on
/// one database never apply different rules.
///
/// ```
/// use oneid::{CustomerPatch, Field, IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
///
/// let resolver = Resolver::new(MemoryStore::new());
/// let shop = TenantId::new("shop");
/// let first = resolver.resolve(&shop, &ResolveRequest::new([
///     IdentityInput::new("wechat", "o-abc"),
///     IdentityInput::new("mobile", "+86 138-0013-8000"),
/// ])).unwrap();
/// assert!(first.created);
///
/// // The same person, seen later by email and mobile, from another thread: found, and the
/// // email linked.
/// let handle = resolver.clone();
/// let second = std::thread::spawn(move || {
///     handle.resolve(&TenantId::new("shop"), &ResolveRequest::new([
///         IdentityInput::new("email", "Jane@Example.com"),
///         IdentityInput::new("mobile", "13800138000"),
///     ]).with_patch(CustomerPatch::new().with(Field::Name, "Jane").unwrap())).unwrap()
/// }).join().unwrap();
/// assert_eq!(second.customer, first.customer);
/// assert_eq!(second.linked.len(), 1);
/// ```
pub struct Resolver<S, C = SystemClock> {
    pub(super) store: Arc<S>,
    pub(super) clock: Arc<C>,
    pub(super) defaults: Defaults,
    pub(super) settings: Arc<TenantSettings>,
    pub(super) parallel_planning: bool,
    /// Resolves queued per tenant and committed together, when on (see
    /// [`with_group_commit`](Self::with_group_commit)).
    pub(super) groups: Option<Arc<Groups>>,
}

impl<S, C> Clone for Resolver<S, C> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            clock: self.clock.clone(),
            defaults: self.defaults.clone(),
            settings: self.settings.clone(),
            parallel_planning: self.parallel_planning,
            groups: self.groups.clone(),
        }
    }
}

impl<S: std::fmt::Debug, C> std::fmt::Debug for Resolver<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// Memory a thread's resolves reuse (prepared blocks, decisions), whichever resolver
    /// they go through: a resolve allocates nothing for its preparation once warm.
    static SCRATCH: RefCell<batch::BatchScratch> = RefCell::default();
}

/// Runs `f` with this thread's scratch memory, taken out while `f` runs (so a resolve that
/// `f` starts, from a batch's callback, gets scratch of its own).
fn with_thread_scratch<R>(f: impl FnOnce(&mut batch::BatchScratch) -> R) -> R {
    let mut scratch = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let out = f(&mut scratch);
    SCRATCH.with(|s| *s.borrow_mut() = scratch);
    out
}

/// A block of this thread's scratch to prepare one request into, given back after `f`.
#[inline]
fn with_block<R>(f: impl FnOnce(&mut batch::PreparedBlock) -> R) -> R {
    let mut block = SCRATCH.with(|s| s.borrow_mut().spare_block());
    let out = f(&mut block);
    SCRATCH.with(|s| s.borrow_mut().give_back(block));
    out
}

impl<S: Store> Resolver<S> {
    /// An engine over `store` with the system clock and default settings for every tenant
    /// that has none stored.
    pub fn new(store: S) -> Self {
        let groups = store.prefers_group_commit().then(Arc::default);
        Self {
            store: Arc::new(store),
            clock: Arc::new(SystemClock),
            defaults: Defaults::new(IdentitySettings::default()),
            settings: Arc::default(),
            parallel_planning: false,
            groups,
        }
    }
}

impl<S: Store, C: Clock> Resolver<S, C> {
    /// Replaces the clock (e.g. with a [`ManualClock`](crate::ManualClock) in tests).
    pub fn with_clock<C2: Clock>(self, clock: C2) -> Resolver<S, C2> {
        Resolver {
            store: self.store,
            clock: Arc::new(clock),
            defaults: self.defaults,
            settings: self.settings,
            parallel_planning: self.parallel_planning,
            groups: self.groups,
        }
    }

    /// Lets [`resolve_batch`](Self::resolve_batch) plan the requests of a batch that share no
    /// identity with an earlier one in parallel, on stores that allow it (the memory store),
    /// before applying them in order. Off by default.
    ///
    /// It can pay when most requests of a batch are independent, planning dominates and
    /// several cores are idle. On a 2-core machine it did not (PERFORMANCE.md): planned in
    /// order, preparation runs beside the planning instead. Outcomes are the same either way.
    pub fn with_parallel_planning(mut self, on: bool) -> Self {
        self.parallel_planning = on;
        self
    }

    /// Whether resolves that arrive together from several threads share one transaction and
    /// one commit (group commit). On by default for the stores whose commits flush to disk
    /// (SQLite, PostgreSQL), off for the memory store.
    ///
    /// Each [`resolve`](Self::resolve) then joins its tenant's queue; one waiting caller takes
    /// every queued request (up to 64) and resolves them with
    /// [`resolve_batch`](Self::resolve_batch), in queue order, with the outcomes one-by-one
    /// resolution would give; every caller gets its own outcome once the batch is committed,
    /// that is durable. A caller alone is resolved at once. An invalid request gets its own
    /// error; a failure of the whole batch (the store lost, a conflict that outlasted the
    /// retries) reaches every caller in it. Plain creates and
    /// [`resolve_and_get`](Self::resolve_and_get) always commit on their own.
    pub fn with_group_commit(mut self, on: bool) -> Self {
        self.groups = on.then(Arc::default);
        self
    }

    /// Sets the settings of tenants that have none stored. A tenant's first write stores
    /// them as its settings (version 1), so that every instance on the store agrees from
    /// then on, whatever defaults the others were given. Custom normalizers they carry are
    /// registered with this handle ([`with_normalizer`](Self::with_normalizer)).
    pub fn with_default_settings(mut self, settings: IdentitySettings) -> Self {
        self.settings.register_from(&settings);
        // Applied as a store would give them back, so that the tenants that run under them
        // before and after they are stored run under the same rules.
        let canonical = self.settings.parse(&settings.to_json()).unwrap_or(settings);
        self.defaults = Defaults::new(canonical);
        self
    }

    /// Registers a normalizer that stored settings may name (by [`Normalizer::name`]). Every
    /// instance that serves a tenant whose settings name a custom normalizer must register
    /// it; one that has not refuses the tenant's operations with
    /// [`Error::UnknownNormalizer`].
    pub fn with_normalizer(self, normalizer: impl Normalizer + 'static) -> Self {
        self.settings.register(Arc::new(normalizer));
        self
    }

    /// Stores new settings for one tenant, as the next version, with `cause` in the
    /// tenant's settings history; returns the version. Operations that begin after it see
    /// them, in every instance on the store; an operation in flight finishes under the
    /// settings it began with, before the change (the memory and SQLite stores make the
    /// change wait for it), or runs again under the new ones (PostgreSQL, when the change
    /// commits first). Custom normalizers the settings carry are registered with this
    /// handle. Customers already stored are not changed.
    pub fn set_settings(
        &self,
        tenant: &TenantId,
        settings: &IdentitySettings,
        cause: Option<&str>,
    ) -> Result<u64> {
        self.settings.register_from(settings);
        let document = settings.to_json();
        // Refused here if this handle could not read it back.
        self.settings.parse(&document)?;
        if let Some(cause) = cause {
            crate::model::check_cause(cause)?;
        }
        let at = self.now()?;
        let span = trace::operation("set_settings", tenant);
        let mut attempts = 0;
        let version = retry(|| {
            attempts += 1;
            let mut txn = write_in(&*self.store, tenant)?;
            let version = txn.put_settings(tenant, &document, at, cause)?;
            txn.commit()?;
            Ok(version)
        });
        span.attempts(attempts);
        version
    }

    /// The settings a tenant runs under now: its stored ones, or this handle's defaults when
    /// none are stored.
    pub fn settings(&self, tenant: &TenantId) -> Result<Arc<IdentitySettings>> {
        retry(|| {
            let txn = read_in(&*self.store, tenant)?;
            Ok(self.settings.current(&txn, tenant, &self.defaults)?.settings)
        })
    }

    /// Every version of a tenant's stored settings, oldest first, each with its time and
    /// cause.
    pub fn settings_history(&self, tenant: &TenantId) -> Result<Vec<StoredSettings>> {
        retry(|| read_in(&*self.store, tenant)?.settings_history(tenant))
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

    /// Whether resolves wait for a group of others to commit with
    /// ([`with_group_commit`](Self::with_group_commit)).
    #[cfg(feature = "tokio")]
    pub(crate) fn commits_in_groups(&self) -> bool {
        self.groups.is_some()
    }

    /// Runs `read` in a read transaction of `tenant`, again on a transient failure.
    pub(super) fn reading<T>(
        &self,
        tenant: &TenantId,
        name: &'static str,
        mut read: impl FnMut(&S::Reader<'_>) -> Result<T>,
    ) -> Result<T> {
        let span = trace::operation(name, tenant);
        let mut attempts = 0;
        let out = retry(|| {
            attempts += 1;
            read(&read_in(&*self.store, tenant)?)
        });
        span.attempts(attempts);
        out
    }

    /// Resolves a request (docs/SEMANTICS.md §2) and returns what happened. Atomic: on error
    /// nothing was written.
    pub fn resolve(&self, tenant: &TenantId, request: &ResolveRequest) -> Result<Outcome> {
        match &self.groups {
            Some(groups) => self
                .resolve_queued(groups, tenant, request, false)
                .map(|(outcome, _)| outcome),
            None => self.resolve_as(tenant, request, Operation::Resolve, None),
        }
    }

    /// Resolves `request` in a batch with the requests other callers queued (group commit),
    /// reading its target back if `read_back`. Whichever caller leads a batch resolves every
    /// request in it, so every leader reads back what any caller asked for.
    fn resolve_queued(
        &self,
        groups: &Groups,
        tenant: &TenantId,
        request: &ResolveRequest,
        read_back: bool,
    ) -> Result<(Outcome, Option<Customer>)> {
        // Queuing copies the request: one past its bounds (a value nested too deep to copy
        // safely, among others) is refused first, as its batch would refuse it.
        super::begin::check_tenant(tenant)?;
        prepare::check_request(request)?;
        groups.resolve(tenant, request, read_back, |requests, read_back, each| {
            self.resolve_batch_reading(tenant, requests, Some(read_back), |i, outcome, customer| {
                each(i, outcome.map(|o| (o.to_outcome(), customer)))
            })
        })
    }

    /// [`resolve`](Self::resolve), and the target customer as it is after the resolve, read
    /// in the same transaction (what 002 answers with). With group commit it queues like
    /// `resolve`, and its batch reads the target right after resolving it.
    pub fn resolve_and_get(
        &self,
        tenant: &TenantId,
        request: &ResolveRequest,
    ) -> Result<(Outcome, Customer)> {
        let (outcome, customer) = match &self.groups {
            Some(groups) => self.resolve_queued(groups, tenant, request, true)?,
            None => {
                let mut customer = None;
                let outcome = self.resolve_as(tenant, request, Operation::Resolve, Some(&mut customer))?;
                (outcome, customer)
            }
        };
        let customer =
            customer.ok_or_else(|| Error::Invariant("a resolve's target could not be read back".into()))?;
        Ok((outcome, customer))
    }

    /// Resolves `request`; with `read_back`, also reads the target as the transaction leaves
    /// it into `read_back` (an out-parameter, so that a plain resolve moves no customer).
    fn resolve_as(
        &self,
        tenant: &TenantId,
        request: &ResolveRequest,
        operation: Operation,
        mut read_back: Option<&mut Option<Customer>>,
    ) -> Result<Outcome> {
        let at = self.event_time(request)?;
        let span = trace::operation(
            if operation == Operation::Create {
                "create"
            } else {
                "resolve"
            },
            tenant,
        );
        let mut attempts = 0;
        let out = with_block(|block| {
            // Prepared under the settings last seen, before the transaction, so that the
            // transaction only confirms them; prepared again if they changed.
            let mut prepared_under = None;
            let seen = self.settings.last_seen(tenant);
            if let Some((_, settings)) = &seen
                && block.prepare_one(settings, request).is_ok()
            {
                prepared_under = Some(settings.clone());
            }
            retry(|| {
                attempts += 1;
                let mut txn = write_in(&*self.store, tenant)?;
                let current =
                    self.settings
                        .current_after(&txn, tenant, &self.defaults, seen.as_ref(), false)?;
                let settings = &current.settings;
                if !prepared_under.as_ref().is_some_and(|p| Arc::ptr_eq(p, settings)) {
                    prepared_under = None;
                    block.prepare_one(settings, request)?;
                    prepared_under = Some(settings.clone());
                }
                let prep = block.prep(0).expect("prepared");
                // Preparing checked the request's time, so it can be kept.
                self.settings
                    .store_defaults(&mut txn, tenant, &current, &self.defaults, at)?;
                let mut decided = Decided::default();
                let plan = plan::plan(&txn, settings, tenant, request, prep, at, &mut decided)?;
                apply::apply(&mut txn, tenant, plan, &mut decided, prep, request, operation)?;
                if let Some(out) = read_back.as_deref_mut() {
                    *out = match decided.customer {
                        Some(id) => txn.customer(tenant, id)?.map(|c| c.into_owned()),
                        None => None,
                    };
                }
                txn.commit()?;
                Ok(OutcomeView::new(&decided, prep, false).to_outcome())
            })
        });
        span.attempts(attempts);
        if let Ok(o) = &out {
            span.resolved(o.created, o.linked.len(), o.merged.len(), o.rejected.len());
        }
        out
    }

    /// Resolves many requests in one store transaction, with exactly the outcomes that
    /// resolving them one by one in order would give.
    ///
    /// Built for throughput: validation and normalization run beside the planning, shared
    /// with a thread of their own for a large batch (512 requests or more) planned in order,
    /// so that the work balances between the two. With
    /// [`with_parallel_planning`](Self::with_parallel_planning), on a store whose
    /// transactions allow parallel reads ([`ReadTxn::shared`](crate::ReadTxn::shared), the memory store), the requests
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
    /// let resolver = Resolver::new(MemoryStore::new());
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
        &self,
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
    /// is kept by the thread and reused by its next batch, so a batch allocates nothing per
    /// request on the way.
    ///
    /// `each` is called after the batch has been committed (so never for a batch that
    /// failed, and once per request even when a transient conflict with another writer made
    /// the batch run again), with the request's index and its outcome or its input error.
    ///
    /// ```
    /// use oneid::{IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
    /// let resolver = Resolver::new(MemoryStore::new());
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
        &self,
        tenant: &TenantId,
        requests: &[ResolveRequest],
        mut each: F,
    ) -> Result<()>
    where
        F: FnMut(usize, Result<OutcomeView<'_>>),
    {
        self.resolve_batch_reading(tenant, requests, None, |i, outcome, _| each(i, outcome))
    }

    /// [`resolve_batch_with`](Self::resolve_batch_with), also reading, for each request
    /// `read_back` marks, its target customer right after it resolves, in the batch's
    /// transaction; `each` gets it beside the outcome.
    fn resolve_batch_reading<F>(
        &self,
        tenant: &TenantId,
        requests: &[ResolveRequest],
        read_back: Option<&[bool]>,
        mut each: F,
    ) -> Result<()>
    where
        F: FnMut(usize, Result<OutcomeView<'_>>, Option<Customer>),
    {
        // Read the clock in request order, as one-by-one resolution would.
        let times = requests
            .iter()
            .map(|r| self.event_time(r))
            .collect::<Result<Vec<_>>>()?;
        let parallel = self.parallel_planning;
        let span = trace::operation("resolve_batch", tenant);
        let mut attempts = 0;
        with_thread_scratch(|scratch| {
            retry(|| {
                attempts += 1;
                let mut txn = write_in(&*self.store, tenant)?;
                // A batch always commits, even when every request in it was refused, so the
                // settings seen last may be taken (checked at commit) on its first attempt.
                let current =
                    self.settings
                        .current_after(&txn, tenant, &self.defaults, None, attempts == 1)?;
                // At the first time a request of the batch may keep (one whose event time is
                // refused writes nothing); if none may, nothing of the batch is written.
                let storable = times.iter().copied().find(|t| {
                    use chrono::Datelike;
                    crate::model::storable_year(t.year())
                });
                if let Some(at) = storable {
                    self.settings
                        .store_defaults(&mut txn, tenant, &current, &self.defaults, at)?;
                }
                let batch = batch::Batch {
                    settings: &current.settings,
                    tenant,
                    requests,
                    times: &times,
                    read_back,
                };
                batch::run(&mut txn, batch, scratch, parallel)?;
                txn.commit()
            })?;
            span.attempts(attempts);
            // Read in place; only a request's error is taken out, to be handed over.
            let mut decided = std::mem::take(&mut scratch.decided);
            for (i, d) in decided.iter_mut().enumerate() {
                match d {
                    Ok(d) => {
                        let customer = d.read_back.take().map(|c| *c);
                        each(
                            i,
                            Ok(OutcomeView::new(d, scratch.prep(i).expect("prepared"), false)),
                            customer,
                        )
                    }
                    Err(e) => each(i, Err(std::mem::replace(e, Error::handed_over())), None),
                }
            }
            scratch.decided = decided;
            Ok(())
        })
    }

    /// What [`resolve`](Self::resolve) would do, without writing anything (001's
    /// `getCustomerIdByIdentityList`). In the outcome, `customer` is `None` when a new
    /// customer would be created.
    pub fn dry_run(&self, tenant: &TenantId, request: &ResolveRequest) -> Result<Outcome> {
        let at = self.event_time(request)?;
        with_block(|block| {
            self.reading(tenant, "dry_run", |txn| {
                let settings = self.settings.current(txn, tenant, &self.defaults)?.settings;
                let prep = block_prepare(block, &settings, request)?;
                let mut decided = Decided::default();
                plan::plan(txn, &settings, tenant, request, prep, at, &mut decided)?;
                Ok(OutcomeView::new(&decided, prep, true).to_outcome())
            })
        })
    }

    /// The id a customer id reads as now: itself for a live or deleted customer, the survivor
    /// for a merged one; `None` if the id was never assigned in this tenant. Cheaper than
    /// [`get`](Self::get) when only the id is needed.
    pub fn canonical_id(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<CustomerId>> {
        self.reading(tenant, "canonical_id", |txn| txn.canonical_id(tenant, id))
    }

    /// Plain create (001 `customer/add`, 002 `POST customers`, 003 `addCustomer`): the
    /// patch's mobile (and, for [`PlainCreate::MobileAndEmail`], email) act as the identity
    /// list; a customer found by them is updated instead of duplicated; nothing is merged.
    pub fn create(&self, tenant: &TenantId, patch: CustomerPatch, variant: PlainCreate) -> Result<Outcome> {
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
        self.resolve_as(tenant, &request, Operation::Create, None)
    }

    /// A live customer by id, following merges (a merged id reads as the customer it was
    /// merged into). Deleted customers and unknown ids read as `None`.
    pub fn get(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<Customer>> {
        self.reading(tenant, "get", |txn| {
            Ok(txn
                .customer(tenant, id)?
                .filter(|c| c.is_active())
                .map(|c| c.into_owned()))
        })
    }

    /// The live customer that owns an identity, after normalizing the value. Invalid values
    /// are errors; blocked values find nobody.
    pub fn find_by_identity(&self, tenant: &TenantId, identity: &IdentityInput) -> Result<Option<Customer>> {
        self.reading(tenant, "find_by_identity", |txn| {
            let settings = self.settings.current(txn, tenant, &self.defaults)?.settings;
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
                    let Some(owner) = txn.owner(tenant, key)? else {
                        return Ok(None);
                    };
                    Ok(txn
                        .customer(tenant, owner)?
                        .filter(|c| c.is_active())
                        .map(|c| c.into_owned()))
                }
            })
        })
    }

    /// The identities a customer holds (following merges).
    pub fn identities(&self, tenant: &TenantId, id: CustomerId) -> Result<Vec<Identity>> {
        self.reading(tenant, "identities", |txn| txn.identities(tenant, id))
    }

    /// The links and merges that made a customer, oldest first, each with time and cause.
    pub fn history(&self, tenant: &TenantId, id: CustomerId) -> Result<Vec<HistoryEvent>> {
        self.reading(tenant, "history", |txn| txn.history(tenant, id))
    }
}

/// Prepares one request into `block`, over what it held.
fn block_prepare<'b>(
    block: &'b mut batch::PreparedBlock,
    settings: &IdentitySettings,
    request: &ResolveRequest,
) -> Result<prepare::Prep<'b>> {
    block.prepare_one(settings, request)
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
