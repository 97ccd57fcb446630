//! The SQL stores under failure: backends terminated under load, a connection lost at
//! commit, two processes sharing a tenant's settings, and SQLite readers beside a long write.
//!
//! PostgreSQL runs against the database `ONEID_PG_URL` names (default
//! `host=127.0.0.1 user=postgres dbname=test`). No test restarts the server: a test kills only
//! the backends of its own connections, which it names with `application_name`, and loses
//! connections through a proxy of its own between the store and the server (`proxy.rs`).

mod support;

#[cfg(feature = "postgres")]
mod proxy;

#[cfg(feature = "postgres")]
mod commit_lost;
#[cfg(feature = "postgres")]
mod killed_backends;
#[cfg(feature = "postgres")]
mod server_out_of_reach;
#[cfg(feature = "postgres")]
mod settings_under_load;

mod settings_across_processes;

#[cfg(feature = "sqlite")]
mod sqlite_readers;
