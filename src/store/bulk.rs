//! [`BulkStore`]: the durable stores a [`BulkLoad`](crate::BulkLoad) writes a tenant into.
//!
//! A bulk load resolves its records in a memory store and then writes the tenant it built
//! to the durable store in one transaction. The store's part has two steps: [`begin`]
//! checks the target tenant holds nothing and says where the load's ids start and which
//! settings it resolves under; [`write`] writes the tenant out, after checking that none of
//! that changed meanwhile.
//!
//! [`begin`]: sealed::Target::bulk_begin
//! [`write`]: sealed::Target::bulk_write

use super::Store;

/// A durable store a tenant can be bulk loaded into: `SqliteStore` and `PostgresStore`, each
/// with its feature (see [`Resolver::bulk_load`](crate::Resolver::bulk_load)).
///
/// Sealed: the crate implements it for its stores, and nothing else can.
#[expect(private_bounds, reason = "sealed: the store's part is crate-private")]
pub trait BulkStore: Store + sealed::Target {}

impl<T: Store + sealed::Target> BulkStore for T {}

pub(crate) mod sealed {
    use crate::error::Result;
    use crate::model::TenantId;
    use crate::store::StoredSettings;
    use crate::store::memory::TenantExport;

    /// Where a bulk load starts, as the durable store said at [`Target::bulk_begin`].
    #[derive(Debug, Clone)]
    pub(crate) struct BulkStart {
        /// The load's first customer id: past every id the database holds, and one more than
        /// a multiple of 1,024 (the memory store numbers in blocks of 1,024). On an empty
        /// database, 1.
        pub(crate) first_id: u64,
        /// The tenant's stored settings, every version, oldest first.
        pub(crate) settings: Vec<StoredSettings>,
    }

    /// A durable store's part of a bulk load.
    pub(crate) trait Target {
        /// Checks that `tenant` holds no customer, and says where a load starts.
        fn bulk_begin(&self, tenant: &TenantId) -> Result<BulkStart>;

        /// Writes `export` (the memory store's tenant, numbered from `start.first_id`) as
        /// `tenant`'s data, in one transaction: all of it or, on any error, nothing.
        fn bulk_write(&self, tenant: &TenantId, start: &BulkStart, export: &TenantExport<'_>) -> Result<()>;
    }
}
