//! The identity index: from a key's hash to the entry that holds the key.
//!
//! Open addressing with linear probing over 12-byte slots: the entry, the low 32 bits of the
//! key's hash, and a hint of the slot the entry was linked to. A probe reads one cache line
//! of slots, or two when its slot straddles them (a general-purpose table such as hashbrown
//! reads its control bytes, then a bucket elsewhere: two cache misses per cold lookup), and the stored hash bits let a probe
//! skip other keys' entries and let growth rehash without reading them. The hint lets a
//! lookup load the owner's union-find parent and slot together with the entry, instead of
//! after it; it is only ever used to start loads early, so a stale hint costs a wasted load,
//! never a wrong answer. Removed keys leave tombstones, cleared when the table grows or is rebuilt.

/// The position hash of a key whose full hash has these low 32 bits: multiplying by an odd
/// constant spreads them into the top bits, where the position is taken.
fn spread(low: u32) -> u64 {
    u64::from(low).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

const EMPTY: u32 = u32::MAX;
const TOMBSTONE: u32 = u32::MAX - 1;

/// The largest entry number the index can hold (the two above are markers).
pub(super) const MAX_ENTRY: u32 = u32::MAX - 2;

/// The hint of an entry linked to no slot.
pub(super) const NO_HINT: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IndexSlot {
    /// The entry, or `EMPTY`, or `TOMBSTONE`.
    entry: u32,
    /// The low 32 bits of the entry's key hash.
    low: u32,
    /// The slot the entry was linked to when last set here (a hint: see the module docs).
    hint: u32,
}

const VACANT: IndexSlot = IndexSlot {
    entry: EMPTY,
    low: 0,
    hint: NO_HINT,
};

/// Where a key is, or would go (see [`KeyIndex::probe_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Probe {
    /// In slot `at`, pointing at `entry`.
    Found { at: usize, entry: u32 },
    /// Not in the index; an insertion takes slot `at`.
    Vacant(usize),
}

#[derive(Default)]
pub(super) struct KeyIndex {
    /// A power-of-two count of them, or none.
    slots: Vec<IndexSlot>,
    /// Live keys.
    live: usize,
    /// Live keys and tombstones: what fills the probe sequences.
    used: usize,
}

impl KeyIndex {
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn home(&self, low: u32) -> usize {
        // The top bits of the spread hash, as many as the table has positions.
        (spread(low) >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    /// The slots a key with these hash bits may sit in, in probe order, up to the first empty.
    fn probe(&self, low: u32) -> impl Iterator<Item = usize> + '_ {
        let (mask, start) = if self.slots.is_empty() {
            (0, 0)
        } else {
            (self.mask(), self.home(low))
        };
        let mut i = start;
        let mut done = self.slots.is_empty();
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let at = i;
            if self.slots[at].entry == EMPTY {
                return None;
            }
            i = (i + 1) & mask;
            // A table always keeps an empty slot, so the walk ends; this guards it anyway.
            done = i == start;
            Some(at)
        })
    }

    /// The entry among those whose hash has these low bits that `is_key` accepts.
    pub(super) fn find(&self, low: u32, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        self.probe(low)
            .map(|at| self.slots[at])
            .find(|s| s.low == low && s.entry != TOMBSTONE && is_key(s.entry))
            .map(|s| s.entry)
    }

    /// The first entry whose hash has these low bits (nearly always the key's, but unchecked),
    /// with its owner hint.
    pub(super) fn candidate(&self, low: u32) -> Option<(u32, u32)> {
        self.probe(low)
            .map(|at| self.slots[at])
            .find(|s| s.low == low && s.entry != TOMBSTONE)
            .map(|s| (s.entry, s.hint))
    }

    /// Starts loading the slot a lookup of `low` reads first, without waiting for it (see
    /// [`prefetch`](crate::prefetch)).
    pub(super) fn prefetch(&self, low: u32) {
        if !self.slots.is_empty() {
            crate::prefetch::prefetch(&self.slots[self.home(low)]);
        }
    }

    /// Where `entry` (whose key hash has these low bits) sits, if it is in the index.
    fn position(&self, low: u32, entry: u32) -> Option<usize> {
        self.probe(low)
            .find(|&at| self.slots[at].entry == entry && self.slots[at].low == low)
    }

    /// Removes `entry` (whose key hash has these low bits); `false` if it is not there.
    pub(super) fn remove(&mut self, low: u32, entry: u32) -> bool {
        match self.position(low, entry) {
            Some(at) => {
                self.slots[at].entry = TOMBSTONE;
                self.live -= 1;
                true
            }
            None => false,
        }
    }

    /// Looks a key up as [`find`](Self::find) does, and says where to put it: its slot if it
    /// is there, else the slot an insertion takes (the first tombstone on the way, or the
    /// empty slot that ends it). Call [`reserve`](Self::reserve) first: growth moves slots.
    pub(super) fn probe_for(&self, low: u32, mut is_key: impl FnMut(u32) -> bool) -> Probe {
        debug_assert!(!self.slots.is_empty(), "reserve before probing for an insertion");
        let mask = self.mask();
        let mut at = self.home(low);
        let mut vacant = None;
        loop {
            let slot = self.slots[at];
            match slot.entry {
                EMPTY => return Probe::Vacant(vacant.unwrap_or(at)),
                TOMBSTONE => {
                    vacant.get_or_insert(at);
                }
                e if slot.low == low && is_key(e) => return Probe::Found { at, entry: e },
                _ => {}
            }
            at = (at + 1) & mask;
        }
    }

    /// Points the slot `at` (a [`Probe::Found`]) at `new`, linked to `hint`.
    pub(super) fn replace_at(&mut self, at: usize, new: u32, hint: u32) {
        self.slots[at].entry = new;
        self.slots[at].hint = hint;
    }

    /// Puts an entry whose key is not in the index into the slot `at` (a [`Probe::Vacant`]).
    pub(super) fn insert_at(&mut self, at: usize, low: u32, entry: u32, hint: u32) {
        debug_assert!(entry <= MAX_ENTRY);
        if self.slots[at].entry == EMPTY {
            self.used += 1;
        }
        self.slots[at] = IndexSlot { entry, low, hint };
        self.live += 1;
    }

    /// Makes room for `more` keys without growing on the way (load at most 3/4).
    pub(super) fn reserve(&mut self, more: usize) {
        let needed = self.used + more;
        if needed * 4 <= self.slots.len() * 3 {
            return;
        }
        // Size for the live keys (tombstones go) with room for `more`.
        let want = ((self.live + more) * 4 / 3 + 1).next_power_of_two().max(16);
        let mut slots = Vec::with_capacity(want);
        super::pages::advise_huge(&mut slots);
        slots.resize(want, VACANT);
        let old = std::mem::replace(&mut self.slots, slots);
        self.used = 0;
        self.live = 0;
        for slot in old {
            if slot.entry != EMPTY && slot.entry != TOMBSTONE {
                self.insert_fresh(slot);
            }
        }
    }

    /// The bytes its slots take (for tests of what a table costs).
    #[cfg(test)]
    pub(super) fn allocated(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<IndexSlot>()
    }

    /// Inserts into a table known to have room and no tombstones.
    fn insert_fresh(&mut self, slot: IndexSlot) {
        let mask = self.mask();
        let mut at = self.home(slot.low);
        while self.slots[at].entry != EMPTY {
            at = (at + 1) & mask;
        }
        self.slots[at] = slot;
        self.used += 1;
        self.live += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl KeyIndex {
        /// Adds an entry whose key is not in the index yet, linked to `hint`.
        fn insert(&mut self, low: u32, entry: u32, hint: u32) {
            self.reserve(1);
            match self.probe_for(low, |_| false) {
                Probe::Vacant(at) => self.insert_at(at, low, entry, hint),
                found => panic!("{found:?}"),
            }
        }

        /// Points `old`'s slot at `new`; `false` if `old` is not in the index.
        fn replace(&mut self, low: u32, old: u32, new: u32, hint: u32) -> bool {
            if self.slots.is_empty() {
                return false;
            }
            match self.probe_for(low, |e| e == old) {
                Probe::Found { at, .. } => {
                    self.replace_at(at, new, hint);
                    true
                }
                Probe::Vacant(_) => false,
            }
        }
    }

    #[test]
    fn finds_replaces_and_removes_through_growth_and_collisions() {
        let mut index = KeyIndex::default();
        assert_eq!(index.find(7, |_| true), None);
        // Many keys share low bits (as colliding hashes would): the predicate tells them apart.
        for e in 0..5_000u32 {
            index.insert(e % 97, e, e + 1);
        }
        for e in 0..5_000u32 {
            assert_eq!(index.find(e % 97, |x| x == e), Some(e));
        }
        assert_eq!(index.find(3, |x| x == 4), None);
        // The first entry with the hash bits, and its hint.
        assert_eq!(index.candidate(3), Some((3, 4)));
        assert_eq!(index.candidate(200), None);
        assert!(index.replace(5, 5, 9_000, 7));
        assert_eq!(index.find(5, |x| x == 9_000), Some(9_000));
        assert_eq!(index.candidate(5), Some((9_000, 7)));
        assert_eq!(index.find(5, |x| x == 5), None);
        assert!(!index.replace(5, 5, 1, 1));
        for e in (0..5_000u32).filter(|e| e % 2 == 0 && *e != 5) {
            assert!(index.remove(e % 97, e));
        }
        assert!(!index.remove(0, 0));
        for e in 0..5_000u32 {
            let expected = (e % 2 == 1 && e != 5).then_some(e);
            assert_eq!(index.find(e % 97, |x| x == e), expected, "entry {e}");
        }
        // Tombstones are reused and cleared by growth.
        for e in 10_000..30_000u32 {
            index.insert(e, e, NO_HINT);
        }
        assert_eq!(index.find(10_001, |x| x == 10_001), Some(10_001));
        assert_eq!(index.find(99 % 97, |x| x == 99), Some(99));
        assert_eq!(index.live, 2_499 + 1 + 20_000);
        // Growth kept the hints.
        assert_eq!(index.candidate(5), Some((9_000, 7)));
        assert_eq!(index.candidate(10_001), Some((10_001, NO_HINT)));
    }
}
