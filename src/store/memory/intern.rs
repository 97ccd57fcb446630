//! Interning: the tenants, identity types and scopes, and the `(tenant, type, scope)`
//! combinations ([`Space`]s), that slots and entries name by number.
//!
//! They are few and repeat in every request, so each is kept once and named in 2 or 4 bytes:
//! an entry's space costs it 4 bytes instead of three texts. Finding one favours the usual
//! case over hashing: the tenant asked for last is confirmed by a pointer comparison, a type by
//! a scan for the very string interned (the engine passes the same strings back), and a space
//! without a scope by its tenant and type in two loads.

use super::{NONE, Tables};
use crate::error::{Error, Result};
use crate::model::{IdentityType, TenantId};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// What an identity's key holds besides its value, interned: the few combinations in use
/// are named by 4 bytes in each entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Space {
    pub(super) tenant: u32,
    /// Index into `Tables::types`.
    pub(super) ty: u16,
    /// Index into `Tables::scopes`, or `NONE`.
    pub(super) scope: u32,
}

impl Tables {
    pub(super) fn tenant_ix(&self, tenant: &TenantId) -> Option<u32> {
        let last = self.last_tenant.load(Ordering::Relaxed);
        // `Arc<str>` equality compares pointers first.
        if self.tenant_names.get(last as usize) == Some(tenant) {
            return Some(last);
        }
        let t = self.tenants.get(tenant).copied()?;
        self.last_tenant.store(t, Ordering::Relaxed);
        Some(t)
    }

    pub(super) fn tenant_ix_or_insert(&mut self, tenant: &TenantId) -> u32 {
        if let Some(t) = self.tenant_ix(tenant) {
            return t;
        }
        let next = self.tenants.len() as u32;
        self.tenants.insert(tenant.clone(), next);
        self.tenant_names.push(tenant.clone());
        next
    }

    /// The interned index of a type name. Types are few, and the engine's type names are
    /// mostly the very strings interned here, so a scan comparing pointers first beats
    /// hashing.
    pub(super) fn type_of(&self, name: &str) -> Option<u16> {
        if self.types.len() <= 16 {
            let key = (name.as_ptr() as usize, name.len());
            if let Some(ix) = self.type_ptrs.iter().position(|&t| t == key) {
                return Some(ix as u16);
            }
            return self
                .types
                .iter()
                .position(|t| t.as_str() == name)
                .map(|ix| ix as u16);
        }
        self.type_ix.get(name).copied()
    }

    pub(super) fn intern_type(&mut self, name: &str) -> Result<u16> {
        if let Some(ix) = self.type_of(name) {
            return Ok(ix);
        }
        let ty = IdentityType::new(name)
            .ok_or_else(|| Error::Invariant(format!("{name:?} is not an identity type")))?;
        let ix = u16::try_from(self.types.len())
            .map_err(|_| Error::Capacity("the memory store holds at most 65,536 identity types".into()))?;
        self.type_ptrs.push((ty.as_str().as_ptr() as usize, ty.len()));
        self.types.push(ty);
        self.type_ix.insert(name.into(), ix);
        Ok(ix)
    }

    pub(super) fn intern_space(&mut self, space: Space) -> Result<u32> {
        // The usual space has no scope: found by tenant and type in two loads.
        let plain = space.scope == NONE;
        if plain {
            let known = self
                .plain_spaces
                .get(space.tenant as usize)
                .and_then(|by_type| by_type.get(usize::from(space.ty)));
            if let Some(&ix) = known.filter(|&&ix| ix != NONE) {
                return Ok(ix);
            }
        }
        let ix = self.intern_space_slow(space)?;
        if plain {
            let tenant = space.tenant as usize;
            if self.plain_spaces.len() <= tenant {
                self.plain_spaces.resize(tenant + 1, Vec::new());
            }
            let by_type = &mut self.plain_spaces[tenant];
            if by_type.len() <= usize::from(space.ty) {
                by_type.resize(usize::from(space.ty) + 1, NONE);
            }
            by_type[usize::from(space.ty)] = ix;
        }
        Ok(ix)
    }

    pub(super) fn intern_space_slow(&mut self, space: Space) -> Result<u32> {
        // Usually a handful (one per tenant and type): a scan beats hashing.
        if self.spaces.len() <= 16 {
            if let Some(ix) = self.spaces.iter().position(|s| *s == space) {
                return Ok(ix as u32);
            }
        } else if let Some(&ix) = self.space_ix.get(&space) {
            return Ok(ix);
        }
        let ix = u32::try_from(self.spaces.len()).map_err(|_| {
            Error::Capacity("the memory store holds at most 2^32 tenant, type and scope combinations".into())
        })?;
        self.spaces.push(space);
        self.space_ix.insert(space, ix);
        Ok(ix)
    }

    pub(super) fn intern_scope(&mut self, scope: &str) -> u32 {
        if let Some(&ix) = self.scope_ix.get(scope) {
            return ix;
        }
        let ix = self.scopes.len() as u32;
        let scope: Arc<str> = Arc::from(scope);
        self.scopes.push(scope.clone());
        self.scope_ix.insert(scope, ix);
        ix
    }
}
