//! Extractors, all rejecting with [`ApiError`]: who is calling ([`Caller`], [`Application`]), the
//! JSON body ([`JsonBody`]), the query ([`Params`]) and the cookies ([`Cookies`]); and the two
//! middlewares around them ([`refuse_oversized_body`], [`session_hash_header`]).
//!
//! The session hash: [`Caller`] verifies the JWT and, for a user, leaves the hash in a slot that
//! [`session_hash_header`] put in the request's extensions; the middleware copies it onto the
//! response. So a response gets the header whether the handler ran or a later extractor (the
//! subject check, the body) refused the request.

use std::sync::{Arc, OnceLock};

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use futures_util::StreamExt as _;
use lunasec_core::Subject;
use lunasec_core::protocol::{ACCESS_TOKEN_COOKIE, LEGACY_ACCESS_TOKEN_COOKIE, SESSION_HASH_HEADER};
use serde::de::DeserializeOwned;

use super::{MAX_JSON_BODY, Shared};
use crate::crypto::{self, Hash32};
use crate::error::{ApiError, ApiResult};

// ---------------------------------------------------------------------------------------------
// Who is calling

/// Who is calling: the JWT in `authorization` (raw, or with `Bearer `), else the access-token
/// cookie. A user caller's `lunasec-session-hash` header, when sent, must match its session.
#[derive(Clone, Copy)]
pub enum Caller {
    Application,
    User { session: Hash32 },
}

impl Caller {
    /// For logs.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Application => "application",
            Self::User { .. } => "user",
        }
    }
}

impl FromRequestParts<Shared> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &Shared) -> ApiResult<Self> {
        let jwt = jwt_from(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized(
                "jwtMissing",
                "no JWT: send it in the authorization header or the __Host-access_token cookie",
            )
        })?;
        let claims = st.keys.verify(&jwt).await.map_err(|e| ApiError::from_verify(&e))?;
        let session_id = match claims.subject {
            Subject::Application => return Ok(Self::Application),
            Subject::User { session_id } => session_id,
        };
        let session = st.secrets.session_hash(&session_id);
        let hex = crypto::hex(&session);
        if let Some(sent) = parts.headers.get(SESSION_HASH_HEADER)
            && !crypto::ct_eq(sent.as_bytes(), hex.as_bytes())
        {
            return Err(ApiError::unauthorized(
                "sessionHashMismatch",
                "the lunasec-session-hash header does not match this session",
            ));
        }
        let value = HeaderValue::from_str(&hex).map_err(|_| ApiError::internal())?;
        if let Some(slot) = parts.extensions.get::<SessionHashSlot>() {
            // Already set only if this request was authenticated twice: the same value.
            let _ = slot.0.set(value);
        }
        Ok(Self::User { session })
    }
}

/// An application caller: what application-only routes take instead of [`Caller`]. A user JWT
/// gets 401 `wrongSubject` (after authentication, so with the session hash).
pub struct Application;

impl FromRequestParts<Shared> for Application {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &Shared) -> ApiResult<Self> {
        match Caller::from_request_parts(parts, st).await? {
            Caller::Application => Ok(Self),
            Caller::User { .. } => Err(ApiError::unauthorized("wrongSubject", "this route needs an application JWT")),
        }
    }
}

/// The JWT: `authorization` (raw, or with `Bearer `), else the `__Host-access_token` cookie, else
/// the `access_token` cookie an older tokenizer set.
fn jwt_from(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let v = match v.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim(),
            _ => v,
        };
        if !v.is_empty() {
            return Some(v.to_owned());
        }
    }
    let cookies = Cookies::from_headers(headers);
    cookies.first(ACCESS_TOKEN_COOKIE).or_else(|| cookies.first(LEGACY_ACCESS_TOKEN_COOKIE)).map(str::to_owned)
}

/// Where [`Caller`] leaves an authenticated user's session hash for [`session_hash_header`].
#[derive(Clone, Default)]
struct SessionHashSlot(Arc<OnceLock<HeaderValue>>);

/// Middleware (on every route): once a user caller has been authenticated, the response carries
/// its `lunasec-session-hash`, whatever the outcome (e.g. a malformed body after the JWT verified).
pub async fn session_hash_header(mut req: Request, next: Next) -> Response {
    let slot = SessionHashSlot::default();
    req.extensions_mut().insert(slot.clone());
    let mut resp = next.run(req).await;
    if let Some(v) = slot.0.get() {
        resp.headers_mut().insert(SESSION_HASH_HEADER, v.clone());
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// JSON bodies

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

/// Middleware (on the JSON routes): a declared body over [`MAX_JSON_BODY`] is refused with 413
/// before authentication. (A body without a content-length is capped by [`JsonBody`].)
pub async fn refuse_oversized_body(req: Request, next: Next) -> Response {
    if content_length(req.headers()).is_some_and(|n| n > MAX_JSON_BODY as u64) {
        return too_large().into_response();
    }
    next.run(req).await
}

/// A JSON request body: 415 without a JSON content type, 413 over [`MAX_JSON_BODY`], 400 when
/// malformed (the message never quotes the body).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> ApiResult<Self> {
        let is_json = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
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
        if content_length(req.headers()).is_some_and(|n| n > MAX_JSON_BODY as u64) {
            return Err(too_large());
        }
        let mut buf = Vec::new();
        let mut stream = req.into_body().into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|_| ApiError::bad_request("malformedRequest", "the request body could not be read"))?;
            if buf.len() + chunk.len() > MAX_JSON_BODY {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&buf).map(Self).map_err(|e| {
            let what = if e.is_data() { "does not have the expected fields and types" } else { "is not valid JSON" };
            ApiError::bad_request(
                "malformedRequest",
                format!("the request body {what} (line {}, column {})", e.line(), e.column()),
            )
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Query and cookies

/// The query's parameters, decoded (`form_urlencoded`).
pub(crate) fn query_params(q: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The first value of `name`, if not empty.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// The query's parameters.
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The first value of `name`, if not empty.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        param(&self.0, name)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        Ok(Self(query_params(parts.uri.query())))
    }
}

/// The request's cookies, from every `cookie` header, in order (a browser may send a name twice,
/// e.g. a partitioned and an older one).
pub struct Cookies(Vec<(String, String)>);

impl Cookies {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self(
            headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|kv| kv.trim().split_once('='))
                .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
                .collect(),
        )
    }

    /// Every value of cookie `name`, empty ones included.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of cookie `name`, unless it is empty.
    #[must_use]
    pub fn first<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.all(name).next().filter(|v| !v.is_empty())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Cookies {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        Ok(Self::from_headers(&parts.headers))
    }
}
