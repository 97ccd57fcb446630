//! History: one append-only log of 24-byte [`Event`]s for all customers.
//!
//! Each slot points at its newest event and each event at the slot's previous one, so
//! recording an event allocates nothing, and an event's index in the log is its recording
//! order. A link event points at its identity entry instead of copying the identity. Causes
//! are deduplicated (consecutive events of one request share one) and their references packed
//! into a text arena.

use super::arena::TextRef;
use super::identities::ERASED;
use super::slots::{Status, instant, micros, slot_id};
use super::{NONE, Tables};
use crate::error::Result;
use crate::history::{Cause, EventKind, HistoryEvent, Operation};
use crate::model::{Identity, IdentityType};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A history event as the memory store keeps it: links point at their identity entry, and
/// causes are shared.
pub(super) struct Event {
    /// Microseconds since the epoch (the engine keeps times to the microsecond).
    pub(super) at: i64,
    /// Index into `Tables::causes`.
    pub(super) cause: u32,
    /// The same slot's previous event, or `NONE`.
    pub(super) prev: u32,
    pub(super) kind: Kind,
}

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Created,
    /// The linked entry (every link has an entry of its own).
    Linked(u32),
    /// The unlinked entry (an unlinked entry is never linked again: a new link of the value
    /// gets a new entry).
    Unlinked(u32),
    Merged(u32),
    MergedInto(u32),
    Deleted,
    Erased,
}

// The size the layout notes above promise (on 64-bit targets).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Event>() == 24);

/// A cause as stored: the operation and, if any, its reference in the cause arena.
pub(super) struct StoredCause {
    pub(super) reference: TextRef,
    pub(super) has_reference: bool,
    pub(super) operation: Operation,
}

impl Tables {
    /// Records an event on a slot.
    pub(super) fn record(&mut self, slot: u32, at: DateTime<Utc>, kind: Kind, cause: &Cause) -> Result<u32> {
        let cause = self.intern_cause(cause.operation, cause.reference.as_deref())?;
        self.record_at(slot, micros(at), kind, cause)
    }

    /// The index of a cause in `causes`: the last one when it is the same (consecutive events
    /// of a request share one), else a new one.
    pub(super) fn intern_cause(&mut self, operation: Operation, reference: Option<&str>) -> Result<u32> {
        if let Some(last_ix) = self.causes.len().checked_sub(1) {
            let last = &self.causes[last_ix];
            let same = last.operation == operation
                && match reference {
                    Some(r) => last.has_reference && self.cause_texts.get(last.reference) == r,
                    None => !last.has_reference,
                };
            if same {
                return Ok(last_ix);
            }
        }
        let ix = self.causes.next_index("causes")?;
        let text = self.cause_texts.push(reference.unwrap_or(""))?;
        self.causes.push(StoredCause {
            reference: text,
            has_reference: reference.is_some(),
            operation,
        });
        Ok(ix)
    }

    /// Records an event, at `micros` and of the interned cause `cause`, on a slot.
    pub(super) fn record_at(&mut self, slot: u32, micros: i64, kind: Kind, cause: u32) -> Result<u32> {
        let ix = self.events.next_index("history events")?;
        let last = &mut self.slots[slot].last_event;
        let prev = std::mem::replace(last, ix);
        self.events.push(Event {
            at: micros,
            cause,
            prev,
            kind,
        });
        Ok(ix)
    }

    /// A slot's own events, newest first, with their indices.
    pub(super) fn events_of(&self, slot: u32) -> impl Iterator<Item = (u32, &Event)> + '_ {
        let mut cur = self.slots[slot].last_event;
        std::iter::from_fn(move || {
            if cur == NONE {
                return None;
            }
            let ix = cur;
            let e = &self.events[ix];
            cur = e.prev;
            Some((ix, e))
        })
    }

    pub(super) fn cause_of(&self, event: &Event) -> Cause {
        let stored = &self.causes[event.cause];
        Cause {
            operation: stored.operation,
            reference: stored
                .has_reference
                .then(|| Arc::from(self.cause_texts.get(stored.reference))),
        }
    }

    /// An event as the public type.
    pub(super) fn materialize(&self, slot: u32, event: &Event) -> HistoryEvent {
        let kind = match event.kind {
            Kind::Created => EventKind::Created,
            Kind::Linked(entry) => {
                let e = &self.entries[entry];
                // An erased customer's links say nothing personal, even where the value was
                // released and now belongs to someone else.
                let identity = if self.slots[slot].status == Status::Erased {
                    redacted(self.type_name(e))
                } else {
                    self.identity_of(e)
                };
                EventKind::Linked { identity }
            }
            Kind::Unlinked(entry) => EventKind::Unlinked {
                identity: self.identity_of(&self.entries[entry]),
            },
            Kind::Merged(from) => EventKind::Merged { from: slot_id(from) },
            Kind::MergedInto(into) => EventKind::MergedInto { into: slot_id(into) },
            Kind::Deleted => EventKind::Deleted,
            Kind::Erased => EventKind::Erased,
        };
        HistoryEvent {
            customer: slot_id(slot),
            at: instant(event.at),
            kind,
            cause: self.cause_of(event),
        }
    }
}

/// What an erased identity leaves in history: its type, nothing personal.
pub(super) fn redacted(identity_type: &IdentityType) -> Identity {
    Identity {
        identity_type: identity_type.clone(),
        scope: None,
        identity_value: ERASED.into(),
        identity_name: None,
    }
}
