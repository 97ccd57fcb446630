//! Running an operation again after a transient conflict.
//!
//! A store answers [`Error::Transient`] when a concurrent writer got in the way (a
//! PostgreSQL serialization failure, an identity claimed at the same moment). Nothing was
//! applied then, so the engine runs the whole transaction again, re-reading and re-planning,
//! with a growing pause and up to a bound.

use crate::error::{Error, Result};

/// Runs a whole store operation again while it hits transient conflicts with concurrent
/// writers (PostgreSQL serialization failures, identities claimed at the same moment), with
/// a growing pause, up to a bound; then gives up with [`Error::Contention`].
// Inlined into each caller, so that the operation it runs (a resolve's planning and
// applying, on the hot path) is compiled into the caller rather than behind a call.
#[inline]
pub(crate) fn retry<T>(mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
    const ATTEMPTS: u32 = 30;
    let mut last = String::new();
    for n in 0..ATTEMPTS {
        match attempt() {
            Err(Error::Transient(why)) => {
                last = why;
                // 0.1 ms doubling to 25 ms, jittered so that colliding writers drift apart.
                let base = 100u64 << n.min(8);
                let jitter = u64::from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos()),
                ) % base;
                std::thread::sleep(std::time::Duration::from_micros(base + jitter));
            }
            other => return other,
        }
    }
    Err(Error::Contention {
        attempts: ATTEMPTS,
        last,
    })
}
