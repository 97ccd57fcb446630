//! Interning: the identity types and scopes, and their combinations ([`Space`]s), that a
//! tenant's entries name by number.
//!
//! They are few and repeat in every request, so each is kept once per tenant and named in 2
//! or 4 bytes. Finding one favours the usual case over hashing: a type by a scan for the very
//! string interned (the engine passes the same strings back), and a space without a scope by
//! its type in one load. A tenant holds at most `limits::MAX_TENANT_IDENTITY_TYPES` (65,536)
//! identity types, its own: another tenant's types neither count against it nor cost it
//! anything.

use super::arena::NONE;
use super::space::Space;
use super::tables::Tables;
use crate::error::{Error, Result};
use crate::limits::{self, MAX_TENANT_IDENTITY_TYPES};
use crate::model::IdentityType;
use std::sync::Arc;

// Entries name a type in 2 bytes.
const _: () = assert!(MAX_TENANT_IDENTITY_TYPES <= u16::MAX as usize + 1);

impl Tables {
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

    /// The interned space of a type and scope, if entries name it (without interning it).
    pub(super) fn space_named(&self, identity_type: &str, scope: Option<&str>) -> Option<u32> {
        let ty = self.type_of(identity_type)?;
        let scope = match scope {
            None => {
                return self
                    .plain_spaces
                    .get(usize::from(ty))
                    .copied()
                    .filter(|&ix| ix != NONE);
            }
            Some(sc) => *self.scope_ix.get(sc)?,
        };
        let space = Space { ty, scope };
        if self.spaces.len() <= 16 {
            self.spaces.iter().position(|s| *s == space).map(|ix| ix as u32)
        } else {
            self.space_ix.get(&space).copied()
        }
    }

    pub(super) fn intern_type(&mut self, name: &str) -> Result<u16> {
        if let Some(ix) = self.type_of(name) {
            return Ok(ix);
        }
        let ty = IdentityType::new(name)
            .ok_or_else(|| Error::Invariant(format!("{name:?} is not an identity type")))?;
        let ix = u16::try_from(self.types.len())
            .ok()
            .filter(|_| self.types.len() < MAX_TENANT_IDENTITY_TYPES)
            .ok_or_else(|| {
                Error::Capacity(format!(
                    "a tenant of the memory store holds at most {} identity types \
                     (limits::MAX_TENANT_IDENTITY_TYPES); {name:?} would be one more",
                    limits::grouped(MAX_TENANT_IDENTITY_TYPES)
                ))
            })?;
        self.type_ptrs.push((ty.as_str().as_ptr() as usize, ty.len()));
        self.types.push(ty);
        self.type_ix.insert(name.into(), ix);
        Ok(ix)
    }

    pub(super) fn intern_space(&mut self, space: Space) -> Result<u32> {
        // The usual space has no scope: found by its type in one load.
        let plain = space.scope == NONE;
        if plain {
            let known = self.plain_spaces.get(usize::from(space.ty));
            if let Some(&ix) = known.filter(|&&ix| ix != NONE) {
                return Ok(ix);
            }
        }
        let ix = self.intern_space_slow(space)?;
        if plain {
            let ty = usize::from(space.ty);
            if self.plain_spaces.len() <= ty {
                self.plain_spaces.resize(ty + 1, NONE);
            }
            self.plain_spaces[ty] = ix;
        }
        Ok(ix)
    }

    fn intern_space_slow(&mut self, space: Space) -> Result<u32> {
        // Usually a handful (one per type): a scan beats hashing.
        if self.spaces.len() <= 16 {
            if let Some(ix) = self.spaces.iter().position(|s| *s == space) {
                return Ok(ix as u32);
            }
        } else if let Some(&ix) = self.space_ix.get(&space) {
            return Ok(ix);
        }
        let ix = u32::try_from(self.spaces.len()).map_err(|_| {
            Error::Capacity(
                "a tenant of the memory store holds at most 2^32 type and scope combinations".into(),
            )
        })?;
        self.spaces.push(space);
        self.space_ix.insert(space, ix);
        Ok(ix)
    }

    pub(super) fn intern_scope(&mut self, scope: &str) -> u32 {
        if let Some(&ix) = self.scope_ix.get(scope) {
            return ix;
        }
        // Fewer than `NONE`: each scope came with an entry, and entries are fewer.
        let ix = self.scopes.len() as u32;
        let scope: Arc<str> = Arc::from(scope);
        self.scopes.push(scope.clone());
        self.scope_ix.insert(scope, ix);
        ix
    }
}
