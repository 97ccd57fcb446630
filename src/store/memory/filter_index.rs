//! The query indexes: which live customers hold each value of the columns the sources filter
//! on, and the live customers in the order of their creation and update times, so that a
//! query finds its candidates and its total without visiting the tenant. A tenant's indexes
//! are built by its first query and kept by every write after it.
//!
//! A value's customers (a *posting*) are their slots, ascending (slot order is id order), in a
//! [`Ranked`] set, so a posting's length is its count and a walk from either end is a page in
//! id order. Postings are found by a hash of the column and value, not by the value, so that
//! no value is kept twice (a tenant of a million mobiles would keep them all again). Two
//! values may share a hash: a posting whose members do not all hold one value is marked
//! *mixed* when it happens, and a query then tests each of its members instead of trusting
//! its count. The hasher is seeded per tenant, so no input can aim at collisions.
//!
//! The times are `(microseconds, slot)` pairs in two more sets: a range's count is two ranks,
//! and a walk from a rank lists the customers in time order, ties by id.

use super::arena::Chunked;
use super::packed::{self, Data};
use super::ranked::Ranked;
use super::slot::Slot;
use crate::model::Field;
use std::hash::BuildHasher;

/// The columns a filter asks by value. Gender and stage are given to every live customer
/// (0 and `""` when missing, as the filters read them), the others only to holders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Column {
    Gender,
    Stage,
    Source,
    Mobile,
    Email,
    Tag,
    Group,
}

/// A value of a column, as filters compare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Value<'a> {
    Int(i64),
    Text(&'a [u8]),
}

/// The customers holding one value (or, if mixed, one hash of values).
pub(super) enum Posting {
    One(u32),
    Many(Box<Many>),
}

pub(super) struct Many {
    pub(super) slots: Ranked<u32>,
    /// Whether members hold different values of this posting's hash.
    pub(super) mixed: bool,
}

impl Posting {
    pub(super) fn first(&self) -> u32 {
        match self {
            Posting::One(s) => *s,
            Posting::Many(m) => m.slots.first().unwrap_or(u32::MAX),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Posting::One(_) => 1,
            Posting::Many(m) => m.slots.len(),
        }
    }

    pub(super) fn is_mixed(&self) -> bool {
        matches!(self, Posting::Many(m) if m.mixed)
    }

    /// Calls `each` with the members of ranks `from..to` (ascending, or descending from
    /// `to`) until it breaks.
    pub(super) fn walk(
        &self,
        from: usize,
        to: usize,
        descending: bool,
        mut each: impl FnMut(u32) -> std::ops::ControlFlow<()>,
    ) {
        match self {
            Posting::One(s) => {
                if from == 0 && to > 0 {
                    let _ = each(*s);
                }
            }
            Posting::Many(m) => m.slots.walk(from, to, descending, each),
        }
    }
}

/// One tenant's query indexes.
/// A tenant's query indexes, built from its live customers by the first query that asks and
/// kept by every write from then on: a tenant that is never queried (a bulk job) pays nothing
/// for them on its writes, and the first query pays one pass over the tenant.
#[derive(Default)]
pub(super) struct FilterIndex {
    built: std::sync::OnceLock<Built>,
}

impl FilterIndex {
    /// The indexes, built now from the live slots of `slots` if no query asked before.
    pub(super) fn get(&self, slots: &Chunked<Slot>) -> &Built {
        self.built.get_or_init(|| {
            let mut built = Built::default();
            for ix in 0..slots.len() {
                if slots[ix].is_active() {
                    built.add(slots, ix);
                }
            }
            built
        })
    }

    /// Adds live slot `ix` to the indexes, once built.
    pub(super) fn add(&mut self, slots: &Chunked<Slot>, ix: u32) {
        if let Some(built) = self.built.get_mut() {
            built.add(slots, ix);
        }
    }

    /// Takes live slot `ix` out of the indexes, once built.
    pub(super) fn remove(&mut self, slot: &Slot, ix: u32) {
        if let Some(built) = self.built.get_mut() {
            built.remove(slot, ix);
        }
    }

    /// Moves live slot `ix` from update time `from` to `to`, once built.
    pub(super) fn move_updated(&mut self, ix: u32, from: i64, to: i64) {
        if let Some(built) = self.built.get_mut() {
            built.move_updated(ix, from, to);
        }
    }

    /// The bytes the time indexes hold room for (postings left out), for tests of what a
    /// tenant costs.
    #[cfg(test)]
    pub(super) fn allocated(&self) -> usize {
        self.built.get().map_or(0, Built::allocated)
    }
}

/// The indexes themselves.
#[derive(Default)]
pub(super) struct Built {
    hasher: foldhash::fast::RandomState,
    postings: hashbrown::HashMap<u64, Posting, foldhash::fast::RandomState>,
    /// `(created, slot)` of every live customer.
    pub(super) created: Ranked<(i64, u32)>,
    /// `(updated, slot)` of every live customer.
    pub(super) updated: Ranked<(i64, u32)>,
}

impl Built {
    pub(super) fn key(&self, column: Column, value: Value<'_>) -> u64 {
        key(&self.hasher, column, value)
    }

    /// The posting of `key`, if any customer holds a value of that hash.
    pub(super) fn posting(&self, key: u64) -> Option<&Posting> {
        self.postings.get(&key)
    }

    /// Whether `slot`, a member of the posting of `key`, holds `value` in `column` and no
    /// other value of that hash: then, the posting not being mixed, every member does.
    pub(super) fn holds_only(&self, slot: &Slot, column: Column, value: Value<'_>, key: u64) -> bool {
        holds_only(&self.hasher, slot, column, value, key)
    }

    #[cfg(test)]
    fn allocated(&self) -> usize {
        self.created.allocated() + self.updated.allocated()
    }
}

fn key(hasher: &foldhash::fast::RandomState, column: Column, value: Value<'_>) -> u64 {
    hasher.hash_one((column, value))
}

/// Calls `each` with every indexed value of a live customer's data (`extras`: its unpacked
/// data, when it has tags, groups or attributes).
fn each_value<'a>(data: Option<&'a [u8]>, extras: Option<&'a Data>, mut each: impl FnMut(Column, Value<'a>)) {
    let gender = packed::field(data, Field::Gender)
        .and_then(|v| v.int())
        .unwrap_or(0);
    each(Column::Gender, Value::Int(gender));
    let stage = packed::field(data, Field::Stage).and_then(text_of);
    each(Column::Stage, Value::Text(stage.unwrap_or(b"")));
    for (column, field) in [
        (Column::Source, Field::Source),
        (Column::Mobile, Field::Mobile),
        (Column::Email, Field::Email),
    ] {
        if let Some(t) = packed::field(data, field).and_then(text_of) {
            each(column, Value::Text(t));
        }
    }
    if let Some(extras) = extras {
        for tag in &extras.tags {
            each(Column::Tag, Value::Text(tag.as_bytes()));
        }
        for &g in &extras.groups {
            each(Column::Group, Value::Int(g));
        }
    }
}

/// A packed value's text (a text's or a decimal's, as `Fields::text` reads), borrowed.
fn text_of(v: packed::Packed<'_>) -> Option<&[u8]> {
    match v {
        packed::Packed::Text(b) | packed::Packed::Decimal(b) => Some(b),
        _ => None,
    }
}

/// The unpacked data of a customer with tags, groups or attributes (only those need it).
fn extras_of(slot: &Slot) -> Option<Data> {
    let data = slot.data.as_deref();
    packed::has_extras(data).then(|| packed::unpack(data))
}

fn holds_only(
    hasher: &foldhash::fast::RandomState,
    slot: &Slot,
    column: Column,
    value: Value<'_>,
    key_of_value: u64,
) -> bool {
    let extras = match column {
        Column::Tag | Column::Group => extras_of(slot),
        _ => None,
    };
    let (mut found, mut other) = (false, false);
    each_value(slot.data.as_deref(), extras.as_ref(), |c, v| {
        if c == column {
            if v == value {
                found = true;
            } else if key(hasher, c, v) == key_of_value {
                other = true;
            }
        }
    });
    found && !other
}

/// A customer's indexed values, each with its key: gender, stage, source, mobile, email and
/// a few tags and groups fit without allocating.
type Keyed<'a> = smallvec::SmallVec<[(Column, Value<'a>, u64); 8]>;

impl Built {
    /// Adds live slot `ix`'s values and times (`slots` holds it, and the postings' members).
    pub(super) fn add(&mut self, slots: &Chunked<Slot>, ix: u32) {
        let slot = &slots[ix];
        self.created.insert((slot.created, ix));
        self.updated.insert((slot.updated, ix));
        let extras = extras_of(slot);
        let mut values = Keyed::new();
        each_value(slot.data.as_deref(), extras.as_ref(), |c, v| {
            values.push((c, v, key(&self.hasher, c, v)))
        });
        for (column, value, key) in values {
            // One member tells whether the others hold this value: a member holds only the
            // value of its posting, unless the posting is mixed.
            let first = self.postings.get(&key).map(Posting::first);
            let same = first.is_none_or(|first| {
                first == ix || holds_only(&self.hasher, &slots[first], column, value, key)
            });
            match self.postings.entry(key) {
                hashbrown::hash_map::Entry::Vacant(v) => {
                    v.insert(Posting::One(ix));
                }
                hashbrown::hash_map::Entry::Occupied(mut o) => {
                    let posting = o.get_mut();
                    if let Posting::One(s) = *posting {
                        let mut slots = Ranked::default();
                        slots.insert(s);
                        *posting = Posting::Many(Box::new(Many { slots, mixed: false }));
                    }
                    if let Posting::Many(m) = posting {
                        m.slots.insert(ix);
                        m.mixed |= !same;
                    }
                }
            }
        }
    }

    /// Takes live slot `ix`'s values and times out, before it changes or stops being live.
    pub(super) fn remove(&mut self, slot: &Slot, ix: u32) {
        self.created.remove(&(slot.created, ix));
        self.updated.remove(&(slot.updated, ix));
        let extras = extras_of(slot);
        let mut keys = smallvec::SmallVec::<[u64; 8]>::new();
        each_value(slot.data.as_deref(), extras.as_ref(), |c, v| {
            keys.push(key(&self.hasher, c, v))
        });
        for key in keys {
            let hashbrown::hash_map::Entry::Occupied(mut o) = self.postings.entry(key) else {
                continue;
            };
            let empty = match o.get_mut() {
                Posting::One(s) => *s == ix,
                Posting::Many(m) => {
                    m.slots.remove(&ix);
                    m.slots.is_empty()
                }
            };
            if empty {
                o.remove();
            }
        }
    }

    /// Moves live slot `ix` from update time `from` to `to`.
    pub(super) fn move_updated(&mut self, ix: u32, from: i64, to: i64) {
        self.updated.remove(&(from, ix));
        self.updated.insert((to, ix));
    }
}
