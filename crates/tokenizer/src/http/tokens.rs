//! `POST /tokenize` and `POST /detokenize`.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use lunasec_core::Token;
use lunasec_core::jwt::now_secs;
use lunasec_core::protocol::{DetokenizeResponse, TokenIdRequest, TokenizeRequest, TokenizeResponse};

use super::extract::{Caller, JsonBody};
use super::grants::require_read_grant;
use super::metadata::check_metadata_size;
use super::{Shared, Success, log_id, parse_token};
use crate::ciphertext::{Method, PRESIGN_TTL};
use crate::crypto::DataKey;
use crate::error::{ApiError, ApiResult};
use crate::store::{GrantKey, GrantKind, TokenRecord, after_ms, now_ms};

pub(super) fn routes() -> Router<Shared> {
    Router::new().route("/tokenize", post(tokenize)).route("/detokenize", post(detokenize))
}

/// A new token and a presigned upload for its ciphertext; a user caller gets `store_token` and
/// `read_token` grants on it for the default grant duration.
async fn tokenize(
    State(st): State<Shared>,
    caller: Caller,
    JsonBody(req): JsonBody<TokenizeRequest>,
) -> ApiResult<Success<TokenizeResponse>> {
    if let Caller::User { session } = caller {
        st.tokenize_limiter.check(&session).map_err(ApiError::rate_limited)?;
    }
    check_metadata_size(&req.metadata)?;
    let token = Token::generate();
    let record_key = st.secrets.record_key(&token);
    let object_key = st.secrets.object_key(&token);
    let data_key = DataKey::generate();
    let wrapped_key = st.secrets.wrap_data_key(&token, &data_key);
    // Presign first: if that fails nothing has been written.
    let presigned = st.ciphertext.presign(Method::Put, &object_key, &data_key).await?;
    let now = now_ms();
    let grants = match caller {
        Caller::Application => Vec::new(),
        Caller::User { session } => vec![
            GrantKey { session, token: record_key, kind: GrantKind::StoreToken },
            GrantKey { session, token: record_key, kind: GrantKind::ReadToken },
        ],
    };
    // Embedded blobs: a marker first, so a token whose upload never completes is purged once its
    // URL has expired (see `BlobStore::sweep_pending`).
    if let Some(blobs) = &st.blobs {
        blobs.expect_upload(&object_key, &record_key, now_secs() + PRESIGN_TTL.as_secs()).await.map_err(|e| {
            tracing::error!(error = %e, "blob store: cannot record a pending upload");
            ApiError::internal()
        })?;
    }
    let record = TokenRecord { wrapped_key, metadata: req.metadata, created_ms: now };
    st.store.put_token(record_key, record, grants, after_ms(now, st.grant_default)).await?;
    tracing::info!(token = %log_id(&record_key), caller = caller.kind(), "tokenized");
    Ok(Success(TokenizeResponse {
        token_id: token.as_str().to_owned(),
        upload_url: presigned.url,
        headers: presigned.headers,
    }))
}

/// A presigned download of the token's ciphertext (a user caller needs a read grant).
async fn detokenize(
    State(st): State<Shared>,
    caller: Caller,
    JsonBody(req): JsonBody<TokenIdRequest>,
) -> ApiResult<Success<DetokenizeResponse>> {
    let token = parse_token(&req.token_id, "tokenId")?;
    let record_key = st.secrets.record_key(&token);
    require_read_grant(&st, caller, &record_key).await?;
    let record = st.store.get_token(record_key).await?.ok_or_else(ApiError::token_not_found)?;
    let data_key = st.secrets.unwrap_data_key(&token, &record.wrapped_key).map_err(|e| {
        tracing::error!(token = %log_id(&record_key), error = %e, "detokenize");
        ApiError::internal()
    })?;
    let presigned = st.ciphertext.presign(Method::Get, &st.secrets.object_key(&token), &data_key).await?;
    tracing::info!(token = %log_id(&record_key), caller = caller.kind(), "detokenized");
    Ok(Success(DetokenizeResponse { download_url: presigned.url, headers: presigned.headers }))
}
