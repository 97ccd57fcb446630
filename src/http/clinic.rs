//! 000 (clinic/shop)'s calls, under `/customer/v1/`.

use super::call::{Call, found, json_body};
use super::failure::Failure;
use super::state::App;
use crate::clock::Clock;
use crate::dialect::{Dialect, clinic};
use crate::model::UpdatePatch;
use crate::query::CustomerQuery;
use crate::store::Store;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

const D: Dialect = Dialect::Clinic;

type Answer = Result<Response, Failure>;

pub(crate) fn routes<S: Store + 'static, C: Clock + 'static>() -> Router<App<S, C>> {
    Router::new()
        .route("/customer/v1/customer", post(create::<S, C>).get(list::<S, C>))
        .route("/customer/v1/customer/linked-account", get(linked::<S, C>))
        .route(
            "/customer/v1/customer/{id}",
            get(read::<S, C>).patch(update::<S, C>).delete(delete::<S, C>),
        )
}

fn json(v: serde_json::Value) -> Response {
    axum::Json(v).into_response()
}

async fn create<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
    body: Bytes,
) -> Answer {
    let request = D.read_resolve(&json_body(D, &body)?).map_err(Failure::of(D))?;
    let (_, customer) = app
        .resolver
        .resolve_and_get(call.tenant(D)?, request)
        .await
        .map_err(Failure::of(D))?;
    Ok((StatusCode::CREATED, json(clinic::customer(&customer))).into_response())
}

/// **Decision:** 000 documents no parameters for its list; it takes 002's query parameters.
async fn list<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    let params = call.query(D)?;
    let query = CustomerQuery::from_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(Failure::of(D))?;
    let page = app
        .resolver
        .query(call.tenant(D)?, query)
        .await
        .map_err(Failure::of(D))?;
    Ok(json(clinic::list(&page.rows)))
}

/// `customerId` required; `shopId` and `expand` accepted (the tenant names the shop, and
/// sign-in status is outside the crate).
async fn linked<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    let id = call.required_id(D, "customerId")?;
    let tenant = call.tenant(D)?;
    let customer = app
        .resolver
        .get(tenant.clone(), id)
        .await
        .map_err(Failure::of(D))?;
    let customer = found(D, &id.to_string(), customer)?;
    let identities = app
        .resolver
        .identities(tenant, customer.id)
        .await
        .map_err(Failure::of(D))?;
    Ok(json(clinic::linked_accounts(customer.id, &identities)))
}

async fn read<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    let id = call.path_id(D)?;
    let customer = app
        .resolver
        .get(call.tenant(D)?, id)
        .await
        .map_err(Failure::of(D))?;
    Ok(json(clinic::customer(&found(D, &id.to_string(), customer)?)))
}

/// `PATCH` answers the customer after the update.
async fn update<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
    body: Bytes,
) -> Answer {
    let id = call.path_id(D)?;
    let patch = UpdatePatch::from_json(&json_body(D, &body)?).map_err(Failure::of(D))?;
    let updated = app
        .resolver
        .update(call.tenant(D)?, id, patch)
        .await
        .map_err(Failure::of(D))?;
    Ok(json(clinic::customer(&updated.customer)))
}

async fn delete<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    let id = call.path_id(D)?;
    app.resolver
        .delete(call.tenant(D)?, id)
        .await
        .map_err(Failure::of(D))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
