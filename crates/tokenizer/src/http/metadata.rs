//! `POST /metadata/get` (grant-checked for users) and `POST /metadata/set` (application only).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use lunasec_core::protocol::{Metadata, MetadataResponse, SetMetadataRequest, TokenIdRequest};

use super::extract::{Application, Caller, JsonBody};
use super::grants::require_read_grant;
use super::{MAX_METADATA_BYTES, Shared, Success, parse_token};
use crate::error::{ApiError, ApiResult};

pub(super) fn routes() -> Router<Shared> {
    Router::new().route("/metadata/get", post(metadata_get)).route("/metadata/set", post(metadata_set))
}

/// 413 `metadataTooLarge` over [`MAX_METADATA_BYTES`] of JSON.
pub(super) fn check_metadata_size(metadata: &Metadata) -> ApiResult<()> {
    if serde_json::to_vec(metadata).map_err(|_| ApiError::internal())?.len() > MAX_METADATA_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "metadataTooLarge",
            format!("metadata is limited to {MAX_METADATA_BYTES} bytes of JSON"),
        ));
    }
    Ok(())
}

async fn metadata_get(
    State(st): State<Shared>,
    caller: Caller,
    JsonBody(req): JsonBody<TokenIdRequest>,
) -> ApiResult<Success<MetadataResponse>> {
    let token = parse_token(&req.token_id, "tokenId")?;
    let record_key = st.secrets.record_key(&token);
    require_read_grant(&st, caller, &record_key).await?;
    let record = st.store.get_token(record_key).await?.ok_or_else(ApiError::token_not_found)?;
    Ok(Success(MetadataResponse { metadata: record.metadata }))
}

async fn metadata_set(
    State(st): State<Shared>,
    _: Application,
    JsonBody(req): JsonBody<SetMetadataRequest>,
) -> ApiResult<Success<serde_json::Value>> {
    let token = parse_token(&req.token_id, "tokenId")?;
    check_metadata_size(&req.metadata)?;
    let record_key = st.secrets.record_key(&token);
    if st.store.set_metadata(record_key, req.metadata).await? {
        Ok(Success(serde_json::json!({})))
    } else {
        Err(ApiError::token_not_found())
    }
}
