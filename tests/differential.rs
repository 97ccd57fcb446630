//! Differential property test: random operation sequences give identical outcomes and
//! identical observable state on the memory store, SQLite and PostgreSQL.
#![cfg(any(feature = "sqlite", feature = "postgres"))]

use oneid::{
    CustomerFilter, CustomerId, CustomerPatch, CustomerQuery, Field, IdentityInput, IdentitySettings,
    ManualClock, MemoryStore, MergeRule, PriorityStrategy, ResolveOptions, ResolveRequest, Resolver, SortKey,
    Store, TargetStrategy, TenantId, UpdatePatch,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Resolve {
        ids: Vec<(usize, usize)>,
        target: bool,
        custom: bool,
        merge: bool,
        city: Option<u8>,
        name: Option<usize>,
        tag: Option<usize>,
    },
    Batch {
        requests: Vec<Vec<(usize, usize)>>,
    },
    Update {
        pick: usize,
        city: Option<u8>,
    },
    AddIdentity {
        pick: usize,
        id: (usize, usize),
    },
    RemoveIdentity {
        pick: usize,
        id: (usize, usize),
    },
    Delete {
        pick: usize,
    },
    Erase {
        pick: usize,
    },
    Tag {
        pick: usize,
        tag: usize,
        add: bool,
    },
    Query {
        search: Option<usize>,
        tag: Option<usize>,
        sort: usize,
        descending: bool,
        page: u32,
        size: u32,
    },
}

/// Names, searches and tags where stores could differ: case, accents (one and two bytes
/// apart in UTF-8), CJK, `LIKE` metacharacters, quotes and backslashes, a letter whose
/// uppercase is longer than it is.
const NAMES: [&str; 9] = ["Ann", "ann", "ÉVA", "éva", "中文名", "50%_off", "o'b\\", "ß", "z"];
const SEARCHES: [&str; 9] = ["an", "An", "É", "é", "%", "_", "文", "\\", "'"];
const TAGS: [&str; 4] = ["vip", "VIP", "é", "a b"];
const SORTS: [SortKey; 5] = [
    SortKey::Id,
    SortKey::DateCreated,
    SortKey::LastUpdated,
    SortKey::Field(Field::Name),
    SortKey::Field(Field::City),
];

const TYPES: [&str; 5] = ["mobile", "email", "wechat-unionid", "idcard", "qq"];

fn identity((kind, n): (usize, usize)) -> IdentityInput {
    let value = match TYPES[kind] {
        "mobile" => format!("+86 138-0000-{n:04}"),
        "email" => format!("P{n}@X.cn"),
        "idcard" => format!("53{n:016}"),
        other => format!("{other}{n}"),
    };
    IdentityInput::new(TYPES[kind], value)
}

fn op() -> impl Strategy<Value = Op> {
    let id = (0..5usize, 0..4usize);
    prop_oneof![
        6 => (
            prop::collection::vec(id.clone(), 0..4),
            any::<(bool, bool, bool)>(),
            prop::option::of(0..3u8),
            prop::option::of(0..NAMES.len()),
            prop::option::of(0..TAGS.len()),
        )
            .prop_map(|(ids, (target, custom, merge), city, name, tag)| Op::Resolve {
                ids,
                target,
                custom,
                merge,
                city,
                name,
                tag,
            }),
        1 => prop::collection::vec(prop::collection::vec(id.clone(), 1..3), 1..4).prop_map(|requests| Op::Batch { requests }),
        1 => (any::<usize>(), prop::option::of(0..3u8)).prop_map(|(pick, city)| Op::Update { pick, city }),
        1 => (any::<usize>(), id.clone()).prop_map(|(pick, id)| Op::AddIdentity { pick, id }),
        1 => (any::<usize>(), id).prop_map(|(pick, id)| Op::RemoveIdentity { pick, id }),
        1 => any::<usize>().prop_map(|pick| Op::Delete { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Erase { pick }),
        1 => (any::<usize>(), 0..TAGS.len(), any::<bool>()).prop_map(|(pick, tag, add)| Op::Tag { pick, tag, add }),
        2 => (
            prop::option::of(0..SEARCHES.len()),
            prop::option::of(0..TAGS.len()),
            0..SORTS.len(),
            any::<bool>(),
            0..3u32,
            1..5u32,
        )
            .prop_map(|(search, tag, sort, descending, page, size)| Op::Query {
                search,
                tag,
                sort,
                descending,
                page,
                size,
            }),
    ]
}

fn clock() -> ManualClock {
    ManualClock::ticking(
        "2024-01-01T00:00:00Z".parse().unwrap(),
        chrono::Duration::milliseconds(1500),
    )
}

/// Runs the operations and returns everything observable, as text.
/// Settings a case runs under: a limit for mobiles, a quarantine threshold, and the merge
/// rule for the city, so limits, quarantine and both field rules meet every store.
#[derive(Debug, Clone, Copy)]
struct Setup {
    mobile_limit: Option<u32>,
    quarantine: Option<u32>,
    most_recent_city: bool,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![Just(None), Just(Some(1)), Just(Some(2))],
        prop_oneof![Just(None), Just(Some(2)), Just(Some(3))],
        any::<bool>(),
    )
        .prop_map(|(mobile_limit, quarantine, most_recent_city)| Setup {
            mobile_limit,
            quarantine,
            most_recent_city,
        })
}

fn settings(setup: Setup) -> IdentitySettings {
    let rule = if setup.most_recent_city {
        MergeRule::MostRecent
    } else {
        MergeRule::KeepTarget
    };
    IdentitySettings::default()
        .with_limit("mobile", setup.mobile_limit)
        .and_then(|s| s.with_quarantine(setup.quarantine))
        .and_then(|s| s.with_merge_rule(Field::City, rule))
        .unwrap()
}

fn run<S: Store>(store: S, setup: Setup, ops: &[Op]) -> Vec<String> {
    let r = Resolver::new(store)
        .with_clock(clock())
        .with_default_settings(settings(setup));
    let t = TenantId::new("diff");
    let mut log = Vec::new();
    let mut ids: Vec<CustomerId> = Vec::new();
    let pick = |ids: &[CustomerId], p: usize| ids.get(p % ids.len().max(1)).copied().unwrap_or(CustomerId(1));
    for op in ops {
        let line = match op {
            Op::Resolve {
                ids: which,
                target,
                custom,
                merge,
                city,
                name,
                tag,
            } => {
                let mut patch = CustomerPatch::new();
                if let Some(c) = city {
                    patch = patch.with(Field::City, format!("c{c}")).unwrap();
                }
                if let Some(n) = name {
                    patch = patch.with(Field::Name, NAMES[*n]).unwrap();
                }
                patch.tags.extend(tag.map(|t| TAGS[t].to_owned()));
                let request = ResolveRequest::new(which.iter().copied().map(identity))
                    .with_patch(patch)
                    .with_options(ResolveOptions {
                        target_customer_strategy: if *target {
                            TargetStrategy::CustomerFirst
                        } else {
                            TargetStrategy::IdentityFirst
                        },
                        identity_priority_strategy: if *custom {
                            PriorityStrategy::Custom
                        } else {
                            PriorityStrategy::System
                        },
                        auto_merge: *merge,
                        match_by_fields: false,
                    });
                let out = r.resolve(&t, &request);
                if let Ok(o) = &out {
                    ids.extend(o.customer);
                }
                format!("{:?}", out.map_err(|e| e.to_string()))
            }
            Op::Batch { requests } => {
                let requests: Vec<_> = requests
                    .iter()
                    .map(|ids| ResolveRequest::new(ids.iter().copied().map(identity)))
                    .collect();
                let out = r.resolve_batch(&t, &requests).unwrap();
                for o in out.iter().flatten() {
                    ids.extend(o.customer);
                }
                format!(
                    "{:?}",
                    out.into_iter()
                        .map(|o| o.map_err(|e| e.to_string()))
                        .collect::<Vec<_>>()
                )
            }
            Op::Update { pick: p, city } => {
                let update = match city {
                    Some(c) => UpdatePatch::new().set(Field::City, format!("u{c}")).unwrap(),
                    None => UpdatePatch::new().clear(Field::City),
                };
                format!(
                    "{:?}",
                    r.update(&t, pick(&ids, *p), &update)
                        .map(|u| u.changed)
                        .map_err(|e| e.to_string())
                )
            }
            Op::AddIdentity { pick: p, id } => {
                format!(
                    "{:?}",
                    r.add_identity(&t, pick(&ids, *p), &identity(*id))
                        .map_err(|e| e.to_string())
                )
            }
            Op::RemoveIdentity { pick: p, id } => {
                format!(
                    "{:?}",
                    r.remove_identity(&t, pick(&ids, *p), &identity(*id))
                        .map_err(|e| e.to_string())
                )
            }
            Op::Delete { pick: p } => {
                format!("{:?}", r.delete(&t, pick(&ids, *p)).map_err(|e| e.to_string()))
            }
            Op::Erase { pick: p } => format!("{:?}", r.erase(&t, pick(&ids, *p)).map_err(|e| e.to_string())),
            Op::Tag { pick: p, tag, add } => {
                let (id, tags) = (pick(&ids, *p), [TAGS[*tag]]);
                let done = if *add {
                    r.add_tags(&t, id, &tags)
                } else {
                    r.remove_tags(&t, id, &tags)
                };
                format!("{:?}", done.map(|u| u.changed).map_err(|e| e.to_string()))
            }
            Op::Query {
                search,
                tag,
                sort,
                descending,
                page,
                size,
            } => {
                let query = CustomerQuery {
                    filter: CustomerFilter {
                        search: search.map(|s| SEARCHES[s].to_owned()),
                        tag: tag.map(|s| TAGS[s].to_owned()),
                        ..Default::default()
                    },
                    sort: SORTS[*sort],
                    descending: *descending,
                    page: *page,
                    size: *size,
                    select: None,
                };
                let page = r.query(&t, &query).map_err(|e| e.to_string());
                let ids: Result<Vec<u64>, String> = page.map(|p| p.rows.iter().map(|c| c.id.0).collect());
                let count = r.count(&t, &query.filter).map_err(|e| e.to_string());
                format!("{ids:?} of {count:?}")
            }
        };
        log.push(line);
    }
    let all = CustomerQuery {
        size: oneid::limits::MAX_PAGE_SIZE,
        ..Default::default()
    };
    log.push(serde_json::to_string(&r.query(&t, &all).unwrap()).unwrap());
    for n in 1..=ids.len() as u64 + 1 {
        let id = CustomerId(n);
        log.push(format!(
            "{id}: {:?} {:?} {}",
            r.canonical_id(&t, id).unwrap(),
            r.identities(&t, id).unwrap(),
            serde_json::to_string(&r.history(&t, id).unwrap()).unwrap()
        ));
    }
    log
}

#[cfg(feature = "sqlite")]
fn sqlite_store(case: u64) -> oneid::SqliteStore {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("differential");
    // Files of earlier runs go; this run's stay while it runs (readers open connections of
    // their own to the file when they need them).
    static CLEARED: std::sync::Once = std::sync::Once::new();
    CLEARED.call_once(|| {
        let _ = std::fs::remove_dir_all(&dir);
    });
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("case-{}-{case}.db", std::process::id()));
    oneid::SqliteStore::open(&path).unwrap()
}

#[cfg(feature = "postgres")]
fn postgres_store() -> oneid::PostgresStore {
    let url =
        std::env::var("ONEID_PG_URL").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let store = oneid::PostgresStore::connect_in_schema(&url, "oneid_differential").unwrap();
    // Empty tables and ids from 1, as a fresh store.
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(
            "TRUNCATE oneid_differential.oneid_customers, oneid_differential.oneid_identities, \
             oneid_differential.oneid_tags, oneid_differential.oneid_groups, oneid_differential.oneid_history, \
             oneid_differential.oneid_suspicions, oneid_differential.oneid_tenants, \
             oneid_differential.oneid_settings, oneid_differential.oneid_counts RESTART IDENTITY",
        )
        .unwrap();
    store
}

static CASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

proptest! {
    // Every case opens real databases; 200 cases find real differences in about a minute.
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_store_gives_the_same_outcomes(setup in setup(), ops in prop::collection::vec(op(), 1..30)) {
        let case = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let reference = run(MemoryStore::new(), setup, &ops);
        #[cfg(feature = "sqlite")]
        {
            let sqlite = run(sqlite_store(case), setup, &ops);
            for (i, (a, b)) in reference.iter().zip(&sqlite).enumerate() {
                prop_assert_eq!(a, b, "sqlite differs at line {}", i);
            }
            prop_assert_eq!(reference.len(), sqlite.len());
        }
        #[cfg(feature = "postgres")]
        {
            let _ = case;
            let pg = run(postgres_store(), setup, &ops);
            for (i, (a, b)) in reference.iter().zip(&pg).enumerate() {
                prop_assert_eq!(a, b, "postgres differs at line {}", i);
            }
            prop_assert_eq!(reference.len(), pg.len());
        }
    }
}
