//! [`RowBuf`]: one row of a bulk load, built without an allocation per value.

use crate::store::sql::SqlValue;

/// A row's values: integers and `NULL`s as they are, texts as ranges of one buffer, so a
/// row costs no allocation once the buffer has grown.
#[derive(Default)]
pub(crate) struct RowBuf {
    text: String,
    cells: Vec<Cell>,
}

#[derive(Clone, Copy)]
enum Cell {
    Null,
    Int(i64),
    Text(usize, usize),
}

/// One value of a [`RowBuf`], as a backend writes it.
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl RowBuf {
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.cells.clear();
    }

    pub(crate) fn int(&mut self, v: i64) {
        self.cells.push(Cell::Int(v));
    }

    pub(crate) fn opt_int(&mut self, v: Option<i64>) {
        self.cells.push(v.map_or(Cell::Null, Cell::Int));
    }

    pub(crate) fn text(&mut self, s: &str) {
        let start = self.text.len();
        self.text.push_str(s);
        self.cells.push(Cell::Text(start, self.text.len()));
    }

    pub(crate) fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.cells.push(Cell::Null),
        }
    }

    /// A value as the SQL stores exchange them (never a list: no column holds one).
    pub(crate) fn value(&mut self, v: &SqlValue) {
        match v {
            SqlValue::Null | SqlValue::IntList(_) | SqlValue::Column(_) => self.cells.push(Cell::Null),
            SqlValue::Int(i) => self.int(*i),
            SqlValue::Text(s) => self.text(s),
        }
    }

    /// How many values the row holds.
    pub(crate) fn len(&self) -> usize {
        self.cells.len()
    }

    /// The row's values, in order.
    pub(crate) fn values(&self) -> impl Iterator<Item = Value<'_>> + '_ {
        self.cells.iter().map(|c| match *c {
            Cell::Null => Value::Null,
            Cell::Int(i) => Value::Int(i),
            Cell::Text(a, b) => Value::Text(&self.text[a..b]),
        })
    }
}
