//! A sequence of requests over a few identity types and a small alphabet of values (so that
//! they collide, spelled in ways that normalize alike, with a blocked and an invalid value),
//! under settings with optional limits and quarantine: resolved one by one on one store, as one
//! `resolve_batch` on another, and as batches split at arbitrary points by
//! `resolve_batch_with` (planned in parallel or not) on a third, every outcome is the same and
//! so is everything observable afterwards.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use oneid::{
    CustomerPatch, Field, IdentityInput, IdentitySettings, MemoryStore, MergeRule, Outcome, PriorityStrategy,
    ResolveOptions, ResolveRequest, Resolver, TargetStrategy,
};
use oneid_fuzz::{Engine, clock, state::snapshot, tenant};

/// At most this many requests: collisions come from the alphabet, not from length.
const MAX_REQUESTS: usize = 40;
/// At most this many identities per request.
const MAX_IDENTITIES: usize = 4;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Type {
    Mobile,
    Email,
    Wechat,
    Unionid,
    Idcard,
    Member,
}

#[derive(Arbitrary, Debug)]
struct Id {
    ty: Type,
    value: u8,
    /// Another spelling of the same value, where the type's normalizer has one.
    respelled: bool,
    /// An app id, for openids.
    app: Option<bool>,
}

impl Id {
    fn input(&self) -> IdentityInput {
        let v = self.value % 4;
        let value = match (self.ty, self.value % 6, self.respelled) {
            (Type::Mobile, 4, _) => "13800000000".to_owned(),
            (Type::Mobile, 5, _) => "not a number".to_owned(),
            (Type::Mobile, _, false) => format!("1380000000{v}"),
            (Type::Mobile, _, true) => format!("+86 138-0000-000{v}"),
            (Type::Email, _, false) => format!("p{v}@example.com"),
            (Type::Email, _, true) => format!(" P{v}@Example.COM"),
            (Type::Wechat, _, _) => format!("o{v}"),
            (Type::Unionid, _, _) => format!("u{v}"),
            (Type::Idcard, _, _) => format!("53{v:016}"),
            (Type::Member, _, false) => format!("m{v}"),
            (Type::Member, _, true) => format!(" m{v} "),
        };
        let ty = match self.ty {
            Type::Mobile => "mobile",
            Type::Email => "email",
            Type::Wechat => "wechat",
            Type::Unionid => "wechat-unionid",
            Type::Idcard => "idcard",
            Type::Member => "member-id",
        };
        let mut input = IdentityInput::new(ty, value);
        if matches!(self.ty, Type::Wechat) {
            input.scope = self.app.map(|a| format!("app{}", u8::from(a)));
        }
        input
    }
}

#[derive(Arbitrary, Debug)]
struct Request {
    identities: Vec<Id>,
    custom_priority: bool,
    customer_first: bool,
    auto_merge: bool,
    match_by_fields: bool,
    /// Patch fields: the contacts (which match by fields reads), a city, a balance.
    mobile: Option<u8>,
    email: Option<u8>,
    city: Option<u8>,
    balance: Option<u8>,
    /// Hours after the clock's start, so that touchpoints arrive out of order.
    event_hour: Option<u8>,
    cause: Option<u8>,
}

impl Request {
    fn request(&self) -> ResolveRequest {
        let mut patch = CustomerPatch::new();
        let mut set = |field: Field, value: String| {
            patch = std::mem::take(&mut patch)
                .with(field, value)
                .expect("a valid field");
        };
        if let Some(m) = self.mobile {
            set(Field::Mobile, format!("1380000000{}", m % 4));
        }
        if let Some(e) = self.email {
            set(Field::Email, format!("p{}@example.com", e % 4));
        }
        if let Some(c) = self.city {
            set(Field::City, format!("city{}", c % 3));
        }
        if let Some(b) = self.balance {
            patch = patch
                .with(Field::Balance, i64::from(b % 8))
                .expect("a valid balance");
        }
        let identities = self.identities.iter().take(MAX_IDENTITIES).map(Id::input);
        let mut request = ResolveRequest::new(identities)
            .with_patch(patch)
            .with_options(ResolveOptions {
                identity_priority_strategy: if self.custom_priority {
                    PriorityStrategy::Custom
                } else {
                    PriorityStrategy::System
                },
                target_customer_strategy: if self.customer_first {
                    TargetStrategy::CustomerFirst
                } else {
                    TargetStrategy::IdentityFirst
                },
                auto_merge: self.auto_merge,
                match_by_fields: self.match_by_fields,
            });
        request.event_time = self.event_hour.map(|h| {
            "2024-01-01T00:00:00Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .expect("a time")
                + chrono::Duration::hours(i64::from(h % 48))
        });
        if let Some(c) = self.cause {
            request = request.with_cause(format!("record {c}"));
        }
        request
    }
}

#[derive(Arbitrary, Debug)]
struct Settings {
    /// Limits of mobile, email, wechat and member-id (each 1 to 3, or none).
    limits: [Option<u8>; 4],
    /// Lift the default limit of 1 on wechat-unionid and idcard.
    unlimited_unique: bool,
    /// Quarantine after 2 to 4 conflicting identities, or never.
    quarantine_after: Option<u8>,
    city_most_recent: bool,
}

impl Settings {
    fn settings(&self) -> IdentitySettings {
        let mut s = IdentitySettings::default();
        for (ty, limit) in ["mobile", "email", "wechat", "member-id"].iter().zip(self.limits) {
            s = s
                .with_limit(ty, limit.map(|l| u32::from(l % 3) + 1))
                .expect("a valid limit");
        }
        if self.unlimited_unique {
            for ty in ["wechat-unionid", "idcard"] {
                s = s.with_limit(ty, None).expect("a valid limit");
            }
        }
        s = s
            .with_quarantine(self.quarantine_after.map(|q| u32::from(q % 3) + 2))
            .expect("a valid quarantine");
        if self.city_most_recent {
            s = s
                .with_merge_rule(Field::City, MergeRule::MostRecent)
                .expect("a valid rule");
        }
        s
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    settings: Settings,
    requests: Vec<Request>,
    /// Where the third store's batches end.
    splits: Vec<u8>,
    parallel: bool,
}

fn engine(settings: &IdentitySettings, parallel: bool) -> Engine {
    Resolver::new(MemoryStore::new())
        .with_clock(clock())
        .with_default_settings(settings.clone())
        .with_parallel_planning(parallel)
}

type Outcomes = Vec<Result<Outcome, String>>;

fn texts(outcomes: Vec<oneid::Result<Outcome>>) -> Outcomes {
    outcomes
        .into_iter()
        .map(|o| o.map_err(|e| e.to_string()))
        .collect()
}

fuzz_target!(|input: Input| {
    let settings = input.settings.settings();
    let requests: Vec<ResolveRequest> = input
        .requests
        .iter()
        .take(MAX_REQUESTS)
        .map(Request::request)
        .collect();
    let t = tenant();

    let single = engine(&settings, false);
    let one_by_one: Outcomes = texts(requests.iter().map(|r| single.resolve(&t, r)).collect());

    let batch = engine(&settings, false);
    let batched = texts(
        batch
            .resolve_batch(&t, &requests)
            .expect("a batch on a memory store"),
    );
    assert_eq!(one_by_one, batched, "resolve_batch against one by one");

    let split = engine(&settings, input.parallel);
    let mut bounds: Vec<usize> = input
        .splits
        .iter()
        .map(|s| usize::from(*s) % (requests.len() + 1))
        .collect();
    bounds.extend([0, requests.len()]);
    bounds.sort_unstable();
    bounds.dedup();
    let mut streamed = Outcomes::new();
    for w in bounds.windows(2) {
        split
            .resolve_batch_with(&t, &requests[w[0]..w[1]], |i, outcome| {
                assert_eq!(w[0] + i, streamed.len(), "an outcome out of order");
                streamed.push(outcome.map(|view| view.to_outcome()).map_err(|e| e.to_string()));
            })
            .expect("a batch on a memory store");
    }
    assert_eq!(
        one_by_one, streamed,
        "batches split at {bounds:?} against one by one"
    );

    let max_id = requests.len() as u64 + 1;
    let want = snapshot(&single, max_id);
    assert_eq!(want, snapshot(&batch, max_id), "the state after resolve_batch");
    assert_eq!(
        want,
        snapshot(&split, max_id),
        "the state after the split batches"
    );
});
