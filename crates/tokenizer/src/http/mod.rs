//! Routes (protocol §4–5), authentication, the JSON envelope, and the middleware stack.
//!
//! One small router per resource (`session`, `tokens`, `metadata`, `grants`, `blobs`, `health`,
//! and the secure frame in `frame.rs`), merged in [`router`]. Authentication, JSON bodies, the
//! query and cookies are extractors (`extract`) that all reject with [`ApiError`], so each
//! handler is one short function returning [`ApiResult`].
//!
//! Rules that the spec leaves open, as implemented here:
//! - **Application callers are trusted**: an application JWT (the app backend, which holds the
//!   signing key and could mint grants for any session anyway) detokenizes and reads metadata
//!   without grants, and `/tokenize` by an application creates no grants (there is no session).
//!   User callers need a `read_token` (or `token_full_access`) grant for their session.
//! - `/metadata/set`, `/grant/set`, `/grant/verify`: application JWT only; a user JWT gets 401.
//! - JSON routes require `content-type: application/json` (415 otherwise): this forces a CORS
//!   preflight on cross-site requests, so a cookie-authenticated form post cannot reach them.
//! - For a user caller the grant check comes before the existence check, so a user without a
//!   grant cannot probe which tokens exist (403, never 404).
//! - `lunasec-session-hash` is checked and sent for user callers only (an application has no
//!   session; the header is ignored on its requests).
//!
//! The order of checks on a JSON route: a declared body over [`MAX_JSON_BODY`] (413, before
//! anything else), the JWT (401), the subject on application-only routes (401 `wrongSubject`),
//! then the body (415, 413, 400), then the handler's own checks. Once a user JWT has verified,
//! every response carries the session hash, errors included.

mod blobs;
mod extract;
mod grants;
mod health;
mod metadata;
mod session;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method as HttpMethod, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use lunasec_core::Token;
use lunasec_core::protocol::{Envelope, SESSION_HASH_HEADER};
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowCredentials, AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::ciphertext::CiphertextStore;
use crate::ciphertext::blob::BlobStore;
use crate::config::AuthProvider;
use crate::crypto::{self, Hash32, Secrets};
use crate::error::{ApiError, ApiResult, json_response};
use crate::keys::KeyManager;
use crate::store::RecordStore;

pub(crate) use extract::{param, query_params};

/// Largest JSON request body.
pub const MAX_JSON_BODY: usize = 1 << 20;
/// Largest metadata object (serialized), well under DynamoDB's item limit.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;
/// Most token ids in one batch grant request.
pub const MAX_BATCH: usize = 1000;
/// Lifetime of a session `state` (and of its cookie).
pub const STATE_TTL: Duration = Duration::from_mins(15);

/// Everything the handlers share.
pub struct AppState {
    pub secrets: Arc<Secrets>,
    pub keys: Arc<KeyManager>,
    pub store: Arc<dyn RecordStore>,
    pub ciphertext: Arc<dyn CiphertextStore>,
    pub blobs: Option<Arc<BlobStore>>,
    pub auth_providers: Vec<AuthProvider>,
    pub default_provider: Option<usize>,
    pub grant_default: Duration,
    pub grant_maximum: Duration,
    /// The configured front-end origins, serialized as `location.origin` gives them: the pages
    /// that may embed the secure frame.
    pub front_end_origins: Vec<String>,
    /// Dev mode only: read the frame's script and styles from here (see `frame.rs`).
    pub frame_assets_dir: Option<std::path::PathBuf>,
    /// Per-session limit on token creation (`TOKENIZE_SESSION_RATE`).
    pub tokenize_limiter: Arc<crate::ratelimit::TokenizeLimiter>,
}

pub(crate) type Shared = Arc<AppState>;

/// The router with every route and layer.
///
/// Credentialed CORS for the front-end origins is on `/session/ensure` and `/session/verify` only:
/// a browser client outside the frame (the library in the application's page, cookie mode) needs
/// those. The data routes (`/tokenize`, `/detokenize`, `/metadata/*`, `/grant/*`, `/blob/*`) get no
/// CORS at all: the secure frame is same-origin with them, and script in the application's page
/// (the XSS the frame exists to contain) must not be able to read their answers.
pub fn router(state: Shared, cors_origins: Vec<HeaderValue>) -> Router<()> {
    // The JSON routes refuse a declared body over MAX_JSON_BODY before authenticating anyone.
    let json = Router::new()
        .merge(tokens::routes())
        .merge(metadata::routes())
        .merge(grants::routes())
        .route_layer(middleware::from_fn(extract::refuse_oversized_body));
    let mut r =
        Router::new().merge(session::routes()).merge(health::routes()).merge(crate::frame::routes()).merge(json);
    if let Some(blobs) = &state.blobs {
        r = r.merge(blobs::routes(Arc::clone(blobs)));
    }
    let r = r
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "notFound", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "methodNotAllowed", "method not allowed on this route")
        })
        .layer(middleware::from_fn(extract::session_hash_header))
        .with_state(state);
    apply_layers(r).layer(cors_layer(cors_origins))
}

/// The only routes that answer CORS requests.
pub const CORS_ROUTES: [&str; 2] = ["/session/ensure", "/session/verify"];

/// CORS for the configured front-end origins, with credentials, on [`CORS_ROUTES`] only.
fn cors_layer(cors_origins: Vec<HeaderValue>) -> CorsLayer {
    let allowed = Arc::new(move |origin: &HeaderValue, parts: &axum::http::request::Parts| {
        CORS_ROUTES.contains(&parts.uri.path()) && cors_origins.contains(origin)
    });
    let allowed2 = Arc::clone(&allowed);
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |o: &HeaderValue, p: &axum::http::request::Parts| allowed(o, p)))
        .allow_credentials(AllowCredentials::predicate(move |o: &HeaderValue, p: &axum::http::request::Parts| {
            allowed2(o, p)
        }))
        .allow_methods([HttpMethod::GET, HttpMethod::POST, HttpMethod::PUT, HttpMethod::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static(SESSION_HASH_HEADER),
            HeaderName::from_static(crypto::SSE_C_ALGORITHM),
            HeaderName::from_static(crypto::SSE_C_KEY),
            HeaderName::from_static(crypto::SSE_C_KEY_MD5),
        ])
        .expose_headers([HeaderName::from_static(SESSION_HASH_HEADER)])
        .max_age(Duration::from_mins(10))
}

/// The middleware stack (outermost first): request tracing (method, path and status only: never
/// the query, which carries `state` and JWTs) and panic → 500 JSON. Public so a test can put a
/// panicking route under the same stack.
pub fn apply_layers(r: Router) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &axum::http::Request<Body>| {
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
        })
        .on_request(())
        .on_response(|resp: &Response, latency: Duration, _span: &tracing::Span| {
            let status = resp.status().as_u16();
            let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            if status >= 500 {
                tracing::warn!(status, micros, "response");
            } else {
                tracing::debug!(status, micros, "response");
            }
        })
        .on_failure(());
    r.layer(CatchPanicLayer::custom(|_payload: Box<dyn std::any::Any + Send>| {
        // The payload is not logged: a panic message could quote request data.
        tracing::error!("a request handler panicked; answered 500");
        ApiError::internal().into_response()
    }))
    .layer(trace)
}

// ---------------------------------------------------------------------------------------------
// Answers and small helpers shared by the resources

/// A success with data: `{"success":true,"data":…}`.
pub struct Success<T>(pub T);

impl<T: Serialize> IntoResponse for Success<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&Envelope::ok(&self.0)) {
            Ok(body) => json_response(StatusCode::OK, body),
            Err(_) => ApiError::internal().into_response(),
        }
    }
}

/// `{"success":true}` (no `data`), as `/health` and the session routes answer.
fn bare_success() -> Response {
    json_response(StatusCode::OK, br#"{"success":true}"#.to_vec())
}

fn parse_token(s: &str, field: &str) -> ApiResult<Token> {
    Token::parse(s).map_err(|_| ApiError::bad_token(field))
}

/// Short, non-reversible id of a record key for logs.
fn log_id(h: &Hash32) -> String {
    crypto::hex(&h[..6])
}
