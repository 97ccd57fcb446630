//! Prefetching: starting a load that nothing waits for.
//!
//! A batch knows the keys of its next requests before their turn. Asking the CPU to start
//! loading their cache lines then lets those misses overlap the current request's work,
//! where a lookup at its turn would stall for each. An ordinary load cannot do this: the
//! CPU retires instructions in order, so one waiting on memory soon stops everything behind
//! it. A prefetch instruction is a hint that never faults and is never waited for.

/// Starts loading the cache line that holds `value`'s first byte and, when it spans two,
/// the one that holds its last.
#[inline]
pub(super) fn prefetch<T>(value: &T) {
    let first = std::ptr::from_ref(value).cast::<u8>();
    let last = first.wrapping_add(std::mem::size_of::<T>().saturating_sub(1));
    prefetch_line(first);
    if (first as usize) >> 6 != (last as usize) >> 6 {
        prefetch_line(last);
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
#[allow(unsafe_code)]
fn prefetch_line(at: *const u8) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it is part of the
    // architecture's baseline). A prefetch reads nothing into the program and cannot fault,
    // whatever the address; here it is always inside a live reference anyway.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(at.cast()) }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn prefetch_line(_at: *const u8) {}
