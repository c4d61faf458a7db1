//! Ciphertext in S3 with SSE-C: presigned PUT (tokenize) and GET (detokenize) URLs, 15 minutes,
//! with the SSE-C algorithm, key and key-MD5 signed into the request, so S3 only accepts the
//! request with exactly those headers. Presigning is local; the tokenizer talks to S3 only to
//! check (and optionally create) the bucket: until that check has succeeded, presigning answers
//! "unavailable" instead of handing out URLs that cannot work — and a 403 is a failed check
//! (wrong or unknown credentials look exactly like that).
//!
//! URLs are signed by the core's presigner ([`lunasec_core::presign`], the one the simple
//! tokenizer uses too) with credentials from the AWS SDK's provider chain (static, environment,
//! profile, web identity, ECS, instance role…). They are cached ([`Signer`]) and fetched again
//! [`CREDENTIALS_REFRESH_BEFORE`] before they expire (by the bucket-check loop, or by the first
//! presign that finds them due), so signing a URL makes no network call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{BucketLocationConstraint, CorsConfiguration, CorsRule, CreateBucketConfiguration};
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use lunasec_core::backoff::Backoff;
use lunasec_core::presign::{S3Credentials, S3Presigner, S3Target};

use super::{CiphertextError, CiphertextStore, Method, PRESIGN_TTL, Presigned};
use crate::crypto::DataKey;

const RECHECK_EVERY: Duration = Duration::from_mins(1);
/// Checks while the bucket check fails: 250 ms doubling up to 15 s (full jitter).
const BACKOFF: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(15));

/// Credentials expiring sooner than this are fetched again, so that a URL signed with them stays
/// valid for its whole [`PRESIGN_TTL`] (S3 refuses a URL once its session token has expired).
pub const CREDENTIALS_REFRESH_BEFORE: Duration = PRESIGN_TTL.saturating_add(Duration::from_mins(5));
/// Credentials are not fetched more often than this (a provider may keep answering the same
/// soon-to-expire credentials, e.g. an instance role in its last minutes; a failing one is not
/// asked on every request either).
const CREDENTIALS_MIN_REFETCH: Duration = Duration::from_secs(30);
/// Credentials closer than this to their expiry are not used at all.
const CREDENTIALS_MIN_VALIDITY: Duration = Duration::from_mins(1);
/// Longest wait for the provider chain (its own steps have shorter time-outs).
const CREDENTIALS_FETCH_TIMEOUT: Duration = Duration::from_secs(15);

/// Signing credentials in use and the presigner built on them.
#[derive(Clone)]
struct Signing {
    presigner: Arc<S3Presigner>,
    expiry: Option<SystemTime>,
    fetched: Instant,
}

impl Signing {
    fn usable(&self, now: SystemTime) -> bool {
        self.expiry.is_none_or(|e| e > now + CREDENTIALS_MIN_VALIDITY)
    }

    /// Good as they are: not due for a refresh, or refreshed too recently to ask again.
    fn current(&self, now: SystemTime) -> bool {
        self.usable(now)
            && (self.expiry.is_none_or(|e| e > now + CREDENTIALS_REFRESH_BEFORE)
                || self.fetched.elapsed() < CREDENTIALS_MIN_REFETCH)
    }
}

/// The core presigner for one bucket, with the SDK's credentials cached (see the module docs).
pub struct Signer {
    target: S3Target,
    provider: Option<SharedCredentialsProvider>,
    signing: RwLock<Option<Signing>>,
    /// One fetch at a time; remembers the last failed one (when, why) so it is not retried on
    /// every request.
    fetch: tokio::sync::Mutex<Option<(Instant, String)>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("target", &self.target).finish_non_exhaustive()
    }
}

impl Signer {
    /// Checks the target (bucket name, region, endpoint); credentials are fetched when first needed.
    pub fn new(target: S3Target, provider: Option<SharedCredentialsProvider>) -> Result<Self, String> {
        target.origin().map_err(|e| e.message().to_owned())?;
        Ok(Self { target, provider, signing: RwLock::new(None), fetch: tokio::sync::Mutex::new(None) })
    }

    fn cached(&self) -> Option<Signing> {
        self.signing.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The presigner with current credentials; fetches them only when missing or due.
    pub async fn presigner(&self) -> Result<Arc<S3Presigner>, CiphertextError> {
        match self.cached() {
            Some(s) if s.current(SystemTime::now()) => Ok(s.presigner),
            _ => self.refresh().await,
        }
    }

    /// Fetches credentials if they are missing or due (one fetch at a time); on failure keeps
    /// using the cached ones while they are usable.
    pub async fn refresh(&self) -> Result<Arc<S3Presigner>, CiphertextError> {
        let mut last_failure = self.fetch.lock().await;
        let now = SystemTime::now();
        let cached = self.cached();
        if let Some(s) = &cached
            && s.current(now)
        {
            return Ok(Arc::clone(&s.presigner));
        }
        let failed_recently = last_failure.as_ref().filter(|(at, _)| at.elapsed() < CREDENTIALS_MIN_REFETCH);
        let fetched = match failed_recently {
            Some((_, why)) => Err(why.clone()),
            None => self.fetch_credentials().await,
        };
        match fetched {
            Ok(s) => {
                *last_failure = None;
                let p = Arc::clone(&s.presigner);
                *self.signing.write().unwrap_or_else(PoisonError::into_inner) = Some(s);
                Ok(p)
            }
            Err(why) => {
                if failed_recently.is_none() {
                    tracing::warn!(error = %why, "resolving AWS credentials for presigning failed");
                    *last_failure = Some((Instant::now(), why.clone()));
                }
                match cached {
                    Some(s) if s.usable(now) => Ok(s.presigner),
                    _ => Err(CiphertextError::Unavailable(format!("AWS credentials for presigning: {why}"))),
                }
            }
        }
    }

    async fn fetch_credentials(&self) -> Result<Signing, String> {
        let Some(provider) = &self.provider else {
            return Err("no AWS credentials provider is configured".into());
        };
        let creds = tokio::time::timeout(CREDENTIALS_FETCH_TIMEOUT, provider.provide_credentials())
            .await
            .map_err(|_| "the credentials provider did not answer in time".to_owned())?
            .map_err(|e| DisplayErrorContext(&e).to_string())?;
        let presigner = S3Presigner::new(&self.target, &S3Credentials::from(&creds), PRESIGN_TTL)
            .map_err(|e| e.message().to_owned())?;
        Ok(Signing { presigner: Arc::new(presigner), expiry: creds.expiry(), fetched: Instant::now() })
    }
}

/// The S3 ciphertext store.
#[derive(Debug)]
pub struct S3Ciphertext {
    client: Client,
    bucket: String,
    region: String,
    create_bucket: bool,
    ready: AtomicBool,
    signer: Signer,
    /// Where presigned URLs point (`scheme://host[:port]`).
    origin: String,
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
    /// The store for `bucket` in the SDK configuration's region, at its endpoint (path-style URLs
    /// when one is set: LocalStack, `MinIO`…), with its credentials provider. Fails when the bucket
    /// name, region or endpoint cannot be presigned for.
    pub fn new(sdk: &SdkConfig, bucket: String, create_bucket: bool, public_url: &str) -> Result<Self, String> {
        let region = sdk.region().map(ToString::to_string).ok_or("the AWS region is not set")?;
        let endpoint = sdk.endpoint_url().map(str::to_owned);
        let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(endpoint.is_some()).build();
        let target = S3Target { bucket: bucket.clone(), region: region.clone(), endpoint };
        let origin = target.origin().map_err(|e| format!("S3 ciphertext store: {}", e.message()))?;
        let signer = Signer::new(target, sdk.credentials_provider())?;
        Ok(Self {
            client: Client::from_conf(config),
            bucket,
            region,
            create_bucket,
            ready: AtomicBool::new(false),
            signer,
            origin,
            frame_origin: super::origin_of(public_url),
            cors_done: AtomicBool::new(false),
        })
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
        let mut backoff = BACKOFF;
        loop {
            // Keeps the signing credentials fresh off the request path (a no-op unless they are due).
            let _ = self.signer.presigner().await;
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
                    backoff.reset();
                    tokio::time::sleep(RECHECK_EVERY).await;
                }
                Err(e) => {
                    tracing::warn!(bucket = %self.bucket, error = %e, "S3 bucket check failed");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }
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
            let presigner = self.signer.presigner().await?;
            // The SSE-C trio is signed into the URL: S3 takes the request only with exactly these.
            let headers = key.sse_c_headers();
            let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            presigner
                .presign(method, object_key, &pairs, SystemTime::now())
                .map_err(|e| CiphertextError::Failed(format!("presigning S3 {}: {}", method.as_str(), e.message())))
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
        futures_util::future::ready(Some(self.origin.clone())).boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    use aws_credential_types::Credentials;
    use aws_credential_types::provider::error::CredentialsError;
    use aws_credential_types::provider::{ProvideCredentials, future};
    use aws_sdk_s3::config::{BehaviorVersion, Region};
    use aws_sdk_s3::presigning::PresigningConfig;

    use super::*;

    const SSE: [(&str, &str); 3] = [
        ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        ("x-amz-server-side-encryption-customer-key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        ("x-amz-server-side-encryption-customer-key-md5", "N2sHLoBtPhnaE5Y2SnQzuQ=="),
    ];

    /// Scheme, host, port, path, and the query without the signature and the SDK's `x-id`.
    fn shape(url: &str) -> (String, BTreeSet<(String, String)>) {
        let u = reqwest::Url::parse(url).unwrap();
        let query = u
            .query_pairs()
            .filter(|(k, _)| k != "x-id" && k != "X-Amz-Signature")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        (format!("{}://{}{}", u.scheme(), u.host_str().unwrap(), u.path()), query)
    }

    /// The core presigner makes the URLs the AWS SDK's presigner made before it (same endpoint and
    /// addressing style, same signed headers and query, same expiry), for each kind of target.
    #[tokio::test]
    async fn same_urls_and_headers_as_the_aws_sdk_presigner() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", Some("session/token".into()), None, "t");
        for (bucket, region, endpoint) in [
            ("lunasec-test", "us-west-2", Some("http://127.0.0.1:4566")),
            ("lunasec-test", "us-west-2", None),
            ("lunasec-test", "us-east-1", None),
            ("lunasec.dotted", "eu-west-1", None),
            ("lunasec-test", "cn-north-1", None),
        ] {
            let mut b = aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region))
                .credentials_provider(creds.clone())
                .force_path_style(endpoint.is_some());
            if let Some(e) = endpoint {
                b = b.endpoint_url(e);
            }
            let client = Client::from_conf(b.build());
            let target = S3Target { bucket: bucket.into(), region: region.into(), endpoint: endpoint.map(Into::into) };
            let core = S3Presigner::new(&target, &S3Credentials::from(&creds), PRESIGN_TTL).unwrap();
            for method in [Method::Put, Method::Get] {
                let cfg = PresigningConfig::builder().start_time(t).expires_in(PRESIGN_TTL).build().unwrap();
                let key = "0f/objects/a b+c";
                let sdk = match method {
                    Method::Put => client
                        .put_object()
                        .bucket(bucket)
                        .key(key)
                        .sse_customer_algorithm(SSE[0].1)
                        .sse_customer_key(SSE[1].1)
                        .sse_customer_key_md5(SSE[2].1)
                        .presigned(cfg)
                        .await
                        .unwrap(),
                    Method::Get => client
                        .get_object()
                        .bucket(bucket)
                        .key(key)
                        .sse_customer_algorithm(SSE[0].1)
                        .sse_customer_key(SSE[1].1)
                        .sse_customer_key_md5(SSE[2].1)
                        .presigned(cfg)
                        .await
                        .unwrap(),
                };
                let ours = core.presign(method, key, &SSE, t).unwrap();
                assert_eq!(shape(&ours.url), shape(sdk.uri()), "{method:?} {bucket} {region} {endpoint:?}");
                let sdk_headers: Vec<(String, String)> = sdk
                    .headers()
                    .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                    .collect();
                let our_headers: Vec<(String, String)> = ours.headers.into_iter().collect();
                assert_eq!(our_headers, sdk_headers, "{method:?} {bucket} {region}");
                assert!(ours.url.contains("X-Amz-Expires=900"));
            }
        }
    }

    #[derive(Debug, Default)]
    struct Provider {
        calls: AtomicUsize,
        expiry: Mutex<Option<SystemTime>>,
        fail: AtomicBool,
    }

    #[derive(Debug)]
    struct Shared(Arc<Provider>);

    impl ProvideCredentials for Shared {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.0.calls.fetch_add(1, Ordering::SeqCst);
            if self.0.fail.load(Ordering::SeqCst) {
                return future::ProvideCredentials::ready(Err(CredentialsError::not_loaded("test provider down")));
            }
            let expiry = *self.0.expiry.lock().unwrap();
            future::ProvideCredentials::ready(Ok(Credentials::new(format!("AKID{n}"), "secret", None, expiry, "test")))
        }
    }

    fn signer(p: &Arc<Provider>) -> Signer {
        let target = S3Target { bucket: "lunasec-test".into(), region: "us-west-2".into(), endpoint: None };
        Signer::new(target, Some(SharedCredentialsProvider::new(Shared(Arc::clone(p))))).unwrap()
    }

    async fn key_id(s: &Signer) -> String {
        let url = s.presigner().await.unwrap().presign(Method::Get, "k", &[], SystemTime::now()).unwrap().url;
        let cred = url.split("X-Amz-Credential=").nth(1).unwrap();
        cred.split("%2F").next().unwrap().to_owned()
    }

    #[tokio::test]
    async fn credentials_are_cached_and_refreshed_before_they_expire() {
        // Long-lived: fetched once, whatever the number of URLs.
        let p = Arc::new(Provider::default());
        *p.expiry.lock().unwrap() = Some(SystemTime::now() + Duration::from_hours(6));
        let s = signer(&p);
        assert_eq!(p.calls.load(Ordering::SeqCst), 0, "nothing fetched before it is needed");
        for _ in 0..50 {
            assert_eq!(key_id(&s).await, "AKID0");
        }
        assert_eq!(p.calls.load(Ordering::SeqCst), 1);

        // Due (expiring within the refresh window): fetched again, but at most every 30 s even
        // when the provider keeps answering soon-to-expire credentials.
        let p = Arc::new(Provider::default());
        *p.expiry.lock().unwrap() = Some(SystemTime::now() + Duration::from_mins(10));
        let s = signer(&p);
        assert_eq!(key_id(&s).await, "AKID0");
        s.signing.write().unwrap().as_mut().unwrap().fetched -= CREDENTIALS_MIN_REFETCH;
        assert_eq!(key_id(&s).await, "AKID1");
        for _ in 0..10 {
            assert_eq!(key_id(&s).await, "AKID1");
        }
        assert_eq!(p.calls.load(Ordering::SeqCst), 2);

        // A failing provider: the cached credentials stay in use while usable; the failure is
        // not retried on every request.
        p.fail.store(true, Ordering::SeqCst);
        s.signing.write().unwrap().as_mut().unwrap().fetched -= CREDENTIALS_MIN_REFETCH;
        assert_eq!(key_id(&s).await, "AKID1");
        assert_eq!(key_id(&s).await, "AKID1");
        assert_eq!(p.calls.load(Ordering::SeqCst), 3);

        // Expired and the provider down: unavailable, and the provider is not hammered.
        s.signing.write().unwrap().as_mut().unwrap().expiry = Some(SystemTime::now());
        assert!(matches!(s.presigner().await, Err(CiphertextError::Unavailable(_))));
        assert!(matches!(s.presigner().await, Err(CiphertextError::Unavailable(_))));
        assert_eq!(p.calls.load(Ordering::SeqCst), 3, "the failure from the last attempt is reused");
        *s.fetch.lock().await = None;
        p.fail.store(false, Ordering::SeqCst);
        assert_eq!(key_id(&s).await, "AKID3");
    }

    #[test]
    fn refuses_targets_it_cannot_presign_for() {
        let bad = S3Target { bucket: "Not_A_Bucket".into(), region: "us-west-2".into(), endpoint: None };
        assert!(Signer::new(bad, None).unwrap_err().contains("bucket"));
    }
}
