//! Everything observable about a tenant, as text, so that two stores given the same
//! operations can be compared as a whole.

use crate::{Engine, tenant};
use oneid::{CustomerId, CustomerQuery, limits::MAX_PAGE_SIZE};

/// The tenant's live customers as `query` serializes them, then, for every id up to `max_id`,
/// the customer a read by that id reaches, its identities and its history. Ids past the last
/// customer read as nothing, so a store that made one customer too many differs.
pub fn snapshot(r: &Engine, max_id: u64) -> Vec<String> {
    let t = tenant();
    let all = CustomerQuery {
        size: MAX_PAGE_SIZE,
        ..CustomerQuery::default()
    };
    let page = r.query(&t, &all).expect("a query of every customer");
    let mut out = vec![serde_json::to_string(&page).expect("a page is JSON")];
    out.extend((1..=max_id).map(|id| {
        let id = CustomerId(id);
        let customer = r.get(&t, id).expect("a read by id");
        let identities = r.identities(&t, id).expect("a customer's identities");
        let history = r.history(&t, id).expect("a customer's history");
        format!(
            "{id:?}: {}\n  {identities:?}\n  {history:?}",
            serde_json::to_string(&customer).expect("a customer is JSON")
        )
    }));
    out
}
