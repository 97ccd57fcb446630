//! 003 (beauty-clinic SDK)'s calls: one route per SDK function, its parameters as query
//! parameters (`addCustomer`'s as a JSON body).

use super::call::{Call, found};
use super::failure::Failure;
use super::ops;
use super::state::App;
use crate::clock::Clock;
use crate::dialect::{Dialect, beauty};
use crate::engine::PlainCreate;
use crate::model::{IdentityInput, IdentityType};
use crate::store::Store;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

const D: Dialect = Dialect::Beauty;

type Answer = Result<Response, Failure>;

pub(crate) fn routes<S: Store + 'static, C: Clock + 'static>() -> Router<App<S, C>> {
    Router::new()
        .route("/getcustomerinfo", get(follower::<S, C>))
        .route("/getCusInfoByCusId", get(by_id::<S, C>))
        .route("/getCusInfoByCusTelnum", get(by_telnum::<S, C>))
        .route("/addCustomer", post(add::<S, C>))
}

fn json(v: serde_json::Value) -> Response {
    axum::Json(v).into_response()
}

/// `getcustomerinfo($openId, $wxappId)`: the openid is a `wechat` identity of that app.
async fn follower<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
) -> Answer {
    let mut openid = IdentityInput::new(IdentityType::WECHAT, call.required(D, "openId")?);
    openid.scope = call
        .param(D, "wxappId")?
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let customer = app
        .resolver
        .find_by_identity(call.tenant(D)?, openid)
        .await
        .map_err(Failure::of(D))?;
    Ok(json(beauty::follower(&found(D, "with this openId", customer)?)))
}

async fn by_id<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    let customer = ops::customer(&app, &call, D, call.required_id(D, "cusId")?).await?;
    Ok(json(beauty::customer(&customer)))
}

async fn by_telnum<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
) -> Answer {
    let mobile = IdentityInput::new(IdentityType::MOBILE, call.required(D, "telnum")?);
    let customer = app
        .resolver
        .find_by_identity(call.tenant(D)?, mobile)
        .await
        .map_err(Failure::of(D))?;
    Ok(json(beauty::customer(&found(D, "with this telnum", customer)?)))
}

/// `addCustomer`: a plain create by the mobile (`telnum`) alone.
async fn add<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
    body: Bytes,
) -> Answer {
    ops::create(&app, &call, D, &body, PlainCreate::MobileOnly).await?;
    Ok(json(beauty::added()))
}
