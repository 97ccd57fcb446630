//! Merge history: every link and merge, with its time and cause.

use crate::model::{CustomerId, Identity};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

/// Which operation caused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Operation {
    /// A resolve (create by identity list).
    Resolve,
    /// A plain create (mobile/email as identities).
    Create,
    /// An update of fields or attributes.
    Update,
    /// An identity added to a customer directly.
    AddIdentity,
    /// An identity removed from a customer.
    RemoveIdentity,
    /// A logical delete.
    Delete,
    /// Erasure of personal data.
    Erase,
}

/// Why something happened: the operation and the caller's reference for the request (e.g. a
/// record id), if it gave one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cause {
    /// The operation.
    pub operation: Operation,
    /// The caller's reference, from [`ResolveRequest::cause`](crate::ResolveRequest::cause).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<Arc<str>>,
}

/// What happened to a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[non_exhaustive]
pub enum EventKind {
    /// The customer was created.
    Created,
    /// An identity was bound to the customer.
    Linked {
        /// The identity.
        identity: Identity,
    },
    /// Another customer was merged into this one.
    Merged {
        /// The customer merged in; its id is now an alias of this one.
        from: CustomerId,
    },
    /// An identity was unbound from the customer.
    Unlinked {
        /// The identity.
        identity: Identity,
    },
    /// The customer was logically deleted and its identities released.
    Deleted,
    /// The customer's personal data was erased.
    Erased,
    /// This customer was merged into another.
    MergedInto {
        /// The surviving customer.
        into: CustomerId,
    },
}

/// One entry of a customer's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    /// The customer the event belongs to.
    pub customer: CustomerId,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
    /// Why.
    pub cause: Cause,
}

/// One step of an [`Explanation`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "camelCase")]
#[non_exhaustive]
pub enum ExplanationStep {
    /// An identity was bound to a customer.
    Linked {
        /// The identity.
        identity: Identity,
        /// The customer.
        customer: CustomerId,
        /// When.
        at: DateTime<Utc>,
        /// Why.
        cause: Cause,
    },
    /// A customer was merged into another.
    Merged {
        /// The customer merged in.
        from: CustomerId,
        /// The survivor.
        into: CustomerId,
        /// When.
        at: DateTime<Utc>,
        /// Why.
        cause: Cause,
    },
}

/// Why two identities are one customer: the shortest chain of links and merges from the
/// first to the second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The customer both identities belong to.
    pub customer: CustomerId,
    /// The chain, from the first identity to the second.
    pub steps: Vec<ExplanationStep>,
}

/// Builds the identity graph of a customer's history (identities and customers as nodes,
/// links and merges as edges) and finds the shortest chain between two identities.
pub(crate) fn explain(
    customer: CustomerId,
    history: &[HistoryEvent],
    from: &Identity,
    to: &Identity,
) -> Option<Explanation> {
    use petgraph::graphmap::UnGraphMap;
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
    enum Node {
        Customer(u64),
        Identity(usize),
    }
    // Numbered through a map: a customer made of many records has a long history.
    let mut keys: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut node_of = |identity: &Identity| -> Node {
        let next = keys.len();
        Node::Identity(*keys.entry(identity.key().to_string()).or_insert(next))
    };
    let mut graph: UnGraphMap<Node, usize> = UnGraphMap::new();
    for (i, event) in history.iter().enumerate() {
        match &event.kind {
            EventKind::Linked { identity } => {
                graph.add_edge(node_of(identity), Node::Customer(event.customer.0), i);
            }
            // A link that was undone no longer connects anything.
            EventKind::Unlinked { identity } => {
                graph.remove_edge(node_of(identity), Node::Customer(event.customer.0));
            }
            EventKind::Merged { from } => {
                graph.add_edge(Node::Customer(from.0), Node::Customer(event.customer.0), i);
            }
            _ => {}
        }
    }
    let (start, goal) = (node_of(from), node_of(to));
    let (_, path) = petgraph::algo::astar(&graph, start, |n| n == goal, |_| 1, |_| 0)?;
    let steps = path
        .windows(2)
        .filter_map(|pair| {
            let event = &history[*graph.edge_weight(pair[0], pair[1])?];
            Some(match &event.kind {
                EventKind::Linked { identity } => ExplanationStep::Linked {
                    identity: identity.clone(),
                    customer: event.customer,
                    at: event.at,
                    cause: event.cause.clone(),
                },
                EventKind::Merged { from } => ExplanationStep::Merged {
                    from: *from,
                    into: event.customer,
                    at: event.at,
                    cause: event.cause.clone(),
                },
                _ => return None,
            })
        })
        .collect();
    Some(Explanation { customer, steps })
}
