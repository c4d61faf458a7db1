//! `POST /grant/set` and `POST /grant/verify` (application only), and the grant check the token
//! and metadata routes make for user callers.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use lunasec_core::Token;
use lunasec_core::protocol::{GrantRequest, GrantVerifyResponse};

use super::extract::{Application, Caller, JsonBody};
use super::{AppState, MAX_BATCH, Shared, Success, parse_token};
use crate::config::fmt_go_duration;
use crate::crypto::Hash32;
use crate::error::{ApiError, ApiResult};
use crate::store::{GrantKey, GrantKind, after_ms, now_ms};

pub(super) fn routes() -> Router<Shared> {
    Router::new().route("/grant/set", post(grant_set)).route("/grant/verify", post(grant_verify))
}

async fn grant_set(
    State(st): State<Shared>,
    _: Application,
    JsonBody(req): JsonBody<GrantRequest>,
) -> ApiResult<Success<serde_json::Value>> {
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
    Ok(Success(serde_json::json!({})))
}

async fn grant_verify(
    State(st): State<Shared>,
    _: Application,
    JsonBody(req): JsonBody<GrantRequest>,
) -> ApiResult<Success<GrantVerifyResponse>> {
    let session = grant_session(&st, &req)?;
    let (tokens, batch) = grant_tokens(&req)?;
    let kind = req.grant_type.map_or(GrantKind::StoreToken, GrantKind::from);
    let keys: Vec<Hash32> = tokens.iter().map(|t| st.secrets.record_key(t)).collect();
    let results = check_grants(&st, &session, &keys, kind).await?;
    let valid = results.iter().all(|v| *v);
    Ok(Success(GrantVerifyResponse { valid, results: batch.then_some(results) }))
}

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

/// An application passes; a user needs a valid read grant for `token` (403 `invalidGrant`).
pub(super) async fn require_read_grant(st: &AppState, caller: Caller, token: &Hash32) -> ApiResult<()> {
    match caller {
        Caller::Application => Ok(()),
        Caller::User { session } => {
            if check_grants(st, &session, std::slice::from_ref(token), GrantKind::ReadToken).await?[0] {
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
