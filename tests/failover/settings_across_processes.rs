//! A tenant's settings are honoured by every process on the store, on SQLite and on
//! PostgreSQL.
//!
//! - One process lowers the mobile limit to 1 (`set_settings`); the other's next resolve,
//!   through the handle it had open before the change, rejects a second mobile as a
//!   conflict. And the same the other way round.
//!   (Each request leads with a `wechat-unionid`, which outranks the mobile, so that it finds
//!   the customer whatever the mobile does.)
//! - Two instances with different default settings: the first write of one stores its
//!   defaults as the tenant's settings, and the other's resolves follow them from then on.

use crate::support::{Child, mobile_limit, request, tenant};
use oneid::{IdentitySettings, Outcome, RejectReason, Resolver, Store};

/// The JSON of an outcome's rejections, as `(type, value, reason)`.
fn rejected(outcome: &serde_json::Value) -> Vec<(String, String, String)> {
    outcome["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["identity"]["identityType"].as_str().unwrap().to_owned(),
                r["identity"]["identityValue"].as_str().unwrap().to_owned(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn conflict_rejected(outcome: &Outcome, mobile: &str) -> bool {
    outcome.rejected.iter().any(|r| {
        *r.identity.identity_value == *mobile && matches!(r.reason, RejectReason::Conflict { limit: 1, .. })
    })
}

/// `here` is this process's handle, opened before `there` (the child) changes anything.
fn change_seen_both_ways<S: Store>(here: Resolver<S>, there: &mut Child) {
    // Both handles have run under the stored defaults (unlimited mobiles) before the change.
    let first = here
        .resolve(
            &tenant(),
            &request(&[("wechat-unionid", "u1"), ("mobile", "13900000001")]),
        )
        .unwrap();
    let two = there
        .resolve(&[("wechat-unionid", "u2"), ("mobile", "13900000021")])
        .unwrap();
    assert!(rejected(&two).is_empty());
    let two_b = there
        .resolve(&[("wechat-unionid", "u2"), ("mobile", "13900000022")])
        .unwrap();
    assert!(rejected(&two_b).is_empty(), "no limit yet: {two_b}");

    // The child lowers the limit; this handle's next resolve follows it.
    assert_eq!(there.ask("limit 1"), "2");
    let again = here
        .resolve(
            &tenant(),
            &request(&[("wechat-unionid", "u1"), ("mobile", "13900000002")]),
        )
        .unwrap();
    assert_eq!(again.customer, first.customer);
    assert!(
        conflict_rejected(&again, "13900000002"),
        "the limit set by the other process was not honoured: {again:?}"
    );

    // This handle lifts it; the child's next resolve follows.
    assert_eq!(
        here.set_settings(&tenant(), &mobile_limit(None), None).unwrap(),
        3
    );
    let lifted = there
        .resolve(&[("wechat-unionid", "u1"), ("mobile", "13900000003")])
        .unwrap();
    assert!(
        rejected(&lifted).is_empty(),
        "the lifted limit was not honoured: {lifted}"
    );

    // And lowers it again: the child rejects.
    here.set_settings(&tenant(), &mobile_limit(Some(1)), None)
        .unwrap();
    let lowered = there
        .resolve(&[("wechat-unionid", "u3"), ("mobile", "13900000031")])
        .unwrap();
    assert!(rejected(&lowered).is_empty());
    let lowered = there
        .resolve(&[("wechat-unionid", "u3"), ("mobile", "13900000032")])
        .unwrap();
    assert_eq!(
        rejected(&lowered),
        [(
            "mobile".to_owned(),
            "13900000032".to_owned(),
            "conflict".to_owned()
        )],
        "{lowered}"
    );
}

/// `here` has unlimited defaults; `there` (the child, started with a limit of 1 mobile)
/// writes first, and from then on `here` follows the stored limit.
fn first_write_decides<S: Store>(here: Resolver<S>, there: &mut Child) {
    // Before anything is stored, this handle runs under its own defaults.
    assert_eq!(here.settings(&tenant()).unwrap().limit("mobile"), None);
    let first = there
        .resolve(&[("wechat-unionid", "u1"), ("mobile", "13900000001")])
        .unwrap();
    assert!(first["created"].as_bool().unwrap());
    assert_eq!(here.settings(&tenant()).unwrap().limit("mobile"), Some(1));
    let mine = here
        .resolve(
            &tenant(),
            &request(&[("wechat-unionid", "u2"), ("mobile", "13900000021")]),
        )
        .unwrap();
    let second = here
        .resolve(
            &tenant(),
            &request(&[("wechat-unionid", "u2"), ("mobile", "13900000022")]),
        )
        .unwrap();
    assert_eq!(second.customer, mine.customer);
    assert!(
        conflict_rejected(&second, "13900000022"),
        "the stored limit was not followed: {second:?}"
    );
    // The child's own customer too.
    let more = here
        .resolve(
            &tenant(),
            &request(&[("wechat-unionid", "u1"), ("mobile", "13900000002")]),
        )
        .unwrap();
    assert!(conflict_rejected(&more, "13900000002"), "{more:?}");
    assert_eq!(here.settings_history(&tenant()).unwrap().len(), 1);
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use crate::support::sqlite_path;
    use oneid::SqliteStore;

    #[test]
    fn sqlite_settings_change_is_seen_by_the_other_process() {
        let path = sqlite_path("settings_change");
        let here = Resolver::new(SqliteStore::open(&path).unwrap());
        let mut there = Child::start(&format!("sqlite:{}", path.display()), "default");
        change_seen_both_ways(here, &mut there);
    }

    #[test]
    fn sqlite_first_write_stores_the_settings_every_process_follows() {
        let path = sqlite_path("settings_first_write");
        let here = Resolver::new(SqliteStore::open(&path).unwrap())
            .with_default_settings(IdentitySettings::default());
        let mut there = Child::start(&format!("sqlite:{}", path.display()), "limit1");
        first_write_decides(here, &mut there);
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use crate::support::{drop_schema, pg_url};
    use oneid::PostgresStore;

    #[test]
    fn postgres_settings_change_is_seen_by_the_other_process() {
        let schema = "failover_settings_change";
        drop_schema(schema);
        let here = Resolver::new(PostgresStore::connect_in_schema(&pg_url(), schema).unwrap());
        let mut there = Child::start(&format!("postgres:{schema}"), "default");
        change_seen_both_ways(here, &mut there);
    }

    #[test]
    fn postgres_first_write_stores_the_settings_every_process_follows() {
        let schema = "failover_settings_first_write";
        drop_schema(schema);
        let here = Resolver::new(PostgresStore::connect_in_schema(&pg_url(), schema).unwrap())
            .with_default_settings(IdentitySettings::default());
        let mut there = Child::start(&format!("postgres:{schema}"), "limit1");
        first_write_decides(here, &mut there);
    }
}
