//! The SQL stores under failure, a file per situation:
//!
//! - `killed_backends`: PostgreSQL backends terminated while threads resolve overlapping
//!   requests (and, run by hand, the server restarted);
//! - `server_out_of_reach`: pooled connections cut, a transaction's connection cut, the
//!   server gone for a moment and for good;
//! - `commit_lost`: the connection lost at `COMMIT`, before and after the server committed;
//! - `settings_under_load`: settings changed while writers run without a pause;
//! - `settings_across_processes`: a tenant's settings honoured by two processes, on SQLite
//!   and PostgreSQL;
//! - `sqlite_readers`: SQLite reads beside a long write transaction.
//!
//! PostgreSQL runs against the database `ONEID_PG_URL` names (default
//! `host=127.0.0.1 user=postgres dbname=test`). Other tests may share the server, so none
//! restarts it unless asked (`killed_backends`): a test terminates only the backends of its
//! own connections, which it names with `application_name`, and loses connections through a
//! proxy of its own between the store and the server (`proxy.rs`). Other processes are this
//! binary run again (`support.rs`).
#![cfg(any(feature = "sqlite", feature = "postgres"))]

mod support;

#[cfg(feature = "tracing")]
#[path = "../support/spans.rs"]
mod spans;

#[cfg(feature = "postgres")]
mod proxy;

#[cfg(feature = "postgres")]
mod commit_lost;
#[cfg(feature = "postgres")]
mod killed_backends;
// Counts attempts in the operations' spans.
#[cfg(all(feature = "postgres", feature = "tracing"))]
mod server_out_of_reach;
#[cfg(feature = "postgres")]
mod settings_under_load;

mod settings_across_processes;

#[cfg(feature = "sqlite")]
mod sqlite_readers;
