//! Huge pages for the store's large tables.
//!
//! A lookup in a store of millions of customers misses the cache, and with 4 KiB pages it
//! misses the TLB as well: each miss then walks the page tables first (under virtualization,
//! two sets of them). Backing the large tables with 2 MiB transparent huge pages removes
//! most of those walks. Linux only; elsewhere, and where the kernel declines, nothing changes.

/// Tables smaller than this keep ordinary pages: a small store should not take memory in
/// 2 MiB steps.
const MIN_BYTES: usize = 4 << 20;

/// Makes room for `additional` more elements as [`Vec::reserve`] does (at least doubling),
/// but advises the new allocation before the elements move in, so a large table that grows
/// by pushes still ends up on huge pages.
pub(super) fn reserve_huge<T>(table: &mut Vec<T>, additional: usize) {
    if table.capacity() - table.len() >= additional {
        return;
    }
    let want = (table.len() + additional).max(table.capacity() * 2).max(16);
    let mut grown = Vec::with_capacity(want);
    advise_huge(&mut grown);
    grown.append(table);
    *table = grown;
}

/// Asks the kernel to back `table`'s spare capacity with huge pages when it faults in. Call
/// it on a fresh allocation, before writing: pages already touched stay as they are.
pub(super) fn advise_huge<T>(table: &mut Vec<T>) {
    let spare = table.spare_capacity_mut();
    let bytes = std::mem::size_of_val(spare);
    if bytes < MIN_BYTES {
        return;
    }
    advise_range(spare.as_mut_ptr() as usize, bytes);
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn advise_range(start: usize, bytes: usize) {
    const HUGE: usize = 2 << 20;
    // Only whole huge pages inside the allocation.
    let from = start.next_multiple_of(HUGE);
    let to = (start + bytes) & !(HUGE - 1);
    if to > from {
        // SAFETY: MADV_HUGEPAGE is advice about how memory is backed; it changes neither the
        // contents nor the validity of any memory, and the range lies inside an allocation
        // this module's caller owns. A refusal (an error) changes nothing, so it is ignored.
        unsafe {
            libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_range(_start: usize, _bytes: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserving_keeps_contents_and_grows_geometrically() {
        let mut small: Vec<u32> = (0..10).collect();
        reserve_huge(&mut small, 1);
        assert_eq!(small, (0..10).collect::<Vec<_>>());
        assert!(small.capacity() >= 16);
        // Large enough to be advised: contents survive the move all the same.
        let n = (MIN_BYTES / 4) as u32 + 3;
        let mut large: Vec<u32> = Vec::new();
        for i in 0..n {
            if large.len() == large.capacity() {
                reserve_huge(&mut large, 1);
            }
            large.push(i);
        }
        assert!(large.iter().copied().eq(0..n));
        let (before, room) = (large.capacity(), large.capacity() - large.len());
        reserve_huge(&mut large, room);
        assert_eq!(large.capacity(), before, "room enough: nothing moves");
    }
}
