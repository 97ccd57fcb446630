//! Time, injectable so that tests and replays are deterministic.

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: each reading returns the current instant and then
/// advances it by a fixed step (zero by default). Clones share the same time.
///
/// ```
/// use oneid::{Clock, ManualClock};
/// let clock = ManualClock::at("2024-01-01T00:00:00Z".parse().unwrap());
/// let t = clock.now();
/// assert_eq!(clock.now(), t);
/// clock.advance(chrono::Duration::seconds(5));
/// assert_eq!(clock.now(), t + chrono::Duration::seconds(5));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    micros: Arc<AtomicI64>,
    step_micros: i64,
}

impl ManualClock {
    /// A clock standing at `t`.
    pub fn at(t: DateTime<Utc>) -> Self {
        Self {
            micros: Arc::new(AtomicI64::new(t.timestamp_micros())),
            step_micros: 0,
        }
    }

    /// A clock standing at `t` that moves by `step` after every reading.
    pub fn ticking(t: DateTime<Utc>, step: chrono::Duration) -> Self {
        Self {
            step_micros: step.num_microseconds().unwrap_or(i64::MAX),
            ..Self::at(t)
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.micros
            .fetch_add(by.num_microseconds().unwrap_or(0), Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let micros = self.micros.fetch_add(self.step_micros, Ordering::Relaxed);
        DateTime::from_timestamp_micros(micros).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}
