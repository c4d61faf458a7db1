//! Ciphertext in S3 with SSE-C: presigned PUT (tokenize) and GET (detokenize) URLs, 15 minutes,
//! with the SSE-C algorithm, key and key-MD5 signed into the request, so S3 only accepts the
//! request with exactly those headers. Presigning is local; the tokenizer talks to S3 only to
//! check (and optionally create) the bucket: until that check has succeeded, presigning answers
//! "unavailable" instead of handing out URLs that cannot work — and a 403 is a failed check
//! (wrong or unknown credentials look exactly like that).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{BucketLocationConstraint, CorsConfiguration, CorsRule, CreateBucketConfiguration};
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;

use super::{CiphertextError, CiphertextStore, Method, PRESIGN_TTL, Presigned};
use crate::Headers;
use crate::crypto::DataKey;

const RECHECK_EVERY: Duration = Duration::from_mins(1);
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(15);

/// The S3 ciphertext store.
#[derive(Debug)]
pub struct S3Ciphertext {
    client: Client,
    bucket: String,
    region: String,
    create_bucket: bool,
    ready: AtomicBool,
    origin: std::sync::OnceLock<Option<String>>,
    /// The secure frame's origin (the tokenizer's public URL): browsers PUT and GET ciphertext
    /// from there, so a bucket this tokenizer creates gets a CORS rule for it.
    frame_origin: Option<String>,
    cors_done: AtomicBool,
}

fn map_err<E, R>(op: &str, e: &SdkError<E, R>) -> CiphertextError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            CiphertextError::Unavailable(format!("S3 {op}: {}", DisplayErrorContext(e)))
        }
        _ => CiphertextError::Failed(format!("S3 {op}: {}", DisplayErrorContext(e))),
    }
}

impl S3Ciphertext {
    #[must_use]
    pub fn new(client: Client, bucket: String, region: String, create_bucket: bool, public_url: &str) -> Self {
        Self {
            client,
            bucket,
            region,
            create_bucket,
            ready: AtomicBool::new(false),
            origin: std::sync::OnceLock::new(),
            frame_origin: super::origin_of(public_url),
            cors_done: AtomicBool::new(false),
        }
    }

    /// With bucket creation enabled: a CORS rule letting the secure frame (the tokenizer's origin)
    /// PUT and GET objects with the SSE-C headers. A bucket managed elsewhere is left alone (its
    /// owner adds the rule; see the README). Failure is logged, not fatal: server-side clients
    /// need no CORS.
    async fn ensure_cors(&self) {
        if !self.create_bucket || self.cors_done.load(Ordering::Relaxed) {
            return;
        }
        let Some(origin) = &self.frame_origin else { return };
        let rule = CorsRule::builder()
            .allowed_origins(origin)
            .allowed_methods("PUT")
            .allowed_methods("GET")
            .allowed_headers("content-type")
            .allowed_headers("x-amz-server-side-encryption-customer-algorithm")
            .allowed_headers("x-amz-server-side-encryption-customer-key")
            .allowed_headers("x-amz-server-side-encryption-customer-key-md5")
            .max_age_seconds(600)
            .build();
        let config = match rule.and_then(|r| CorsConfiguration::builder().cors_rules(r).build()) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot build the bucket CORS rule");
                return;
            }
        };
        match self.client.put_bucket_cors().bucket(&self.bucket).cors_configuration(config).send().await {
            Ok(_) => {
                self.cors_done.store(true, Ordering::Relaxed);
                tracing::info!(bucket = %self.bucket, "bucket CORS allows the secure frame's origin");
            }
            Err(e) => {
                tracing::warn!(bucket = %self.bucket, error = %DisplayErrorContext(&e), "PutBucketCors failed; browsers cannot upload from the secure frame");
            }
        }
    }

    #[must_use]
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// `HeadBucket`; creates the bucket if it is missing and creation is enabled.
    ///
    /// A 403 makes the store unavailable: S3 gives the same bodiless 403 for an unknown access key,
    /// a wrong secret and a missing `s3:ListBucket`, and in the first two cases every URL presigned
    /// with these credentials would be refused too. So the credentials must be allowed to
    /// `HeadBucket` (`s3:ListBucket` on the bucket; see the README for the full list).
    pub async fn check_bucket(&self) -> Result<(), CiphertextError> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se)) if se.raw().status().as_u16() == 403 => {
                Err(CiphertextError::Unavailable(format!(
                    "S3 refused HeadBucket on bucket {} (403 Forbidden): the access key id is unknown, the \
                     secret access key is wrong, or the credentials lack s3:ListBucket on the bucket; URLs \
                     presigned with them would be refused too, so none are handed out",
                    self.bucket
                )))
            }
            Err(SdkError::ServiceError(se)) if se.raw().status().as_u16() == 404 && self.create_bucket => {
                let mut req = self.client.create_bucket().bucket(&self.bucket);
                if self.region != "us-east-1" {
                    req = req.create_bucket_configuration(
                        CreateBucketConfiguration::builder()
                            .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                            .build(),
                    );
                }
                match req.send().await {
                    Ok(_) => {
                        tracing::info!(bucket = %self.bucket, "created the S3 bucket");
                        Ok(())
                    }
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|se| se.is_bucket_already_owned_by_you() || se.is_bucket_already_exists()) =>
                    {
                        Ok(())
                    }
                    Err(e) => Err(map_err("CreateBucket", &e)),
                }
            }
            Err(SdkError::ServiceError(se)) if se.raw().status().as_u16() == 404 => Err(CiphertextError::Failed(
                format!("S3 bucket {} does not exist (set S3_CREATE_BUCKET=true to create it)", self.bucket),
            )),
            Err(e) => Err(map_err("HeadBucket", &e)),
        }
    }

    /// Background loop: check the bucket with backoff until it answers, then every minute;
    /// presigning is refused while the last check failed.
    pub async fn run(self: Arc<Self>) {
        let mut backoff = BACKOFF_START;
        loop {
            let result = self.check_bucket().await;
            if result.is_ok() {
                self.ensure_cors().await;
            }
            let was = self.ready.swap(result.is_ok(), Ordering::Relaxed);
            match result {
                Ok(()) => {
                    if !was {
                        tracing::info!(bucket = %self.bucket, "S3 bucket reachable");
                    }
                    backoff = BACKOFF_START;
                    tokio::time::sleep(RECHECK_EVERY).await;
                }
                Err(e) => {
                    tracing::warn!(bucket = %self.bucket, error = %e, "S3 bucket check failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }
}

fn collect_headers<'a>(it: impl Iterator<Item = (&'a str, &'a str)>) -> Headers {
    it.filter(|(k, _)| !k.eq_ignore_ascii_case("host")).map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned())).collect()
}

impl CiphertextStore for S3Ciphertext {
    fn presign<'a>(
        &'a self,
        method: Method,
        object_key: &'a str,
        key: &'a DataKey,
    ) -> BoxFuture<'a, Result<Presigned, CiphertextError>> {
        async move {
            if !self.ready() {
                return Err(CiphertextError::Unavailable(format!(
                    "S3 bucket {} has not been reachable (see the tokenizer's log)",
                    self.bucket
                )));
            }
            let cfg = PresigningConfig::expires_in(PRESIGN_TTL)
                .map_err(|e| CiphertextError::Failed(format!("presigning config: {e}")))?;
            let (b64, md5) = (key.base64(), key.md5_base64());
            let req = match method {
                Method::Put => self
                    .client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(object_key)
                    .sse_customer_algorithm("AES256")
                    .sse_customer_key(b64)
                    .sse_customer_key_md5(md5)
                    .presigned(cfg)
                    .await
                    .map_err(|e| map_err("presign PutObject", &e))?,
                Method::Get => self
                    .client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(object_key)
                    .sse_customer_algorithm("AES256")
                    .sse_customer_key(b64)
                    .sse_customer_key_md5(md5)
                    .presigned(cfg)
                    .await
                    .map_err(|e| map_err("presign GetObject", &e))?,
            };
            let mut headers = collect_headers(req.headers());
            // The SSE-C headers are what the client must send; make sure they are there whatever
            // the SDK lists.
            headers.extend(key.sse_c_headers());
            Ok(Presigned { url: req.uri().to_owned(), headers })
        }
        .boxed()
    }

    fn kind(&self) -> &'static str {
        "s3"
    }

    fn ready(&self) -> bool {
        S3Ciphertext::ready(self)
    }

    fn browser_origin(&self) -> BoxFuture<'_, Option<String>> {
        async move {
            if let Some(o) = self.origin.get() {
                return o.clone();
            }
            // Presigning is local: a URL for a probe key tells the endpoint, path or virtual-host style.
            let cfg = PresigningConfig::expires_in(PRESIGN_TTL).ok()?;
            let req = self.client.get_object().bucket(&self.bucket).key("origin-probe").presigned(cfg).await.ok()?;
            let origin = super::origin_of(req.uri());
            self.origin.get_or_init(|| origin).clone()
        }
        .boxed()
    }
}
