//! A PostgreSQL connection lost while committing ([`Error::OutcomeUnknown`]), before the
//! server got the `COMMIT` (nothing applied) and after it committed (all applied): the store
//! goes on with a new connection, and sending the request again leaves what one application
//! leaves.

use crate::proxy::{Cut, Proxy};
use crate::support::{drop_schema, pg_server, pg_url_via, request, tenant};
use oneid::{Error, IdentityInput, PostgresStore, Resolver};

fn qq(n: u32) -> IdentityInput {
    IdentityInput::new("qq", n.to_string())
}

#[test]
fn postgres_commit_lost_is_outcome_unknown_and_resending_applies_once() {
    let schema = "failover_commit_lost";
    drop_schema(schema);
    let proxy = Proxy::start(pg_server());
    let r = Resolver::new(PostgresStore::connect_in_schema(&pg_url_via(proxy.port()), schema).unwrap());
    let t = tenant();
    let first = r
        .resolve(&t, &request(&[("mobile", "13900000001"), ("qq", "1")]))
        .unwrap()
        .customer;

    // Lost before the server got it: nothing applied; sent again, applied.
    proxy.cut_next_commit(Cut::BeforeServer);
    let before = request(&[("mobile", "13900000001"), ("qq", "2")]);
    match r.resolve(&t, &before) {
        Err(Error::OutcomeUnknown { .. }) => {}
        other => panic!("a commit lost before the server: {other:?}"),
    }
    assert_eq!(proxy.commits_cut(), 1);
    assert_eq!(r.owner_of(&t, &qq(2)).unwrap(), None);
    let again = r.resolve(&t, &before).unwrap();
    assert_eq!(again.customer, first);
    assert_eq!(again.linked.len(), 1, "{again:?}");

    // Lost after the server committed: all applied; sent again, nothing changes.
    proxy.cut_next_commit(Cut::AfterServer);
    let after = request(&[("mobile", "13900000001"), ("qq", "3")]);
    match r.resolve(&t, &after) {
        Err(Error::OutcomeUnknown { .. }) => {}
        other => panic!("a commit lost after the server committed: {other:?}"),
    }
    assert_eq!(proxy.commits_cut(), 2);
    assert_eq!(r.owner_of(&t, &qq(3)).unwrap(), first);
    let again = r.resolve(&t, &after).unwrap();
    assert!(again.is_noop(), "{again:?}");
    assert_eq!(again.customer, first);

    // A batch alike: committed, and a repeat changes nothing.
    let batch: Vec<_> = (10..13)
        .map(|n| request(&[("qq", &n.to_string()), ("email", &format!("b{n}@x.cn"))]))
        .collect();
    proxy.cut_next_commit(Cut::AfterServer);
    match r.resolve_batch(&t, &batch) {
        Err(Error::OutcomeUnknown { .. }) => {}
        other => panic!("a batch's commit lost: {other:?}"),
    }
    for n in 10..13 {
        assert!(r.owner_of(&t, &qq(n)).unwrap().is_some());
    }
    for outcome in r.resolve_batch(&t, &batch).unwrap() {
        assert!(outcome.unwrap().is_noop());
    }
    // Each resolve recorded once.
    let history = r.history(&t, first.unwrap()).unwrap();
    assert_eq!(
        history.len(),
        1 + 2 + 2,
        "created and two links, then two more: {history:?}"
    );
}
