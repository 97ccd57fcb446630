//! One handle, many callers: 16 tokio tasks share one `AsyncResolver`, and 16 threads share
//! clones of one `Resolver`, on every store this build has (the memory store; SQLite with
//! `--features sqlite`; PostgreSQL with `--features postgres`, at `ONEID_PG_URL`, default
//! `host=127.0.0.1 user=postgres dbname=test`, in a schema of each test's own, dropped
//! first).
//!
//! The workload is a few hundred generated people, each seen by several records that carry
//! some of their identities (mobile sent in two spellings, email, idcard, two openids, a
//! member id); a few records bridge two people (a shared mobile or email) and a few carry a
//! wrong idcard. The records are split so that every record is resolved by two callers, one
//! going forwards and one backwards, and records of one person land with different callers:
//! the callers collide on identities and customers all the time. Each caller mixes
//! `resolve`, `resolve_and_get` and `resolve_batch` with reads (`get`, `identities`,
//! `owner_of`, `find_by_identity`, `canonical_id`, `history`, `dry_run`, `count`) whose
//! answers must already hold for what it resolved, whatever the others do.
//!
//! Two tenants take every record:
//!
//! - `components` runs without limits, blocked values or quarantine, so at the end its
//!   customers must be exactly the connected components of the records-share-an-identity
//!   graph (SEMANTICS §5), which a union-find over the records computes here; nothing sent
//!   is lost and every id handed out still leads to its record's customer. Every store ends
//!   in that one partition of the records.
//! - `limits` holds one idcard and two openids per customer: at the end an identity has one
//!   live owner, no customer is over a limit, and an identity nobody owns is one that some
//!   resolve reported as rejected.
//!
//! Nothing here measures time: every assertion is about what the store holds.

use oneid::{
    Clock, CustomerFilter, CustomerId, CustomerQuery, IdentityInput, IdentitySettings, MemoryStore, Outcome,
    ResolveRequest, Resolver, Store, TenantId,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Callers sharing one handle.
const CALLERS: usize = 16;
/// Each record is resolved by two callers: `c` and `c + CALLERS / 2` take the same records,
/// in opposite orders.
const SHARES: usize = CALLERS / 2;

/// An identity as stored: type and normalized value.
type Key = (String, String);

/// A generated touchpoint: the request as sent, and the keys it carries once normalized.
struct Record {
    request: ResolveRequest,
    keys: Vec<Key>,
}

fn components_tenant() -> TenantId {
    TenantId::new("components")
}

fn limits_tenant() -> TenantId {
    TenantId::new("limits")
}

/// At most one idcard and two openids per customer: a bridge between two people with an
/// idcard each, or with two openids each, is refused.
fn limited() -> IdentitySettings {
    IdentitySettings::unrestricted()
        .with_limit("idcard", Some(1))
        .unwrap()
        .with_limit("wechat", Some(2))
        .unwrap()
}

const LIMITS: [(&str, usize); 2] = [("idcard", 1), ("wechat", 2)];

/// splitmix64: a fixed, seeded sequence, so every run and every store sees the same records.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Person `p`'s identities: (type, value as sent, value normalized).
fn identities_of(p: usize, rng: &mut Rng) -> Vec<(&'static str, String, String)> {
    let mobile = format!("139{p:08}");
    // Half the time spelled as a shop types it; the normalizer makes it the same key.
    let sent = if rng.below(2) == 0 {
        format!("+86 139-{}-{}", &mobile[3..7], &mobile[7..])
    } else {
        mobile.clone()
    };
    vec![
        ("mobile", sent, mobile),
        ("email", format!("P{p}@Shop.cn"), format!("p{p}@shop.cn")),
        ("idcard", format!("ID{p:06}"), format!("ID{p:06}")),
        ("wechat", format!("o-{p}-a"), format!("o-{p}-a")),
        ("wechat", format!("o-{p}-b"), format!("o-{p}-b")),
        ("member-id", format!("m{p}"), format!("m{p}")),
    ]
}

/// `3 * people` records over `people` people.
fn workload(people: usize, seed: u64) -> Vec<Record> {
    let mut rng = Rng(seed);
    (0..people * 3)
        .map(|i| {
            let p = rng.below(people);
            let mine = identities_of(p, &mut rng);
            let mut picked: Vec<(&str, String, String)> = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let candidate = mine[rng.below(mine.len())].clone();
                if !picked.iter().any(|c| c.2 == candidate.2 && c.0 == candidate.0) {
                    picked.push(candidate);
                }
            }
            match rng.below(16) {
                // A bridge: another person's mobile or email (a shared device, a household).
                0 | 1 => {
                    let q = (p + 1 + rng.below(7)) % people;
                    let theirs = identities_of(q, &mut rng);
                    picked.push(theirs[rng.below(2)].clone());
                }
                // Dirty data: a wrong idcard beside the person's mobile.
                2 => {
                    picked.push(mine[0].clone());
                    let wrong = format!("ID9{p:05}");
                    picked.push(("idcard", wrong.clone(), wrong));
                }
                _ => {}
            }
            let request = ResolveRequest::new(
                picked
                    .iter()
                    .map(|(t, sent, _)| IdentityInput::new(*t, sent.as_str())),
            )
            .with_cause(format!("record-{i}"));
            let keys = picked.into_iter().map(|(t, _, k)| (t.to_string(), k)).collect();
            Record { request, keys }
        })
        .collect()
}

/// The records caller `c` resolves, in its order.
fn share(records: &[Record], c: usize) -> Vec<usize> {
    let mut mine: Vec<usize> = (0..records.len()).filter(|i| i % SHARES == c % SHARES).collect();
    if c >= SHARES {
        mine.reverse();
    }
    mine
}

fn input(key: &Key) -> IdentityInput {
    IdentityInput::new(key.0.as_str(), key.1.as_str())
}

/// A partition of record indices, in a canonical order (independent of customer ids).
type Partition = Vec<Vec<usize>>;

fn canonical(groups: impl IntoIterator<Item = Vec<usize>>) -> Partition {
    let mut parts: Partition = groups
        .into_iter()
        .map(|mut g| {
            g.sort_unstable();
            g
        })
        .collect();
    parts.sort();
    parts
}

/// The connected components of the records-share-an-identity graph (union-find).
fn components(records: &[Record]) -> Partition {
    let mut parent: Vec<usize> = (0..records.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut first_with: HashMap<&Key, usize> = HashMap::new();
    for (i, record) in records.iter().enumerate() {
        for key in &record.keys {
            let j = *first_with.entry(key).or_insert(i);
            let (a, b) = (find(&mut parent, i), find(&mut parent, j));
            parent[a] = b;
        }
    }
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..records.len() {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push(i);
    }
    canonical(groups.into_values())
}

/// What one caller saw: for each record it resolved in `components`, the customer it was
/// told; every identity a resolve in `limits` reported as rejected; and those customers.
#[derive(Default)]
struct Seen {
    components: Vec<(usize, CustomerId)>,
    limits: Vec<CustomerId>,
    rejected: BTreeSet<Key>,
}

impl Seen {
    fn merge(&mut self, other: Seen) {
        self.components.extend(other.components);
        self.limits.extend(other.limits);
        self.rejected.extend(other.rejected);
    }

    fn limits_outcome(&mut self, outcome: &Outcome) {
        self.limits
            .push(outcome.customer.expect("a resolve has a target"));
        for r in &outcome.rejected {
            self.rejected.insert((
                r.identity.identity_type.as_str().to_string(),
                r.identity.identity_value.to_string(),
            ));
        }
    }
}

/// What a `components` resolve must have done, checked with reads at once: whatever the other
/// callers did since, the record's identities are all with the customer its id leads to,
/// which is live. (Merges only join customers, and nothing here deletes one.)
fn check_resolved<S: Store, C: Clock>(r: &Resolver<S, C>, record: &Record, outcome: &Outcome, step: usize) {
    let t = components_tenant();
    assert!(
        outcome.rejected.is_empty(),
        "nothing is refused without limits: {outcome:?}"
    );
    let id = outcome.customer.expect("a resolve has a target");
    let held: BTreeSet<Key> = r
        .identities(&t, id)
        .unwrap()
        .iter()
        .map(|i| (i.identity_type.as_str().to_string(), i.identity_value.to_string()))
        .collect();
    for key in &record.keys {
        assert!(
            held.contains(key),
            "{key:?} is not with customer {id} just after its resolve"
        );
    }
    assert!(r.get(&t, id).unwrap().is_some(), "customer {id} reads as gone");
    if step.is_multiple_of(4) {
        let dry = r.dry_run(&t, &record.request).unwrap();
        assert!(
            !dry.created && dry.linked.is_empty() && dry.merged.is_empty() && dry.customer.is_some(),
            "a resolved record would change the store again: {dry:?}"
        );
    }
    if step.is_multiple_of(5) {
        let first = input(&record.keys[0]);
        assert!(r.owner_of(&t, &first).unwrap().is_some());
        assert!(r.find_by_identity(&t, &first).unwrap().is_some());
        assert!(r.canonical_id(&t, id).unwrap().is_some());
        assert!(!r.history(&t, id).unwrap().is_empty());
        assert!(r.count(&t, &CustomerFilter::default()).unwrap() > 0);
    }
}

/// One caller on the synchronous handle: its share of the records into both tenants, in
/// chunks of three taken by `resolve_batch`, `resolve` and `resolve_and_get` in turn.
fn caller_sync<S: Store, C: Clock>(r: &Resolver<S, C>, records: &[Record], c: usize) -> Seen {
    let mut seen = Seen::default();
    let mine = share(records, c);
    for (k, chunk) in mine.chunks(3).enumerate() {
        let requests: Vec<ResolveRequest> = chunk.iter().map(|&i| records[i].request.clone()).collect();
        let (components, limits): (Vec<Outcome>, Vec<Outcome>) = match k % 3 {
            0 => {
                let batch = |t: &TenantId| -> Vec<Outcome> {
                    r.resolve_batch(t, &requests)
                        .unwrap()
                        .into_iter()
                        .map(|o| o.unwrap())
                        .collect()
                };
                (batch(&components_tenant()), batch(&limits_tenant()))
            }
            1 => requests
                .iter()
                .map(|q| {
                    (
                        r.resolve(&components_tenant(), q).unwrap(),
                        r.resolve(&limits_tenant(), q).unwrap(),
                    )
                })
                .unzip(),
            _ => requests
                .iter()
                .map(|q| {
                    let (outcome, customer) = r.resolve_and_get(&components_tenant(), q).unwrap();
                    assert_eq!(Some(customer.id), outcome.customer);
                    (outcome, r.resolve_and_get(&limits_tenant(), q).unwrap().0)
                })
                .unzip(),
        };
        for (j, (&i, outcome)) in chunk.iter().zip(&components).enumerate() {
            check_resolved(r, &records[i], outcome, k * 3 + j);
            seen.components.push((i, outcome.customer.unwrap()));
        }
        for outcome in &limits {
            seen.limits_outcome(outcome);
        }
    }
    seen
}

/// Every live customer of a tenant with the identities it holds, by paging through a query.
fn live_customers<S: Store, C: Clock>(
    r: &Resolver<S, C>,
    t: &TenantId,
) -> BTreeMap<CustomerId, BTreeSet<Key>> {
    let mut out = BTreeMap::new();
    for page in 1.. {
        let query = CustomerQuery {
            page,
            size: 1000,
            ..CustomerQuery::default()
        };
        let rows = r.query(t, &query).unwrap().rows;
        if rows.is_empty() {
            break;
        }
        for customer in rows {
            let held = r
                .identities(t, customer.id)
                .unwrap()
                .iter()
                .map(|i| (i.identity_type.as_str().to_string(), i.identity_value.to_string()))
                .collect();
            out.insert(customer.id, held);
        }
    }
    out
}

/// One live owner per identity: no identity is listed by two live customers, and each is
/// owned by the customer that lists it.
fn check_one_owner<S: Store, C: Clock>(
    r: &Resolver<S, C>,
    t: &TenantId,
    live: &BTreeMap<CustomerId, BTreeSet<Key>>,
) -> BTreeMap<Key, CustomerId> {
    let mut owner = BTreeMap::new();
    for (&id, held) in live {
        for key in held {
            if let Some(other) = owner.insert(key.clone(), id) {
                panic!("{key:?} is held by customers {other} and {id}");
            }
            assert_eq!(r.owner_of(t, &input(key)).unwrap(), Some(id), "{key:?}");
        }
    }
    owner
}

/// The final state of both tenants (SEMANTICS §5); returns the partition of the records
/// into `components` customers.
fn check_final<S: Store, C: Clock>(r: &Resolver<S, C>, records: &[Record], seen: &Seen) -> Partition {
    // `components`: the customers are the connected components, nothing is lost.
    let t = components_tenant();
    let live = live_customers(r, &t);
    let owner = check_one_owner(r, &t, &live);
    let mut groups: HashMap<CustomerId, Vec<usize>> = HashMap::new();
    for (i, record) in records.iter().enumerate() {
        let owners: BTreeSet<_> = record.keys.iter().map(|k| owner.get(k).copied()).collect();
        assert_eq!(owners.len(), 1, "record {i} is split over {owners:?}");
        let id = owners
            .into_iter()
            .next()
            .unwrap()
            .expect("every identity sent is owned");
        groups.entry(id).or_default().push(i);
    }
    let partition = canonical(groups.values().cloned());
    assert_eq!(
        partition,
        components(records),
        "customers are not the connected components"
    );
    assert_eq!(
        live.len(),
        partition.len(),
        "a live customer holds no record's identity"
    );
    assert_eq!(
        r.count(&t, &CustomerFilter::default()).unwrap(),
        live.len() as u64
    );
    // Each customer holds exactly its records' identities: none lost, none invented.
    for (id, members) in &groups {
        let sent: BTreeSet<Key> = members
            .iter()
            .flat_map(|&i| records[i].keys.iter().cloned())
            .collect();
        assert_eq!(&sent, &live[id], "customer {id}");
    }
    // Every id handed out still leads to its record's customer.
    assert_eq!(
        seen.components.len(),
        records.len() * 2,
        "every record resolved twice"
    );
    for &(i, id) in &seen.components {
        let now = owner[&records[i].keys[0]];
        assert_eq!(
            r.canonical_id(&t, id).unwrap(),
            Some(now),
            "id {id} of record {i}"
        );
        assert_eq!(r.get(&t, id).unwrap().map(|c| c.id), Some(now));
    }

    // `limits`: one owner, limits held, what is unowned was refused.
    let t = limits_tenant();
    let live = live_customers(r, &t);
    let owner = check_one_owner(r, &t, &live);
    for (id, held) in &live {
        for (ty, limit) in LIMITS {
            let n = held.iter().filter(|(t, _)| t == ty).count();
            assert!(
                n <= limit,
                "customer {id} holds {n} of {ty}, over its limit {limit}"
            );
        }
    }
    for key in records.iter().flat_map(|r| &r.keys) {
        if !owner.contains_key(key) {
            assert!(
                LIMITS.iter().any(|(ty, _)| *ty == key.0),
                "{key:?} has no limit, yet no owner"
            );
            assert!(
                seen.rejected.contains(key),
                "{key:?} is unowned but was never refused"
            );
        }
    }
    for &id in &seen.limits {
        let now = r
            .canonical_id(&t, id)
            .unwrap()
            .expect("an id handed out stays known");
        assert!(
            live.contains_key(&now),
            "id {id} leads to {now}, which is not live"
        );
    }
    assert!(
        !seen.rejected.is_empty(),
        "the workload is meant to run into the limits"
    );
    partition
}

fn people() -> usize {
    300
}

/// 16 threads, each with a clone of `r`, then the final checks.
fn sync_run<S: Store + 'static, C: Clock + 'static>(r: Resolver<S, C>, records: &[Record]) -> Partition {
    r.set_settings(&limits_tenant(), &limited(), Some("limits"))
        .unwrap();
    let mut seen = Seen::default();
    std::thread::scope(|scope| {
        let callers: Vec<_> = (0..CALLERS)
            .map(|c| {
                let r = r.clone();
                scope.spawn(move || caller_sync(&r, records, c))
            })
            .collect();
        for caller in callers {
            seen.merge(caller.join().unwrap());
        }
    });
    check_final(&r, records, &seen)
}

fn unrestricted<S: Store>(store: S) -> Resolver<S> {
    Resolver::new(store).with_default_settings(IdentitySettings::unrestricted())
}

#[cfg(feature = "sqlite")]
fn sqlite_path(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("shared_handle");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

#[cfg(feature = "postgres")]
fn pg_url() -> String {
    std::env::var("ONEID_PG_URL").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_string())
}

/// A PostgreSQL store in `schema`, dropped first. Blocking: call it off the runtime.
#[cfg(feature = "postgres")]
fn fresh_postgres(schema: &str) -> oneid::PostgresStore {
    let mut admin = postgres::Client::connect(&pg_url(), postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
    oneid::PostgresStore::connect_in_schema(&pg_url(), schema).unwrap()
}

#[test]
fn sixteen_threads_share_one_resolver_on_memory() {
    let records = workload(people(), 1);
    sync_run(unrestricted(MemoryStore::new()), &records);
}

#[cfg(feature = "sqlite")]
#[test]
fn sixteen_threads_share_one_resolver_on_sqlite() {
    let records = workload(people(), 1);
    let store = oneid::SqliteStore::open(sqlite_path("threads")).unwrap();
    sync_run(unrestricted(store), &records);
}

#[cfg(feature = "postgres")]
#[test]
fn sixteen_threads_share_one_resolver_on_postgres() {
    let records = workload(people(), 1);
    sync_run(unrestricted(fresh_postgres("oneid_shared_threads")), &records);
}

/// The async side: the same callers as tokio tasks on one `AsyncResolver`.
#[cfg(feature = "tokio")]
mod tasks {
    use super::*;
    use oneid::AsyncResolver;
    use std::sync::Arc;

    /// One caller as a task: the same mix as [`caller_sync`], every call awaited on the
    /// async handle, the reads that check it on the blocking pool.
    async fn caller<S: Store + 'static, C: Clock + 'static>(
        r: AsyncResolver<S, C>,
        records: Arc<Vec<Record>>,
        c: usize,
    ) -> Seen {
        let (ct, lt) = (components_tenant(), limits_tenant());
        let mut seen = Seen::default();
        let mine = share(&records, c);
        for (k, chunk) in mine.chunks(3).enumerate() {
            let requests: Vec<ResolveRequest> = chunk.iter().map(|&i| records[i].request.clone()).collect();
            let mut components = Vec::new();
            let mut limits = Vec::new();
            match k % 3 {
                0 => {
                    let all = |o: oneid::Result<Vec<oneid::Result<Outcome>>>| -> Vec<Outcome> {
                        o.unwrap().into_iter().map(|o| o.unwrap()).collect()
                    };
                    // Shared, not copied, between the two batches.
                    let requests: Arc<[ResolveRequest]> = requests.into();
                    components = all(r.resolve_batch(ct.clone(), requests.clone()).await);
                    limits = all(r.resolve_batch(lt.clone(), requests).await);
                }
                1 => {
                    for q in requests {
                        components.push(r.resolve(ct.clone(), q.clone()).await.unwrap());
                        limits.push(r.resolve(lt.clone(), q).await.unwrap());
                    }
                }
                _ => {
                    for q in requests {
                        let (outcome, customer) = r.resolve_and_get(ct.clone(), q.clone()).await.unwrap();
                        assert_eq!(Some(customer.id), outcome.customer);
                        components.push(outcome);
                        limits.push(r.resolve_and_get(lt.clone(), q).await.unwrap().0);
                    }
                }
            }
            // Reads through the async handle...
            let first = components[0].customer.unwrap();
            assert!(r.get(ct.clone(), first).await.unwrap().is_some());
            assert!(!r.identities(ct.clone(), first).await.unwrap().is_empty());
            // ...and the full checks with the synchronous one, off the runtime's workers.
            let (sync, records) = (r.blocking().clone(), records.clone());
            let chunk = chunk.to_vec();
            let checked = tokio::task::spawn_blocking(move || {
                for (j, (&i, outcome)) in chunk.iter().zip(&components).enumerate() {
                    check_resolved(&sync, &records[i], outcome, k * 3 + j);
                }
                chunk
                    .into_iter()
                    .zip(components.iter().map(|o| o.customer.unwrap()))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap();
            seen.components.extend(checked);
            for outcome in &limits {
                seen.limits_outcome(outcome);
            }
        }
        seen
    }

    /// 16 tasks on one handle, then the final checks (on the blocking pool).
    async fn async_run<S: Store + 'static, C: Clock + 'static>(
        r: AsyncResolver<S, C>,
        records: Vec<Record>,
    ) -> Partition {
        r.set_settings(limits_tenant(), limited(), Some("limits".into()))
            .await
            .unwrap();
        let records = Arc::new(records);
        let tasks: Vec<_> = (0..CALLERS)
            .map(|c| tokio::spawn(caller(r.clone(), records.clone(), c)))
            .collect();
        let mut seen = Seen::default();
        for task in tasks {
            seen.merge(task.await.unwrap());
        }
        let sync = r.blocking().clone();
        tokio::task::spawn_blocking(move || check_final(&sync, &records, &seen))
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn sixteen_tasks_share_one_handle_on_memory() {
        let r = AsyncResolver::new(unrestricted(MemoryStore::new()));
        async_run(r, workload(people(), 2)).await;
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test(flavor = "multi_thread")]
    async fn sixteen_tasks_share_one_handle_on_sqlite() {
        let path = sqlite_path("tasks");
        let r = AsyncResolver::open(move || Ok(unrestricted(oneid::SqliteStore::open(path)?)))
            .await
            .unwrap();
        async_run(r, workload(people(), 2)).await;
    }

    #[cfg(feature = "postgres")]
    #[tokio::test(flavor = "multi_thread")]
    async fn sixteen_tasks_share_one_handle_on_postgres() {
        let r = AsyncResolver::open(|| Ok(unrestricted(fresh_postgres("oneid_shared_tasks"))))
            .await
            .unwrap();
        async_run(r, workload(people(), 2)).await;
        // The handle was opened, used and is dropped on the runtime: no driver panics.
    }

    /// The stores this build has, side by side on one smaller workload, each driven by 16
    /// tasks: one partition of the records, the connected components.
    #[tokio::test(flavor = "multi_thread")]
    async fn every_store_ends_in_the_same_partition() {
        let records = || workload(80, 3);
        let mut partitions: Vec<(&str, Partition)> = Vec::new();
        let memory = AsyncResolver::new(unrestricted(MemoryStore::new()));
        partitions.push(("memory", async_run(memory, records()).await));
        #[cfg(feature = "sqlite")]
        {
            let path = sqlite_path("same_partition");
            let r = AsyncResolver::open(move || Ok(unrestricted(oneid::SqliteStore::open(path)?)))
                .await
                .unwrap();
            partitions.push(("sqlite", async_run(r, records()).await));
        }
        #[cfg(feature = "postgres")]
        {
            let r = AsyncResolver::open(|| Ok(unrestricted(fresh_postgres("oneid_shared_partition"))))
                .await
                .unwrap();
            partitions.push(("postgres", async_run(r, records()).await));
        }
        let (first, reference) = &partitions[0];
        for (name, partition) in &partitions[1..] {
            assert_eq!(partition, reference, "{name} and {first} differ");
        }
        assert!(
            reference.iter().any(|part| part.len() > 3),
            "the workload is meant to merge customers"
        );
    }

    /// Every operation of the async handle, on a single-threaded runtime (whose only worker
    /// would be blocked by a synchronous call), answering as the synchronous one does.
    async fn every_operation<S: Store + 'static>(r: AsyncResolver<S>) {
        use oneid::{CustomerPatch, Field, PlainCreate, UpdatePatch};
        let t = TenantId::new("ops");
        let mobile = IdentityInput::new("mobile", "13912345678");
        let email = IdentityInput::new("email", "a@b.cn");
        let request = ResolveRequest::new([mobile.clone()]).with_cause("shop");
        let dry = r.dry_run(t.clone(), request.clone()).await.unwrap();
        assert!(dry.dry_run && dry.customer.is_none());
        let first = r.resolve(t.clone(), request.clone()).await.unwrap();
        let id = first.customer.unwrap();
        let (again, customer) = r.resolve_and_get(t.clone(), request).await.unwrap();
        assert_eq!((again.customer, customer.id), (Some(id), id));
        let batch = r
            .resolve_batch(t.clone(), vec![ResolveRequest::new([email.clone()])])
            .await
            .unwrap();
        let other = batch[0].as_ref().unwrap().customer.unwrap();
        let created = r
            .create(
                t.clone(),
                CustomerPatch::new().with(Field::Mobile, "13912345678").unwrap(),
                PlainCreate::MobileOnly,
            )
            .await
            .unwrap();
        assert_eq!(created.customer, Some(id));
        assert_eq!(r.get(t.clone(), id).await.unwrap().unwrap().id, id);
        assert_eq!(r.canonical_id(t.clone(), id).await.unwrap(), Some(id));
        assert_eq!(
            r.find_by_identity(t.clone(), mobile.clone())
                .await
                .unwrap()
                .unwrap()
                .id,
            id
        );
        assert_eq!(r.identities(t.clone(), id).await.unwrap().len(), 1);
        assert_eq!(
            r.identities_of(t.clone(), vec![id, other]).await.unwrap().len(),
            2
        );
        assert_eq!(r.owner_of(t.clone(), mobile.clone()).await.unwrap(), Some(id));
        assert!(!r.history(t.clone(), id).await.unwrap().is_empty());
        let updated = r
            .update(t.clone(), id, UpdatePatch::new().set(Field::Name, "Li").unwrap())
            .await
            .unwrap();
        assert_eq!(updated.customer.display_name(), Some("Li"));
        r.update_attribute(t.clone(), id, "city", serde_json::json!("上海"))
            .await
            .unwrap();
        r.update_extended_attribute(t.clone(), id, "level", serde_json::json!(3))
            .await
            .unwrap();
        let attrs = r
            .attributes(t.clone(), id, ["name", "city", "level"])
            .await
            .unwrap();
        assert_eq!(attrs["name"], "Li");
        assert_eq!(attrs["city"], "上海");
        assert_eq!(attrs["level"], 3);
        let wechat = IdentityInput::new("wechat", "o-1");
        r.add_identity(t.clone(), id, wechat.clone()).await.unwrap();
        assert!(r.remove_identity(t.clone(), id, wechat).await.unwrap());
        r.add_tags(t.clone(), id, ["vip", "new"]).await.unwrap();
        let untagged = r.remove_tags(t.clone(), id, ["new"]).await.unwrap();
        assert_eq!(untagged.customer.tags, ["vip"]);
        r.add_groups(t.clone(), id, [7, 8]).await.unwrap();
        let ungrouped = r.remove_groups(t.clone(), id, [8]).await.unwrap();
        assert_eq!(ungrouped.customer.groups, [7]);
        let page = r.query(t.clone(), CustomerQuery::default()).await.unwrap();
        assert_eq!(page.total, 2);
        let (rows, total) = r.query_json(t.clone(), CustomerQuery::default()).await.unwrap();
        assert_eq!((rows.len(), total), (2, 2));
        assert_eq!(r.count(t.clone(), CustomerFilter::default()).await.unwrap(), 2);
        r.resolve(t.clone(), ResolveRequest::new([mobile.clone(), email.clone()]))
            .await
            .unwrap();
        let why = r
            .explain(t.clone(), mobile.clone(), email)
            .await
            .unwrap()
            .unwrap();
        assert!(!why.steps.is_empty());
        let version = r
            .set_settings(t.clone(), IdentitySettings::default(), Some("reset".into()))
            .await
            .unwrap();
        assert_eq!(r.settings_history(t.clone()).await.unwrap().len() as u64, version);
        assert!(r.settings(t.clone()).await.unwrap().limit("idcard").is_some());
        r.delete(t.clone(), id).await.unwrap();
        assert_eq!(r.get(t.clone(), id).await.unwrap(), None);
        // An error comes back as the error it is.
        let gone = r.delete(t.clone(), id).await.unwrap_err();
        assert_eq!(gone.kind(), oneid::ErrorKind::NotFound);
        // The merged customer's data goes with its survivor's.
        let erased: BTreeSet<_> = r.erase(t.clone(), id).await.unwrap().into_iter().collect();
        assert_eq!(erased, BTreeSet::from([id, other]));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn every_operation_on_memory() {
        every_operation(AsyncResolver::new(Resolver::new(MemoryStore::new()))).await;
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test(flavor = "current_thread")]
    async fn every_operation_on_sqlite() {
        let path = sqlite_path("operations");
        let r = AsyncResolver::open(move || Ok(Resolver::new(oneid::SqliteStore::open(path)?)))
            .await
            .unwrap();
        every_operation(r).await;
    }

    #[cfg(feature = "postgres")]
    #[tokio::test(flavor = "current_thread")]
    async fn every_operation_on_postgres() {
        let r = AsyncResolver::open(|| Ok(Resolver::new(fresh_postgres("oneid_shared_operations"))))
            .await
            .unwrap();
        every_operation(r).await;
    }
}
