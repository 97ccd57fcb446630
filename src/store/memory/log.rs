//! History: recording a tenant's events in its append-only log, and reading them back as
//! [`HistoryEvent`]s.
//!
//! Recording an event links it before the slot's newest (`event`), so it allocates nothing.
//! Causes are deduplicated (consecutive events of one request share one) and their
//! references packed into a text arena. An erased customer's links read back redacted.

use super::arena::NONE;
use super::entry::ERASED;
use super::event::{Event, Kind, StoredCause};
use super::slot::{Status, instant, micros};
use super::tables::Tables;
use crate::error::Result;
use crate::history::{Cause, EventKind, HistoryEvent, Operation};
use crate::model::{Identity, IdentityType};
use chrono::{DateTime, Utc};
use std::sync::Arc;

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
                let identity = if self.slots[slot].status() == Status::Erased {
                    redacted(self.type_name(e))
                } else {
                    self.identity_of(e)
                };
                EventKind::Linked { identity }
            }
            Kind::Unlinked(entry) => EventKind::Unlinked {
                identity: self.identity_of(&self.entries[entry]),
            },
            Kind::Merged(from) => EventKind::Merged {
                from: self.ids.id_of(from),
            },
            Kind::MergedInto(into) => EventKind::MergedInto {
                into: self.ids.id_of(into),
            },
            Kind::Deleted => EventKind::Deleted,
            Kind::Erased => EventKind::Erased,
        };
        HistoryEvent {
            customer: self.ids.id_of(slot),
            at: instant(event.at),
            kind,
            cause: self.cause_of(event),
        }
    }
}

/// What an erased identity leaves in history: its type, nothing personal.
fn redacted(identity_type: &IdentityType) -> Identity {
    Identity {
        identity_type: identity_type.clone(),
        scope: None,
        identity_value: ERASED.into(),
        identity_name: None,
    }
}
