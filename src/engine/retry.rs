//! Running an operation again after a failure that was not its own.
//!
//! Two kinds of failure leave nothing applied and may pass:
//!
//! - a transient conflict with a concurrent writer ([`Error::Transient`]: a lock not granted
//!   in time, a deadlock, an identity claimed at the same moment). The engine runs the whole
//!   transaction again, re-reading and re-planning, after a short pause that grows (0.1 ms
//!   doubling to about 25 ms, jittered so that colliding writers drift apart), up to
//!   [`CONFLICT_ATTEMPTS`] times; then [`Error::Contention`].
//! - a store that cannot be reached ([`Error::Unavailable`]: a connection lost or refused,
//!   a server restarting). The engine tries again with a fresh connection after a longer
//!   pause (10 ms doubling to 0.5 s) for up to [`UNAVAILABLE_FOR`] after the first attempt
//!   that found the store unavailable; then it gives the last [`Error::Unavailable`] back.
//!   That attempt may itself have waited for a connection (a PostgreSQL store waits its
//!   `connect_timeout`, 5 s by default), so an operation against a server that is down
//!   answers after that wait plus [`UNAVAILABLE_FOR`]. Counting from the operation's start
//!   instead would read the clock on every operation, success or not.
//!
//! A failure whose outcome is unknown ([`Error::OutcomeUnknown`], the connection lost while
//! committing) is never run again here: the caller decides, and the error's docs say why
//! sending it again is safe.

use crate::error::{Error, Result};
use std::time::{Duration, Instant};

/// How many times an operation is tried while it conflicts with concurrent writers.
pub(crate) const CONFLICT_ATTEMPTS: u32 = 30;

/// How long an operation is tried again while the store cannot be reached.
pub(crate) const UNAVAILABLE_FOR: Duration = Duration::from_secs(10);

/// A pause of `base` microseconds plus up to as much again, drawn from the clock's
/// nanoseconds (enough to part writers that collided at one moment).
fn pause(base: u64) {
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    ) % base.max(1);
    crate::trace::retry_pause(base + jitter);
    std::thread::sleep(Duration::from_micros(base + jitter));
}

/// Runs a whole store operation, again while it hits transient conflicts or finds the store
/// unavailable, as the module docs say. `attempt` gets the attempt's number, from 1.
// Inlined into each caller, so that the operation it runs (a resolve's planning and
// applying, on the hot path) is compiled into the caller rather than behind a call.
#[inline]
pub(crate) fn retry<T>(mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
    let mut conflicts = 0u32;
    let mut unavailable_since: Option<Instant> = None;
    let mut unavailable = 0u32;
    loop {
        match attempt() {
            Err(Error::Transient(why)) => {
                conflicts += 1;
                crate::trace::conflict(conflicts, &why);
                if conflicts >= CONFLICT_ATTEMPTS {
                    return Err(Error::Contention {
                        attempts: conflicts,
                        last: why,
                    });
                }
                pause(100u64 << (conflicts - 1).min(8));
            }
            Err(e @ Error::Unavailable { .. }) => {
                let since = *unavailable_since.get_or_insert_with(Instant::now);
                crate::trace::unavailable(&e);
                if since.elapsed() >= UNAVAILABLE_FOR {
                    return Err(e);
                }
                pause(10_000u64 << unavailable.min(5));
                unavailable += 1;
            }
            other => return other,
        }
    }
}
