//! The resolution engine: [`Resolver`] turns identity-carrying requests into customers over
//! any [`Store`](crate::Store).
//!
//! A resolve follows SEMANTICS §2: validate and normalize the identities, order them,
//! look up their owners, choose the target, link the unowned ones unless they conflict,
//! merge the other owners that fit within the limits (with `autoMerge`), then apply the
//! field patch. The whole call is one store transaction: all of it happens or none of it.
//!
//! It takes three steps, a module each. `prepare` validates, normalizes, deduplicates and
//! orders a request's identities; it needs no store, so a batch prepares requests while it
//! plans earlier ones. `plan` reads through the transaction and decides everything, writing
//! nothing: a dry run is a plan that is never applied. `apply` performs the plan's writes;
//! every check that can fail has already passed. What was decided is a `decision` record,
//! which an [`OutcomeView`] (`view`) reads in place and an [`Outcome`] (`outcome`) copies.
//!
//! Around them: `resolver` (the [`Resolver`] and its resolve operations), `batch` (many
//! requests in one transaction), `fields` (how a patch and a merge change a customer's data),
//! `ops` (the operations besides resolving), `report` (the quarantine report), `begin` and `retry` (how every operation runs
//! its transaction).

mod apply;
mod batch;
mod begin;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod bulk;
mod decision;
mod fields;
mod group_commit;
mod ops;
mod outcome;
mod plan;
mod prepare;
mod report;
mod resolver;
mod retry;
mod tenant_settings;
mod view;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use bulk::BulkLoad;
pub use ops::Updated;
pub use outcome::{ChangedField, Outcome, RefusalReason, RefusedMerge, RejectReason, Rejection};
pub use resolver::{PlainCreate, Resolver};
pub use view::OutcomeView;
