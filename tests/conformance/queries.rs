//! What a query may cost, on every store: an id list is bounded by its distinct ids, a sort
//! by a field (no index gives its order) by the number of matches, and every store refuses
//! alike, with the bound in the message, and answers alike below the bounds.

use super::support::t;
use oneid::limits::{MAX_FIELD_SORT_MATCHES, MAX_ID_LIST, MAX_QUERY_OFFSET};
use oneid::{
    CustomerFilter, CustomerId, CustomerQuery, ErrorKind, Field, IdentityInput, ManualClock, ResolveRequest,
    Resolver, SortKey, Store,
};
use serde_json::json;

/// Creates `n` customers in batches; customer `i` (id `i + 1`) gets the city and name
/// `c{(i * 7919) % n}` (every city different, in an order unlike the ids') and the source
/// `"last"` for the last one, `"rest"` for the others.
fn populate<S: Store>(r: &Resolver<S, ManualClock>, n: u64) {
    let requests: Vec<ResolveRequest> = (0..n)
        .map(|i| {
            let city = format!("c{:05}", (i * 7919) % n);
            let source = if i + 1 == n { "last" } else { "rest" };
            let body = json!({
                "customer": {"city": city, "name": city, "source": source},
                "customerIdentities": [{"identityType": "wechat", "identityValue": format!("o{i}")}],
            });
            ResolveRequest::from_json(&body).unwrap()
        })
        .collect();
    for chunk in requests.chunks(1000) {
        for outcome in r.resolve_batch(&t(), chunk).unwrap() {
            outcome.unwrap();
        }
    }
}

fn ids_of(page: &oneid::CustomerPage) -> Vec<u64> {
    page.rows.iter().map(|c| c.id.0).collect()
}

fn list(ids: impl IntoIterator<Item = u64>) -> Option<Vec<CustomerId>> {
    Some(ids.into_iter().map(CustomerId).collect())
}

/// An id list selects the same rows, in every order, whatever its length, repeats and ids
/// no store holds; past its bound it is refused by `query`, `count` and `from_params`.
fn id_lists_select_alike_up_to_their_bound<S: Store>(r: Resolver<S, ManualClock>) {
    populate(&r, 30);
    let cases: [(Option<Vec<CustomerId>>, Vec<u64>); 5] = [
        (list([5]), vec![5]),
        (list([9, 3, 3, 30, 31, 0, u64::MAX]), vec![3, 9, 30]),
        // The bound in distinct ids, most of them held by nobody, each given twice.
        (
            list(
                (1..=MAX_ID_LIST as u64)
                    .rev()
                    .step_by(3)
                    .chain(1..=MAX_ID_LIST as u64),
            ),
            (1..=30).collect(),
        ),
        (list((2..=30).step_by(2)), (2..=30).step_by(2).collect()),
        (list([]), vec![]),
    ];
    for (ids, want) in cases {
        let filter = CustomerFilter {
            ids,
            ..Default::default()
        };
        assert_eq!(r.count(&t(), &filter).unwrap(), want.len() as u64);
        for (sort, descending) in [
            (SortKey::Id, false),
            (SortKey::DateCreated, true),
            (SortKey::Field(Field::City), false),
            (SortKey::Field(Field::Name), true),
        ] {
            let query = CustomerQuery {
                filter: filter.clone(),
                sort,
                descending,
                size: 1000,
                ..Default::default()
            };
            let mut expected = want.clone();
            // Cities and names are `c{(i * 7919) % 30}` for id `i + 1`: all distinct.
            let key = |id: u64| ((id - 1) * 7919) % 30;
            match sort {
                SortKey::Id => {}
                SortKey::DateCreated => expected.reverse(),
                _ if descending => expected.sort_by_key(|id| std::cmp::Reverse(key(*id))),
                _ => expected.sort_by_key(|id| key(*id)),
            }
            let page = r.query(&t(), &query).unwrap();
            assert_eq!(page.total, want.len() as u64, "{sort:?}");
            assert_eq!(ids_of(&page), expected, "{sort:?} descending: {descending}");
        }
    }

    // One distinct id past the bound: refused, naming the bound, by every way in.
    let past = CustomerFilter {
        ids: list(1..=MAX_ID_LIST as u64 + 1),
        ..Default::default()
    };
    let query = CustomerQuery {
        filter: past.clone(),
        ..Default::default()
    };
    let bound = format!("at most {MAX_ID_LIST} distinct ids");
    for e in [
        r.count(&t(), &past).unwrap_err(),
        r.query(&t(), &query).unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Input);
        assert!(e.to_string().contains(&bound), "{e}");
    }
    let text: Vec<String> = (1..=MAX_ID_LIST as u64 + 1).map(|n| n.to_string()).collect();
    let e = CustomerQuery::from_params([("idList", text.join(",").as_str())]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Input);
    assert!(e.to_string().contains(&bound), "{e}");
}

/// A sort by a field reads every match, so a query sorted by one is refused past
/// `MAX_FIELD_SORT_MATCHES` matches, whether the field has a column (`name`) or not
/// (`city`); a narrower filter is served, and indexed sorts are served at any size.
fn field_sorts_are_bounded_by_their_matches<S: Store>(r: Resolver<S, ManualClock>) {
    let n = MAX_FIELD_SORT_MATCHES + 1;
    populate(&r, n);
    let query = |sort, source: Option<&str>| CustomerQuery {
        filter: CustomerFilter {
            source: source.map(str::to_string),
            ..Default::default()
        },
        sort,
        size: 3,
        ..Default::default()
    };
    for field in [Field::City, Field::Name] {
        let e = r.query(&t(), &query(SortKey::Field(field), None)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Input, "{e}");
        let text = e.to_string();
        assert!(
            text.contains(&format!("at most {MAX_FIELD_SORT_MATCHES} customers")),
            "{text}"
        );
        assert!(text.contains("id, dateCreated or lastUpdated"), "{text}");
        // At the bound: served, in the field's order (`c00000`, `c00001`, ... are the
        // customers `i` with `i * 7919 % n` = 0, 1, ...; `i = 0` is the first).
        let page = r
            .query(&t(), &query(SortKey::Field(field), Some("rest")))
            .unwrap();
        assert_eq!(page.total, MAX_FIELD_SORT_MATCHES);
        let inverse = |k: u64| (0..n).find(|i| (i * 7919) % n == k).unwrap() + 1;
        assert_eq!(ids_of(&page), [inverse(0), inverse(1), inverse(2)], "{field:?}");
    }
    // Counting is not sorting; indexed sorts read their page at any size.
    assert_eq!(r.count(&t(), &CustomerFilter::default()).unwrap(), n);
    for (sort, want) in [
        (SortKey::Id, [1, 2, 3]),
        (SortKey::DateCreated, [1, 2, 3]),
        (SortKey::LastUpdated, [1, 2, 3]),
    ] {
        let page = r.query(&t(), &query(sort, None)).unwrap();
        assert_eq!((page.total, ids_of(&page)), (n, want.to_vec()), "{sort:?}");
    }
    // A one-customer tenant elsewhere is not bounded by this one's matches.
    let other = oneid::TenantId::new("other");
    r.resolve(&other, &ResolveRequest::new([IdentityInput::new("wechat", "o1")]))
        .unwrap();
    let page = r
        .query(&other, &query(SortKey::Field(Field::City), None))
        .unwrap();
    assert_eq!(page.total, 1);
}

/// A query skips at most `MAX_QUERY_OFFSET` rows: at the bound it is served (a page past the
/// last match is empty, with the total), past it refused by every store and by
/// `from_params`, naming the bound, whatever the order.
fn offsets_are_bounded<S: Store>(r: Resolver<S, ManualClock>) {
    populate(&r, 30);
    let at = |page: u32, size: u32, sort| CustomerQuery {
        sort,
        page,
        size,
        ..Default::default()
    };
    let size = 1000;
    let last = (MAX_QUERY_OFFSET / u64::from(size)) as u32 + 1;
    for sort in [SortKey::Id, SortKey::LastUpdated, SortKey::Field(Field::City)] {
        for (page, size) in [(2, 20), (last, size)] {
            let page = r.query(&t(), &at(page, size, sort)).unwrap();
            assert_eq!(
                (page.total, page.rows.len()),
                (30, if size == 20 { 10 } else { 0 })
            );
        }
        for (page, size) in [(last + 1, size), (u32::MAX, size), (u32::MAX, 1)] {
            let e = r.query(&t(), &at(page, size, sort)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Input, "{e}");
            assert!(
                e.to_string()
                    .contains(&format!("at most {MAX_QUERY_OFFSET} rows")),
                "{e}"
            );
        }
    }
    let (rows, past) = (size.to_string(), (last + 1).to_string());
    let e = CustomerQuery::from_params([("rows", rows.as_str()), ("page", past.as_str())]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Input);
    assert!(e.to_string().contains("\"page\""), "{e}");
}

super::support::conformance!(
    id_lists_select_alike_up_to_their_bound,
    field_sorts_are_bounded_by_their_matches,
    offsets_are_bounded
);
