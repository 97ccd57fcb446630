//! Blanks: the `""` the sources send for "no value".
//!
//! A resolve's patch never clears, so a blank is ignored like an absent key (002), both when
//! the patch updates a customer and when it becomes a new customer's first data. The engine
//! applies patches and the stores write new customers, so both read these rules from here.

use super::customer::{Customer, CustomerPatch, ExtAttr};
use super::fields::FieldValue;
use super::ids::CustomerId;
use super::unique::unite;
use chrono::{DateTime, Utc};

/// Whether a patch value is a blank the sources send for "no value" (`""`): a resolve's
/// patch never clears, so a blank is ignored like an absent key (002).
pub(crate) fn blank_field(value: &FieldValue) -> bool {
    matches!(value, FieldValue::Text(s) if s.is_empty())
}

/// Whether a patch's extended attribute is a blank (its value is `""`), ignored as a blank
/// field is.
pub(crate) fn blank_attr(attr: &ExtAttr) -> bool {
    attr.value.as_str() == Some("")
}

/// A new customer whose data is `patch` applied to none, created (and updated) at `at`:
/// what the engine's `apply_patch` makes of an empty customer, for which the verified rule
/// never refuses.
pub(crate) fn new_customer(id: CustomerId, at: DateTime<Utc>, patch: &CustomerPatch) -> Customer {
    let mut c = Customer::new(id, at);
    for (field, value) in patch.fields.iter() {
        if !blank_field(value) {
            c.fields.insert_unchecked(field, value.clone());
        }
    }
    for (key, attr) in &patch.attrs {
        if !blank_attr(attr) {
            c.attrs.insert(key.clone(), attr.clone());
        }
    }
    unite(&mut c.tags, patch.tags.iter().cloned());
    unite(&mut c.groups, patch.groups.iter().copied());
    c
}
