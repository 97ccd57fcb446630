//! What the engine tells `tracing` (feature `tracing`): a span per operation, with the
//! fields an operator filters on, and an event per retry. Without the feature every function
//! here is empty and inlined away, so the rest of the crate calls them unconditionally.
//!
//! Spans are named `oneid.<operation>` (`oneid.resolve`, `oneid.get`, ...) at the `INFO`
//! level and carry `tenant`, `attempts` (how many times the transaction ran) and, for
//! resolves, `linked`, `merged`, `rejected` and `created`. Retries are `DEBUG` events of the
//! operation's span: a conflict with a concurrent writer (`conflict`, with the attempt and the
//! reason), the store unavailable (`unavailable`), and each pause before the next attempt.

use crate::error::Error;
use crate::model::TenantId;

#[cfg(feature = "tracing")]
mod on {
    use super::*;

    /// An operation's span, entered while the operation runs.
    pub(crate) struct Span {
        span: tracing::span::EnteredSpan,
    }

    pub(crate) fn operation(name: &'static str, tenant: &TenantId) -> Span {
        let span = tracing::info_span!(
            "oneid",
            operation = name,
            tenant = %tenant,
            attempts = tracing::field::Empty,
            linked = tracing::field::Empty,
            merged = tracing::field::Empty,
            rejected = tracing::field::Empty,
            created = tracing::field::Empty,
        );
        Span { span: span.entered() }
    }

    impl Span {
        pub(crate) fn attempts(&self, n: u32) {
            self.span.record("attempts", n);
        }

        pub(crate) fn resolved(&self, created: bool, linked: usize, merged: usize, rejected: usize) {
            self.span.record("created", created);
            self.span.record("linked", linked as u64);
            self.span.record("merged", merged as u64);
            self.span.record("rejected", rejected as u64);
        }
    }

    pub(crate) fn conflict(attempt: u32, why: &str) {
        tracing::debug!(attempt, why, "conflict with a concurrent writer; trying again");
    }

    pub(crate) fn unavailable(e: &Error) {
        tracing::debug!(error = %e, "store unavailable; trying again");
    }

    pub(crate) fn retry_pause(micros: u64) {
        tracing::trace!(micros, "pausing before the next attempt");
    }
}

#[cfg(not(feature = "tracing"))]
mod off {
    use super::*;

    /// An operation's span: nothing without the `tracing` feature.
    pub(crate) struct Span;

    #[inline(always)]
    pub(crate) fn operation(_name: &'static str, _tenant: &TenantId) -> Span {
        Span
    }

    impl Span {
        #[inline(always)]
        pub(crate) fn attempts(&self, _n: u32) {}

        #[inline(always)]
        pub(crate) fn resolved(&self, _created: bool, _linked: usize, _merged: usize, _rejected: usize) {}
    }

    #[inline(always)]
    pub(crate) fn conflict(_attempt: u32, _why: &str) {}

    #[inline(always)]
    pub(crate) fn unavailable(_e: &Error) {}

    #[inline(always)]
    pub(crate) fn retry_pause(_micros: u64) {}
}

#[cfg(not(feature = "tracing"))]
pub(crate) use off::*;
#[cfg(feature = "tracing")]
pub(crate) use on::*;
