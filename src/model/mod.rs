//! The data model: customers and their fields, identities, tenants, and the resolve request.
//!
//! Everything here is plain data with serde support that speaks the source systems' JSON
//! (camelCase names, 002's `customer` + `customerIdentities` body, 001's flat body with
//! `identityList` and `extendAttrList`).

mod blank;
mod bounds;
mod customer;
mod fields;
mod flat;
mod id_name;
mod identity;
mod ids;
mod json;
mod request;
mod text;
mod unique;
mod update;

pub(crate) use blank::{blank_attr, blank_field, new_customer};
pub(crate) use bounds::{
    check_attr, check_attrs, check_cause, check_count, check_groups, check_held, check_tags,
};
pub use customer::{Customer, CustomerPatch, CustomerStatus, ExtAttr};
pub use fields::{Field, FieldKind, FieldValue, Fields, parse_timestamp};
pub(crate) use fields::{check_storable_time, storable_year};
pub(crate) use flat::{FLAT_ATTR_KEYS, keep_attr, read_flat_key, read_inverted_flag};
pub(crate) use id_name::write_id_name;
pub(crate) use identity::is_valid_type;
pub use identity::{HashedKey, Identity, IdentityInput, IdentityKey, IdentityType};
pub use ids::{CustomerId, TenantId};
pub(crate) use json::check_depth;
pub use request::{PriorityStrategy, ResolveOptions, ResolveRequest, TargetStrategy};
pub use text::Text;
pub(crate) use unique::{adds_any, remove_all, repeats, unique, unite, united_len};
pub use update::{Change, UpdatePatch};
