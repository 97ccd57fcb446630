//! Query parameters, as any bytes split into `key=value` pairs at `&`:
//! `CustomerQuery::from_params` answers them with a query or an error. An accepted query runs
//! on a small store (live, merged and deleted customers with every filtered field): `query`
//! and `count` succeed or fail together, `count` is the page's total, the page holds at most
//! `size` rows, and the rows are exactly those the filter's reference meaning
//! (`CustomerFilter::matches`, `CustomerQuery::compare`, `offset`) selects.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oneid::{CustomerId, CustomerPatch, CustomerQuery, IdentityInput, ResolveRequest};
use oneid_fuzz::{Engine, resolver, store_failed, tenant};
use serde_json::json;
use std::sync::LazyLock;

/// How many ids the store below hands out.
const IDS: u64 = 8;

/// Customers 1 to 8: 2 merged into 1, 6 deleted, 3 updated after it was made.
static STORE: LazyLock<Engine> = LazyLock::new(|| {
    let (r, t) = (resolver(), tenant());
    let resolve = |ids: &[(&str, &str)], fields: serde_json::Value| {
        let patch = CustomerPatch::from_json(&fields).expect("a valid customer");
        let ids = ids.iter().map(|(ty, v)| IdentityInput::new(*ty, *v));
        r.resolve(&t, &ResolveRequest::new(ids).with_patch(patch))
            .expect("a valid request")
            .customer
            .expect("a target")
    };
    resolve(
        &[("mobile", "13811110001")],
        json!({"name": "张三", "mobile": "13811110001", "stage": "lead", "source": "shop",
               "gender": 1, "tags": ["vip"], "groupIds": [1], "city": "昆明"}),
    );
    resolve(
        &[("email", "a@b.cn")],
        json!({"nickName": "小李", "email": "a@b.cn", "stage": "", "gender": 2, "groupIds": [2],
               "tags": ["new", "vip"], "balance": 3}),
    );
    let third = resolve(
        &[("wechat", "o1")],
        json!({"name": "王五", "mobile": "13811110003", "birthday": "1990-01-02", "balance": 5}),
    );
    resolve(
        &[("mobile", "13811110004"), ("email", "e4@x.cn")],
        json!({"source": "crm", "gender": 0, "email": "e4@x.cn", "name": "李四"}),
    );
    resolve(&[("mobile", "13811110001"), ("email", "a@b.cn")], json!({}));
    let sixth = resolve(
        &[("member-id", "m6")],
        json!({"stage": "vip", "birthday": "1985-05-06"}),
    );
    r.delete(&t, sixth).expect("a delete");
    resolve(
        &[("mobile", "13811110007")],
        json!({"nickName": "七", "stage": "lead"}),
    );
    resolve(&[("mobile", "13811110008")], json!({}));
    let update = oneid::UpdatePatch::from_json(&json!({"city": "大理"})).expect("a valid update");
    r.update(&t, third, &update).expect("an update");
    r
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let params: Vec<(&str, &str)> = text
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect();
    let Ok(query) = CustomerQuery::from_params(params.iter().copied()) else {
        return;
    };
    let (r, t) = (&*STORE, tenant());
    let (page, count) = match (r.query(&t, &query), r.count(&t, &query.filter)) {
        (Ok(page), Ok(count)) => (page, count),
        (Err(a), Err(b)) => {
            assert!(
                !store_failed(&a) && !store_failed(&b),
                "the store failed: {a:?} {b:?}"
            );
            return;
        }
        (page, count) => panic!("query and count disagree: {page:?}\n{count:?}"),
    };
    assert_eq!(count, page.total, "count and the page's total");
    assert!(
        page.rows.len() <= query.size as usize,
        "{} rows in a page of {}",
        page.rows.len(),
        query.size
    );

    // The reference: every live customer, by reading each id, filtered, sorted and paged.
    let mut live: Vec<_> = (1..=IDS)
        .filter_map(|id| r.get(&t, CustomerId(id)).expect("a read"))
        .filter(|c| c.id.0 <= IDS && c.is_active())
        .collect();
    live.sort_by_key(|c| c.id);
    live.dedup_by_key(|c| c.id);
    live.retain(|c| query.filter.matches(c));
    assert_eq!(
        page.total,
        live.len() as u64,
        "the total against the filter's meaning"
    );
    live.sort_by(|a, b| query.compare(a, b));
    let want: Vec<_> = live
        .into_iter()
        .skip(usize::try_from(query.offset()).unwrap_or(usize::MAX))
        .take(query.size as usize)
        .collect();
    assert_eq!(page.rows, want, "the page against the query's meaning");

    let (rows, total) = r.query_json(&t, &query).expect("the query ran as JSON");
    assert_eq!(
        (rows.len(), total),
        (page.rows.len(), page.total),
        "query_json's page"
    );
    if let Some(select) = &query.select {
        for row in &rows {
            let keys = row.as_object().expect("a customer is an object").keys();
            for key in keys {
                assert!(key == "id" || select.contains(key), "{key} not selected");
            }
        }
    }
});
