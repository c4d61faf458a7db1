//! `S3Presigner`: SigV4 presigned S3 URLs (for the simple tokenizer).

use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use lunasec_core::presign::{self, Method, S3Credentials, S3Target};
use napi_derive::napi;

use crate::error::{IntoNapi, Result};

/// AWS credentials.
#[napi(object)]
pub struct AwsCredentialsInput {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

/// Presigner options.
#[napi(object)]
pub struct S3PresignerOptions {
    /// Bucket name.
    pub bucket: String,
    /// AWS region, e.g. `us-west-2`.
    pub region: String,
    /// Endpoint override (path-style), e.g. LocalStack `http://127.0.0.1:4566`. Default: AWS.
    pub endpoint: Option<String>,
    pub credentials: AwsCredentialsInput,
    /// Lifetime of each URL in seconds. Default 900 (15 minutes); at most 7 days.
    pub expires_in_seconds: Option<u32>,
}

/// A presigned request: send `headers` with the request to `url`.
#[napi(object)]
pub struct PresignedRequest {
    pub url: String,
    pub headers: std::collections::HashMap<String, String>,
}

/// Presigns S3 object URLs for one bucket. Credentials can be replaced (`setCredentials`) when a
/// provider rotates them; everything else is fixed at construction.
#[napi]
pub struct S3Presigner {
    target: S3Target,
    expires: Duration,
    inner: RwLock<presign::S3Presigner>,
}

fn creds(c: AwsCredentialsInput) -> S3Credentials {
    S3Credentials {
        access_key_id: c.access_key_id,
        secret_access_key: c.secret_access_key,
        session_token: c.session_token,
    }
}

#[napi]
impl S3Presigner {
    #[napi(constructor)]
    pub fn new(options: S3PresignerOptions) -> Result<Self> {
        let target = S3Target { bucket: options.bucket, region: options.region, endpoint: options.endpoint };
        let expires =
            options.expires_in_seconds.map_or(presign::DEFAULT_EXPIRES, |s| Duration::from_secs(u64::from(s)));
        let inner = presign::S3Presigner::new(&target, &creds(options.credentials), expires).napi()?;
        Ok(Self { target, expires, inner: RwLock::new(inner) })
    }

    /// Replaces the credentials (e.g. after an STS refresh).
    #[napi]
    pub fn set_credentials(&self, credentials: AwsCredentialsInput) -> Result<()> {
        let fresh = presign::S3Presigner::new(&self.target, &creds(credentials), self.expires).napi()?;
        *self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// A presigned `PUT` for `key`; `headers` (e.g. SSE-C) are signed and must be sent.
    #[napi]
    pub fn presign_put(
        &self,
        key: String,
        headers: Option<std::collections::HashMap<String, String>>,
    ) -> Result<PresignedRequest> {
        self.presign(Method::Put, &key, headers)
    }

    /// A presigned `GET` for `key`.
    #[napi]
    pub fn presign_get(
        &self,
        key: String,
        headers: Option<std::collections::HashMap<String, String>>,
    ) -> Result<PresignedRequest> {
        self.presign(Method::Get, &key, headers)
    }
}

impl S3Presigner {
    fn presign(
        &self,
        method: Method,
        key: &str,
        headers: Option<std::collections::HashMap<String, String>>,
    ) -> Result<PresignedRequest> {
        let headers = headers.unwrap_or_default();
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = self
            .inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .presign(method, key, &pairs, SystemTime::now())
            .napi()?;
        Ok(PresignedRequest { url: out.url, headers: out.headers.into_iter().collect() })
    }
}
