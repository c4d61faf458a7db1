//! `TokenizerClient`: the Dedicated Tokenizer's HTTP client (reqwest, one pooled client each).
//! Async methods run on napi's tokio runtime; values cross as Buffers without extra copies.

use std::collections::HashMap;
use std::time::Duration;

use lunasec_core::client::{ClientOptions, TokenizerClient as Core};
use lunasec_core::protocol::GrantType;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use serde_json::{Map, Value};

use crate::error::IntoNapi;

/// Client options.
#[napi(object)]
pub struct TokenizerClientOptions {
    /// Base URL of the tokenizer, e.g. `http://localhost:37766`.
    pub url: String,
    /// Timeout of API calls in ms. Default 10000.
    pub timeout_ms: Option<u32>,
    /// Timeout of value uploads/downloads in ms. Default 300000.
    pub transfer_timeout_ms: Option<u32>,
    /// Retries of idempotent requests on connection errors and 502/503/504. Default 2.
    pub retries: Option<u32>,
    /// Largest value `detokenize` downloads into memory, in bytes. Default 1 GiB.
    pub max_download_bytes: Option<f64>,
}

/// A presigned download.
#[napi(object)]
pub struct DetokenizeUrl {
    pub download_url: String,
    pub headers: HashMap<String, String>,
}

#[napi]
pub struct TokenizerClient {
    inner: Core,
}

fn grant_type(s: &str) -> napi::Result<GrantType> {
    match s {
        "read_token" => Ok(GrantType::ReadToken),
        "store_token" => Ok(GrantType::StoreToken),
        "token_full_access" => Ok(GrantType::TokenFullAccess),
        _ => Err(crate::error::to_napi(&lunasec_core::Error::new(
            lunasec_core::ErrorCode::TokenizerBadRequest,
            "grant type must be read_token, store_token or token_full_access",
        ))),
    }
}

#[napi]
impl TokenizerClient {
    #[napi(constructor)]
    pub fn new(options: TokenizerClientOptions) -> napi::Result<Self> {
        let d = ClientOptions::default();
        let opts = ClientOptions {
            base_url: options.url,
            timeout: options.timeout_ms.map_or(d.timeout, |ms| Duration::from_millis(u64::from(ms))),
            transfer_timeout: options
                .transfer_timeout_ms
                .map_or(d.transfer_timeout, |ms| Duration::from_millis(u64::from(ms))),
            connect_timeout: d.connect_timeout,
            retries: options.retries.unwrap_or(d.retries),
            // JS numbers: clamp to a sane non-negative integer.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            max_download_bytes: options.max_download_bytes.map_or(d.max_download_bytes, |b| b.max(0.0) as u64),
        };
        Ok(Self { inner: Core::new(opts).napi()? })
    }

    /// Sets grants (`grantType`) for all tokens, in one request.
    #[napi]
    pub async fn grant_set(
        &self,
        jwt: String,
        session_id: String,
        token_ids: Vec<String>,
        custom_duration: Option<String>,
        grant_type_name: String,
    ) -> napi::Result<()> {
        let gt = grant_type(&grant_type_name)?;
        self.inner.grant_set(&jwt, &session_id, &token_ids, custom_duration.as_deref(), gt).await.napi()
    }

    /// Whether each token has a valid grant for the session, in one request.
    #[napi]
    pub async fn grant_verify(
        &self,
        jwt: String,
        session_id: String,
        token_ids: Vec<String>,
        grant_type_name: String,
    ) -> napi::Result<Vec<bool>> {
        let gt = grant_type(&grant_type_name)?;
        self.inner.grant_verify(&jwt, &session_id, &token_ids, gt).await.napi()
    }

    /// Tokenizes `value`: creates the token, then uploads the value to its presigned URL.
    #[napi]
    pub async fn tokenize(
        &self,
        jwt: String,
        value: Buffer,
        metadata: Option<Map<String, Value>>,
    ) -> napi::Result<String> {
        // Zero-copy: the JS Buffer stays referenced (and alive) until the upload is done.
        let body = bytes::Bytes::from_owner(value);
        self.inner.tokenize(&jwt, body, metadata.unwrap_or_default()).await.napi()
    }

    /// Downloads the value of a token.
    #[napi]
    pub async fn detokenize(&self, jwt: String, token_id: String) -> napi::Result<Buffer> {
        let bytes = self.inner.detokenize(&jwt, &token_id).await.napi()?;
        Ok(Buffer::from(Vec::<u8>::from(bytes)))
    }

    /// The presigned download URL of a token and the headers to send with it.
    #[napi]
    pub async fn detokenize_to_url(&self, jwt: String, token_id: String) -> napi::Result<DetokenizeUrl> {
        let d = self.inner.detokenize_to_url(&jwt, &token_id).await.napi()?;
        Ok(DetokenizeUrl { download_url: d.download_url, headers: d.headers.into_iter().collect() })
    }

    /// The metadata of a token.
    #[napi]
    pub async fn get_metadata(&self, jwt: String, token_id: String) -> napi::Result<Map<String, Value>> {
        self.inner.get_metadata(&jwt, &token_id).await.napi()
    }
}
