//! What a customer holds, counted: how many identities of each space (type and scope), so
//! that a resolve checking a limit or looking for quarantine evidence costs the same whatever
//! the customer already holds.
//!
//! Every slot counts its ring's entries (`Slot::ring_len`, in bytes the slot had spare). A
//! ring of at most [`SMALL_RING`] entries, which nearly every customer's is, is simply walked:
//! a few entries, and nothing else to keep up on the hot path. Past that, the slot's counts by
//! space, with the oldest entry of each, are kept in a side map (`Tables::held`), built from
//! the ring once when it grows past the bound and kept up by every change to ring membership:
//! link, unlink, merge, delete and erasure. A count is then one map read and a scan over the
//! customer's spaces.

use super::arena::NONE;
use super::counts::{Held, HeldSpace, SMALL_RING};
use super::tables::Tables;

/// Adds entry `e` of `space` to `held`.
fn add(held: &mut Held, space: u32, e: u32) {
    match held.iter_mut().find(|h| h.space == space) {
        Some(h) => {
            h.count += 1;
            h.first = h.first.min(e);
        }
        None => held.push(HeldSpace {
            space,
            count: 1,
            first: e,
        }),
    }
}

impl Tables {
    /// The counts of the ring of `slot`, walked.
    fn held_of_ring(&self, slot: u32) -> Held {
        let mut held = Held::new();
        for e in self.ring(slot) {
            add(&mut held, self.entries[e].space, e);
        }
        held
    }

    /// The counts of live `slot`'s ring by space, with the oldest entry of each: kept for a
    /// large ring, walked for a small one (whose walk is as short as the list).
    pub(super) fn held(&self, slot: u32) -> Held {
        if self.slots[slot].ring_len() <= SMALL_RING {
            return self.held_of_ring(slot);
        }
        self.held.get(&slot).cloned().unwrap_or_default()
    }

    /// How many entries of `space` live `slot`'s ring holds.
    pub(super) fn count_in(&self, slot: u32, space: u32) -> usize {
        if self.slots[slot].ring_len() <= SMALL_RING {
            return self
                .ring(slot)
                .filter(|&e| self.entries[e].space == space)
                .count();
        }
        self.held
            .get(&slot)
            .and_then(|held| held.iter().find(|h| h.space == space))
            .map_or(0, |h| h.count as usize)
    }

    /// The oldest entry of `space` in live `slot`'s ring, if it holds one.
    pub(super) fn first_in(&self, slot: u32, space: u32) -> Option<u32> {
        if self.slots[slot].ring_len() <= SMALL_RING {
            return self.ring(slot).filter(|&e| self.entries[e].space == space).min();
        }
        self.held
            .get(&slot)
            .and_then(|held| held.iter().find(|h| h.space == space))
            .map(|h| h.first)
    }

    /// Counts entry `e` of `space`, just appended to `slot`'s ring.
    #[inline]
    pub(super) fn held_linked(&mut self, slot: u32, space: u32, e: u32) {
        let len = self.slots[slot].ring_len() + 1;
        self.slots[slot].set_ring_len(len);
        if len > SMALL_RING {
            self.held_grew(slot, len, space, e);
        }
    }

    #[cold]
    fn held_grew(&mut self, slot: u32, len: u32, space: u32, e: u32) {
        if len == SMALL_RING + 1 {
            // Just past the bound: counted from the ring (which holds `e` already), once.
            let held = self.held_of_ring(slot);
            self.held.insert(slot, held);
        } else if let Some(held) = self.held.get_mut(&slot) {
            add(held, space, e);
        }
    }

    /// Uncounts entry `e` of `space`, just cut from `slot`'s ring.
    pub(super) fn held_cut(&mut self, slot: u32, space: u32, e: u32) {
        let len = self.slots[slot].ring_len().saturating_sub(1);
        self.slots[slot].set_ring_len(len);
        if len <= SMALL_RING {
            self.held.remove(&slot);
            return;
        }
        let Some(mut held) = self.held.remove(&slot) else {
            return;
        };
        if let Some(at) = held.iter().position(|h| h.space == space) {
            let h = &mut held[at];
            h.count -= 1;
            if h.count == 0 {
                held.swap_remove(at);
            } else if h.first == e {
                // The oldest left: the next oldest is found in the ring (as long a walk as the
                // cut's own).
                h.first = self
                    .ring(slot)
                    .filter(|&x| self.entries[x].space == space)
                    .min()
                    .unwrap_or(NONE);
            }
        }
        self.held.insert(slot, held);
    }

    /// Moves the counts of `from`'s ring to `into`'s, before the two rings are spliced.
    pub(super) fn held_merged(&mut self, from: u32, into: u32) {
        let (a, b) = (self.slots[from].ring_len(), self.slots[into].ring_len());
        let len = a + b;
        self.slots[into].set_ring_len(len);
        self.slots[from].set_ring_len(0);
        if len <= SMALL_RING {
            return;
        }
        // Each side counted or walked (a walk only of a small ring).
        let theirs = self.held.remove(&from).unwrap_or_else(|| self.held_of_ring(from));
        let mut ours = self.held.remove(&into).unwrap_or_else(|| self.held_of_ring(into));
        for h in theirs {
            match ours.iter_mut().find(|o| o.space == h.space) {
                Some(o) => {
                    o.count += h.count;
                    o.first = o.first.min(h.first);
                }
                None => ours.push(h),
            }
        }
        self.held.insert(into, ours);
    }

    /// Forgets the counts of `slot`, whose ring was just emptied.
    pub(super) fn held_cleared(&mut self, slot: u32) {
        self.slots[slot].set_ring_len(0);
        self.held.remove(&slot);
    }
}

#[cfg(test)]
mod tests {
    use super::super::rings::RING_STEPS;
    use super::super::tables::Tables;
    use super::{HeldSpace, SMALL_RING};
    use crate::history::{Cause, Operation};
    use crate::model::IdentityKey;
    use crate::settings::IdentitySettings;
    use crate::store::{ReadTxn, Store, Txn};
    use crate::{CustomerId, IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};

    fn cause() -> Cause {
        Cause {
            operation: Operation::Resolve,
            reference: None,
        }
    }

    /// Every live slot's counts are what walking its ring finds, only large rings keep
    /// them, and the tenant counts its live customers.
    fn check(s: &Tables) {
        let active = (0..s.slots.len()).filter(|&ix| s.slots[ix].is_active()).count();
        assert_eq!(s.live as usize, active, "the count of live customers");
        for slot in 0..s.slots.len() {
            let walked = s.ring(slot).count() as u32;
            if !s.slots[slot].is_active() {
                assert_eq!(walked, 0, "slot {slot} is not live but holds entries");
                assert!(!s.held.contains_key(&slot));
                continue;
            }
            assert_eq!(s.slots[slot].ring_len(), walked, "slot {slot}'s length");
            assert_eq!(s.held.contains_key(&slot), walked > SMALL_RING, "slot {slot}");
            let sorted = |mut h: Vec<HeldSpace>| {
                h.sort_by_key(|h| h.space);
                h
            };
            let kept = sorted(s.held(slot).to_vec());
            let counted = sorted(s.held_of_ring(slot).to_vec());
            assert_eq!(kept, counted, "slot {slot}");
            for h in &kept {
                assert_eq!(s.count_in(slot, h.space), h.count as usize);
                assert_eq!(s.first_in(slot, h.space), Some(h.first));
            }
        }
    }

    #[test]
    fn counts_follow_links_unlinks_merges_deletes_and_erasures() {
        let t = TenantId::new("t");
        let store = MemoryStore::new();
        let mut txn = store.write(&t).unwrap();
        let now = chrono::Utc::now();
        let types = ["a", "b", "c"];
        let scopes = [None, Some("s1")];
        let mut live: Vec<CustomerId> = Vec::new();
        let mut linked: Vec<(usize, usize, u64)> = Vec::new();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        };
        let (mut most, mut fell, mut before) = (0, false, 0);
        for step in 0..4_000u64 {
            let op = next(100);
            if live.is_empty() || op < 5 {
                live.push(txn.create_customer(&t, now, &cause()).unwrap());
            } else if op < 75 {
                // Many links to few customers, so that rings pass the bound and come back.
                let c = live[next(live.len().min(4))];
                let (ty, sc) = (next(types.len()), next(scopes.len()));
                let value = step.to_string();
                let key = IdentityKey {
                    identity_type: types[ty],
                    scope: scopes[sc],
                    value: &value,
                };
                txn.link(&t, c, key.hashed(), None, now, &cause()).unwrap();
                linked.push((ty, sc, step));
            } else if op < 90 && !linked.is_empty() {
                let (ty, sc, value) = linked.swap_remove(next(linked.len()));
                let value = value.to_string();
                let key = IdentityKey {
                    identity_type: types[ty],
                    scope: scopes[sc],
                    value: &value,
                };
                txn.unlink(&t, key, now, &cause()).unwrap();
            } else if op < 97 && live.len() >= 2 {
                let from = live.swap_remove(next(live.len()));
                let into = live[next(live.len())];
                txn.merge(&t, from, into, now, &cause()).unwrap();
            } else if live.len() >= 2 {
                let gone = live.swap_remove(next(live.len()));
                if op % 2 == 0 {
                    txn.delete(&t, gone, now, &cause()).unwrap();
                } else {
                    txn.erase(&t, gone, now, &cause()).unwrap();
                }
            }
            check(&txn.tables);
            let large = txn.tables.held.len();
            most = most.max(large);
            fell |= large < before;
            before = large;
        }
        // The sequence grew several large rings, and rings fell back below the bound.
        assert!(most >= 2 && fell, "{most} {fell}");
    }

    #[test]
    fn a_resolve_walks_none_of_a_large_customers_identities() {
        let t = TenantId::new("t");
        let settings = IdentitySettings::default()
            .with_limit("device", Some(100_000))
            .unwrap()
            .with_quarantine(Some(3))
            .unwrap();
        let r = Resolver::new(MemoryStore::new()).with_default_settings(settings);
        // The device of the last visit and a new one: the customer's count of devices is read
        // for the limit, and for quarantine evidence against the known device (once each).
        let visit = |n: u32| {
            ResolveRequest::new([
                IdentityInput::new("device", format!("d{}", n.saturating_sub(1))),
                IdentityInput::new("device", format!("d{n}")),
            ])
        };
        let id = r.resolve(&t, &visit(0)).unwrap().customer.unwrap();
        let mut steps = Vec::new();
        for n in 1..=5_000 {
            RING_STEPS.set(0);
            let out = r.resolve(&t, &visit(n)).unwrap();
            assert_eq!(out.customer, Some(id));
            steps.push(RING_STEPS.get());
        }
        // A walk of the customer's ring while that is short, none past it.
        assert!(steps[..8].iter().all(|&s| s > 0), "{:?}", &steps[..8]);
        assert!(
            steps[SMALL_RING as usize..].iter().all(|&s| s == 0),
            "ring entries read by a visit: {:?}",
            steps.iter().max()
        );
        let txn = r.store().read(&t).unwrap();
        assert_eq!(txn.count_of_type(&t, id, "device", None).unwrap(), 5_001);
        assert_eq!(
            txn.first_of_type(&t, id, "device", None)
                .unwrap()
                .unwrap()
                .identity_value
                .as_str(),
            "d0"
        );
    }
}
