//! Beginning a transaction for one tenant's work.
//!
//! Every operation of the engine runs in one store transaction, begun here: a reader for an
//! operation that only reads, a writer for one that writes. The tenant id is checked first,
//! so that an id no store could keep is refused alike by every store.

use crate::error::{Error, Result};
use crate::limits::MAX_TENANT_ID_CHARS;
use crate::model::TenantId;
use crate::store::Store;

/// Refuses a tenant id with a NUL (no database keeps NUL in text) or longer than
/// [`MAX_TENANT_ID_CHARS`] (the stores' indexes lead with it): every store answers it alike.
pub(crate) fn check_tenant(tenant: &TenantId) -> Result<()> {
    let name = tenant.as_str();
    // A name of at most MAX_TENANT_ID_CHARS bytes is short enough without counting its
    // characters (every resolve checks its tenant).
    if name.as_bytes().contains(&0)
        || (name.len() > MAX_TENANT_ID_CHARS && name.chars().count() > MAX_TENANT_ID_CHARS)
    {
        return Err(Error::InvalidTenant(name.to_owned()));
    }
    Ok(())
}

/// Begins a transaction that only reads `tenant`'s data.
pub(crate) fn read_in<'s, S: Store>(store: &'s S, tenant: &TenantId) -> Result<S::Reader<'s>> {
    check_tenant(tenant)?;
    store.read(tenant)
}

/// Begins a transaction that writes `tenant`'s data.
#[inline]
pub(crate) fn write_in<'s, S: Store>(store: &'s S, tenant: &TenantId) -> Result<S::Writer<'s>> {
    check_tenant(tenant)?;
    store.write(tenant)
}
