//! `TokenizerClient`: the Dedicated Tokenizer's HTTP client (reqwest, one pooled client each).
//! Async methods run on napi's tokio runtime (`crate::error::spawn`: rejections carry their `ERR_…`
//! code); values cross as Buffers without extra copies.

use std::collections::HashMap;
use std::time::Duration;

use lunasec_core::client::{ClientOptions, TokenizerClient as Core};
use lunasec_core::protocol::GrantType;
use napi::Env;
use napi::bindgen_prelude::{AsyncBlock, Buffer};
use napi_derive::napi;
use serde_json::{Map, Value};

use crate::error::{IntoNapi, Result, spawn};

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

fn grant_type(s: &str) -> lunasec_core::error::Result<GrantType> {
    match s {
        "read_token" => Ok(GrantType::ReadToken),
        "store_token" => Ok(GrantType::StoreToken),
        "token_full_access" => Ok(GrantType::TokenFullAccess),
        _ => Err(lunasec_core::Error::new(
            lunasec_core::ErrorCode::TokenizerBadRequest,
            "grant type must be read_token, store_token or token_full_access",
        )),
    }
}

#[napi]
impl TokenizerClient {
    #[napi(constructor)]
    pub fn new(options: TokenizerClientOptions) -> Result<Self> {
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
    #[napi(ts_return_type = "Promise<void>")]
    pub fn grant_set(
        &self,
        env: Env,
        jwt: String,
        session_id: String,
        token_ids: Vec<String>,
        custom_duration: Option<String>,
        grant_type_name: String,
    ) -> napi::Result<AsyncBlock<()>> {
        let inner = self.inner.clone();
        spawn(env, async move {
            let gt = grant_type(&grant_type_name)?;
            inner.grant_set(&jwt, &session_id, &token_ids, custom_duration.as_deref(), gt).await
        })
    }

    /// Whether each token has a valid grant for the session, in one request.
    #[napi]
    pub fn grant_verify(
        &self,
        env: Env,
        jwt: String,
        session_id: String,
        token_ids: Vec<String>,
        grant_type_name: String,
    ) -> napi::Result<AsyncBlock<Vec<bool>>> {
        let inner = self.inner.clone();
        spawn(env, async move {
            let gt = grant_type(&grant_type_name)?;
            inner.grant_verify(&jwt, &session_id, &token_ids, gt).await
        })
    }

    /// Tokenizes `value`: creates the token, then uploads the value to its presigned URL.
    #[napi]
    pub fn tokenize(
        &self,
        env: Env,
        jwt: String,
        value: Buffer,
        metadata: Option<Map<String, Value>>,
    ) -> napi::Result<AsyncBlock<String>> {
        // Zero-copy: the JS Buffer stays referenced (and alive) until the upload is done.
        let body = bytes::Bytes::from_owner(value);
        let inner = self.inner.clone();
        spawn(env, async move { inner.tokenize(&jwt, body, metadata.unwrap_or_default()).await })
    }

    /// Downloads the value of a token.
    #[napi]
    pub fn detokenize(&self, env: Env, jwt: String, token_id: String) -> napi::Result<AsyncBlock<Buffer>> {
        let inner = self.inner.clone();
        spawn(env, async move {
            let bytes = inner.detokenize(&jwt, &token_id).await?;
            Ok(Buffer::from(Vec::<u8>::from(bytes)))
        })
    }

    /// The presigned download URL of a token and the headers to send with it.
    #[napi]
    pub fn detokenize_to_url(
        &self,
        env: Env,
        jwt: String,
        token_id: String,
    ) -> napi::Result<AsyncBlock<DetokenizeUrl>> {
        let inner = self.inner.clone();
        spawn(env, async move {
            let d = inner.detokenize_to_url(&jwt, &token_id).await?;
            Ok(DetokenizeUrl { download_url: d.download_url, headers: d.headers.into_iter().collect() })
        })
    }

    /// The metadata of a token.
    #[napi]
    pub fn get_metadata(
        &self,
        env: Env,
        jwt: String,
        token_id: String,
    ) -> napi::Result<AsyncBlock<Map<String, Value>>> {
        let inner = self.inner.clone();
        spawn(env, async move { inner.get_metadata(&jwt, &token_id).await })
    }
}
