//! The async handle (feature `tokio`): [`AsyncResolver`], every operation of a [`Resolver`]
//! as an `async fn` that never holds a runtime worker on I/O.
//!
//! The engine is synchronous on purpose: it plans in memory and commits through a store
//! transaction, and the SQL stores use synchronous drivers. Called from a runtime worker,
//! an operation would hold the worker for its I/O and its retry pauses, and the PostgreSQL
//! driver (which drives a small runtime of its own per connection) would panic there. So
//! each operation is handed to [`tokio::task::spawn_blocking`] with a clone of the handle and
//! owned arguments, and awaited: the workers only ever wait on a join handle.
//!
//! The memory store is the exception ([`Store::may_block`] is `false`): an operation sized
//! by its request (a resolve, a read of one customer, an update) is typically a few
//! microseconds of work in memory (more when it grows a table, which then rehashes), less
//! than handing it to another thread and back costs, so it runs on the calling task.
//! Operations whose work grows with the data (batches, queries and counts, history, identity
//! listings, the quarantine report, delete and erasure, settings changes) still go to the
//! pool, and while one of them runs the handle sends the short ones there too rather than
//! let them wait for it on a worker. The count is the handle's and its clones': a long
//! operation run on the synchronous handle, from a thread of the caller's own, or through
//! another `AsyncResolver` made from a clone of the same `Resolver`, is not seen, and a
//! resolve of the same tenant then waits for it on its worker. A resolver with group commit
//! on runs every operation on the pool, since a resolve there waits for its group.
//!
//! What that means for a caller:
//!
//! - **Dropping the future does not cancel the operation.** A blocking task cannot be
//!   stopped: it runs to its end (committed, or failed and rolled back), only its answer is
//!   lost. A resolve is idempotent, so a client that gave up can send it again. (One run on
//!   the calling task is done, or not begun, whenever the future is dropped.)
//! - **A panic stays a panic.** If the operation panics, on the blocking pool or on the
//!   calling task, the panic resumes in the task that awaited it, as it would have in a
//!   synchronous call.
//! - **How many operations run at once** is bounded by the runtime's blocking pool
//!   (`max_blocking_threads`, 512 by default) and, for the SQL stores, by their connection
//!   pools: an operation past the pool waits for a connection on its blocking thread.
//! - **Dropping the last handle** inside a runtime closes the store on a thread of its own,
//!   joined before the drop returns: closing a PostgreSQL connection blocks on its driver's
//!   runtime, which may not run on a runtime's thread.

use crate::clock::{Clock, SystemClock};
use crate::engine::{Outcome, PlainCreate, Resolver, Updated};
use crate::error::{Error, Result};
use crate::history::{Explanation, HistoryEvent};
use crate::model::{
    Customer, CustomerId, CustomerPatch, Identity, IdentityInput, ResolveRequest, TenantId, UpdatePatch,
};
use crate::quarantine::QuarantinedValue;
use crate::query::{CustomerFilter, CustomerPage, CustomerQuery};
use crate::settings::IdentitySettings;
use crate::store::{Store, StoredSettings};
use indexmap::IndexMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The async handle over a [`Resolver`] (feature `tokio`): the same operations, each an
/// `async fn` that runs the synchronous one on tokio's blocking pool
/// ([`tokio::task::spawn_blocking`]), so no runtime worker waits on a store, sleeps between
/// retries, or starts the PostgreSQL driver's runtime inside its own. Over the memory store,
/// the operations sized by their request run on the calling task instead, unless a long
/// operation of this handle is in flight or group commit is on.
///
/// Like the [`Resolver`], a cheap shared handle: `Clone + Send + Sync`, every operation on
/// `&self`; keep one in a service's state and clone it into every task. Arguments are owned
/// (the blocking task outlives the borrow of a future); a [`TenantId`] is a cheap clone.
/// [`blocking`](Self::blocking) gives the synchronous handle back, for code that runs on a
/// thread of its own.
///
/// Dropping an operation's future does not cancel it: the blocking task runs to its end,
/// committed or rolled back. A panic of the operation resumes in the awaiting task.
///
/// ```
/// use oneid::{AsyncResolver, IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
///
/// #[tokio::main]
/// async fn main() -> oneid::Result<()> {
///     let resolver = AsyncResolver::new(Resolver::new(MemoryStore::new()));
///     let shop = TenantId::new("shop");
///
///     // Sixteen tasks see the same person by mobile, half of them with an email too.
///     let tasks: Vec<_> = (0..16)
///         .map(|i| {
///             let (resolver, shop) = (resolver.clone(), shop.clone());
///             tokio::spawn(async move {
///                 let mut seen = vec![IdentityInput::new("mobile", "+86 138 0013 8000")];
///                 if i % 2 == 1 {
///                     seen.push(IdentityInput::new("email", "Li@Example.com"));
///                 }
///                 resolver.resolve(shop, ResolveRequest::new(seen)).await
///             })
///         })
///         .collect();
///     let mut customers = Vec::new();
///     for task in tasks {
///         customers.push(task.await.expect("no panic")?.customer);
///     }
///     // One customer, holding the mobile and the email.
///     assert!(customers.windows(2).all(|w| w[0] == w[1]));
///     let id = customers[0].unwrap();
///     assert_eq!(resolver.identities(shop.clone(), id).await?.len(), 2);
///
///     // The synchronous handle serves threads of their own.
///     let sync = resolver.blocking().clone();
///     let found = std::thread::spawn(move || {
///         sync.owner_of(&TenantId::new("shop"), &IdentityInput::new("email", "li@example.com"))
///     });
///     assert_eq!(found.join().unwrap()?, Some(id));
///     Ok(())
/// }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct AsyncResolver<S, C = SystemClock> {
    shared: Arc<Held<S, C>>,
}

/// The resolver every clone of a handle shares, released off the runtime's threads when the
/// last one goes.
struct Held<S, C> {
    resolver: Option<Resolver<S, C>>,
    /// How to let go of it: set where the bounds that allow another thread hold, so that
    /// the handle's type needs none.
    release: fn(Resolver<S, C>),
    /// Whether operations sized by their request run on the calling task: the store never
    /// blocks ([`Store::may_block`]) and no resolve waits for a group to commit with.
    inline: bool,
    /// Operations sized by the data (batches, queries, erasure) on the blocking pool now.
    /// While one runs it may hold a tenant for long, so the others go to the pool as well
    /// rather than wait for it on a runtime worker.
    long_in_flight: AtomicUsize,
}

impl<S, C> Held<S, C> {
    fn resolver(&self) -> &Resolver<S, C> {
        self.resolver.as_ref().expect("held until dropped")
    }
}

impl<S, C> Drop for Held<S, C> {
    fn drop(&mut self) {
        if let Some(resolver) = self.resolver.take() {
            (self.release)(resolver);
        }
    }
}

/// Drops a resolver, on a thread outside the runtime when called inside one: the store may
/// close connections whose driver blocks on a runtime of its own (PostgreSQL), which panics
/// on a thread that belongs to a runtime. Joined, so the store is closed when this returns.
fn release<S: Store, C: Clock>(resolver: Resolver<S, C>) {
    if tokio::runtime::Handle::try_current().is_err() {
        return drop(resolver);
    }
    std::thread::scope(|scope| {
        let dropped = std::thread::Builder::new()
            .name("oneid-release".into())
            .spawn_scoped(scope, move || drop(resolver));
        // A panic of the store's drop is not passed on: letting go of a handle cannot fail.
        // (Without a thread to spare, the resolver was dropped here, as it would have been.)
        if let Ok(dropped) = dropped {
            let _ = dropped.join();
        }
    });
}

impl<S, C> Clone for AsyncResolver<S, C> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<S: std::fmt::Debug, C> std::fmt::Debug for AsyncResolver<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AsyncResolver")
            .field(self.shared.resolver())
            .finish()
    }
}

impl<S: Store, C: Clock> From<Resolver<S, C>> for AsyncResolver<S, C> {
    fn from(resolver: Resolver<S, C>) -> Self {
        Self::new(resolver)
    }
}

impl<S: Store, C: Clock> AsyncResolver<S, C> {
    /// The async handle over `resolver` (which it shares with the resolver's other clones).
    pub fn new(resolver: Resolver<S, C>) -> Self {
        let inline = !resolver.store().may_block() && !resolver.commits_in_groups();
        Self {
            shared: Arc::new(Held {
                resolver: Some(resolver),
                release: release::<S, C>,
                inline,
                long_in_flight: AtomicUsize::new(0),
            }),
        }
    }

    /// The synchronous handle, for code on a thread of its own (or inside
    /// [`spawn_blocking`](tokio::task::spawn_blocking)). Clones of it share the store and
    /// the settings with this handle.
    ///
    /// Its calls block, so they do not belong on a runtime worker; with a PostgreSQL store
    /// they panic there, and so does dropping the last clone that holds the store.
    pub fn blocking(&self) -> &Resolver<S, C> {
        self.shared.resolver()
    }
}

impl<S: Store + 'static, C: Clock + 'static> AsyncResolver<S, C> {
    /// Builds the resolver on the blocking pool and wraps it: opening a SQL store connects,
    /// creates or upgrades its schema and may wait for the database, none of which belongs
    /// on a runtime worker (the PostgreSQL driver panics there).
    ///
    /// ```
    /// use oneid::{AsyncResolver, MemoryStore, Resolver};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> oneid::Result<()> {
    /// // With `PostgresStore::connect(url)?` in place of the memory store, alike.
    /// let resolver = AsyncResolver::open(|| Ok(Resolver::new(MemoryStore::new()))).await?;
    /// # drop(resolver);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn open<F>(build: F) -> Result<Self>
    where
        F: FnOnce() -> Result<Resolver<S, C>> + Send + 'static,
    {
        join(tokio::task::spawn_blocking(build)).await.map(Self::new)
    }

    /// Runs `op`, an operation whose work is bounded by its request, with the synchronous
    /// handle: on the calling task where the store never blocks and no long operation of
    /// this handle is running, else as [`run_long`](Self::run_long) does without counting.
    async fn run<T, F>(&self, op: F) -> Result<T>
    where
        F: FnOnce(&Resolver<S, C>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        if self.shared.inline && self.shared.long_in_flight.load(Ordering::Acquire) == 0 {
            return op(self.shared.resolver());
        }
        self.on_pool(op, false).await
    }

    /// Runs `op`, an operation whose work grows with the data, with the synchronous handle
    /// on the blocking pool and awaits its answer.
    async fn run_long<T, F>(&self, op: F) -> Result<T>
    where
        F: FnOnce(&Resolver<S, C>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.on_pool(op, self.shared.inline).await
    }

    /// Runs `op` on the blocking pool (inside the caller's `tracing` span, with the
    /// feature), counted among the long operations in flight if `long`.
    async fn on_pool<T, F>(&self, op: F, long: bool) -> Result<T>
    where
        F: FnOnce(&Resolver<S, C>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let shared = self.shared.clone();
        #[cfg(feature = "tracing")]
        let caller = tracing::Span::current();
        // Counted from before the task is queued until it ends (or panics), so that no
        // operation of this handle starts on a worker while it may hold a tenant.
        let counted = long.then(|| InFlight::new(shared.clone()));
        join(tokio::task::spawn_blocking(move || {
            #[cfg(feature = "tracing")]
            let _caller = caller.enter();
            let _counted = counted;
            op(shared.resolver())
        }))
        .await
    }

    /// [`Resolver::resolve`].
    pub async fn resolve(&self, tenant: TenantId, request: ResolveRequest) -> Result<Outcome> {
        self.run(move |r| r.resolve(&tenant, &request)).await
    }

    /// [`Resolver::resolve_and_get`]: the outcome, and the target customer as the resolve
    /// left it (what 002 answers with).
    pub async fn resolve_and_get(
        &self,
        tenant: TenantId,
        request: ResolveRequest,
    ) -> Result<(Outcome, Customer)> {
        self.run(move |r| r.resolve_and_get(&tenant, &request)).await
    }

    /// [`Resolver::resolve_batch`]: many requests in one transaction. The requests are any
    /// owned slice: a `Vec`, or an `Arc<[ResolveRequest]>` to keep them.
    pub async fn resolve_batch<R>(&self, tenant: TenantId, requests: R) -> Result<Vec<Result<Outcome>>>
    where
        R: AsRef<[ResolveRequest]> + Send + 'static,
    {
        self.run_long(move |r| r.resolve_batch(&tenant, requests.as_ref()))
            .await
    }

    /// [`Resolver::dry_run`]: what a resolve would do, writing nothing.
    pub async fn dry_run(&self, tenant: TenantId, request: ResolveRequest) -> Result<Outcome> {
        self.run(move |r| r.dry_run(&tenant, &request)).await
    }

    /// [`Resolver::create`]: a plain create by the patch's mobile (and email).
    pub async fn create(
        &self,
        tenant: TenantId,
        patch: CustomerPatch,
        variant: PlainCreate,
    ) -> Result<Outcome> {
        self.run(move |r| r.create(&tenant, patch, variant)).await
    }

    /// [`Resolver::get`]: a live customer by id, following merges.
    pub async fn get(&self, tenant: TenantId, id: CustomerId) -> Result<Option<Customer>> {
        self.run(move |r| r.get(&tenant, id)).await
    }

    /// [`Resolver::canonical_id`]: the id a customer id reads as now.
    pub async fn canonical_id(&self, tenant: TenantId, id: CustomerId) -> Result<Option<CustomerId>> {
        self.run(move |r| r.canonical_id(&tenant, id)).await
    }

    /// [`Resolver::find_by_identity`]: the live customer that owns an identity.
    pub async fn find_by_identity(
        &self,
        tenant: TenantId,
        identity: IdentityInput,
    ) -> Result<Option<Customer>> {
        self.run(move |r| r.find_by_identity(&tenant, &identity)).await
    }

    /// [`Resolver::identities`]: the identities a customer holds.
    pub async fn identities(&self, tenant: TenantId, id: CustomerId) -> Result<Vec<Identity>> {
        self.run_long(move |r| r.identities(&tenant, id)).await
    }

    /// [`Resolver::identities_of`]: the identities of several customers, in the order asked.
    pub async fn identities_of(
        &self,
        tenant: TenantId,
        ids: Vec<CustomerId>,
    ) -> Result<Vec<(CustomerId, Vec<Identity>)>> {
        self.run_long(move |r| r.identities_of(&tenant, &ids)).await
    }

    /// [`Resolver::owner_of`]: the live owner of an identity.
    pub async fn owner_of(&self, tenant: TenantId, identity: IdentityInput) -> Result<Option<CustomerId>> {
        self.run(move |r| r.owner_of(&tenant, &identity)).await
    }

    /// [`Resolver::history`]: the links and merges that made a customer, oldest first.
    pub async fn history(&self, tenant: TenantId, id: CustomerId) -> Result<Vec<HistoryEvent>> {
        self.run_long(move |r| r.history(&tenant, id)).await
    }

    /// [`Resolver::attributes`]: the values of named attributes.
    pub async fn attributes<I>(
        &self,
        tenant: TenantId,
        id: CustomerId,
        names: I,
    ) -> Result<IndexMap<String, serde_json::Value>>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        self.run_long(move |r| {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            r.attributes(&tenant, id, &names)
        })
        .await
    }

    /// [`Resolver::update`]: sets, clears or keeps each field of a customer.
    pub async fn update(&self, tenant: TenantId, id: CustomerId, update: UpdatePatch) -> Result<Updated> {
        self.run(move |r| r.update(&tenant, id, &update)).await
    }

    /// [`Resolver::update_attribute`]: one attribute by name, a well-known field or an
    /// extended attribute.
    pub async fn update_attribute(
        &self,
        tenant: TenantId,
        id: CustomerId,
        name: impl Into<String>,
        value: serde_json::Value,
    ) -> Result<Updated> {
        let name = name.into();
        self.run(move |r| r.update_attribute(&tenant, id, &name, &value))
            .await
    }

    /// [`Resolver::update_extended_attribute`]: an extended attribute, whatever its key.
    pub async fn update_extended_attribute(
        &self,
        tenant: TenantId,
        id: CustomerId,
        key: impl Into<String>,
        value: serde_json::Value,
    ) -> Result<Updated> {
        let key = key.into();
        self.run(move |r| r.update_extended_attribute(&tenant, id, &key, &value))
            .await
    }

    /// [`Resolver::add_identity`]: binds an identity to a customer.
    pub async fn add_identity(
        &self,
        tenant: TenantId,
        id: CustomerId,
        identity: IdentityInput,
    ) -> Result<Identity> {
        self.run(move |r| r.add_identity(&tenant, id, &identity)).await
    }

    /// [`Resolver::remove_identity`]: unbinds an identity from a customer.
    pub async fn remove_identity(
        &self,
        tenant: TenantId,
        id: CustomerId,
        identity: IdentityInput,
    ) -> Result<bool> {
        self.run(move |r| r.remove_identity(&tenant, id, &identity)).await
    }

    /// [`Resolver::add_tags`].
    pub async fn add_tags<I>(&self, tenant: TenantId, id: CustomerId, tags: I) -> Result<Updated>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let tags = owned_strings(tags);
        self.run(move |r| r.add_tags(&tenant, id, &borrowed(&tags))).await
    }

    /// [`Resolver::remove_tags`].
    pub async fn remove_tags<I>(&self, tenant: TenantId, id: CustomerId, tags: I) -> Result<Updated>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let tags = owned_strings(tags);
        self.run(move |r| r.remove_tags(&tenant, id, &borrowed(&tags)))
            .await
    }

    /// [`Resolver::add_groups`].
    pub async fn add_groups(
        &self,
        tenant: TenantId,
        id: CustomerId,
        groups: impl IntoIterator<Item = i64>,
    ) -> Result<Updated> {
        let groups: Vec<i64> = groups.into_iter().collect();
        self.run(move |r| r.add_groups(&tenant, id, &groups)).await
    }

    /// [`Resolver::remove_groups`].
    pub async fn remove_groups(
        &self,
        tenant: TenantId,
        id: CustomerId,
        groups: impl IntoIterator<Item = i64>,
    ) -> Result<Updated> {
        let groups: Vec<i64> = groups.into_iter().collect();
        self.run(move |r| r.remove_groups(&tenant, id, &groups)).await
    }

    /// [`Resolver::delete`]: logically deletes a customer and releases its identities.
    pub async fn delete(&self, tenant: TenantId, id: CustomerId) -> Result<()> {
        self.run_long(move |r| r.delete(&tenant, id)).await
    }

    /// [`Resolver::erase`]: erases a customer's personal data for good.
    pub async fn erase(&self, tenant: TenantId, id: CustomerId) -> Result<Vec<CustomerId>> {
        self.run_long(move |r| r.erase(&tenant, id)).await
    }

    /// [`Resolver::query`]: a page of live customers matching a query, with the total.
    pub async fn query(&self, tenant: TenantId, query: CustomerQuery) -> Result<CustomerPage> {
        self.run_long(move |r| r.query(&tenant, &query)).await
    }

    /// [`Resolver::query_json`]: a page of customers as JSON, restricted to the query's
    /// selection, with the total.
    pub async fn query_json(
        &self,
        tenant: TenantId,
        query: CustomerQuery,
    ) -> Result<(Vec<serde_json::Value>, u64)> {
        self.run_long(move |r| r.query_json(&tenant, &query)).await
    }

    /// [`Resolver::count`]: how many live customers match a filter.
    pub async fn count(&self, tenant: TenantId, filter: CustomerFilter) -> Result<u64> {
        self.run_long(move |r| r.count(&tenant, &filter)).await
    }

    /// [`Resolver::explain`]: why two identities are the same customer.
    pub async fn explain(
        &self,
        tenant: TenantId,
        a: IdentityInput,
        b: IdentityInput,
    ) -> Result<Option<Explanation>> {
        self.run_long(move |r| r.explain(&tenant, &a, &b)).await
    }

    /// [`Resolver::set_settings`]: stores a tenant's next settings version.
    pub async fn set_settings(
        &self,
        tenant: TenantId,
        settings: IdentitySettings,
        cause: Option<String>,
    ) -> Result<u64> {
        self.run_long(move |r| r.set_settings(&tenant, &settings, cause.as_deref()))
            .await
    }

    /// [`Resolver::settings`]: the settings a tenant runs under now.
    pub async fn settings(&self, tenant: TenantId) -> Result<Arc<IdentitySettings>> {
        self.run(move |r| r.settings(&tenant)).await
    }

    /// [`Resolver::settings_history`]: every stored version of a tenant's settings.
    pub async fn settings_history(&self, tenant: TenantId) -> Result<Vec<StoredSettings>> {
        self.run_long(move |r| r.settings_history(&tenant)).await
    }

    /// [`Resolver::quarantined`]: the tenant's quarantined values with their evidence.
    pub async fn quarantined(&self, tenant: TenantId) -> Result<Vec<QuarantinedValue>> {
        self.run_long(move |r| r.quarantined(&tenant)).await
    }
}

/// One long operation in flight, counted in its handle until dropped.
struct InFlight<S, C>(Arc<Held<S, C>>);

impl<S, C> InFlight<S, C> {
    fn new(held: Arc<Held<S, C>>) -> Self {
        held.long_in_flight.fetch_add(1, Ordering::AcqRel);
        Self(held)
    }
}

impl<S, C> Drop for InFlight<S, C> {
    fn drop(&mut self) {
        self.0.long_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The answer of a blocking task: its own, or its panic resumed here. A task that never ran
/// (the runtime shut down first) applied nothing: [`Error::Unavailable`].
async fn join<T>(task: tokio::task::JoinHandle<Result<T>>) -> Result<T> {
    match task.await {
        Ok(out) => out,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => Err(Error::Unavailable {
                message: "the runtime shut down before the operation ran".into(),
                source: Box::new(e),
            }),
        },
    }
}

fn owned_strings<I>(items: I) -> Vec<String>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    items.into_iter().map(Into::into).collect()
}

fn borrowed(items: &[String]) -> Vec<&str> {
    items.iter().map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    fn assert_shared<T: Clone + Send + Sync + 'static>() {}
    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn the_handle_and_its_futures_are_shareable() {
        assert_shared::<AsyncResolver<MemoryStore>>();
        let r = AsyncResolver::new(Resolver::new(MemoryStore::new()));
        let t = TenantId::new("t");
        assert_send(&r.resolve(t.clone(), ResolveRequest::new([IdentityInput::new("qq", "1")])));
        assert_send(&r.get(t.clone(), CustomerId(1)));
        assert_send(&r.add_tags(t.clone(), CustomerId(1), ["vip"]));
        assert_send(&r.attributes(t, CustomerId(1), ["name"]));
    }

    /// A clock that panics: the operation panics on the blocking pool, before any write.
    #[derive(Debug)]
    struct Broken;

    impl Clock for Broken {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            panic!("the clock broke")
        }
    }

    #[test]
    fn a_panic_of_an_operation_resumes_in_the_caller() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let r = AsyncResolver::new(Resolver::new(MemoryStore::new()).with_clock(Broken));
        let request = || ResolveRequest::new([IdentityInput::new("qq", "1")]);
        // On the calling task (a resolve) and on the blocking pool (a batch) alike.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(r.resolve(TenantId::new("t"), request()))
        }));
        let panic = caught.expect_err("the panic resumes");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"the clock broke"));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(r.resolve_batch(TenantId::new("t"), vec![request()]))
        }));
        let panic = caught.expect_err("the panic resumes");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"the clock broke"));
        // A long operation that panicked no longer counts as in flight.
        assert_eq!(r.shared.long_in_flight.load(Ordering::Acquire), 0);
        // The handle still serves what needs no clock.
        let found = runtime.block_on(r.owner_of(TenantId::new("t"), IdentityInput::new("qq", "1")));
        assert_eq!(found.unwrap(), None);
    }

    #[test]
    fn the_quarantine_report_is_the_resolvers() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let settings = IdentitySettings::default().with_quarantine(Some(2)).unwrap();
        let r = AsyncResolver::new(Resolver::new(MemoryStore::new()).with_default_settings(settings));
        let t = TenantId::new("t");
        for card in ["530000000000000001", "530000000000000002", "530000000000000003"] {
            let request = ResolveRequest::new([
                IdentityInput::new("wechat", "o0"),
                IdentityInput::new("idcard", card),
            ]);
            runtime.block_on(r.resolve(t.clone(), request)).unwrap();
        }
        let report = runtime.block_on(r.quarantined(t.clone())).unwrap();
        assert_eq!(report.len(), 1);
        assert_eq!(report[0].identity.to_string(), "wechat o0");
        assert_eq!(report[0].evidence.len(), 2);
        assert_eq!(report, r.blocking().quarantined(&t).unwrap());
    }

    #[test]
    fn a_task_the_runtime_never_ran_is_unavailable() {
        let gone = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let handle = gone.handle().clone();
        gone.shutdown_background();
        // Spawned on a runtime that shut down: cancelled before it ran.
        let task = handle.spawn_blocking(|| -> Result<()> { Ok(()) });
        let awaiting = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let out = awaiting.block_on(join(task));
        assert!(matches!(out, Err(Error::Unavailable { .. })), "{out:?}");
    }

    /// A clock that notes the thread of every reading, and holds the first reading made off
    /// the test's own thread until told to go on.
    #[derive(Debug, Clone)]
    struct Watching {
        test_thread: std::thread::ThreadId,
        readings: Arc<std::sync::Mutex<Vec<std::thread::ThreadId>>>,
        gate: Arc<std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>>,
    }

    impl Clock for Watching {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            let me = std::thread::current().id();
            self.readings.lock().unwrap().push(me);
            if me != self.test_thread {
                let gate = self.gate.lock().unwrap().take();
                if let Some(gate) = gate {
                    let _ = gate.recv();
                }
            }
            chrono::Utc::now()
        }
    }

    impl Watching {
        fn last(&self) -> std::thread::ThreadId {
            *self.readings.lock().unwrap().last().expect("the clock was read")
        }
    }

    #[test]
    fn memory_store_operations_run_on_the_calling_task_unless_a_long_one_is_in_flight() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (go, gate) = std::sync::mpsc::channel();
        let clock = Watching {
            test_thread: std::thread::current().id(),
            readings: Arc::default(),
            gate: Arc::new(std::sync::Mutex::new(Some(gate))),
        };
        let r = AsyncResolver::new(Resolver::new(MemoryStore::new()).with_clock(clock.clone()));
        let request = |v: &str| ResolveRequest::new([IdentityInput::new("qq", v)]);
        let here = std::thread::current().id();

        // Lets the held batch go when dropped, on a failed assertion as well: the runtime
        // waits for its blocking tasks before it goes.
        struct Release(std::sync::mpsc::Sender<()>);
        impl Drop for Release {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        let go = Release(go);

        runtime.block_on(async {
            r.resolve(TenantId::new("a"), request("1")).await.unwrap();
            assert_eq!(clock.last(), here, "a resolve runs on the calling task");

            // A batch on the pool, held at its first clock reading: it is in flight.
            let batch = tokio::spawn({
                let r = r.clone();
                async move { r.resolve_batch(TenantId::new("b"), vec![request("2")]).await }
            });
            while !clock.readings.lock().unwrap().iter().any(|t| *t != here) {
                tokio::task::yield_now().await;
            }
            r.resolve(TenantId::new("a"), request("3")).await.unwrap();
            assert_ne!(
                clock.last(),
                here,
                "beside a long operation a resolve goes to the pool"
            );

            drop(go);
            batch.await.unwrap().unwrap();
            assert_eq!(r.shared.long_in_flight.load(Ordering::Acquire), 0);
            r.resolve(TenantId::new("a"), request("4")).await.unwrap();
            assert_eq!(clock.last(), here, "once it ended, on the calling task again");
        });
    }

    #[test]
    fn group_commit_runs_every_operation_on_the_pool() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let clock = Watching {
            test_thread: std::thread::current().id(),
            readings: Arc::default(),
            gate: Arc::default(),
        };
        let resolver = Resolver::new(MemoryStore::new())
            .with_clock(clock.clone())
            .with_group_commit(true);
        let r = AsyncResolver::new(resolver);
        runtime
            .block_on(r.resolve(
                TenantId::new("a"),
                ResolveRequest::new([IdentityInput::new("qq", "1")]),
            ))
            .unwrap();
        assert_ne!(clock.last(), std::thread::current().id());
    }
}
