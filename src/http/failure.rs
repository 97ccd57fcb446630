//! A failed call, answered in its source's error shape.

use crate::dialect::{Dialect, baiyao, beauty, clinic, dmhub};
use crate::error::{Error, ErrorKind};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A call that failed: the source whose shape answers it, the status and the message.
#[derive(Debug)]
pub(crate) struct Failure {
    dialect: Dialect,
    status: u16,
    message: String,
}

impl Failure {
    /// A failure of this kind (its status from [`ErrorKind::http_status`]).
    pub(crate) fn new(dialect: Dialect, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            dialect,
            status: kind.http_status(),
            message: message.into(),
        }
    }

    /// The crate's error, answered in the dialect's shape.
    pub(crate) fn of(dialect: Dialect) -> impl Fn(Error) -> Failure {
        move |e| Failure::new(dialect, e.kind(), e.to_string())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = match self.dialect {
            Dialect::DmHub => dmhub::error(self.status, &self.message),
            Dialect::Baiyao => baiyao::error(&self.message),
            Dialect::Clinic => clinic::error(self.status, &self.message),
            Dialect::Beauty => beauty::error(self.status, &self.message),
        };
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(body)).into_response()
    }
}
