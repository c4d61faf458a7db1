//! The failure envelope `{"success":false,"error":{"name","message"}}` for every failure, with a
//! fitting status. Messages are built from static text and names only: never a token, JWT, key,
//! cookie or session id.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lunasec_core::ErrorCode;
use lunasec_core::protocol::Envelope;

use crate::ciphertext::CiphertextError;
use crate::keys::VerifyError;
use crate::store::StoreError;

/// An API failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub name: &'static str,
    pub message: Cow<'static, str>,
    /// `Retry-After` seconds (a 503 without one says 1).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, name: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self { status, name, message: message.into(), retry_after: None }
    }

    /// `429 rateLimited`: this session creates tokens faster than `TOKENIZE_SESSION_RATE` allows.
    #[must_use]
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self {
            retry_after: Some(secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rateLimited",
                format!("this session is creating tokens too fast; retry in {} s", secs.max(1)),
            )
        }
    }

    pub fn bad_request(name: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, name, message)
    }

    pub fn unauthorized(name: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, name, message)
    }

    #[must_use]
    pub fn no_grant() -> Self {
        Self::new(StatusCode::FORBIDDEN, "invalidGrant", "the session has no valid grant for this token")
    }

    #[must_use]
    pub fn token_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "tokenNotFound", "no such token")
    }

    #[must_use]
    pub fn bad_token(field: &str) -> Self {
        Self::bad_request("badToken", format!("{field} is not a LunaSec token (expected lunasec-<uuid>)"))
    }

    #[must_use]
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internalError", "internal error")
    }

    /// The JWT failure, as a 401 (`jwtInvalid`, `jwtExpired`, …) or 503 when keys are not loaded.
    #[must_use]
    pub fn from_verify(e: &VerifyError) -> Self {
        match e {
            VerifyError::KeysUnavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "sessionKeysUnavailable",
                "the tokenizer has not been able to load the application's public keys yet; retry shortly",
            ),
            VerifyError::Invalid(err) => {
                let name = match err.code() {
                    ErrorCode::JwtExpired => "jwtExpired",
                    ErrorCode::JwtClaimMismatch => "jwtClaimMismatch",
                    ErrorCode::JwtLifetimeTooLong => "jwtLifetimeTooLong",
                    ErrorCode::JwtUnknownKid => "jwtUnknownKid",
                    _ => "jwtInvalid",
                };
                Self::unauthorized(name, err.message().to_owned())
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "record store failure");
        match e {
            StoreError::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storageUnavailable",
                "the record store is unavailable; retry shortly",
            ),
            StoreError::Failed(_) => {
                Self::new(StatusCode::BAD_GATEWAY, "storageError", "the record store failed; retry shortly")
            }
        }
    }
}

impl From<CiphertextError> for ApiError {
    fn from(e: CiphertextError) -> Self {
        tracing::error!(error = %e, "ciphertext store failure");
        match e {
            CiphertextError::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storageUnavailable",
                "the ciphertext store is unavailable; retry shortly",
            ),
            CiphertextError::Failed(_) => {
                Self::new(StatusCode::BAD_GATEWAY, "storageError", "the ciphertext store failed; retry shortly")
            }
        }
    }
}

/// A JSON response with `cache-control: no-store` (every answer here is per-user).
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            serde_json::to_vec(&Envelope::<()>::err(self.name, self.message.into_owned())).unwrap_or_else(|_| {
                br#"{"success":false,"error":{"name":"internalError","message":"internal error"}}"#.to_vec()
            });
        let mut resp = json_response(self.status, body);
        match (self.retry_after, self.status) {
            (Some(secs), _) => {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            (None, StatusCode::SERVICE_UNAVAILABLE) => {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
