//! Storage: the trait the engine talks to, and the stores that implement it.
//!
//! The engine never touches storage except through [`Store`] and its transactions: a
//! [`ReadTxn`] for an operation that only reads, a [`Txn`] for one that writes. A resolve
//! opens one transaction, reads what it needs (owners of identities, the customers they
//! lead to), plans the whole outcome in memory, then writes the plan and commits. Every
//! check that can fail happens before the first write, so a store whose writes cannot fail
//! (memory) is all-or-nothing without an undo log, and a SQL store gets atomicity from its
//! transaction: dropping a [`Txn`] without [`Txn::commit`] must roll back.
//!
//! A store is shared: [`Store::read`] and [`Store::write`] take `&self`, so one store serves
//! many threads. Read transactions run beside each other and beside a writer; writers are
//! serialized only where the store needs it (per tenant in the memory store, by the database
//! in the SQL stores).
//!
//! Reads take `&self` and may return borrowed customers ([`Cow::Borrowed`]) so the in-memory
//! hot path copies nothing; SQL stores return owned rows.
//!
//! All reads resolve merge aliases: asking for a merged customer's id answers with the live
//! customer it was merged into (possibly through several merges).

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod bulk;
mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use bulk::BulkStore;
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

mod stored_settings;
mod txn;

pub use stored_settings::StoredSettings;
pub use txn::{KindCount, Lookup, ReadTxn, ResolveWrites, TargetData, Txn};

use crate::error::Result;
use crate::model::TenantId;

/// A storage backend, shared by every thread of a service: hands out transactions.
///
/// A transaction works in the tenant it was begun for; calls on it name that tenant.
pub trait Store: Send + Sync {
    /// A transaction that only reads.
    type Reader<'a>: ReadTxn
    where
        Self: 'a;

    /// A transaction that reads and writes.
    type Writer<'a>: Txn
    where
        Self: 'a;

    /// Begins a transaction that only reads `tenant`'s data. It sees one consistent state,
    /// runs beside other readers and beside a writer, and locks nothing.
    fn read(&self, tenant: &TenantId) -> Result<Self::Reader<'_>>;

    /// Begins a transaction that reads and writes `tenant`'s data. Writers of one tenant are
    /// serialized where the store needs it; what a writer reads stays as read until it
    /// commits or is dropped.
    fn write(&self, tenant: &TenantId) -> Result<Self::Writer<'_>>;

    /// Whether resolves should be committed in groups by default
    /// ([`Resolver::with_group_commit`](crate::Resolver::with_group_commit)): `true` for a
    /// store whose commit costs far more than a resolve's work (a flush to disk). The
    /// default is `false`.
    fn prefers_group_commit(&self) -> bool {
        false
    }

    /// Whether an operation may wait on I/O or on another process: `true` (the default) for a
    /// store over files or a connection. The async handle (`AsyncResolver`, feature `tokio`)
    /// runs such a store's operations on tokio's blocking pool. A store that answers `false` (the memory
    /// store: its operations are work in memory under locks held for that work alone) has
    /// the operations sized by their request run on the calling task, saving two hand-offs
    /// between threads per operation.
    fn may_block(&self) -> bool {
        true
    }
}
