//! [`SqlValue`]: the one type values cross a backend in.
//!
//! The schema holds only integers, text and `NULL`, so the engine and the backends exchange
//! parameters and columns as this enum, and each backend converts it to and from its driver's
//! types. The accessors turn a column of the wrong kind into a store error instead of a panic:
//! a database someone else wrote to may hold anything.

use crate::error::{Error, Result};

/// A SQL value as the stores exchange it with their backends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SqlValue {
    /// `NULL`.
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// A list of integers, as one parameter (never a column): an array on PostgreSQL, a
    /// JSON array's text on SQLite, so that a statement's text does not depend on the list.
    IntList(Vec<i64>),
    /// A column of many rows' values, as one array parameter, each element `NULL`, an
    /// integer or text as the array's type in the statement says: PostgreSQL reads a batch
    /// of rows with `unnest`, one statement text for any number of rows. Also an array that
    /// a PostgreSQL query returns (a batched lookup brings each owner's counts as arrays).
    /// SQLite statements never take or return one.
    Column(Vec<SqlValue>),
}

impl SqlValue {
    pub(super) fn int(&self) -> Result<i64> {
        match self {
            SqlValue::Int(i) => Ok(*i),
            other => Err(Error::Corrupt(format!(
                "expected an integer column, got {other:?}"
            ))),
        }
    }

    pub(super) fn opt_int(&self) -> Result<Option<i64>> {
        match self {
            SqlValue::Null => Ok(None),
            other => other.int().map(Some),
        }
    }

    pub(super) fn text(&self) -> Result<&str> {
        match self {
            SqlValue::Text(s) => Ok(s),
            other => Err(Error::Corrupt(format!("expected a text column, got {other:?}"))),
        }
    }

    /// The elements of an array column; `NULL` is an empty array.
    pub(super) fn elements(&self) -> Result<&[SqlValue]> {
        match self {
            SqlValue::Null => Ok(&[]),
            SqlValue::Column(values) => Ok(values),
            other => Err(Error::Corrupt(format!("expected an array column, got {other:?}"))),
        }
    }

    pub(super) fn opt_text(&self) -> Result<Option<&str>> {
        match self {
            SqlValue::Null => Ok(None),
            other => other.text().map(Some),
        }
    }
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        SqlValue::Text(s.to_string())
    }
}

impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        SqlValue::Text(s)
    }
}

impl From<i64> for SqlValue {
    fn from(i: i64) -> Self {
        SqlValue::Int(i)
    }
}

impl From<Option<&str>> for SqlValue {
    fn from(s: Option<&str>) -> Self {
        s.map_or(SqlValue::Null, SqlValue::from)
    }
}
