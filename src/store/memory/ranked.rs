//! A sorted set that counts: its items in sorted blocks of a bounded size, so that an insert
//! or a removal moves at most a block, and the number of items below a key (a rank) sums
//! the blocks' lengths before it instead of walking the items. The query indexes keep
//! customers' slots in one (`filter_index`), where a range's count and a walk from any rank
//! must not cost the tenant.

use std::ops::ControlFlow;

/// A block is split past this many items; its halves hold half of it.
const MAX_BLOCK: usize = 512;

/// A sorted set of `T`, in blocks of 1 to [`MAX_BLOCK`] items.
#[derive(Debug, Clone)]
pub(super) struct Ranked<T> {
    blocks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Ranked<T> {
    fn default() -> Self {
        Self {
            blocks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Ord + Copy> Ranked<T> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The smallest item.
    pub(super) fn first(&self) -> Option<T> {
        self.blocks.first().and_then(|b| b.first()).copied()
    }

    /// The block that holds `item` if anything does: the first whose last item is not below it.
    fn block_of(&self, item: &T) -> usize {
        self.blocks
            .partition_point(|b| b.last().is_some_and(|last| last < item))
    }

    /// Adds `item`; false if it was there.
    pub(super) fn insert(&mut self, item: T) -> bool {
        if self.blocks.is_empty() {
            self.blocks.push(vec![item]);
            self.len = 1;
            return true;
        }
        // Past every block's last: the last block takes it.
        let b = self.block_of(&item).min(self.blocks.len() - 1);
        let block = &mut self.blocks[b];
        let Err(at) = block.binary_search(&item) else {
            return false;
        };
        block.insert(at, item);
        if block.len() > MAX_BLOCK {
            let upper = block.split_off(block.len() / 2);
            self.blocks.insert(b + 1, upper);
        }
        self.len += 1;
        true
    }

    /// Takes `item` out; false if it was not there.
    pub(super) fn remove(&mut self, item: &T) -> bool {
        let b = self.block_of(item);
        let Some(block) = self.blocks.get_mut(b) else {
            return false;
        };
        let Ok(at) = block.binary_search(item) else {
            return false;
        };
        block.remove(at);
        if block.is_empty() {
            self.blocks.remove(b);
        }
        self.len -= 1;
        true
    }

    /// How many items are below `item` (`inclusive`: at most `item`).
    pub(super) fn rank(&self, item: &T, inclusive: bool) -> usize {
        let below = |x: &T| if inclusive { x <= item } else { x < item };
        let b = self
            .blocks
            .partition_point(|block| block.last().is_some_and(&below));
        let before: usize = self.blocks[..b].iter().map(Vec::len).sum();
        before
            + self
                .blocks
                .get(b)
                .map_or(0, |block| block.partition_point(&below))
    }

    /// Calls `each` with the items of ranks `from..to`, ascending (or descending from `to`),
    /// until it breaks. Finding where to start sums blocks' lengths, not items.
    pub(super) fn walk(
        &self,
        from: usize,
        to: usize,
        descending: bool,
        mut each: impl FnMut(T) -> ControlFlow<()>,
    ) {
        let to = to.min(self.len);
        if from >= to {
            return;
        }
        // Block and offset of the rank `from`, then items up to `to`.
        let (mut first, mut skip) = (0, from);
        while skip >= self.blocks[first].len() {
            skip -= self.blocks[first].len();
            first += 1;
        }
        let mut spans: Vec<&[T]> = Vec::new();
        let mut left = to - from;
        for block in &self.blocks[first..] {
            let span = &block[skip..];
            skip = 0;
            let take = span.len().min(left);
            spans.push(&span[..take]);
            left -= take;
            if left == 0 {
                break;
            }
        }
        let _ = if descending {
            spans
                .iter()
                .rev()
                .try_for_each(|span| span.iter().rev().try_for_each(|&x| each(x)))
        } else {
            spans
                .iter()
                .try_for_each(|span| span.iter().try_for_each(|&x| each(x)))
        };
    }

    /// The bytes its blocks hold room for, for tests of what a tenant costs.
    #[cfg(test)]
    pub(super) fn allocated(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<Vec<T>>()
            + self
                .blocks
                .iter()
                .map(|b| b.capacity() * std::mem::size_of::<T>())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn items(r: &Ranked<u32>, from: usize, to: usize, descending: bool) -> Vec<u32> {
        let mut out = Vec::new();
        r.walk(from, to, descending, |x| {
            out.push(x);
            ControlFlow::Continue(())
        });
        out
    }

    #[test]
    fn ranks_and_walks_as_a_sorted_set_does() {
        let mut r = Ranked::default();
        let mut want = BTreeSet::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let item = (x % 5_000) as u32;
            if x.is_multiple_of(3) {
                assert_eq!(r.remove(&item), want.remove(&item), "step {step}");
            } else {
                assert_eq!(r.insert(item), want.insert(item), "step {step}");
            }
            assert_eq!(r.len(), want.len());
            if step.is_multiple_of(997) {
                let all: Vec<u32> = want.iter().copied().collect();
                assert_eq!(items(&r, 0, usize::MAX, false), all);
                assert_eq!(r.first(), all.first().copied());
                for probe in [0, 1, 2_500, 4_999, 5_000] {
                    let below = all.partition_point(|&v| v < probe);
                    let at_most = all.partition_point(|&v| v <= probe);
                    assert_eq!(r.rank(&probe, false), below);
                    assert_eq!(r.rank(&probe, true), at_most);
                }
                let (from, to) = (all.len() / 3, all.len() / 3 + 700);
                let to_clamped = to.min(all.len());
                assert_eq!(items(&r, from, to, false), all[from..to_clamped]);
                let mut down = all[from..to_clamped].to_vec();
                down.reverse();
                assert_eq!(items(&r, from, to, true), down);
            }
        }
        assert!(r.blocks.iter().all(|b| !b.is_empty() && b.len() <= MAX_BLOCK));
    }
}
