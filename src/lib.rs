//! # oneid — customer identity resolution
//!
//! Turn scattered touchpoint records (a mobile number from the shop, a WeChat openid from the
//! official account, an email from the CRM, a member id from the POS) into one customer
//! each, and merge customers when they turn out to be the same person, without ever merging
//! two people who are not.
//!
//! The behaviour follows the contract in `SEMANTICS.md`, distilled from four Chinese
//! customer-data platforms: typed [identities](Identity), per-tenant
//! [settings](IdentitySettings) (priority, limits, normalizers, blocked values), the
//! `identityFirst` / `customerFirst` [target strategies](TargetStrategy), `autoMerge`, and
//! field updates that never clear and never un-verify.
//!
//! ```
//! use oneid::{CustomerPatch, Field, IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
//!
//! let mut resolver = Resolver::new(MemoryStore::new());
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
//! ## Layout
//!
//! - [`model`]: customers, fields, identities, tenants, the resolve request (serde that reads
//!   the sources' own JSON);
//! - [`settings`]: per-tenant identity settings and [normalizers](settings::normalize);
//! - [`engine`]: the [`Resolver`] and what it returns ([`Outcome`]);
//! - [`store`]: the [`Store`] trait and the in-memory [`MemoryStore`];
//! - [`query`]: filters, sorting and paging of customers;
//! - [`history`]: the recorded links and merges.
#![deny(missing_docs)]
// Two functions allow unsafe code, each with its reasoning beside it: the memory store's
// huge-page advice (`madvise`, Linux) and the cache prefetch (x86_64). Nothing else may.
#![deny(unsafe_code)]

pub mod clock;
pub mod engine;
pub mod error;
pub mod history;
pub mod model;
mod prefetch;
pub mod query;
pub mod settings;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{
    ChangedField, Outcome, OutcomeView, PlainCreate, RefusedMerge, RejectReason, Rejection, Resolver, Updated,
};
pub use error::{Error, InvalidIdentityReason, Result};
pub use history::{Cause, EventKind, Explanation, ExplanationStep, HistoryEvent, Operation};
pub use model::{
    Change, Customer, CustomerId, CustomerPatch, CustomerStatus, ExtAttr, Field, FieldKind, FieldValue,
    Fields, HashedKey, Identity, IdentityInput, IdentityKey, IdentityType, MAX_ATTR_DEPTH, PriorityStrategy,
    ResolveOptions, ResolveRequest, TargetStrategy, TenantId, Text, UpdatePatch,
};
pub use query::{CustomerFilter, CustomerPage, CustomerQuery, SortKey};
pub use settings::{IdentitySettings, MergeRule, normalize, normalize::Normalizer};
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
pub use store::{MemoryStore, ResolveWrites, Store, TargetData, Txn};

// The README's tour is compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
