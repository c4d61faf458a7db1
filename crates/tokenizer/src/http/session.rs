//! The session routes (protocol §4): `GET /session/ensure` (state cookie, redirect to the auth
//! provider), `GET /session/create` (state checked and used once, access-token cookie set) and
//! `GET /session/verify` (whether the caller has a user session; always 200, with an envelope).
//!
//! The cookies are set as `__Host-state` and `__Host-access_token`; the unprefixed names older
//! tokenizers set (`state`, `access_token`) are still read, the prefixed one winning when a browser
//! sends both, and cleared once a session is created.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use lunasec_core::Subject;
use lunasec_core::jwt::now_secs;
use lunasec_core::protocol::{
    ACCESS_TOKEN_COOKIE, Envelope, LEGACY_ACCESS_TOKEN_COOKIE, LEGACY_STATE_COOKIE, MAX_COOKIE_LEN,
    SESSION_HASH_HEADER, STATE_COOKIE, set_cookie_line,
};

use super::extract::{Caller, Cookies, Params};
use super::{STATE_TTL, Shared, bare_success, log_id};
use crate::crypto::{self, StateRefusal};
use crate::error::{ApiError, ApiResult, json_response};
use crate::store::{StateConsume, StoreError, after_ms, now_ms};

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/session/ensure", get(session_ensure))
        .route("/session/verify", get(session_verify))
        .route("/session/create", get(session_create))
}

/// A cookie with the attributes a cross-site secure frame needs (CHIPS), which also satisfy the
/// `__Host-` prefix (`Secure`, `Path=/`, no `Domain`).
fn set_cookie(name: &str, value: &str, max_age: u64) -> HeaderValue {
    HeaderValue::from_str(&set_cookie_line(name, value, max_age)).unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn session_ensure(State(st): State<Shared>, params: Params) -> ApiResult<Response> {
    let provider = match params.get("auth_provider") {
        Some(name) => st.auth_providers.iter().find(|p| p.name == name),
        None => st.default_provider.and_then(|i| st.auth_providers.get(i)),
    };
    let Some(provider) = provider else {
        return Err(if st.auth_providers.is_empty() {
            ApiError::bad_request("noAuthProvider", "no auth provider is configured (AUTH_PROVIDERS)")
        } else if params.get("auth_provider").is_some() {
            ApiError::bad_request("unknownAuthProvider", "auth_provider names no configured auth provider")
        } else {
            ApiError::bad_request("noAuthProvider", "no default auth provider: pass auth_provider")
        });
    };
    // A session that could not be created at the end of the round trip is not started.
    if st.store.known_down() {
        return Err(StoreError::Unavailable("the record store did not answer its last check".into()).into());
    }
    // Authenticated by its MAC, not stored: an anonymous flood of this route writes nothing.
    let state = st.secrets.issue_state(after_ms(now_ms(), STATE_TTL));
    let location = format!("{}/.lunasec/secure-frame?state={state}", provider.url);
    let location = HeaderValue::from_str(&location).map_err(|_| ApiError::internal())?;
    let mut resp = StatusCode::FOUND.into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, location);
    h.insert(header::SET_COOKIE, set_cookie(STATE_COOKIE, &state, STATE_TTL.as_secs()));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The query `state` must equal a state cookie. Every cookie is compared (constant time, no early
/// exit), since a browser may hold a stale one beside the current one. Legacy `state` cookies count
/// only when there is no `__Host-state` one.
fn check_state_cookie(cookies: &Cookies, state: &str) -> ApiResult<()> {
    let non_empty = |name| cookies.all(name).filter(|c| !c.is_empty()).collect::<Vec<_>>();
    let mut sent = non_empty(STATE_COOKIE);
    if sent.is_empty() {
        sent = non_empty(LEGACY_STATE_COOKIE);
    }
    let (mut any, mut matched) = (false, false);
    for c in sent {
        any = true;
        matched |= crypto::ct_eq(c.as_bytes(), state.as_bytes());
    }
    match (any, matched) {
        (_, true) => Ok(()),
        (false, false) => Err(ApiError::bad_request("stateMismatch", "no state cookie: start at /session/ensure")),
        (true, false) => Err(ApiError::bad_request("stateMismatch", "state does not match the state cookie")),
    }
}

async fn session_create(State(st): State<Shared>, params: Params, cookies: Cookies) -> ApiResult<Response> {
    let state = params.get("state").ok_or_else(|| ApiError::bad_request("stateMissing", "state is not set"))?;
    let jwt = params
        .get("openid_token")
        .ok_or_else(|| ApiError::bad_request("openidTokenMissing", "openid_token is not set"))?;
    check_state_cookie(&cookies, state)?;
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
    // A browser silently drops a cookie over its size limit: refuse rather than answer success.
    let line = set_cookie_line(ACCESS_TOKEN_COOKIE, jwt, remaining);
    if line.len() > MAX_COOKIE_LEN {
        let max_jwt = MAX_COOKIE_LEN - (line.len() - jwt.len());
        return Err(ApiError::bad_request(
            "jwtTooLarge",
            format!(
                "openid_token is {} bytes, too long for a cookie (browsers keep at most {MAX_COOKIE_LEN} bytes with \
                 its name and attributes): the JWT may be at most {max_jwt} bytes; shorten the session id",
                jwt.len()
            ),
        ));
    }
    let access_cookie = HeaderValue::from_str(&line).map_err(|_| ApiError::internal())?;
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
    h.append(header::SET_COOKIE, access_cookie);
    for cleared in [LEGACY_ACCESS_TOKEN_COOKIE, STATE_COOKIE, LEGACY_STATE_COOKIE] {
        h.append(header::SET_COOKIE, set_cookie(cleared, "", 0));
    }
    if let Ok(v) = HeaderValue::from_str(&crypto::hex(&session)) {
        h.insert(SESSION_HASH_HEADER, v);
    }
    tracing::info!(session = %log_id(&session), "session created");
    Ok(resp)
}

/// Always 200: `{"success":true}` (and the session hash) for a user session, else the failure
/// envelope (`jwtMissing`, `jwtInvalid`, `wrongSubject` for an application JWT, …).
async fn session_verify(caller: Result<Caller, ApiError>) -> Response {
    let (name, message) = match caller {
        Ok(Caller::User { .. }) => return bare_success(),
        Ok(Caller::Application) => ("wrongSubject", "not a user session".into()),
        Err(e) => (e.name, e.message.into_owned()),
    };
    let body: Envelope<()> = Envelope::err(name, message);
    json_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default())
}
