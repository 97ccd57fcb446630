//! Erasure: forgetting a customer, and everyone merged into it, for good.
//!
//! Every identity those customers ever held (their ring, and the links in their history) is
//! scrubbed in place: the value's bytes are overwritten, the scope and name dropped, and the
//! entry leaves the index; the type stays, so history still says what kind of identity went.
//! A value that someone else has linked since stays theirs. Quarantine evidence about every
//! value the customers held goes too. The slots keep their ids, marked erased and without
//! data, and history reads their links as redacted.

use super::arena::NONE;
use super::entry::ERASED_BIT;
use super::event::Kind;
use super::slot::micros;
use super::space::Space;
use super::tables::Tables;
use crate::error::{Error, Result};
use crate::history::Cause;
use crate::model::CustomerId;
use chrono::{DateTime, Utc};

impl Tables {
    /// Erases a live customer and everyone merged into it; returns their ids.
    pub(super) fn erase_customer(
        &mut self,
        id: CustomerId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<Vec<CustomerId>> {
        let s = self;
        let root = s.live_slot(id).ok_or(Error::CustomerNotFound(id))?;
        s.events.next_index("history events")?;
        // The customer and everyone merged into it, through any number of merges.
        let members = s.members(root);
        // Every identity these customers ever held: their current ring, and the links in
        // their history (identities released by a delete are no longer in the ring).
        let mut doomed: Vec<u32> = Vec::new();
        let mut forgotten = hashbrown::HashSet::<u64>::new();
        let start = s.slots[root].ring;
        let mut cur = start;
        while cur != NONE {
            doomed.push(cur);
            let next = s.entries[cur].next;
            cur = if next == start { NONE } else { next };
        }
        for &m in &members {
            for (_, event) in s.events_of(m) {
                // Their own entries: a value they gave up and someone else linked since has
                // an entry (and a history) of its own.
                let found = match event.kind {
                    Kind::Linked(entry) | Kind::Unlinked(entry) => Some(entry),
                    _ => None,
                };
                if let Some(e) = found {
                    // Evidence about the value goes in any case (as the SQL stores do).
                    forgotten.insert(s.key_of(&s.entries[e]).hash64());
                    // The value itself, unless someone else holds it now.
                    let linked = s.entries[e].linked_to;
                    if linked == NONE || s.root(linked) == root {
                        doomed.push(e);
                    }
                }
            }
        }
        doomed.sort_unstable();
        doomed.dedup();
        doomed.retain(|&e| s.entries[e].flags & ERASED_BIT == 0);
        // An erased identity keeps its type (history says what kind of identity went) but
        // not its scope. Interned before anything changes, as interning is what can fail.
        let mut erased_spaces = Vec::with_capacity(doomed.len());
        for &e in &doomed {
            let ty = s.space_of(&s.entries[e]).ty;
            erased_spaces.push(s.intern_space(Space { ty, scope: NONE })?);
        }
        for (e, space) in doomed.into_iter().zip(erased_spaces) {
            let hash = s.key_of(&s.entries[e]).hash64();
            forgotten.insert(hash);
            s.index.remove(hash as u32, e);
            s.suspicion_counts.remove(&e);
            let entry = &mut s.entries[e];
            entry.flags = ERASED_BIT;
            entry.space = space;
            entry.name = NONE;
            entry.linked_to = NONE;
            entry.next = NONE;
            entry.value.scrub(&mut s.values);
        }
        // Quarantine evidence about the erased values goes too, and no longer counts against
        // the values that stay (as the SQL stores count evidence rows).
        let mut relieved: Vec<u64> = Vec::new();
        s.suspicions.retain(|(a, b)| {
            let keep = !forgotten.contains(a) && !forgotten.contains(b);
            if !keep && !forgotten.contains(a) {
                relieved.push(*a);
            }
            keep
        });
        // And their text, overwritten as the values are.
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut s.evidence).into_iter().partition(|e| {
            let (a, b) = e.hashes();
            forgotten.contains(&a) || forgotten.contains(&b)
        });
        s.evidence = kept;
        gone.into_iter().for_each(super::evidence::Evidence::scrub);
        for a in relieved {
            let found = s.index.find(a as u32, |e| s.key_of(&s.entries[e]).hash64() == a);
            if let Some(count) = found.and_then(|e| s.suspicion_counts.get_mut(&e)) {
                *count = count.saturating_sub(1);
            }
        }
        // A forgotten value that someone else holds now has no evidence left either.
        for &h in &forgotten {
            if let Some(e) = s.index.find(h as u32, |e| s.key_of(&s.entries[e]).hash64() == h) {
                s.suspicion_counts.remove(&e);
            }
        }
        s.slots[root].ring = NONE;
        s.held_cleared(root);
        // The root is the one of them that may be live (a deleted customer can be erased).
        if s.slots[root].is_active() {
            s.unindex(root);
            s.live -= 1;
        }
        let mut erased = Vec::with_capacity(members.len());
        for &m in &members {
            let slot = &mut s.slots[m];
            slot.set_gone(true);
            slot.updated = micros(at);
            slot.data = None;
            erased.push(s.ids.id_of(m));
        }
        s.record(root, at, Kind::Erased, cause)?;
        Ok(erased)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;
    use crate::{IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};

    #[test]
    fn long_values_are_found_and_erasure_leaves_no_value_bytes() {
        let tenant = TenantId::new("t");
        let resolver = Resolver::new(MemoryStore::new());
        let short = "13812345678";
        let long = "someone.with.a.long.address@example.com";
        let out = resolver
            .resolve(
                &tenant,
                &ResolveRequest::new([
                    IdentityInput::new("mobile", short),
                    IdentityInput::new("email", long),
                ]),
            )
            .unwrap();
        // A value too long to keep in its entry is found through the arena.
        let again = resolver
            .resolve(&tenant, &ResolveRequest::new([IdentityInput::new("email", long)]))
            .unwrap();
        assert_eq!((again.customer, again.created), (out.customer, false));
        let store = resolver.store();
        let held = |s: &MemoryStore, value: &str| {
            let txn = s.read(&tenant).unwrap();
            let s = &*txn.tables;
            s.values.contains(value)
                || s.entries
                    .iter()
                    .any(|e| e.value.as_bytes(&s.values) == value.as_bytes())
        };
        assert!(held(store, short) && held(store, long), "kept before erasure");
        resolver.erase(&tenant, out.customer.unwrap()).unwrap();
        let store = resolver.store();
        assert!(!held(store, short) && !held(store, long), "scrubbed by erasure");
    }
}
