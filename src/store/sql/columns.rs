//! Rows as columns: a batch of rows sent to PostgreSQL as one array per column, read back
//! with `unnest`.
//!
//! A multi-row `VALUES` list has a statement text per row count, and each text is prepared
//! (a round trip) and kept per connection. Arrays make one text serve any number of rows, so
//! a transaction's held-back rows of each table go in one statement.

use super::SqlValue;

/// `unnest(?1::T1[], ?2::T2[], …) AS u(c1, c2, …)` over `rows`, with its parameters (one
/// [`SqlValue::Column`] per column): `columns` names each value of a row and gives its SQL
/// type. The rows come out in the order given, which for an `INSERT` is the order their
/// serial numbers are drawn in.
#[cfg(test)]
pub(super) fn unnest(columns: &[(&str, &str)], rows: Vec<Vec<SqlValue>>) -> (String, Vec<SqlValue>) {
    unnest_at(columns, rows, 1)
}

/// [`unnest`] with its parameters numbered from `first` on, for a statement with others
/// before them.
pub(super) fn unnest_at(
    columns: &[(&str, &str)],
    rows: Vec<Vec<SqlValue>>,
    first: usize,
) -> (String, Vec<SqlValue>) {
    use std::fmt::Write;
    let mut arrays: Vec<Vec<SqlValue>> = columns.iter().map(|_| Vec::with_capacity(rows.len())).collect();
    for row in rows {
        for (array, value) in arrays.iter_mut().zip(row) {
            array.push(value);
        }
    }
    let mut sql = String::from("unnest(");
    for (n, (_, ty)) in columns.iter().enumerate() {
        let _ = write!(sql, "{}?{}::{ty}[]", if n == 0 { "" } else { ", " }, n + first);
    }
    let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
    let _ = write!(sql, ") AS u({})", names.join(", "));
    (sql, arrays.into_iter().map(SqlValue::Column).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_one_array_per_column() {
        let rows = vec![
            vec![SqlValue::Int(1), SqlValue::from("a")],
            vec![SqlValue::Int(2), SqlValue::Null],
        ];
        let (sql, params) = unnest(&[("id", "bigint"), ("tag", "text")], rows);
        assert_eq!(sql, "unnest(?1::bigint[], ?2::text[]) AS u(id, tag)");
        assert_eq!(
            params,
            [
                SqlValue::Column(vec![SqlValue::Int(1), SqlValue::Int(2)]),
                SqlValue::Column(vec![SqlValue::from("a"), SqlValue::Null]),
            ]
        );
    }
}
