//! Prefetching: starting a load that nothing waits for.
//!
//! A batch knows its next requests before their turn: the identities a parsing thread
//! wrote (in another core's cache), and once prepared, their keys (in the memory store's
//! index). Asking the CPU to start loading those cache lines lets the misses overlap the
//! current request's work, where reading them at their turn would stall for each. An
//! ordinary load cannot do this: the CPU retires instructions in order, so one waiting on
//! memory soon stops everything behind it. A prefetch instruction is a hint that never
//! faults and is never waited for.

/// Cache lines are 64 bytes on the CPUs this is written for; elsewhere a wrong guess only
/// prefetches more or less than it might.
const LINE: usize = 64;

/// Starts loading the cache lines that hold `value`'s first and last bytes (often one line).
#[inline]
pub(crate) fn prefetch<T>(value: &T) {
    // Both ends, unconditionally: a second prefetch of a line on its way costs less than
    // working out whether the ends share one.
    let first = std::ptr::from_ref(value).cast::<u8>();
    prefetch_line(first);
    prefetch_line(first.wrapping_add(std::mem::size_of::<T>().saturating_sub(1)));
}

/// Starts loading the cache lines of `items`, at most `max_lines` of them.
#[inline]
pub(crate) fn prefetch_slice<T>(items: &[T], max_lines: usize) {
    prefetch_span(items.as_ptr().cast(), std::mem::size_of_val(items), max_lines);
}

#[inline]
fn prefetch_span(start: *const u8, bytes: usize, max_lines: usize) {
    for offset in line_offsets(start as usize, bytes, max_lines) {
        prefetch_line(start.wrapping_add(offset));
    }
}

/// Offsets from `start` that fall in each cache line of the `bytes` from `start`, the first
/// `max_lines` of them: `0`, then the start of each following line.
fn line_offsets(start: usize, bytes: usize, max_lines: usize) -> impl Iterator<Item = usize> {
    let lines = match bytes {
        0 => 0,
        _ => ((start + bytes - 1) / LINE - start / LINE + 1).min(max_lines),
    };
    let next_line = (start / LINE + 1) * LINE - start;
    (0..lines).map(move |i| if i == 0 { 0 } else { next_line + (i - 1) * LINE })
}

#[cfg(target_arch = "x86_64")]
#[inline]
#[allow(unsafe_code)]
fn prefetch_line(at: *const u8) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it is part of the
    // architecture's baseline). A prefetch reads nothing into the program and cannot fault,
    // whatever the address; the addresses given here lie inside live values anyway.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(at.cast()) }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn prefetch_line(_at: *const u8) {}

#[cfg(test)]
mod tests {
    use super::{LINE, line_offsets};

    fn offsets(start: usize, bytes: usize, max_lines: usize) -> Vec<usize> {
        line_offsets(start, bytes, max_lines).collect()
    }

    #[test]
    fn each_line_of_a_span_once_up_to_the_cap() {
        assert_eq!(offsets(128, 0, 4), Vec::<usize>::new(), "nothing to load");
        assert_eq!(offsets(128, 1, 4), [0]);
        assert_eq!(offsets(128, LINE, 4), [0], "one whole line");
        assert_eq!(offsets(128 + 60, 8, 4), [0, 4], "straddling two lines");
        assert_eq!(
            offsets(130, 3 * LINE, 8),
            [0, 62, 126, 190],
            "three lines and a bit"
        );
        assert_eq!(offsets(130, 3 * LINE, 2), [0, 62], "capped");
        // Every offset lies inside the span, in a line of its own.
        for start in 0..2 * LINE {
            for bytes in 0..4 * LINE {
                let got = offsets(start, bytes, usize::MAX);
                assert!(got.iter().all(|&o| o < bytes.max(1)));
                let lines: Vec<usize> = got.iter().map(|o| (start + o) / LINE).collect();
                let want: Vec<usize> = match bytes {
                    0 => vec![],
                    _ => (start / LINE..=(start + bytes - 1) / LINE).collect(),
                };
                assert_eq!(lines, want, "start {start}, {bytes} bytes");
            }
        }
    }
}
