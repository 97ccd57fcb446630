//! The PostgreSQL server out of reach, through a proxy the test takes down: its pooled
//! connections cut while idle, the server gone for a moment, and gone for good.
//!
//! - Connections cut while they sit in the pool are found closed when next taken, and the
//!   operation goes on with a new one in the same attempt, however many there were (its
//!   span, feature `tracing`, counts the attempts).
//! - A transaction whose connection is cut fails its next statement as unavailable, and
//!   dropping it (a `ROLLBACK` on a dead connection) returns.
//! - A server gone for a moment: operations issued meanwhile wait, and succeed once it is
//!   back.
//! - A server gone for good: an operation gives up with [`Error::Unavailable`], tried again
//!   for [`UNAVAILABLE_FOR`] after its first attempt waited the pool's connection timeout.

use crate::proxy::Proxy;
use crate::spans::Spans;
use crate::support::{drop_schema, pg_server, pg_url_via, request, returns, tenant};
use oneid::{Error, PostgresOptions, PostgresStore, Resolver};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// How long the engine tries an unavailable store again (`engine/retry.rs`).
const UNAVAILABLE_FOR: Duration = Duration::from_secs(10);
/// How long an attempt waits for a connection, in the test of a server gone for good.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

fn store(schema: &str, proxy: &Proxy, pool: u32) -> Resolver<PostgresStore> {
    drop_schema(schema);
    let options = PostgresOptions::new().schema(schema).pool_size(pool);
    // Each thread commits on its own, so that `n` threads at once hold `n` connections.
    Resolver::new(PostgresStore::connect_with(&pg_url_via(proxy.port()), options).unwrap())
        .with_group_commit(false)
}

/// Opens `n` connections: `n` threads resolve at the same moment, a few times.
fn open_connections(r: &Resolver<PostgresStore>, n: usize) {
    let at_once = Barrier::new(n);
    std::thread::scope(|s| {
        for w in 0..n {
            let (r, at_once) = (r, &at_once);
            s.spawn(move || {
                for round in 0..3 {
                    at_once.wait();
                    r.resolve(
                        &tenant(),
                        &request(&[("qq", &format!("{w}-{round}")), ("email", &format!("{w}@x.cn"))]),
                    )
                    .unwrap();
                }
            });
        }
    });
}

#[test]
fn postgres_connections_cut_in_the_pool_are_replaced_at_once() {
    let proxy = Proxy::start(pg_server());
    let r = store("failover_cut_idle", &proxy, 8);
    open_connections(&r, 8);
    assert!(
        format!("{:?}", r.store()).contains("connections: 8"),
        "{:?}",
        r.store()
    );
    for round in 0..3 {
        proxy.cut_all();
        std::thread::sleep(Duration::from_millis(50));
        // The store takes the next connection as soon as one proves dead: the operation's
        // one transaction runs once, with no pause for an unavailable store.
        let spans = Spans::default();
        spans.record(|| {
            r.resolve(&tenant(), &request(&[("qq", &format!("after-{round}"))]))
                .unwrap();
            assert!(
                r.owner_of(&tenant(), &oneid::IdentityInput::new("qq", "0-0"))
                    .unwrap()
                    .is_some()
            );
        });
        assert_eq!(spans.attempts("resolve"), [1], "round {round}");
        assert_eq!(spans.attempts("owner_of"), [1], "round {round}");
        // Every connection in use again, so that the next round finds them all cut.
        open_connections(&r, 8);
    }
}

#[test]
fn postgres_server_gone_for_a_moment_is_waited_for() {
    let proxy = Proxy::start(pg_server());
    let r = store("failover_gone_a_moment", &proxy, 4);
    open_connections(&r, 4);
    proxy.down();
    let down = Instant::now();
    std::thread::scope(|s| {
        let waiting: Vec<_> = (0..4)
            .map(|w| {
                let r = &r;
                s.spawn(move || {
                    let read = r.get(&tenant(), oneid::CustomerId(1));
                    let write = r.resolve(&tenant(), &request(&[("qq", &format!("while-down-{w}"))]));
                    (read.map(|_| ()), write.map(|_| ()))
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1_500));
        proxy.up();
        for w in waiting {
            let (read, write) = w.join().unwrap();
            read.expect("a read issued while the server was gone");
            write.expect("a write issued while the server was gone");
        }
    });
    let took = down.elapsed();
    eprintln!("operations issued while the server was gone for 1.5 s answered after {took:?}");
}

#[test]
fn postgres_server_gone_for_good_is_unavailable_after_the_retry_bound() {
    let proxy = Proxy::start(pg_server());
    drop_schema("failover_gone_for_good");
    let options = PostgresOptions::new()
        .schema("failover_gone_for_good")
        .pool_size(4)
        .connect_timeout(CONNECT_TIMEOUT);
    let r = Resolver::new(PostgresStore::connect_with(&pg_url_via(proxy.port()), options).unwrap());
    proxy.down();
    std::thread::scope(|s| {
        let read = s.spawn(|| {
            let at = Instant::now();
            (r.get(&tenant(), oneid::CustomerId(1)).map(|_| ()), at.elapsed())
        });
        let write = s.spawn(|| {
            let at = Instant::now();
            (
                r.resolve(&tenant(), &request(&[("qq", "1")])).map(|_| ()),
                at.elapsed(),
            )
        });
        for (what, op) in [("read", read), ("write", write)] {
            let (result, took) = op.join().unwrap();
            assert!(
                matches!(result, Err(Error::Unavailable { .. })),
                "a {what} with the server gone: {result:?}"
            );
            eprintln!("a {what} with the server gone gave up after {took:?}");
            // It was tried again for the whole bound (a slower machine only makes it later).
            assert!(
                took >= UNAVAILABLE_FOR,
                "a {what} with the server gone gave up after {took:?}, before {UNAVAILABLE_FOR:?}"
            );
        }
    });
}

/// A transaction whose connection is cut: its next statement is [`Error::Unavailable`],
/// dropping it (which rolls back) returns, and the store goes on with a new connection, in
/// one attempt.
#[test]
fn postgres_transaction_on_a_cut_connection_fails_and_drops_at_once() {
    use oneid::{ReadTxn, Store};
    let proxy = Proxy::start(pg_server());
    let r = store("failover_cut_in_txn", &proxy, 2);
    let t = tenant();
    let id = r.resolve(&t, &request(&[("qq", "1")])).unwrap().customer.unwrap();
    for writer in [true, false] {
        let txn: Box<dyn ReadTxn + Send> = if writer {
            Box::new(r.store().write(&t).unwrap())
        } else {
            Box::new(r.store().read(&t).unwrap())
        };
        assert_eq!(txn.settings_version(&t).unwrap(), 1);
        proxy.cut_all();
        std::thread::sleep(Duration::from_millis(50));
        match txn.customer(&t, id) {
            Err(Error::Unavailable { .. }) => {}
            other => panic!("a statement on a cut connection: {other:?}"),
        }
        returns("dropping a transaction on a cut connection", move || drop(txn));
        let spans = Spans::default();
        assert!(spans.record(|| r.get(&t, id)).unwrap().is_some());
        assert_eq!(spans.attempts("get"), [1]);
    }
}
