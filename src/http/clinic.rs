//! 000 (clinic/shop)'s calls, under `/customer/v1/`.

use super::call::Call;
use super::failure::Failure;
use super::ops;
use super::state::App;
use crate::clock::Clock;
use crate::dialect::{Dialect, clinic};
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
    let customer = ops::resolve(&app, &call, D, &body).await?;
    Ok((StatusCode::CREATED, json(clinic::customer(&customer))).into_response())
}

/// **Decision:** 000 documents no parameters for its list; it takes 002's query parameters.
async fn list<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    let (_, page) = ops::query(&app, &call, D).await?;
    Ok(json(clinic::list(&page.rows)))
}

/// `customerId` required; `shopId` and `expand` accepted (the tenant names the shop, and
/// sign-in status is outside the crate).
async fn linked<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    let id = call.required_id(D, "customerId")?;
    let (customer, identities) = ops::customer_with_identities(&app, &call, D, id).await?;
    Ok(json(clinic::linked_accounts(customer.id, &identities)))
}

async fn read<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    let customer = ops::customer(&app, &call, D, call.path_id(D)?).await?;
    Ok(json(clinic::customer(&customer)))
}

/// `PATCH` answers the customer after the update.
async fn update<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
    body: Bytes,
) -> Answer {
    let updated = ops::update(&app, &call, D, &body).await?;
    Ok(json(clinic::customer(&updated.customer)))
}

async fn delete<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    ops::delete(&app, &call, D, call.path_id(D)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
