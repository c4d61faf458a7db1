//! `GET`/`PUT /blob/{key}`: the embedded ciphertext store's presigned URLs (routed only when the
//! embedded store is configured; the store checks the URL's signature and the SSE-C headers).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;

use super::Shared;
use crate::ciphertext::blob::BlobStore;

pub(super) fn routes(blobs: Arc<BlobStore>) -> Router<Shared> {
    Router::new().route("/blob/{key}", get(blob_get).put(blob_put)).with_state(blobs)
}

async fn blob_put(
    State(blobs): State<Arc<BlobStore>>,
    Path(key): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    blobs.put(&key, q.as_deref(), &headers, body).await
}

async fn blob_get(
    State(blobs): State<Arc<BlobStore>>,
    Path(key): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    blobs.get(&key, q.as_deref(), &headers).await
}
