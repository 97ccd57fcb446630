//! Identities: reading a tenant's entries, and finding the entry that holds a key.
//!
//! Entries are found through an index of entry numbers keyed by the key's foldhash
//! ([`IdentityKey::hash64`]), which keeps 32 bits of each hash and a hint of the owner's slot
//! beside the entry number, so a probe reads one cache line (`key_index`). A cold lookup is
//! then two rounds of cache misses: the index slot, then the entry and the owner's union-find
//! parent together, and no text elsewhere (`entry`). An identity costs no allocation of its
//! own. Quarantine evidence is counted beside the table, for the few entries flagged as
//! suspected; a lookup of any other reads nothing more.

use super::arena::NONE;
use super::entry::{ERASED, ERASED_BIT, Entry, SUSPECTED_BIT};
use super::space::Space;
use super::tables::Tables;
use crate::model::{Identity, IdentityKey, IdentityType};
use crate::store::Lookup;
use std::sync::Arc;

impl Tables {
    pub(super) fn space_of(&self, e: &Entry) -> Space {
        self.spaces[e.space as usize]
    }

    pub(super) fn type_name(&self, e: &Entry) -> &IdentityType {
        &self.types[self.space_of(e).ty as usize]
    }

    pub(super) fn scope_of(&self, e: &Entry) -> Option<&Arc<str>> {
        let scope = self.space_of(e).scope;
        (scope != NONE).then(|| &self.scopes[scope as usize])
    }

    pub(super) fn value_of<'a>(&'a self, e: &'a Entry) -> &'a str {
        if e.flags & ERASED_BIT != 0 {
            ERASED
        } else {
            e.value.as_str(&self.values)
        }
    }

    /// An entry's identity key.
    pub(super) fn key_of<'a>(&'a self, e: &'a Entry) -> IdentityKey<'a> {
        IdentityKey {
            identity_type: self.type_name(e).as_str(),
            scope: self.scope_of(e).map(|s| &**s),
            value: self.value_of(e),
        }
    }

    /// An entry's identity as the public type.
    pub(super) fn identity_of(&self, e: &Entry) -> Identity {
        Identity {
            identity_type: self.type_name(e).clone(),
            scope: self.scope_of(e).cloned(),
            identity_value: self.value_of(e).into(),
            identity_name: (e.name != NONE).then(|| self.names[e.name as usize].clone()),
        }
    }

    /// Whether entry `ix` holds `key`.
    pub(super) fn holds_key(&self, ix: u32, key: IdentityKey<'_>) -> bool {
        self.entry_holds_key(&self.entries[ix], key)
    }

    /// [`holds_key`](Self::holds_key) of an entry already at hand.
    pub(super) fn entry_holds_key(&self, e: &Entry, key: IdentityKey<'_>) -> bool {
        let space = self.space_of(e);
        let ty = self.types[space.ty as usize].as_str();
        // The engine's type names are mostly the very strings interned here.
        (std::ptr::eq(ty, key.identity_type) || ty == key.identity_type)
            && e.flags & ERASED_BIT == 0
            && e.value.is(key.value.as_bytes(), &self.values)
            && self.scope_of(e).map(|s| &**s) == key.scope
    }

    pub(super) fn find_entry(&self, key: IdentityKey<'_>) -> Option<u32> {
        self.find_hashed(key, key.hash64())
    }

    pub(super) fn find_hashed(&self, key: IdentityKey<'_>, hash: u64) -> Option<u32> {
        self.index.find(hash as u32, |ix| self.holds_key(ix, key))
    }

    /// What a lookup answers for the entry found (or none).
    pub(super) fn lookup_of(&self, entry: Option<u32>) -> Lookup {
        entry.map_or_else(Lookup::default, |ix| self.lookup_of_entry(ix, &self.entries[ix]))
    }

    /// [`lookup_of`](Self::lookup_of) an entry already at hand (`e` is entry `ix`).
    pub(super) fn lookup_of_entry(&self, ix: u32, e: &Entry) -> Lookup {
        Lookup {
            owner: (e.linked_to != NONE).then(|| self.ids.id_of(self.root(e.linked_to))),
            suspicion: self.entry_suspicion(ix, e),
        }
    }

    /// Distinct conflicting identities seen with entry `ix`'s identity.
    pub(super) fn suspicion_of(&self, ix: u32) -> u32 {
        self.entry_suspicion(ix, &self.entries[ix])
    }

    pub(super) fn entry_suspicion(&self, ix: u32, e: &Entry) -> u32 {
        if e.flags & SUSPECTED_BIT == 0 {
            return 0;
        }
        self.suspicion_counts.get(&ix).copied().unwrap_or(0)
    }

    /// Identities in the order they were linked (a merged customer's ring is spliced after
    /// the survivor's, so ring order alone is not link order; entry numbers are).
    pub(super) fn in_link_order(&self, entries: impl Iterator<Item = u32>) -> Vec<Identity> {
        let mut found: Vec<u32> = entries.collect();
        found.sort_unstable();
        found
            .into_iter()
            .map(|e| self.identity_of(&self.entries[e]))
            .collect()
    }
}
