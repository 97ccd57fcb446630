//! The resolution engine: [`Resolver`] turns identity-carrying requests into customers over
//! any [`Store`].
//!
//! A resolve follows SEMANTICS §2: validate and normalize the identities, order them,
//! look up their owners, choose the target, link the unowned ones unless they conflict,
//! merge the other owners that fit within the limits (with `autoMerge`), then apply the
//! field patch. The whole call is one store transaction: all of it happens or none of it.

mod fields;
mod outcome;
mod resolve;

pub use outcome::{ChangedField, Outcome, RefusedMerge, RejectReason, Rejection};

use crate::clock::{Clock, SystemClock};
use crate::error::Result;
use crate::history::{Cause, HistoryEvent, Operation};
use crate::model::{
    Customer, CustomerId, CustomerPatch, Field, Identity, IdentityInput, IdentityType, PriorityStrategy,
    ResolveOptions, ResolveRequest, TargetStrategy, TenantId,
};
use crate::settings::IdentitySettings;
use crate::store::{Store, Txn};
use std::collections::HashMap;
use std::sync::Arc;

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
    store: S,
    clock: C,
    default_settings: Arc<IdentitySettings>,
    tenant_settings: HashMap<TenantId, Arc<IdentitySettings>>,
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
        }
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

    fn settings_arc(&self, tenant: &TenantId) -> Arc<IdentitySettings> {
        self.tenant_settings
            .get(tenant)
            .unwrap_or(&self.default_settings)
            .clone()
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
        let at = request.event_time.unwrap_or_else(|| self.clock.now());
        let mut txn = self.store.begin()?;
        let plan = resolve::plan(&txn, &settings, tenant, request, at)?;
        let cause = Cause {
            operation,
            reference: request.cause.as_deref().map(Arc::from),
        };
        let outcome = resolve::apply(&mut txn, tenant, plan, &cause)?;
        txn.commit()?;
        Ok(outcome)
    }

    /// What [`resolve`](Self::resolve) would do, without writing anything (001's
    /// `getCustomerIdByIdentityList`). In the outcome, `customer` is `None` when a new
    /// customer would be created.
    pub fn dry_run(&mut self, tenant: &TenantId, request: &ResolveRequest) -> Result<Outcome> {
        let settings = self.settings_arc(tenant);
        let at = request.event_time.unwrap_or_else(|| self.clock.now());
        let txn = self.store.begin()?;
        Ok(resolve::plan(&txn, &settings, tenant, request, at)?.outcome)
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
        if variant == PlainCreate::MobileAndEmail {
            if let Some(email) = patch.fields.text(Field::Email) {
                identities.push(IdentityInput::new(IdentityType::EMAIL, email));
            }
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
        let txn = self.store.begin()?;
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
        let probe = ResolveRequest::new([identity.clone()]);
        let (normalized, _) = resolve::prepare(&settings, &probe)?;
        let Some(identity) = normalized.first() else {
            return Ok(None);
        };
        let txn = self.store.begin()?;
        let Some(owner) = txn.owner(tenant, identity.key())? else {
            return Ok(None);
        };
        Ok(txn
            .customer(tenant, owner)?
            .filter(|c| c.is_active())
            .map(|c| c.into_owned()))
    }

    /// The identities a customer holds (following merges).
    pub fn identities(&mut self, tenant: &TenantId, id: CustomerId) -> Result<Vec<Identity>> {
        self.store.begin()?.identities(tenant, id)
    }

    /// The links and merges that made a customer, oldest first, each with time and cause.
    pub fn history(&mut self, tenant: &TenantId, id: CustomerId) -> Result<Vec<HistoryEvent>> {
        self.store.begin()?.history(tenant, id)
    }
}
