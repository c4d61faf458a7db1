//! Routes (protocol §4–5), authentication, the JSON envelope, and the middleware stack.
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

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method as HttpMethod, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt as _;
use lunasec_core::jwt::now_secs;
use lunasec_core::protocol::{
    ACCESS_TOKEN_COOKIE, DetokenizeResponse, Envelope, GrantRequest, GrantVerifyResponse, MetadataResponse,
    SESSION_HASH_HEADER, STATE_COOKIE, SetMetadataRequest, TokenIdRequest, TokenizeRequest, TokenizeResponse,
};
use lunasec_core::{Subject, Token};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowCredentials, AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::ciphertext::blob::BlobStore;
use crate::ciphertext::{CiphertextStore, Method};
use crate::config::{AuthProvider, fmt_go_duration};
use crate::crypto::{self, DataKey, Hash32, Secrets, StateRefusal};
use crate::error::{ApiError, ApiResult, json_response};
use crate::keys::KeyManager;
use crate::store::{GrantKey, GrantKind, RecordStore, StateConsume, StoreError, TokenRecord, after_ms, now_ms};

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
}

pub(crate) type Shared = Arc<AppState>;

/// Who is calling.
#[derive(Clone)]
enum Caller {
    Application,
    User { session: Hash32, hash_header: HeaderValue },
}

/// The router with every route and layer.
///
/// Credentialed CORS for the front-end origins is on `/session/ensure` and `/session/verify` only:
/// a browser client outside the frame (the library in the application's page, cookie mode) needs
/// those. The data routes (`/tokenize`, `/detokenize`, `/metadata/*`, `/grant/*`, `/blob/*`) get no
/// CORS at all: the secure frame is same-origin with them, and script in the application's page
/// (the XSS the frame exists to contain) must not be able to read their answers.
pub fn router(state: Shared, cors_origins: Vec<HeaderValue>) -> Router<()> {
    let mut r = Router::new()
        .route("/session/ensure", get(session_ensure))
        .route("/session/verify", get(session_verify))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/frame", get(crate::frame::frame))
        .route("/frame/frame.js", get(crate::frame::frame_script))
        .route("/session/create", get(session_create))
        .route("/tokenize", post(tokenize))
        .route("/detokenize", post(detokenize))
        .route("/metadata/get", post(metadata_get))
        .route("/metadata/set", post(metadata_set))
        .route("/grant/set", post(grant_set))
        .route("/grant/verify", post(grant_verify));
    if state.blobs.is_some() {
        r = r.route("/blob/{key}", get(blob_get).put(blob_put));
    }
    let r = r
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "notFound", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "methodNotAllowed", "method not allowed on this route")
        })
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
// Envelope and request helpers

fn ok_json<T: Serialize>(data: &T) -> Response {
    match serde_json::to_vec(&Envelope::ok(data)) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(_) => ApiError::internal().into_response(),
    }
}

/// `{"success":true}` (no `data`), as `/health` and the session routes answer.
fn bare_success() -> Response {
    json_response(StatusCode::OK, br#"{"success":true}"#.to_vec())
}

fn with_session_header(mut resp: Response, caller: &Caller) -> Response {
    if let Caller::User { hash_header, .. } = caller {
        resp.headers_mut().insert(SESSION_HASH_HEADER, hash_header.clone());
    }
    resp
}

/// Every value of cookie `name` (a browser may send two, e.g. a partitioned and an older one).
fn cookies<'h>(headers: &'h HeaderMap, name: &'h str) -> impl Iterator<Item = &'h str> + 'h {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn cookie<'h>(headers: &'h HeaderMap, name: &'h str) -> Option<&'h str> {
    cookies(headers, name).next()
}

/// The JWT: `authorization` (raw, or with `Bearer `), else the `access_token` cookie.
fn jwt_from(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let v = match v.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim(),
            _ => v,
        };
        if !v.is_empty() {
            return Some(v);
        }
    }
    cookie(headers, ACCESS_TOKEN_COOKIE).filter(|v| !v.is_empty())
}

async fn authenticate(st: &AppState, headers: &HeaderMap) -> ApiResult<Caller> {
    let jwt = jwt_from(headers).ok_or_else(|| {
        ApiError::unauthorized("jwtMissing", "no JWT: send it in the authorization header or the access_token cookie")
    })?;
    let claims = st.keys.verify(jwt).await.map_err(|e| ApiError::from_verify(&e))?;
    match claims.subject {
        Subject::Application => Ok(Caller::Application),
        Subject::User { session_id } => {
            let session = st.secrets.session_hash(&session_id);
            let hex = crypto::hex(&session);
            if let Some(sent) = headers.get(SESSION_HASH_HEADER)
                && !crypto::ct_eq(sent.as_bytes(), hex.as_bytes())
            {
                return Err(ApiError::unauthorized(
                    "sessionHashMismatch",
                    "the lunasec-session-hash header does not match this session",
                ));
            }
            let hash_header = HeaderValue::from_str(&hex).map_err(|_| ApiError::internal())?;
            Ok(Caller::User { session, hash_header })
        }
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payloadTooLarge",
        format!("request bodies are limited to {MAX_JSON_BODY} bytes"),
    )
}

/// Reads and parses a JSON body: 415 without a JSON content type, 413 over [`MAX_JSON_BODY`],
/// 400 when malformed (the message never quotes the body).
async fn read_json<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> ApiResult<T> {
    let is_json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        let mime = ct.split(';').next().unwrap_or("").trim();
        mime.eq_ignore_ascii_case("application/json")
    });
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupportedMediaType",
            "send the request body as JSON with content-type: application/json",
        ));
    }
    if content_length(headers).is_some_and(|n| n > MAX_JSON_BODY as u64) {
        return Err(too_large());
    }
    let mut buf = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::bad_request("malformedRequest", "the request body could not be read"))?;
        if buf.len() + chunk.len() > MAX_JSON_BODY {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&buf).map_err(|e| {
        let what = if e.is_data() { "does not have the expected fields and types" } else { "is not valid JSON" };
        ApiError::bad_request(
            "malformedRequest",
            format!("the request body {what} (line {}, column {})", e.line(), e.column()),
        )
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Allowed {
    Any,
    ApplicationOnly,
}

/// The shape of every JSON route: size pre-check, authentication, subject check, body, handler,
/// envelope, and the session-hash header on everything a user caller gets back.
async fn json_route<Req, Res, F, Fut>(st: Shared, headers: HeaderMap, body: Body, allowed: Allowed, f: F) -> Response
where
    Req: DeserializeOwned,
    Res: Serialize,
    F: FnOnce(Shared, Caller, Req) -> Fut,
    Fut: Future<Output = ApiResult<Res>>,
{
    if content_length(&headers).is_some_and(|n| n > MAX_JSON_BODY as u64) {
        return too_large().into_response();
    }
    let caller = match authenticate(&st, &headers).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let result = async {
        if allowed == Allowed::ApplicationOnly && matches!(caller, Caller::User { .. }) {
            return Err(ApiError::unauthorized("wrongSubject", "this route needs an application JWT"));
        }
        let req: Req = read_json(&headers, body).await?;
        f(st, caller.clone(), req).await
    }
    .await;
    let resp = match result {
        Ok(data) => ok_json(&data),
        Err(e) => e.into_response(),
    };
    with_session_header(resp, &caller)
}

fn parse_token(s: &str, field: &str) -> ApiResult<Token> {
    Token::parse(s).map_err(|_| ApiError::bad_token(field))
}

/// Short, non-reversible id of a record key for logs.
fn log_id(h: &Hash32) -> String {
    crypto::hex(&h[..6])
}

// ---------------------------------------------------------------------------------------------
// Grants

/// For each token: whether `session` holds a valid grant of `kind` (`now <= expiry`).
/// `token_full_access` satisfies both other kinds; a `token_full_access` check is satisfied by a
/// full-access grant or by both a store and a read grant.
async fn check_grants(st: &AppState, session: &Hash32, tokens: &[Hash32], kind: GrantKind) -> ApiResult<Vec<bool>> {
    const KINDS: [GrantKind; 3] = [GrantKind::StoreToken, GrantKind::ReadToken, GrantKind::TokenFullAccess];
    let keys: Vec<GrantKey> =
        tokens.iter().flat_map(|t| KINDS.map(|k| GrantKey { session: *session, token: *t, kind: k })).collect();
    let expiries = st.store.grant_expiries(keys).await?;
    let now = now_ms();
    Ok(expiries
        .chunks_exact(3)
        .map(|e| {
            let valid = |i: usize| e[i].is_some_and(|exp| now <= exp);
            let (store, read, full) = (valid(0), valid(1), valid(2));
            match kind {
                GrantKind::StoreToken => store || full,
                GrantKind::ReadToken => read || full,
                GrantKind::TokenFullAccess => full || (store && read),
            }
        })
        .collect())
}

async fn require_read_grant(st: &AppState, caller: &Caller, token: &Hash32) -> ApiResult<()> {
    match caller {
        Caller::Application => Ok(()),
        Caller::User { session, .. } => {
            if check_grants(st, session, std::slice::from_ref(token), GrantKind::ReadToken).await?[0] {
                Ok(())
            } else {
                Err(ApiError::no_grant())
            }
        }
    }
}

/// The tokens of a grant request: exactly one of `tokenId` / `tokenIds` (1 to [`MAX_BATCH`]), all tokens.
fn grant_tokens(req: &GrantRequest) -> ApiResult<(Vec<Token>, bool)> {
    match (&req.token_id, &req.token_ids) {
        (Some(_), Some(_)) => {
            Err(ApiError::bad_request("malformedRequest", "send either tokenId or tokenIds, not both"))
        }
        (None, None) => Err(ApiError::bad_request("malformedRequest", "tokenId (or tokenIds) is required")),
        (Some(t), None) => Ok((vec![parse_token(t, "tokenId")?], false)),
        (None, Some(ts)) => {
            if ts.is_empty() || ts.len() > MAX_BATCH {
                return Err(ApiError::bad_request(
                    "malformedRequest",
                    format!("tokenIds must list 1 to {MAX_BATCH} tokens"),
                ));
            }
            let tokens = ts
                .iter()
                .enumerate()
                .map(|(i, t)| parse_token(t, &format!("tokenIds[{i}]")))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((tokens, true))
        }
    }
}

fn grant_session(st: &AppState, req: &GrantRequest) -> ApiResult<Hash32> {
    if req.session_id.is_empty() || req.session_id.len() > lunasec_core::jwt::MAX_SESSION_ID_LEN {
        return Err(ApiError::bad_request(
            "malformedRequest",
            format!("sessionId must be 1 to {} bytes", lunasec_core::jwt::MAX_SESSION_ID_LEN),
        ));
    }
    Ok(st.secrets.session_hash(&req.session_id))
}

// ---------------------------------------------------------------------------------------------
// Token routes

async fn tokenize(State(st): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    json_route(st, headers, body, Allowed::Any, tokenize_impl).await
}

async fn tokenize_impl(st: Shared, caller: Caller, req: TokenizeRequest) -> ApiResult<TokenizeResponse> {
    let meta_len = serde_json::to_vec(&req.metadata).map_err(|_| ApiError::internal())?.len();
    if meta_len > MAX_METADATA_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "metadataTooLarge",
            format!("metadata is limited to {MAX_METADATA_BYTES} bytes of JSON"),
        ));
    }
    let token = Token::generate();
    let record_key = st.secrets.record_key(&token);
    let object_key = st.secrets.object_key(&token);
    let data_key = DataKey::generate();
    let wrapped_key = st.secrets.wrap_data_key(&token, &data_key);
    // Presign first: if that fails nothing has been written.
    let presigned = st.ciphertext.presign(Method::Put, &object_key, &data_key).await?;
    let now = now_ms();
    let grants = match &caller {
        Caller::Application => Vec::new(),
        Caller::User { session, .. } => vec![
            GrantKey { session: *session, token: record_key, kind: GrantKind::StoreToken },
            GrantKey { session: *session, token: record_key, kind: GrantKind::ReadToken },
        ],
    };
    let record = TokenRecord { wrapped_key, metadata: req.metadata, created_ms: now };
    st.store.put_token(record_key, record, grants, after_ms(now, st.grant_default)).await?;
    tracing::info!(token = %log_id(&record_key), caller = caller_kind(&caller), "tokenized");
    Ok(TokenizeResponse { token_id: token.as_str().to_owned(), upload_url: presigned.url, headers: presigned.headers })
}

fn caller_kind(c: &Caller) -> &'static str {
    match c {
        Caller::Application => "application",
        Caller::User { .. } => "user",
    }
}

async fn detokenize(State(st): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    json_route(st, headers, body, Allowed::Any, detokenize_impl).await
}

async fn detokenize_impl(st: Shared, caller: Caller, req: TokenIdRequest) -> ApiResult<DetokenizeResponse> {
    let token = parse_token(&req.token_id, "tokenId")?;
    let record_key = st.secrets.record_key(&token);
    require_read_grant(&st, &caller, &record_key).await?;
    let record = st.store.get_token(record_key).await?.ok_or_else(ApiError::token_not_found)?;
    let data_key = st.secrets.unwrap_data_key(&token, &record.wrapped_key).map_err(|e| {
        tracing::error!(token = %log_id(&record_key), error = %e, "detokenize");
        ApiError::internal()
    })?;
    let presigned = st.ciphertext.presign(Method::Get, &st.secrets.object_key(&token), &data_key).await?;
    tracing::info!(token = %log_id(&record_key), caller = caller_kind(&caller), "detokenized");
    Ok(DetokenizeResponse { download_url: presigned.url, headers: presigned.headers })
}

async fn metadata_get(State(st): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    json_route(st, headers, body, Allowed::Any, metadata_get_impl).await
}

async fn metadata_get_impl(st: Shared, caller: Caller, req: TokenIdRequest) -> ApiResult<MetadataResponse> {
    let token = parse_token(&req.token_id, "tokenId")?;
    let record_key = st.secrets.record_key(&token);
    require_read_grant(&st, &caller, &record_key).await?;
    let record = st.store.get_token(record_key).await?.ok_or_else(ApiError::token_not_found)?;
    Ok(MetadataResponse { metadata: record.metadata })
}

async fn metadata_set(State(st): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    json_route(st, headers, body, Allowed::ApplicationOnly, metadata_set_impl).await
}

async fn metadata_set_impl(st: Shared, _caller: Caller, req: SetMetadataRequest) -> ApiResult<serde_json::Value> {
    let token = parse_token(&req.token_id, "tokenId")?;
    if serde_json::to_vec(&req.metadata).map_err(|_| ApiError::internal())?.len() > MAX_METADATA_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "metadataTooLarge",
            format!("metadata is limited to {MAX_METADATA_BYTES} bytes of JSON"),
        ));
    }
    let record_key = st.secrets.record_key(&token);
    if st.store.set_metadata(record_key, req.metadata).await? {
        Ok(serde_json::json!({}))
    } else {
        Err(ApiError::token_not_found())
    }
}

async fn grant_set(State(st): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    json_route(st, headers, body, Allowed::ApplicationOnly, grant_set_impl).await
}

async fn grant_set_impl(st: Shared, _caller: Caller, req: GrantRequest) -> ApiResult<serde_json::Value> {
    let session = grant_session(&st, &req)?;
    let (tokens, _) = grant_tokens(&req)?;
    let duration = match req.custom_duration.as_deref().map(str::trim) {
        None | Some("") => st.grant_default,
        Some(d) => {
            let d = lunasec_core::parse_go_duration(d)
                .map_err(|e| ApiError::bad_request("invalidDuration", e.message().to_owned()))?;
            if d.is_zero() {
                return Err(ApiError::bad_request("invalidDuration", "a grant duration must be longer than zero"));
            }
            if d > st.grant_maximum {
                return Err(ApiError::bad_request(
                    "invalidDuration",
                    format!(
                        "grant duration {} is longer than the maximum of {}",
                        fmt_go_duration(d),
                        fmt_go_duration(st.grant_maximum)
                    ),
                ));
            }
            d
        }
    };
    let kind = req.grant_type.map_or(GrantKind::ReadToken, GrantKind::from);
    let keys: Vec<GrantKey> =
        tokens.iter().map(|t| GrantKey { session, token: st.secrets.record_key(t), kind }).collect();
    let n = keys.len();
    st.store.set_grants(keys, after_ms(now_ms(), duration)).await?;
    tracing::info!(count = n, kind = kind.as_str(), seconds = duration.as_secs(), "grants set");
    Ok(serde_json::json!({}))
}

async fn grant_verify(State(st): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    json_route(st, headers, body, Allowed::ApplicationOnly, grant_verify_impl).await
}

async fn grant_verify_impl(st: Shared, _caller: Caller, req: GrantRequest) -> ApiResult<GrantVerifyResponse> {
    let session = grant_session(&st, &req)?;
    let (tokens, batch) = grant_tokens(&req)?;
    let kind = req.grant_type.map_or(GrantKind::StoreToken, GrantKind::from);
    let keys: Vec<Hash32> = tokens.iter().map(|t| st.secrets.record_key(t)).collect();
    let results = check_grants(&st, &session, &keys, kind).await?;
    let valid = results.iter().all(|v| *v);
    Ok(GrantVerifyResponse { valid, results: batch.then_some(results) })
}

// ---------------------------------------------------------------------------------------------
// Session routes

async fn health() -> Response {
    bare_success()
}

/// Readiness (for load balancers): 200 once the session keys are loaded and both stores answered
/// their last check; else 503 `notReady` naming what is missing (`/health` is liveness only).
async fn ready(State(st): State<Shared>) -> Response {
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
        bare_success()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "notReady", format!("not ready: {}", missing.join("; ")))
            .into_response()
    }
}

pub(crate) fn query_params(q: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// A cookie with the attributes a cross-site secure frame needs (CHIPS).
fn set_cookie(name: &str, value: &str, max_age: u64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; Path=/; Max-Age={max_age}; SameSite=None; Secure; Partitioned"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn session_ensure(State(st): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let params = query_params(q.as_deref());
    let provider = match param(&params, "auth_provider") {
        Some(name) => st.auth_providers.iter().find(|p| p.name == name),
        None => st.default_provider.and_then(|i| st.auth_providers.get(i)),
    };
    let Some(provider) = provider else {
        return if st.auth_providers.is_empty() {
            ApiError::bad_request("noAuthProvider", "no auth provider is configured (AUTH_PROVIDERS)")
        } else if param(&params, "auth_provider").is_some() {
            ApiError::bad_request("unknownAuthProvider", "auth_provider names no configured auth provider")
        } else {
            ApiError::bad_request("noAuthProvider", "no default auth provider: pass auth_provider")
        }
        .into_response();
    };
    // A session that could not be created at the end of the round trip is not started.
    if st.store.known_down() {
        return ApiError::from(StoreError::Unavailable("the record store did not answer its last check".into()))
            .into_response();
    }
    // Authenticated by its MAC, not stored: an anonymous flood of this route writes nothing.
    let state = st.secrets.issue_state(after_ms(now_ms(), STATE_TTL));
    let location = format!("{}/.lunasec/secure-frame?state={state}", provider.url);
    let Ok(location) = HeaderValue::from_str(&location) else { return ApiError::internal().into_response() };
    let mut resp = StatusCode::FOUND.into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, location);
    h.insert(header::SET_COOKIE, set_cookie(STATE_COOKIE, &state, STATE_TTL.as_secs()));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn session_create(State(st): State<Shared>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    match session_create_inner(&st, q.as_deref(), &headers).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// The query `state` must equal a `state` cookie. Every cookie is compared (constant time, no early
/// exit), since a browser may hold a stale one beside the current one.
fn check_state_cookie(headers: &HeaderMap, state: &str) -> ApiResult<()> {
    let (mut any, mut matched) = (false, false);
    for c in cookies(headers, STATE_COOKIE).filter(|c| !c.is_empty()) {
        any = true;
        matched |= crypto::ct_eq(c.as_bytes(), state.as_bytes());
    }
    match (any, matched) {
        (_, true) => Ok(()),
        (false, false) => Err(ApiError::bad_request("stateMismatch", "no state cookie: start at /session/ensure")),
        (true, false) => Err(ApiError::bad_request("stateMismatch", "state does not match the state cookie")),
    }
}

async fn session_create_inner(st: &AppState, q: Option<&str>, headers: &HeaderMap) -> ApiResult<Response> {
    let params = query_params(q);
    let state = param(&params, "state").ok_or_else(|| ApiError::bad_request("stateMissing", "state is not set"))?;
    let jwt = param(&params, "openid_token")
        .ok_or_else(|| ApiError::bad_request("openidTokenMissing", "openid_token is not set"))?;
    check_state_cookie(headers, state)?;
    // Verify before consuming: a bad JWT does not burn the state. Any JWT failure is a 400 here.
    let claims = st.keys.verify(jwt).await.map_err(|e| {
        let mut err = ApiError::from_verify(&e);
        if err.status == StatusCode::UNAUTHORIZED {
            err.status = StatusCode::BAD_REQUEST;
        }
        err
    })?;
    let Subject::User { session_id } = &claims.subject else {
        return Err(ApiError::bad_request("wrongSubject", "openid_token must be a user JWT"));
    };
    let remaining = claims.exp.saturating_sub(now_secs());
    if remaining == 0 {
        return Err(ApiError::bad_request("jwtExpired", "JWT has expired"));
    }
    // The state's MAC and expiry, then its single use, recorded as a conditional insert.
    let state_expires_ms = st.secrets.check_state(state, now_ms()).map_err(|r| match r {
        StateRefusal::Unknown => ApiError::bad_request("stateInvalid", "state is unknown"),
        StateRefusal::Expired => ApiError::bad_request("stateInvalid", "state has expired"),
    })?;
    match st.store.consume_state(st.secrets.state_key(state), state_expires_ms).await? {
        StateConsume::Consumed => {}
        StateConsume::AlreadyUsed => {
            return Err(ApiError::bad_request("stateInvalid", "state has already been used"));
        }
    }
    let session = st.secrets.session_hash(session_id);
    let mut resp = bare_success();
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(ACCESS_TOKEN_COOKIE, jwt, remaining));
    h.append(header::SET_COOKIE, set_cookie(STATE_COOKIE, "", 0));
    if let Ok(v) = HeaderValue::from_str(&crypto::hex(&session)) {
        h.insert(SESSION_HASH_HEADER, v);
    }
    tracing::info!(session = %log_id(&session), "session created");
    Ok(resp)
}

async fn session_verify(State(st): State<Shared>, headers: HeaderMap) -> Response {
    match authenticate(&st, &headers).await {
        Ok(caller @ Caller::User { .. }) => with_session_header(bare_success(), &caller),
        Ok(Caller::Application) => {
            let body: Envelope<()> = Envelope::err("wrongSubject", "not a user session");
            json_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default())
        }
        Err(e) => {
            let body: Envelope<()> = Envelope::err(e.name, e.message.into_owned());
            json_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Embedded blobs

async fn blob_put(
    State(st): State<Shared>,
    Path(key): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match &st.blobs {
        Some(b) => b.put(&key, q.as_deref(), &headers, body).await,
        None => ApiError::new(StatusCode::NOT_FOUND, "notFound", "no such route").into_response(),
    }
}

async fn blob_get(
    State(st): State<Shared>,
    Path(key): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    match &st.blobs {
        Some(b) => b.get(&key, q.as_deref(), &headers).await,
        None => ApiError::new(StatusCode::NOT_FOUND, "notFound", "no such route").into_response(),
    }
}
