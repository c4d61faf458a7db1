//! Limits against slow clients and floods: the connection cap, the header-read timeout, the
//! request concurrency limit, the request timeout of the JSON routes, the blob upload rate and
//! the shutdown deadline. The accept loop that applies the connection-level ones is in
//! `server.rs`; the request-level ones are one middleware ([`apply`]) around the router.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Seconds a refused client is told to wait (`Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 1;

/// The configured limits (see `--help` and the README's "Operations" section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A connection must deliver a request's complete headers within this time, else it is closed.
    pub header_read_timeout: Duration,
    /// Longest a request to a JSON route may take (blob transfers are bounded by the upload rate).
    pub request_timeout: Duration,
    /// Open connections at most; more are answered `503` and closed at once.
    pub max_connections: usize,
    /// Requests in progress at most (`/health` and `/ready` excepted); more get `503`.
    pub max_concurrent_requests: usize,
    /// A blob upload is cut off when fewer than this many bytes arrived in one `blob_min_rate_window`.
    pub blob_min_rate_bytes: u64,
    pub blob_min_rate_window: Duration,
    /// On shutdown, in-flight requests get this long to finish; then connections are dropped.
    pub shutdown_grace: Duration,
    /// Tokens one user session may create per minute (`0`: no limit); see [`crate::ratelimit`].
    pub tokenize_per_session_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_concurrent_requests: 512,
            blob_min_rate_bytes: 16 << 10,
            blob_min_rate_window: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            tokenize_per_session_per_minute: crate::ratelimit::DEFAULT_PER_MINUTE,
        }
    }
}

fn with_retry_after(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    resp
}

/// `503 overloaded` with `Retry-After`.
#[must_use]
pub fn overloaded() -> Response {
    with_retry_after(
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "too many requests in progress; retry later")
            .into_response(),
    )
}

/// The bytes answered to a connection over the cap (written without parsing anything).
pub const CONNECTION_REFUSED_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\n\
content-length: 0\r\nconnection: close\r\n\r\n";

/// Wraps `router` in the request concurrency limit and the JSON routes' timeout.
///
/// The limit is a semaphore tried without waiting: a saturated tokenizer answers at once rather
/// than queueing (a queue only adds latency to requests whose clients may already have given up).
/// `/health` and `/ready` are exempt so that probes see a busy tokenizer as alive. Blob transfers
/// (`/blob/...`) count towards the limit but have no overall timeout: a large upload on a slow
/// link is fine as long as it keeps the minimum rate (enforced by the blob store).
pub fn apply(router: Router, limits: &Limits) -> Router {
    let permits = Arc::new(Semaphore::new(limits.max_concurrent_requests));
    let timeout = limits.request_timeout;
    router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        let permits = Arc::clone(&permits);
        async move {
            let path = req.uri().path();
            if path == "/health" || path == "/ready" {
                return next.run(req).await;
            }
            let blob = path.starts_with("/blob/");
            let Ok(permit) = permits.try_acquire_owned() else {
                return overloaded();
            };
            let resp = if blob {
                next.run(req).await
            } else if let Ok(resp) = tokio::time::timeout(timeout, next.run(req)).await {
                resp
            } else {
                tracing::warn!(
                    timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                    "request timed out"
                );
                with_retry_after(
                    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", "the request took too long")
                        .into_response(),
                )
            };
            drop(permit);
            resp
        }
    }))
}
