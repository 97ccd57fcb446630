//! Merges and identity rings: which slot a customer id leads to, and which identities that
//! customer holds.
//!
//! Merge aliases are a union-find over slots (`Tables::parent`), with the business survivor
//! always the root: a merge points the merged slot at the target, and reads compress paths
//! (through atomics, so reads through `&self` can). Each customer's identities form a circular
//! linked list through the entries, and the slot points at its tail, whose successor is the
//! head: linking appends in O(1), a merge splices two lists in O(1), and listing a customer's
//! identities needs no per-customer allocation. Who was merged into a customer is read from
//! history, which records every merge.

use super::arena::{NONE, ShortText};
use super::entry::{Entry, SUSPECTED_BIT};
use super::event::Kind;
use super::key_index;
use super::space::Space;
use super::tables::Tables;
use crate::error::{Error, Result};
use crate::model::{CustomerId, HashedKey};
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[cfg(test)]
thread_local! {
    /// Entries read by walking rings on this thread, for tests of what a read costs.
    pub(super) static RING_STEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Tables {
    /// Union-find root of a slot, compressing the path.
    pub(super) fn root(&self, slot: u32) -> u32 {
        let mut root = slot;
        loop {
            let p = self.parent[root as usize].load(Ordering::Relaxed);
            if p == root {
                break;
            }
            root = p;
        }
        let mut s = slot;
        while s != root {
            let p = self.parent[s as usize].swap(root, Ordering::Relaxed);
            s = p;
        }
        root
    }

    /// The slot an id leads to, after following merges; `None` if the id was never assigned
    /// in this tenant.
    pub(super) fn live_slot(&self, id: CustomerId) -> Option<u32> {
        let ix = self.ids.slot_of(id)?;
        (ix < self.slots.len()).then(|| self.root(ix))
    }

    /// A customer's entries, oldest ring member first: the slot points at the ring's tail,
    /// whose successor is the head.
    pub(super) fn ring(&self, slot: u32) -> impl Iterator<Item = u32> + '_ {
        let tail = self.slots[slot].ring;
        let start = if tail == NONE {
            NONE
        } else {
            self.entries[tail].next
        };
        let mut cur = start;
        std::iter::from_fn(move || {
            if cur == NONE {
                return None;
            }
            let ix = cur;
            #[cfg(test)]
            RING_STEPS.set(RING_STEPS.get() + 1);
            let next = self.entries[cur].next;
            cur = if next == start { NONE } else { next };
            Some(ix)
        })
    }

    /// Binds an unowned identity to a live slot.
    pub(super) fn link_in(
        &mut self,
        slot: u32,
        key: HashedKey<'_>,
        name: Option<&str>,
        micros: i64,
        cause: u32,
    ) -> Result<()> {
        // Every link gets an entry of its own, so the history of an earlier owner of a released
        // value keeps pointing at its own link (and an erasure redacts only its own).
        let hash = key.hash;
        // One probe finds an earlier entry of the value and where this one goes.
        self.index.reserve(1);
        let probe = self
            .index
            .probe_for(hash as u32, |ix| self.holds_key(ix, key.key));
        let previous = match probe {
            key_index::Probe::Found { entry, .. } => Some(entry),
            key_index::Probe::Vacant(_) => None,
        };
        if previous.is_some_and(|p| self.entries[p].linked_to != NONE) {
            return Err(Error::Invariant(format!("identity {key} is already owned")));
        }
        let e = self.entries.next_index("identities")?;
        if e > key_index::MAX_ENTRY {
            return Err(Error::Capacity(
                "a tenant of the memory store holds at most 2^32 - 3 identity links".into(),
            ));
        }
        self.events.next_index("history events")?;
        let ty = self.intern_type(key.key.identity_type)?;
        let scope = key.key.scope.map_or(NONE, |sc| self.intern_scope(sc));
        let space = self.intern_space(Space { ty, scope })?;
        let name = match name {
            Some(n) => {
                self.names.push(Arc::from(n));
                (self.names.len() - 1) as u32
            }
            None => NONE,
        };
        let value = ShortText::new(key.key.value, &mut self.values)?;
        // Evidence against the value outlives its earlier links.
        let suspicion = previous.map_or(0, |p| self.suspicion_of(p));
        if suspicion > 0 {
            self.suspicion_counts.insert(e, suspicion);
        }
        // Appended to the owner's ring: it becomes the new tail.
        let tail = std::mem::replace(&mut self.slots[slot].ring, e);
        let next = if tail == NONE {
            e
        } else {
            std::mem::replace(&mut self.entries[tail].next, e)
        };
        self.entries.push(Entry {
            space,
            name,
            linked_to: slot,
            next,
            flags: if suspicion > 0 { SUSPECTED_BIT } else { 0 },
            value,
        });
        match probe {
            key_index::Probe::Found { at, .. } => self.index.replace_at(at, e, slot),
            key_index::Probe::Vacant(at) => self.index.insert_at(at, hash as u32, e, slot),
        }
        self.held_linked(slot, space, e);
        self.record_at(slot, micros, Kind::Linked(e), cause)?;
        Ok(())
    }

    /// Merges live slot `from` into live slot `into` (two different ones).
    pub(super) fn merge_in(&mut self, from_slot: u32, into_slot: u32, micros: i64, cause: u32) -> Result<()> {
        if self.events.len() >= NONE - 1 {
            return Err(Error::Capacity(
                "a tenant of the memory store holds at most 2^32 - 1 history events".into(),
            ));
        }
        self.held_merged(from_slot, into_slot);
        // Splice rings: swapping the successors of the two tails appends `from`'s list to
        // `into`'s, and `from`'s tail becomes the tail.
        let (a, b) = (self.slots[from_slot].ring, self.slots[into_slot].ring);
        match (a, b) {
            (NONE, _) => {}
            (a, NONE) => self.slots[into_slot].ring = a,
            (a, b) => {
                let an = self.entries[a].next;
                let bn = self.entries[b].next;
                self.entries[a].next = bn;
                self.entries[b].next = an;
                self.slots[into_slot].ring = a;
            }
        }
        self.slots[from_slot].ring = NONE;
        self.parent[from_slot as usize].store(into_slot, Ordering::Relaxed);
        self.unindex(from_slot);
        let merged = &mut self.slots[from_slot];
        merged.set_merged_into(into_slot);
        self.live -= 1;
        merged.updated = micros;
        self.record_at(from_slot, micros, Kind::MergedInto(into_slot), cause)?;
        self.record_at(into_slot, micros, Kind::Merged(from_slot), cause)?;
        Ok(())
    }

    /// The slot and every slot merged into it, breadth-first through the recorded merges.
    pub(super) fn members(&self, root: u32) -> Vec<u32> {
        let mut members = vec![root];
        let mut i = 0;
        while i < members.len() {
            // In the order the merges happened (the log links newest first).
            let start = members.len();
            for (_, event) in self.events_of(members[i]) {
                if let Kind::Merged(from) = event.kind {
                    members.push(from);
                }
            }
            members[start..].reverse();
            i += 1;
        }
        members
    }

    pub(super) fn live_for_write(&self, id: CustomerId) -> Result<u32> {
        match self.live_slot(id) {
            Some(s) if self.slots[s].is_active() => Ok(s),
            _ => Err(Error::CustomerNotFound(id)),
        }
    }

    /// Takes an entry out of the owner's ring (found by walking to its predecessor).
    pub(super) fn cut_from_ring(&mut self, slot: u32, e: u32) {
        let next = self.entries[e].next;
        let mut prev = e;
        while self.entries[prev].next != e {
            prev = self.entries[prev].next;
        }
        if next == e {
            self.slots[slot].ring = NONE;
        } else {
            self.entries[prev].next = next;
            if self.slots[slot].ring == e {
                // The tail left: its predecessor is the new tail.
                self.slots[slot].ring = prev;
            }
        }
        let entry = &mut self.entries[e];
        entry.linked_to = NONE;
        entry.next = NONE;
        let space = entry.space;
        self.held_cut(slot, space, e);
    }
}
