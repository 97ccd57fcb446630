//! What the fuzz targets share: a resolver on a fresh memory store with a clock that ticks the
//! same way for every run, the check that a refused input was refused for what it carries, and
//! readings compared Ok for Ok and Err for Err.

pub mod state;

use oneid::{Error, ErrorKind, ManualClock, MemoryStore, Resolver, TenantId};
use std::fmt::Debug;

/// The resolver every target uses.
pub type Engine = Resolver<MemoryStore, ManualClock>;

/// The tenant every target writes to.
pub fn tenant() -> TenantId {
    TenantId::new("t")
}

/// A clock that starts at the same instant and ticks a second per reading, so that two
/// resolvers given the same operations write the same times.
pub fn clock() -> ManualClock {
    ManualClock::ticking(
        "2024-01-01T00:00:00Z".parse().expect("a valid time"),
        chrono::Duration::seconds(1),
    )
}

/// A resolver on a fresh memory store, with the default settings.
pub fn resolver() -> Engine {
    Resolver::new(MemoryStore::new()).with_clock(clock())
}

/// Whether an error is the store failing rather than the crate refusing what it was given: a
/// memory store with a handful of customers never runs out of room, loses its connection or
/// breaks its own invariants.
pub fn store_failed(e: &Error) -> bool {
    matches!(e, Error::Capacity(_)) || matches!(e.kind(), ErrorKind::Internal | ErrorKind::Unavailable)
}

/// Asserts that two readings of one input agree: both refuse it, or both accept it as the
/// same value.
#[track_caller]
pub fn agree<T: PartialEq + Debug, E1: Debug, E2: Debug>(what: &str, a: &Result<T, E1>, b: &Result<T, E2>) {
    match (a, b) {
        (Ok(x), Ok(y)) => assert_eq!(x, y, "{what}: the readings accept different values"),
        (Err(_), Err(_)) => {}
        _ => panic!("{what}: one reading accepts what the other refuses:\n{a:?}\n{b:?}"),
    }
}
