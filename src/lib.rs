//! # oneid — customer identity resolution
//!
//! Turn scattered touchpoint records (a mobile number from the shop, a WeChat openid from the
//! official account, an email from the CRM, a member id from the POS) into one customer
//! each, and merge customers when they turn out to be the same person, without ever merging
//! two people who are not.
//!
//! The behaviour follows the contract in `docs/SEMANTICS.md`, distilled from four Chinese
//! customer-data platforms: typed [identities](Identity), per-tenant
//! [settings](IdentitySettings) (priority, limits, normalizers, blocked values), the
//! `identityFirst` / `customerFirst` [target strategies](TargetStrategy), `autoMerge`, and
//! field updates that never clear and never un-verify.
//!
//! ```
//! use oneid::{CustomerPatch, Field, IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
//!
//! let resolver = Resolver::new(MemoryStore::new());
//! let tenant = TenantId::new("acme");
//!
//! // The shop sees a mobile number; the official account sees an openid and the same number.
//! let shop = resolver.resolve(&tenant, &ResolveRequest::new([IdentityInput::new("mobile", "138 0013 8000")])).unwrap();
//! let wechat = resolver.resolve(&tenant, &ResolveRequest::new([
//!     IdentityInput::new("wechat", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"),
//!     IdentityInput::new("mobile", "+86 13800138000"),
//! ])).unwrap();
//! assert_eq!(wechat.customer, shop.customer);
//!
//! // The CRM knows the person by email only: a second customer...
//! let crm = resolver.resolve(&tenant, &ResolveRequest::new([IdentityInput::new("email", "li@example.com")])).unwrap();
//! assert_ne!(crm.customer, shop.customer);
//!
//! // ...until a record carries both: the two are merged, and the old id stays an alias.
//! let both = resolver.resolve(&tenant, &ResolveRequest::new([
//!     IdentityInput::new("email", "LI@example.com"),
//!     IdentityInput::new("mobile", "13800138000"),
//! ]).with_patch(CustomerPatch::new().with(Field::Name, "李雷").unwrap())).unwrap();
//! assert_eq!(both.merged, vec![crm.customer.unwrap()]);
//! let merged = resolver.get(&tenant, crm.customer.unwrap()).unwrap().unwrap();
//! assert_eq!(merged.id, shop.customer.unwrap());
//! assert_eq!(merged.display_name(), Some("李雷"));
//! ```
//!
//! ## Where things are
//!
//! Every public item has one path. Types, traits and functions are at the crate root; three
//! modules group what reads better under a name: [`normalize`] (the built-in normalizers),
//! [`limits`] (the bounds on what a request may hold) and [`dialect`] (the four sources' wire
//! formats: reading their bodies with their defaults, writing their responses).
//!
//! - **Model**: [`Customer`] with its [`Fields`], extended attributes ([`ExtAttr`]), tags and
//!   groups; [`Identity`] and [`IdentityInput`]; [`TenantId`]; the [`ResolveRequest`] with
//!   its [`CustomerPatch`] and [`ResolveOptions`]. Their serde reads the sources' own JSON.
//! - **Settings**: [`IdentitySettings`] per tenant: priority, limits, [`Normalizer`]s,
//!   blocked values, quarantine, and how fields reconcile on a merge ([`MergeRule`]).
//! - **Engine**: the [`Resolver`] (and [`AsyncResolver`] over it, feature `tokio`), and what a
//!   resolve did ([`Outcome`], or [`OutcomeView`] read in place by a batch).
//! - **Stores**: the [`Store`] trait and its transactions, [`ReadTxn`] and [`Txn`];
//!   [`MemoryStore`] (always there), [`SqliteStore`] (feature `sqlite`) and [`PostgresStore`]
//!   (feature `postgres`).
//! - **Queries**: [`CustomerQuery`], [`CustomerFilter`], [`CustomerPage`].
//! - **History**: [`HistoryEvent`]s with their [`Cause`], and [`Explanation`]s of why two
//!   identities are one customer.
//! - **Errors**: one [`Error`] type; [`Error::kind`] sorts them for a caller.
//!
//! ## Embedding in a service
//!
//! A [`Resolver`] is a shared handle: `Clone + Send + Sync`, every operation on `&self`.
//! Build one when the service starts and clone it into every thread; the clones share the
//! store (with its connection pool) and the tenants' settings, and writers of one tenant
//! never see each other's half-done work.
//!
//! ```
//! use oneid::{CustomerFilter, IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
//!
//! let resolver = Resolver::new(MemoryStore::new());
//! let workers: Vec<_> = (0..8)
//!     .map(|i| {
//!         let resolver = resolver.clone();
//!         std::thread::spawn(move || {
//!             // Two people, each seen by four workers.
//!             let member = IdentityInput::new("member-id", format!("m{}", i % 2));
//!             resolver.resolve(&TenantId::new("shop"), &ResolveRequest::new([member]))
//!         })
//!     })
//!     .collect();
//! for worker in workers {
//!     worker.join().unwrap().unwrap();
//! }
//! assert_eq!(resolver.count(&TenantId::new("shop"), &CustomerFilter::default()).unwrap(), 2);
//! ```
//!
//! Its operations block: the SQL stores use synchronous drivers, and a conflict with another
//! writer pauses the thread before the next attempt. In an async service, use the
//! `AsyncResolver` (feature `tokio`): the same operations as `async fn`s, run on tokio's
//! blocking pool, so no runtime worker waits on the store (and the PostgreSQL driver, which
//! may not run on one, never does); over the memory store, which does no I/O, the short
//! ones run on the calling task. `AsyncResolver::open` builds the resolver
//! there too, since opening a SQL store connects and migrates.
//!
#![cfg_attr(feature = "tokio", doc = "```")]
#![cfg_attr(not(feature = "tokio"), doc = "```ignore")]
//! use oneid::{AsyncResolver, MemoryStore, ResolveRequest, Resolver, TenantId};
//!
//! #[tokio::main]
//! async fn main() -> oneid::Result<()> {
//!     // With `SqliteStore::open(path)?` or `PostgresStore::connect(url)?`, alike.
//!     let resolver = AsyncResolver::open(|| Ok(Resolver::new(MemoryStore::new()))).await?;
//!
//!     // What a handler does with 002's body: resolve it, answer the customer.
//!     let body = serde_json::json!({
//!         "customer": {"name": "小D"},
//!         "customerIdentities": [{"identityType": "wechat", "identityValue": "o123456"}]
//!     });
//!     let request = ResolveRequest::from_json(&body)?;
//!     let (outcome, customer) = resolver.resolve_and_get(TenantId::new("shop"), request).await?;
//!     assert!(outcome.created);
//!     assert_eq!(customer.display_name(), Some("小D"));
//!     Ok(())
//! }
//! ```
//!
//! `examples/service.rs` is a small axum service built this way: the handle in the app's
//! state, DM Hub's `POST /v1/customerandidentities` and `GET /v1/customers/{id}`, the tenant
//! from a header, and errors answered with [`Error::kind`]'s
//! [`http_status`](ErrorKind::http_status).
//!
//! ## Features
//!
//! - `sqlite`: [`SqliteStore`], the durable embedded store (SQLite is
//!   bundled: nothing to install).
//! - `postgres`: [`PostgresStore`], the store many service instances
//!   share.
//! - `tokio`: [`AsyncResolver`], the async handle: no runtime worker waits on a store.
//! - `tracing`: a `tracing` span per operation, and an event per retry.
//! - `http`: [`http::router`], the four sources' HTTP APIs (axum) over the async handle.
//!
// Items of features that are off link to the list above instead.
#![cfg_attr(not(feature = "sqlite"), doc = "[`SqliteStore`]: #features")]
#![cfg_attr(not(feature = "postgres"), doc = "[`PostgresStore`]: #features")]
#![cfg_attr(not(feature = "tokio"), doc = "[`AsyncResolver`]: #features")]
#![cfg_attr(not(feature = "http"), doc = "[`http::router`]: #features")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
// Two functions allow unsafe code, each with its reasoning beside it: the memory store's
// huge-page advice (`madvise`, Linux) and the cache prefetch (x86_64). Nothing else may.
#![deny(unsafe_code)]

#[cfg(feature = "tokio")]
mod asynchronous;
mod clock;
pub mod dialect;
mod engine;
mod error;
mod history;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
pub mod limits;
mod model;
mod prefetch;
mod quarantine;
mod query;
mod settings;
mod store;
mod trace;

/// The built-in [`Normalizer`]s, which [`IdentitySettings`] plugs in by default: [`Mobile`]
/// for `mobile`, [`Email`] for `email`, [`Trim`] for every other type.
///
/// [`Mobile`]: normalize::Mobile
/// [`Email`]: normalize::Email
/// [`Trim`]: normalize::Trim
pub mod normalize {
    pub use crate::settings::normalize::{Email, Mobile, Trim};
}

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use asynchronous::AsyncResolver;
pub use clock::{Clock, ManualClock, SystemClock};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use engine::BulkLoad;
pub use engine::{
    ChangedField, Outcome, OutcomeView, PlainCreate, RefusalReason, RefusedMerge, RejectReason, Rejection,
    Resolver, Updated,
};
pub use error::{Error, ErrorKind, InvalidIdentityReason, Result};
pub use history::{Cause, EventKind, Explanation, ExplanationStep, HistoryEvent, Operation};
pub use model::{
    Change, Customer, CustomerId, CustomerPatch, CustomerStatus, ExtAttr, Field, FieldKind, FieldValue,
    Fields, HashedKey, Identity, IdentityInput, IdentityKey, IdentityType, PriorityStrategy, ResolveOptions,
    ResolveRequest, TargetStrategy, TenantId, Text, UpdatePatch, parse_timestamp,
};
pub use quarantine::{Contradiction, QuarantinedValue};
pub use query::{CustomerFilter, CustomerPage, CustomerQuery, SortKey};
pub use settings::{IdentitySettings, MergeRule, normalize::Normalizer};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use store::BulkStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use store::SqliteStore;
pub use store::{
    KindCount, Lookup, MemoryStore, ReadTxn, ResolveWrites, Store, StoredSettings, TargetData, Txn,
};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use store::{PostgresOptions, PostgresStore};

// The README's tour is compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
