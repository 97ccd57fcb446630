//! A memory store large enough that its tables reach their full-length chunks and the sizes
//! the store backs with huge pages (4 MiB and more): what it holds reads back whole, and
//! merges across chunks move every identity.

use oneid::{CustomerId, IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};

/// 150k customers with four identities each: 600k identity entries, past the 507,904 that
/// the growing chunks hold, and an identity index of 12 MiB.
const CUSTOMERS: u64 = 150_000;

fn identities(i: u64) -> [IdentityInput; 4] {
    [
        IdentityInput::new("mobile", format!("1{:010}", 3_000_000_000 + i)),
        IdentityInput::new("email", format!("user{i}@example.com")),
        IdentityInput::new("wechat", format!("o{i:027x}")),
        IdentityInput::new("member-id", format!("M{i:010}")),
    ]
}

fn owner(r: &mut Resolver<MemoryStore>, t: &TenantId, identity: &IdentityInput) -> Option<CustomerId> {
    r.find_by_identity(t, identity).unwrap().map(|c| c.id)
}

#[test]
fn a_store_past_its_growing_chunks_reads_back_and_merges_across_them() {
    let t = TenantId::new("large");
    let mut r = Resolver::new(MemoryStore::new());
    let requests: Vec<_> = (0..CUSTOMERS)
        .map(|i| ResolveRequest::new(identities(i)))
        .collect();
    let mut ids = Vec::with_capacity(CUSTOMERS as usize);
    for chunk in requests.chunks(25_000) {
        for outcome in r.resolve_batch(&t, chunk).unwrap() {
            let outcome = outcome.unwrap();
            assert!(outcome.created);
            ids.push(outcome.customer.unwrap());
        }
    }
    assert_eq!(r.store().customer_ids() as u64, CUSTOMERS);

    // Every identity of a spread of customers (first, last, and across every chunk edge)
    // finds its own customer.
    let sample: Vec<u64> = (0..CUSTOMERS).step_by(997).chain([CUSTOMERS - 1]).collect();
    for &i in &sample {
        for identity in identities(i) {
            assert_eq!(
                owner(&mut r, &t, &identity),
                Some(ids[i as usize]),
                "{identity:?}"
            );
        }
    }

    // Merge early customers into late ones: a's member id with b's email targets b (email
    // ranks higher) and merges a into it.
    for k in 0..50u64 {
        let (a, b) = (k * 7, CUSTOMERS - 1 - k * 11);
        let [_, email_b, _, _] = identities(b);
        let [_, _, _, member_a] = identities(a);
        let outcome = r.resolve(&t, &ResolveRequest::new([member_a, email_b])).unwrap();
        assert_eq!(outcome.customer, Some(ids[b as usize]));
        assert_eq!(outcome.merged, vec![ids[a as usize]]);
        for identity in identities(a).into_iter().chain(identities(b)) {
            assert_eq!(
                owner(&mut r, &t, &identity),
                Some(ids[b as usize]),
                "{identity:?}"
            );
        }
        assert_eq!(r.identities(&t, ids[b as usize]).unwrap().len(), 8);
    }
}
