//! One conformance suite, run against every store: the memory store always, SQLite with
//! `--features sqlite`, PostgreSQL with `--features postgres` (a real server; see
//! `support.rs` for where). In the style of OpenDAL's behaviour tests: a file per area, each
//! case written once, generic over the store.

mod support;

mod bounds;
mod operations;
mod queries;
mod resolve;
