//! The steps several sources' calls share, each failing in the calling source's shape.

use super::call::{Call, found, json_body};
use super::failure::Failure;
use super::state::App;
use crate::clock::Clock;
use crate::dialect::Dialect;
use crate::engine::{PlainCreate, Updated};
use crate::model::{Customer, CustomerId, Identity, UpdatePatch};
use crate::query::{CustomerPage, CustomerQuery};
use crate::store::Store;

/// The live customer `id` reads as, or a 404.
pub(crate) async fn customer<S: Store + 'static, C: Clock + 'static>(
    app: &App<S, C>,
    call: &Call,
    d: Dialect,
    id: CustomerId,
) -> Result<Customer, Failure> {
    let customer = app
        .resolver
        .get(call.tenant(d)?, id)
        .await
        .map_err(Failure::of(d))?;
    found(d, &id.to_string(), customer)
}

/// The live customer `id` reads as, with its identities.
pub(crate) async fn customer_with_identities<S: Store + 'static, C: Clock + 'static>(
    app: &App<S, C>,
    call: &Call,
    d: Dialect,
    id: CustomerId,
) -> Result<(Customer, Vec<Identity>), Failure> {
    let customer = customer(app, call, d, id).await?;
    let identities = app
        .resolver
        .identities(call.tenant(d)?, customer.id)
        .await
        .map_err(Failure::of(d))?;
    Ok((customer, identities))
}

/// A plain create of the body read in the dialect; the customer it created or found.
pub(crate) async fn create<S: Store + 'static, C: Clock + 'static>(
    app: &App<S, C>,
    call: &Call,
    d: Dialect,
    body: &[u8],
    variant: PlainCreate,
) -> Result<CustomerId, Failure> {
    let patch = d.read_patch(&json_body(d, body)?).map_err(Failure::of(d))?;
    let outcome = app
        .resolver
        .create(call.tenant(d)?, patch, variant)
        .await
        .map_err(Failure::of(d))?;
    found(d, "created", outcome.customer)
}

/// A resolve of the body read in the dialect, and the customer it left.
pub(crate) async fn resolve<S: Store + 'static, C: Clock + 'static>(
    app: &App<S, C>,
    call: &Call,
    d: Dialect,
    body: &[u8],
) -> Result<Customer, Failure> {
    let request = d.read_resolve(&json_body(d, body)?).map_err(Failure::of(d))?;
    let (_, customer) = app
        .resolver
        .resolve_and_get(call.tenant(d)?, request)
        .await
        .map_err(Failure::of(d))?;
    Ok(customer)
}

/// The update of the path's customer by the body (where `null` clears).
pub(crate) async fn update<S: Store + 'static, C: Clock + 'static>(
    app: &App<S, C>,
    call: &Call,
    d: Dialect,
    body: &[u8],
) -> Result<Updated, Failure> {
    let id = call.path_id(d)?;
    let patch = UpdatePatch::from_json(&json_body(d, body)?).map_err(Failure::of(d))?;
    app.resolver
        .update(call.tenant(d)?, id, patch)
        .await
        .map_err(Failure::of(d))
}

/// The logical delete of `id`.
pub(crate) async fn delete<S: Store + 'static, C: Clock + 'static>(
    app: &App<S, C>,
    call: &Call,
    d: Dialect,
    id: CustomerId,
) -> Result<(), Failure> {
    app.resolver
        .delete(call.tenant(d)?, id)
        .await
        .map_err(Failure::of(d))
}

/// The query the call's parameters name, and its page.
pub(crate) async fn query<S: Store + 'static, C: Clock + 'static>(
    app: &App<S, C>,
    call: &Call,
    d: Dialect,
) -> Result<(CustomerQuery, CustomerPage), Failure> {
    let query = customer_query(call, d)?;
    let page = app
        .resolver
        .query(call.tenant(d)?, query.clone())
        .await
        .map_err(Failure::of(d))?;
    Ok((query, page))
}

/// The call's parameters read as a [`CustomerQuery`].
pub(crate) fn customer_query(call: &Call, d: Dialect) -> Result<CustomerQuery, Failure> {
    let params = call.query(d)?;
    CustomerQuery::from_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(Failure::of(d))
}
