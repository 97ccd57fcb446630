//! Beginning a transaction for one tenant's work.
//!
//! Every operation of the engine runs in one store transaction, begun here. The tenant id is
//! checked first, so that an id no store could keep is refused alike by every store.

use crate::error::{Error, Result};
use crate::model::TenantId;
use crate::store::Store;

/// Begins a transaction for work in `tenant`. A tenant id with a NUL (no database keeps NUL
/// in text) or longer than [`MAX_TENANT_ID_CHARS`](crate::limits::MAX_TENANT_ID_CHARS) (the stores' indexes lead with it) is
/// refused here: every store answers it alike.
pub(crate) fn begin_in<'s, S: Store>(store: &'s mut S, tenant: &TenantId) -> Result<S::Txn<'s>> {
    let name = tenant.as_str();
    if name.contains('\0') || name.chars().count() > crate::limits::MAX_TENANT_ID_CHARS {
        return Err(Error::InvalidTenant(name.to_owned()));
    }
    store.begin()
}
