//! S3 presigned URLs (SigV4 in the query string), built with `aws-sigv4`.
//!
//! The one S3 presigner of the project: the simple tokenizer (inside the user's app, static or
//! app-refreshed credentials) and the Dedicated Tokenizer (credentials from the AWS SDK's provider
//! chain, cached by the caller) both sign with it. `PUT` URLs upload a token's value, `GET` URLs
//! read it back. Extra headers (e.g. SSE-C) are signed, so a client must send them exactly. The
//! signing identity is built once per set of credentials; each URL costs one canonical request and
//! one signature, and no I/O.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::{Error, ErrorCode, Result};
use crate::protocol::Headers;

/// Default lifetime of a presigned URL.
pub const DEFAULT_EXPIRES: Duration = Duration::from_mins(15);
/// SigV4 allows at most 7 days.
pub const MAX_EXPIRES: Duration = Duration::from_hours(7 * 24);

/// Characters S3 wants escaped in an object key path (everything but unreserved and `/`).
const KEY_ESCAPE: &AsciiSet = &QUERY_ESCAPE.remove(b'/');
/// RFC 3986 unreserved characters stay; everything else is escaped (SigV4's query encoding).
const QUERY_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// HTTP method of a presigned URL (S3's, and the tokenizer's own blob store's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
}

impl Method {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
        }
    }
}

/// A presigned request: the URL and the headers the client must send with it.
#[derive(Clone, PartialEq, Eq)]
pub struct Presigned {
    pub url: String,
    pub headers: Headers,
}

impl std::fmt::Debug for Presigned {
    // Both carry secrets: the URL is a bearer credential, the headers may hold an SSE-C key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Presigned(<redacted>)")
    }
}

/// Static AWS credentials.
#[derive(Clone)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl From<&Credentials> for S3Credentials {
    /// The AWS SDK's credentials (from a provider chain); their expiry is the caller's to track.
    fn from(c: &Credentials) -> Self {
        Self {
            access_key_id: c.access_key_id().to_owned(),
            secret_access_key: c.secret_access_key().to_owned(),
            session_token: c.session_token().map(str::to_owned),
        }
    }
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3Credentials(<redacted>)")
    }
}

/// Where a bucket lives and how to sign for it.
#[derive(Debug, Clone)]
pub struct S3Target {
    pub bucket: String,
    pub region: String,
    /// Endpoint override (LocalStack, MinIO…): path-style `{endpoint}/{bucket}/{key}`.
    /// `None`: AWS, virtual-hosted `https://{bucket}.s3.{region}.amazonaws.com/{key}`.
    pub endpoint: Option<String>,
}

impl S3Target {
    /// Checks the bucket, region and endpoint; `(base URL of the objects, host)`.
    fn resolve(&self) -> Result<(String, String)> {
        if !valid_bucket(&self.bucket) {
            return Err(invalid("s3Bucket must be a valid S3 bucket name (3-63 characters of a-z 0-9 . -)"));
        }
        if self.region.is_empty()
            || !self.region.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        {
            return Err(invalid("awsRegion must be an AWS region such as us-west-2"));
        }
        // The AWS China partition has its own domain.
        let domain = if self.region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
        Ok(match &self.endpoint {
            Some(endpoint) => {
                let e = endpoint.trim_end_matches('/');
                let rest = e
                    .strip_prefix("http://")
                    .or_else(|| e.strip_prefix("https://"))
                    .ok_or_else(|| invalid("endpoint must be an http(s) URL such as http://127.0.0.1:4566"))?;
                if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
                    return Err(invalid("endpoint must be scheme://host[:port] with no path, query or credentials"));
                }
                (format!("{e}/{}", self.bucket), rest.to_owned())
            }
            None if !self.bucket.contains('.') => {
                let host = format!("{}.s3.{}.{domain}", self.bucket, self.region);
                (format!("https://{host}"), host)
            }
            // Dotted bucket names break virtual-hosted TLS: use path style.
            None => {
                let host = format!("s3.{}.{domain}", self.region);
                (format!("https://{host}/{}", self.bucket), host)
            }
        })
    }

    /// The origin (`scheme://host[:port]`) presigned URLs point to, once the target is checked
    /// (for a browser's CSP `connect-src` and CORS).
    pub fn origin(&self) -> Result<String> {
        let (base, host) = self.resolve()?;
        let scheme = if base.starts_with("http://") { "http" } else { "https" };
        Ok(format!("{scheme}://{host}"))
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::S3ConfigInvalid, msg)
}

/// Presigns S3 object URLs for one bucket with one set of credentials.
pub struct S3Presigner {
    base: String,
    host: String,
    region: String,
    identity: Identity,
    expires: Duration,
}

impl std::fmt::Debug for S3Presigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Presigner").field("base", &self.base).field("region", &self.region).finish_non_exhaustive()
    }
}

fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

impl S3Presigner {
    /// A presigner for `target` signing with `credentials`; URLs live `expires`.
    pub fn new(target: &S3Target, credentials: &S3Credentials, expires: Duration) -> Result<Self> {
        let (base, host) = target.resolve()?;
        if credentials.access_key_id.is_empty() || credentials.secret_access_key.is_empty() {
            return Err(invalid("awsCredentials needs accessKeyId and secretAccessKey"));
        }
        if expires.is_zero() || expires > MAX_EXPIRES {
            return Err(invalid("presigned URL lifetime must be between 1 second and 7 days"));
        }
        Ok(Self::from_parts(base, host, &target.region, credentials, expires))
    }

    fn from_parts(base: String, host: String, region: &str, credentials: &S3Credentials, expires: Duration) -> Self {
        let identity = Credentials::new(
            &credentials.access_key_id,
            &credentials.secret_access_key,
            credentials.session_token.clone(),
            None,
            "lunasec",
        )
        .into();
        Self { base, host, region: region.to_owned(), identity, expires }
    }

    /// The host the URLs point at.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Presigns `method` on object `key`; `headers` are signed and returned for the client to send.
    pub fn presign(&self, method: Method, key: &str, headers: &[(&str, &str)], now: SystemTime) -> Result<Presigned> {
        if key.is_empty() || key.len() > 1024 {
            return Err(invalid("object key must be 1-1024 bytes"));
        }
        let url = format!("{}/{}", self.base, utf8_percent_encode(key, KEY_ESCAPE));
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(self.expires);
        // S3 signs the path as sent: no double encoding, no dot-segment normalization.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|_| Error::new(ErrorCode::PresignFailed, "could not build SigV4 signing parameters"))?
            .into();
        let request =
            SignableRequest::new(method.as_str(), url.as_str(), headers.iter().copied(), SignableBody::UnsignedPayload)
                .map_err(|_| Error::new(ErrorCode::PresignFailed, "could not build the request to presign"))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|_| Error::new(ErrorCode::PresignFailed, "SigV4 presigning failed"))?
            .into_parts();
        let mut out = url;
        out.reserve(512);
        for (i, (name, value)) in instructions.params().iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(name);
            out.push('=');
            out.extend(utf8_percent_encode(value, QUERY_ESCAPE));
        }
        Ok(Presigned { url: out, headers: headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> S3Credentials {
        S3Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    fn target(endpoint: Option<&str>) -> S3Target {
        S3Target { bucket: "examplebucket".into(), region: "us-east-1".into(), endpoint: endpoint.map(str::to_owned) }
    }

    #[test]
    fn matches_the_aws_documentation_example() {
        // "Example: presigned URL" in the S3 SigV4 query-string authentication docs:
        // GET /test.txt, 2013-05-24T00:00:00Z, 86400 s.
        // The documented example uses the region-less legacy host.
        let host = "examplebucket.s3.amazonaws.com".to_owned();
        let p =
            S3Presigner::from_parts(format!("https://{host}"), host, "us-east-1", &creds(), Duration::from_hours(24));
        #[allow(clippy::duration_suboptimal_units)] // a Unix timestamp reads best in seconds
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        let out = p.presign(Method::Get, "test.txt", &[], t).unwrap();
        assert!(out.url.starts_with("https://examplebucket.s3.amazonaws.com/test.txt?"), "{}", out.url);
        assert!(out.url.contains("X-Amz-Date=20130524T000000Z"));
        assert!(out.url.contains("X-Amz-Expires=86400"));
        assert!(out.url.contains("X-Amz-SignedHeaders=host"));
        assert!(
            out.url.ends_with("X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"),
            "{}",
            out.url
        );
    }

    #[test]
    fn aws_hosts() {
        let p = S3Presigner::new(&target(None), &creds(), DEFAULT_EXPIRES).unwrap();
        assert_eq!(p.host(), "examplebucket.s3.us-east-1.amazonaws.com");
        let dotted = S3Target { bucket: "my.bucket".into(), ..target(None) };
        let p = S3Presigner::new(&dotted, &creds(), DEFAULT_EXPIRES).unwrap();
        let out = p.presign(Method::Get, "k", &[], SystemTime::now()).unwrap();
        assert!(out.url.starts_with("https://s3.us-east-1.amazonaws.com/my.bucket/k?"), "{}", out.url);
        assert_eq!(dotted.origin().unwrap(), "https://s3.us-east-1.amazonaws.com");
        assert_eq!(target(None).origin().unwrap(), "https://examplebucket.s3.us-east-1.amazonaws.com");
        let china = S3Target { region: "cn-north-1".into(), ..target(None) };
        assert_eq!(china.origin().unwrap(), "https://examplebucket.s3.cn-north-1.amazonaws.com.cn");
        assert_eq!(target(Some("http://127.0.0.1:4566/")).origin().unwrap(), "http://127.0.0.1:4566");
        assert_eq!(target(Some("https://minio.example:9000")).origin().unwrap(), "https://minio.example:9000");
    }

    #[test]
    fn sdk_credentials_and_redacted_debug() {
        let sdk = Credentials::new("AKIDEXAMPLE", "secret", Some("session".into()), None, "test");
        let c = S3Credentials::from(&sdk);
        assert_eq!((c.access_key_id.as_str(), c.session_token.as_deref()), ("AKIDEXAMPLE", Some("session")));
        let p = S3Presigner::new(&target(None), &c, DEFAULT_EXPIRES).unwrap();
        let sse = [("x-amz-server-side-encryption-customer-key", "c2VjcmV0LWtleQ==")];
        let out = p.presign(Method::Get, "k", &sse, SystemTime::now()).unwrap();
        assert!(out.url.contains("X-Amz-Security-Token=session"), "{}", out.url);
        assert_eq!(format!("{out:?}"), "Presigned(<redacted>)");
        assert!(!format!("{p:?}").contains("secret"));
    }

    #[test]
    fn path_style_endpoint_signed_headers_and_key_escaping() {
        let p = S3Presigner::new(&target(Some("http://127.0.0.1:4566/")), &creds(), DEFAULT_EXPIRES).unwrap();
        let sse = [("x-amz-server-side-encryption-customer-algorithm", "AES256")];
        let out = p.presign(Method::Put, "dir/a b+c", &sse, SystemTime::now()).unwrap();
        assert!(out.url.starts_with("http://127.0.0.1:4566/examplebucket/dir/a%20b%2Bc?"), "{}", out.url);
        assert!(
            out.url.contains("X-Amz-SignedHeaders=host%3Bx-amz-server-side-encryption-customer-algorithm"),
            "{}",
            out.url
        );
        assert_eq!(
            out.headers.get("x-amz-server-side-encryption-customer-algorithm").map(String::as_str),
            Some("AES256")
        );
        assert_eq!(p.host(), "127.0.0.1:4566");
    }

    #[test]
    fn config_errors() {
        let bad = |t: S3Target| S3Presigner::new(&t, &creds(), DEFAULT_EXPIRES).unwrap_err().code();
        assert_eq!(bad(S3Target { bucket: "UPPER".into(), ..target(None) }), ErrorCode::S3ConfigInvalid);
        assert_eq!(bad(S3Target { region: "US West".into(), ..target(None) }), ErrorCode::S3ConfigInvalid);
        assert_eq!(bad(target(Some("ftp://x"))), ErrorCode::S3ConfigInvalid);
        assert_eq!(bad(target(Some("http://x/path"))), ErrorCode::S3ConfigInvalid);
        assert_eq!(target(Some("ftp://x")).origin().unwrap_err().code(), ErrorCode::S3ConfigInvalid);
        let no_secret = S3Credentials { secret_access_key: String::new(), ..creds() };
        assert!(S3Presigner::new(&target(None), &no_secret, DEFAULT_EXPIRES).is_err());
        assert!(S3Presigner::new(&target(None), &creds(), Duration::from_hours(8 * 24)).is_err());
        assert_eq!(format!("{:?}", creds()), "S3Credentials(<redacted>)");
    }
}
