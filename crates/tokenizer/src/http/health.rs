//! `GET /health` (liveness) and `GET /ready` (readiness).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::{Shared, bare_success};
use crate::error::{ApiError, ApiResult};

pub(super) fn routes() -> Router<Shared> {
    Router::new().route("/health", get(health)).route("/ready", get(ready))
}

async fn health() -> Response {
    bare_success()
}

/// Readiness (for load balancers): 200 once the session keys are loaded and both stores answered
/// their last check; else 503 `notReady` naming what is missing (`/health` is liveness only).
async fn ready(State(st): State<Shared>) -> ApiResult<Response> {
    let mut missing = Vec::new();
    if !st.keys.ready() {
        missing.push("the session keys are not loaded (the application's JWKS has not been fetched)".to_owned());
    }
    if !st.store.ready() {
        missing.push("the record store (DynamoDB table) did not answer its last check".to_owned());
    }
    if !st.ciphertext.ready() {
        missing.push(format!("the ciphertext store ({}) did not answer its last check", st.ciphertext.kind()));
    }
    if missing.is_empty() {
        Ok(bare_success())
    } else {
        Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "notReady", format!("not ready: {}", missing.join("; "))))
    }
}
