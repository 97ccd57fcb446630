//! The crate's one error type.
//!
//! Every fallible call returns [`Result<T>`](crate::Result). Errors that come from bad input
//! name the offending identity or field and say why, so a service can hand the message back
//! to its caller unchanged.

use crate::limits::{
    MAX_IDENTITY_NAME_CHARS, MAX_IDENTITY_SCOPE_CHARS, MAX_IDENTITY_TYPE_CHARS, MAX_IDENTITY_VALUE_CHARS,
    MAX_TENANT_ID_CHARS,
};
use std::fmt;

/// Why an identity was refused before anything was written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidIdentityReason {
    /// The identity type is empty or not of the form `[a-z0-9][a-z0-9_-]{0,31}`
    /// ([`MAX_IDENTITY_TYPE_CHARS`] at most).
    BadType,
    /// The value is empty after normalization.
    EmptyValue,
    /// The value is longer than [`MAX_IDENTITY_VALUE_CHARS`] after normalization.
    ValueTooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// The identity name is longer than [`MAX_IDENTITY_NAME_CHARS`].
    NameTooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// The identity name holds a NUL character, which no database keeps in text.
    NulInName,
    /// The scope (e.g. a WeChat `appId`) is empty, longer than [`MAX_IDENTITY_SCOPE_CHARS`] or
    /// holds a NUL.
    BadScope,
    /// The type's normalizer refused the value (a mobile number with letters, an email
    /// without `@`, ...).
    Normalizer(String),
}

impl fmt::Display for InvalidIdentityReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadType => write!(
                f,
                "identity type must match [a-z0-9][a-z0-9_-]{{0,{}}}",
                MAX_IDENTITY_TYPE_CHARS - 1
            ),
            Self::EmptyValue => f.write_str("identity value is empty"),
            Self::ValueTooLong { chars } => {
                write!(
                    f,
                    "identity value has {chars} characters, at most {MAX_IDENTITY_VALUE_CHARS} are allowed"
                )
            }
            Self::NameTooLong { chars } => {
                write!(
                    f,
                    "identity name has {chars} characters, at most {MAX_IDENTITY_NAME_CHARS} are allowed"
                )
            }
            Self::NulInName => f.write_str("identity name must not contain NUL"),
            Self::BadScope => write!(
                f,
                "identity scope must have 1 to {MAX_IDENTITY_SCOPE_CHARS} characters, none of them NUL"
            ),
            Self::Normalizer(why) => f.write_str(why),
        }
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An identity of a request is invalid; the whole request was rejected and nothing was
    /// written.
    #[error("identity #{index} ({identity_type} {value:?}) is invalid: {reason}")]
    InvalidIdentity {
        /// Position of the identity in the request's list (0-based).
        index: usize,
        /// The type as given.
        identity_type: String,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: InvalidIdentityReason,
    },
    /// A field of a patch or payload has a value of the wrong type or out of range.
    #[error("field {field:?} is invalid: {reason}")]
    InvalidField {
        /// The field's name as given.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// A payload carries a key this crate does not know, so it cannot be stored faithfully.
    #[error("unknown field {field:?} (extended attributes go under \"attr\" or \"extendAttrList\")")]
    UnknownField {
        /// The key as given.
        field: String,
    },
    /// A JSON payload could not be read at all.
    #[error("malformed payload: {0}")]
    Payload(String),
    /// A tenant id holds a NUL character (which no database keeps in text) or is longer
    /// than [`MAX_TENANT_ID_CHARS`].
    #[error(
        "tenant id {0:?} is invalid: it must have at most {MAX_TENANT_ID_CHARS} characters, none of them NUL"
    )]
    InvalidTenant(String),
    /// The engine's [`Clock`](crate::Clock) reads a time outside
    /// [`STORABLE_YEARS`](crate::limits::STORABLE_YEARS), which the stores keep; nothing was
    /// written.
    #[error("the clock reads {0}, outside {years} the stores keep", years = crate::limits::storable_years_text())]
    ClockOutOfRange(chrono::DateTime<chrono::Utc>),
    /// A tenant's stored settings name a normalizer this process has not registered
    /// ([`Resolver::with_normalizer`](crate::Resolver::with_normalizer)): the tenant's
    /// operations are refused rather than run under other rules than its settings say.
    #[error(
        "the settings name the normalizer {name:?}, which is not registered here (Resolver::with_normalizer)"
    )]
    UnknownNormalizer {
        /// The normalizer's name.
        name: String,
    },
    /// Identity settings are inconsistent (e.g. a limit of zero).
    #[error("invalid identity settings: {0}")]
    InvalidSettings(String),
    /// No live customer with this id exists in the tenant.
    #[error("customer {0} not found")]
    CustomerNotFound(crate::model::CustomerId),
    /// The identity belongs to another live customer.
    #[error("identity {identity} belongs to customer {owner}")]
    IdentityOwned {
        /// The identity (normalized).
        identity: String,
        /// Its owner.
        owner: crate::model::CustomerId,
    },
    /// Adding the identity would put the customer over its type's limit.
    #[error("identity {identity} conflicts with {with}: the limit of its type is {limit}")]
    IdentityConflict {
        /// The identity (normalized).
        identity: String,
        /// The identity of the same type the customer holds.
        with: String,
        /// The type's limit.
        limit: u32,
    },
    /// The identity's value is blocked (a placeholder) and never links anyone.
    #[error("identity {identity} is a blocked value")]
    IdentityBlocked {
        /// The identity as given (trimmed).
        identity: String,
    },
    /// An attribute name is empty or too long.
    #[error("attribute name {name:?} is invalid: {reason}")]
    InvalidAttributeName {
        /// The name as given.
        name: String,
        /// Why.
        reason: String,
    },
    /// A bulk load (`Resolver::bulk_load`, with the `sqlite` or `postgres` feature) was asked to load
    /// into a tenant that already holds customers; nothing was written.
    #[error("tenant {0} already holds customers: a bulk load only fills an empty tenant")]
    TenantNotEmpty(crate::model::TenantId),
    /// A transient conflict with a concurrent writer (a serialization failure, a deadlock, an
    /// identity claimed at the same moment). Nothing was applied; the engine retries the whole
    /// operation, so callers only see this through [`Error::Contention`].
    #[error("transient conflict: {0}")]
    Transient(String),
    /// An operation kept conflicting with concurrent writers and was given up; nothing of it
    /// was applied.
    #[error("gave up after {attempts} attempts that conflicted with concurrent writers: {last}")]
    Contention {
        /// How many times it was tried.
        attempts: u32,
        /// The last conflict.
        last: String,
    },
    /// The database was written by a newer version of this crate.
    #[error("database schema version {found} is newer than this crate supports ({supported})")]
    SchemaTooNew {
        /// The version found in the database.
        found: i64,
        /// The newest version this crate knows.
        supported: i64,
    },
    /// The database refused or failed a statement (its own error is the
    /// [`source`](std::error::Error::source)); the operation was not applied.
    #[error("{message}")]
    Database {
        /// What failed, with the database's own message and code.
        message: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// The store could not be reached, or lost its connection before the operation
    /// committed; nothing was applied.
    #[error("the store is unavailable: {message}")]
    Unavailable {
        /// What failed.
        message: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// The connection to the store was lost while the operation committed, so it may or may
    /// not have been applied.
    ///
    /// Sending the same request again is safe. A resolve is idempotent: if the first one was
    /// applied, the second finds every identity linked and changes nothing; if not, the second
    /// applies it. So are the other writes but `delete` and `erase`, which answer
    /// [`Error::CustomerNotFound`] the second time if the first was applied.
    #[error("the outcome is unknown: the connection to the store was lost at commit ({message})")]
    OutcomeUnknown {
        /// What failed.
        message: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// The store holds data it cannot read back (written by something else than this crate,
    /// or damaged).
    #[error("the store holds data it cannot read: {0}")]
    Corrupt(String),
    /// A store was asked for a write that would break its own invariants (linking an owned
    /// identity, merging a customer into itself). The engine never asks for one; code that
    /// writes through a [`Txn`](crate::Txn) directly can.
    #[error("a write would break the store's invariants: {0}")]
    Invariant(String),
    /// What a request or a tenant would hold is past what the store can number or keep
    /// (a batch over 4 GiB of identity values, more identity types than a store numbers).
    #[error("over capacity: {0}")]
    Capacity(String),
    /// A customer could not be turned into JSON.
    #[error("a customer could not be written as JSON: {0}")]
    Json(#[source] serde_json::Error),
}

/// The error of a driver, kept as the [`source`](std::error::Error::source) of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure an [`Error`] is: what a caller does about it, and the HTTP status a
/// service answers it with.
///
/// | kind | meaning | sending it again | HTTP status |
/// |---|---|---|---|
/// | [`Input`](Self::Input) | the request itself is refused (an invalid identity, field, tenant id, query or setting) | fails the same way | 400 Bad Request |
/// | [`NotFound`](Self::NotFound) | no live customer has the id | fails the same way | 404 Not Found |
/// | [`Conflict`](Self::Conflict) | the request clashes with the tenant's state (an identity owned by another customer, over its type's limit, or blocked) | fails until the state changes | 409 Conflict |
/// | [`Unavailable`](Self::Unavailable) | the store could not serve it now (contention, a lost connection); nothing was applied | may succeed: see [`Error::is_retryable`] | 503 Service Unavailable |
/// | [`Internal`](Self::Internal) | a fault of the store, its data or the setup (a newer schema, unreadable data, a clock out of range) | fails until it is mended | 500 Internal Server Error |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is refused for what it carries.
    Input,
    /// The customer does not exist (or is deleted).
    NotFound,
    /// The request clashes with the tenant's state.
    Conflict,
    /// The store could not serve the request now; nothing was applied.
    Unavailable,
    /// A fault of the store, its data or the setup.
    Internal,
}

impl ErrorKind {
    /// The HTTP status a service answers an error of this kind with (see the table above).
    pub fn http_status(self) -> u16 {
        match self {
            Self::Input => 400,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }
}

impl Error {
    /// What kind of failure this is (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidIdentity { .. }
            | Self::InvalidField { .. }
            | Self::UnknownField { .. }
            | Self::Payload(_)
            | Self::InvalidTenant(_)
            | Self::InvalidSettings(_)
            | Self::InvalidAttributeName { .. } => ErrorKind::Input,
            Self::CustomerNotFound(_) => ErrorKind::NotFound,
            Self::IdentityOwned { .. }
            | Self::IdentityConflict { .. }
            | Self::IdentityBlocked { .. }
            | Self::TenantNotEmpty(_) => ErrorKind::Conflict,
            Self::Capacity(_) => ErrorKind::Input,
            Self::Transient(_)
            | Self::Contention { .. }
            | Self::Unavailable { .. }
            | Self::OutcomeUnknown { .. } => ErrorKind::Unavailable,
            Self::ClockOutOfRange(_)
            | Self::SchemaTooNew { .. }
            | Self::Database { .. }
            | Self::Corrupt(_)
            | Self::Invariant(_)
            | Self::Json(_)
            | Self::UnknownNormalizer { .. } => ErrorKind::Internal,
        }
    }

    /// Whether sending the same request again may succeed and is safe: the failure came from
    /// the moment (concurrent writers, a store out of reach), not from the request, and either
    /// nothing was applied or, for [`Error::OutcomeUnknown`], applying it again changes
    /// nothing more (see there).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Transient(_)
                | Self::Contention { .. }
                | Self::Unavailable { .. }
                | Self::OutcomeUnknown { .. }
        )
    }

    /// An error that says what this one says, for each caller of a batch that failed as a
    /// whole (requests committed together, see
    /// [`Resolver::with_group_commit`](crate::Resolver::with_group_commit)). A driver's error
    /// cannot be copied: the copy keeps its message as the source.
    pub(crate) fn duplicate(&self) -> Self {
        let source = |e: &BoxError| -> BoxError { e.to_string().into() };
        match self {
            Self::InvalidIdentity {
                index,
                identity_type,
                value,
                reason,
            } => Self::InvalidIdentity {
                index: *index,
                identity_type: identity_type.clone(),
                value: value.clone(),
                reason: reason.clone(),
            },
            Self::InvalidField { field, reason } => Self::InvalidField {
                field: field.clone(),
                reason: reason.clone(),
            },
            Self::UnknownField { field } => Self::UnknownField { field: field.clone() },
            Self::Payload(m) => Self::Payload(m.clone()),
            Self::InvalidTenant(m) => Self::InvalidTenant(m.clone()),
            Self::ClockOutOfRange(t) => Self::ClockOutOfRange(*t),
            Self::UnknownNormalizer { name } => Self::UnknownNormalizer { name: name.clone() },
            Self::InvalidSettings(m) => Self::InvalidSettings(m.clone()),
            Self::CustomerNotFound(id) => Self::CustomerNotFound(*id),
            Self::IdentityOwned { identity, owner } => Self::IdentityOwned {
                identity: identity.clone(),
                owner: *owner,
            },
            Self::IdentityConflict {
                identity,
                with,
                limit,
            } => Self::IdentityConflict {
                identity: identity.clone(),
                with: with.clone(),
                limit: *limit,
            },
            Self::IdentityBlocked { identity } => Self::IdentityBlocked {
                identity: identity.clone(),
            },
            Self::InvalidAttributeName { name, reason } => Self::InvalidAttributeName {
                name: name.clone(),
                reason: reason.clone(),
            },
            Self::TenantNotEmpty(t) => Self::TenantNotEmpty(t.clone()),
            Self::Transient(m) => Self::Transient(m.clone()),
            Self::Contention { attempts, last } => Self::Contention {
                attempts: *attempts,
                last: last.clone(),
            },
            Self::SchemaTooNew { found, supported } => Self::SchemaTooNew {
                found: *found,
                supported: *supported,
            },
            Self::Database { message, source: s } => Self::Database {
                message: message.clone(),
                source: source(s),
            },
            Self::Unavailable { message, source: s } => Self::Unavailable {
                message: message.clone(),
                source: source(s),
            },
            Self::OutcomeUnknown { message, source: s } => Self::OutcomeUnknown {
                message: message.clone(),
                source: source(s),
            },
            Self::Corrupt(m) => Self::Corrupt(m.clone()),
            Self::Invariant(m) => Self::Invariant(m.clone()),
            Self::Capacity(m) => Self::Capacity(m.clone()),
            Self::Json(e) => Self::Json(<serde_json::Error as serde::ser::Error>::custom(e.to_string())),
        }
    }

    /// What is left in a list of results where an error was moved out to be handed to the
    /// caller (a batch hands each request its own error); no caller ever sees it.
    pub(crate) fn handed_over() -> Self {
        Self::Invariant(String::new())
    }

    /// Shorthand for an [`Error::InvalidField`].
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
