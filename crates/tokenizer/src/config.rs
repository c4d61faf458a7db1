//! Configuration from flags and environment variables (the original tokenizer's names where they
//! exist). [`Args`] is what clap parses (every value a string, so that all problems can be
//! collected); [`Config::from_args`] validates it and reports every problem at once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::HeaderValue;
use clap::Parser;
use lunasec_core::{DEFAULT_KID, VerifyingKeys, parse_go_duration};
use reqwest::Url;

use crate::crypto::MIN_SECRET_LEN;
pub use crate::limits::Limits;

const ABOUT: &str = "The LunaSec Dedicated Tokenizer: tokens, grants and the secure-frame session flow, with \
ciphertext in S3 (SSE-C) or in its own embedded blob store, and records in an embedded file store or DynamoDB.";

const LONG_ABOUT_TAIL: &str = "\
Every option can be given as a flag or as the environment variable shown. Bad configuration makes the \
tokenizer exit with status 2 after printing one line per problem.

Quick start (no services at all):
  lunasec-tokenizer --dev --session-jwks-url http://localhost:3001/.lunasec/jwks.json

Logs go to stderr; level from TOKENIZER_LOG or RUST_LOG (default info). No token, JWT, key, cookie,
session id or plaintext is ever logged.";

/// Command-line flags and environment variables.
#[derive(Debug, Clone, Parser)]
#[command(name = "lunasec-tokenizer", version, about = ABOUT, long_about = format!("{ABOUT}\n\n{LONG_ABOUT_TAIL}"))]
pub struct Args {
    /// Address and port to listen on.
    #[arg(long, env = "TOKENIZER_HTTP_ADDR", default_value = "127.0.0.1:37766", value_name = "ADDR:PORT")]
    pub http_addr: String,

    /// Base URL where browsers and the SDK reach this tokenizer (used in embedded blob URLs).
    /// Default: http://<the listening address>.
    #[arg(long, env = "TOKENIZER_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// URL of the application's JWKS (normally <app backend>/.lunasec/jwks.json). Fetched at start
    /// with retries (the app may start later), refreshed periodically and on an unknown kid.
    /// Exactly one of this and --session-public-key is required.
    #[arg(long, env = "SESSION_JWKS_URL", value_name = "URL")]
    pub session_jwks_url: Option<String>,

    /// The application's RSA public key as PEM text (or base64 of the PEM), instead of a JWKS URL.
    #[arg(long, env = "SESSION_PUBLIC_KEY", value_name = "PEM", hide_env_values = true)]
    pub session_public_key: Option<String>,

    /// Key id the --session-public-key is filed under (JWTs without kid use the default too).
    #[arg(long, env = "SESSION_PUBLIC_KEY_KID", default_value = DEFAULT_KID, value_name = "KID")]
    pub session_public_key_kid: String,

    /// How often the JWKS is refetched (Go duration syntax).
    #[arg(long, env = "SESSION_JWKS_REFRESH", default_value = "5m", value_name = "DURATION")]
    pub session_jwks_refresh: String,

    /// Least time between two on-demand JWKS fetches triggered by an unknown kid.
    #[arg(long, env = "SESSION_JWKS_MIN_REFETCH", default_value = "10s", value_name = "DURATION")]
    pub session_jwks_min_refetch: String,

    /// Where /session/ensure sends the browser: JSON {"name":{"url":"http://localhost:3001","default":true}}.
    /// The app's Express plugin answers <url>/.lunasec/secure-frame.
    #[arg(long, env = "AUTH_PROVIDERS", value_name = "JSON")]
    pub auth_providers: Option<String>,

    /// Comma-separated origins allowed by CORS, with credentials (e.g. `http://localhost:3000`).
    #[arg(long, env = "APPLICATION_FRONT_END", value_name = "ORIGINS")]
    pub application_front_end: Option<String>,

    /// Grant lifetime when /grant/set names none (Go duration syntax).
    #[arg(long, env = "GRANT_DEFAULT_DURATION", default_value = "15m", value_name = "DURATION")]
    pub grant_default_duration: String,

    /// Longest grant /grant/set accepts; longer requests are refused with 400.
    #[arg(long, env = "GRANT_MAXIMUM_DURATION", default_value = "1h", value_name = "DURATION")]
    pub grant_maximum_duration: String,

    /// Directory for the embedded store, the embedded blobs and (in dev mode) the generated secret.
    #[arg(long, env = "TOKENIZER_DATA_DIR", default_value = "./.lunasec-tokenizer", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Secret (at least 32 bytes) from which every tokenizer key is derived. Required outside dev
    /// mode; every tokenizer sharing a store must use the same one. Losing it loses all data.
    #[arg(long, env = "TOKENIZER_SECRET", value_name = "SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// Dev mode: a missing `TOKENIZER_SECRET` is generated once and kept in `<data dir>/tokenizer-secret` (0600).
    #[arg(long)]
    pub dev: bool,

    /// `dev` is the same as --dev; anything else (e.g. `production`) is not dev mode.
    #[arg(long = "env", env = "TOKENIZER_ENV", value_name = "ENV")]
    pub tokenizer_env: Option<String>,

    /// Record store: `embedded` (a file in the data dir; one tokenizer) or `dynamodb` (several).
    #[arg(long, env = "STORAGE_BACKEND", default_value = "embedded", value_name = "embedded|dynamodb")]
    pub storage_backend: String,

    /// DynamoDB table for records, states and grants (hash key `pk`, string; TTL attribute `ttl`).
    #[arg(long, env = "DYNAMODB_TABLE", default_value = "lunasec-tokenizer", value_name = "NAME")]
    pub dynamodb_table: String,

    /// Create the DynamoDB table (on demand billing, TTL enabled) at start if missing.
    #[arg(long, env = "DYNAMODB_CREATE_TABLE", value_name = "BOOL", default_value = "false")]
    pub dynamodb_create_table: String,

    /// Ciphertext store: `embedded` (blob URLs served by this tokenizer) or `s3`.
    #[arg(long, env = "CIPHERTEXT_BACKEND", default_value = "embedded", value_name = "embedded|s3")]
    pub ciphertext_backend: String,

    /// S3 bucket for ciphertext (required with --ciphertext-backend s3).
    #[arg(long, env = "CIPHERTEXT_VAULT_S3_BUCKET", value_name = "BUCKET")]
    pub s3_bucket: Option<String>,

    /// Create the S3 bucket at start if missing.
    #[arg(long, env = "S3_CREATE_BUCKET", value_name = "BOOL", default_value = "false")]
    pub s3_create_bucket: String,

    /// Endpoint override for S3 and DynamoDB (LocalStack, e.g. http://127.0.0.1:4566): path-style
    /// S3, and credentials test/test unless `AWS_ACCESS_KEY_ID` is set.
    #[arg(long, env = "LOCALSTACK_URL", value_name = "URL")]
    pub localstack_url: Option<String>,

    /// AWS region of the bucket and table. Credentials come from the usual AWS chain.
    #[arg(long, env = "AWS_REGION", default_value = "us-west-2", value_name = "REGION")]
    pub aws_region: String,

    /// Largest object the embedded blob store accepts (bytes, or with KiB/MiB/GiB).
    #[arg(long, env = "BLOB_MAX_SIZE", default_value = "100MiB", value_name = "SIZE")]
    pub blob_max_size: String,

    /// Embedded blob uploads slower than this are cut off (`408`, the partial file is removed):
    /// at least this many bytes (or KiB/MiB) must arrive in every --blob-min-upload-window.
    #[arg(long, env = "BLOB_MIN_UPLOAD_RATE", default_value = "16KiB", value_name = "SIZE")]
    pub blob_min_upload_rate: String,

    /// The window of --blob-min-upload-rate (Go duration syntax).
    #[arg(long, env = "BLOB_MIN_UPLOAD_WINDOW", default_value = "10s", value_name = "DURATION")]
    pub blob_min_upload_window: String,

    /// A connection must send a request's complete headers within this time, else it is closed.
    #[arg(long, env = "TOKENIZER_HEADER_READ_TIMEOUT", default_value = "10s", value_name = "DURATION")]
    pub header_read_timeout: String,

    /// Longest time a request may take, blob transfers excepted (`503` with Retry-After).
    #[arg(long, env = "TOKENIZER_REQUEST_TIMEOUT", default_value = "30s", value_name = "DURATION")]
    pub request_timeout: String,

    /// Open connections at most; a connection over the cap is answered `503` (Retry-After) and
    /// closed. Keep it below the process's file-descriptor limit (`ulimit -n`).
    #[arg(long, env = "TOKENIZER_MAX_CONNECTIONS", default_value = "4096", value_name = "N")]
    pub max_connections: String,

    /// Requests in progress at most (`/health` and `/ready` excepted); more are answered `503`
    /// with Retry-After at once.
    #[arg(long, env = "TOKENIZER_MAX_CONCURRENT_REQUESTS", default_value = "512", value_name = "N")]
    pub max_concurrent_requests: String,

    /// On SIGTERM/SIGINT, in-flight requests get this long to finish; then open connections are
    /// dropped and the process exits.
    #[arg(long, env = "TOKENIZER_SHUTDOWN_GRACE", default_value = "10s", value_name = "DURATION")]
    pub shutdown_grace: String,

    /// Log format: `compact` (human) or `json`.
    #[arg(long, env = "TOKENIZER_LOG_FORMAT", default_value = "compact", value_name = "compact|json")]
    pub log_format: String,

    /// Development of the secure frame only: serve `frame.js` and `frame.css` from this directory,
    /// re-read on every request, instead of the copies compiled into the binary. Refused outside
    /// dev mode.
    #[arg(long, env = "LUNASEC_FRAME_ASSETS_DIR", value_name = "DIR", hide = true)]
    pub frame_assets_dir: Option<PathBuf>,
}

/// Where the application's public keys come from.
#[derive(Debug, Clone)]
pub enum SessionKeySource {
    Jwks { url: String, refresh: Duration, min_refetch: Duration },
    Fixed(Box<VerifyingKeys>),
}

/// One auth provider (`AUTH_PROVIDERS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthProvider {
    pub name: String,
    /// Base URL without a trailing slash.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    Embedded,
    DynamoDb { table: String, create_table: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiphertextConfig {
    Embedded { max_size: u64 },
    S3 { bucket: String, create_bucket: bool },
}

/// AWS client settings.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsConfig {
    pub region: String,
    pub endpoint: Option<String>,
    /// Static credentials (LocalStack's test/test); `None` uses the default AWS chain.
    pub static_credentials: Option<(String, String)>,
}

impl std::fmt::Debug for AwsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsConfig")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Where the tokenizer secret comes from.
#[derive(Clone)]
pub enum SecretSource {
    Given(Vec<u8>),
    /// Dev mode: `<data dir>/tokenizer-secret`, generated on first start.
    DevFile,
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Given(_) => "Given(<redacted>)",
            Self::DevFile => "DevFile",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Compact,
    Json,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub http_addr: SocketAddr,
    pub public_url: Option<String>,
    pub session_keys: SessionKeySource,
    pub auth_providers: Vec<AuthProvider>,
    /// Index into `auth_providers` of the default provider.
    pub default_provider: Option<usize>,
    /// The application's front-end origins (`APPLICATION_FRONT_END`): the pages that may embed the
    /// secure frame, and the only CORS origins (on the session routes).
    pub cors_origins: Vec<HeaderValue>,
    pub grant_default: Duration,
    pub grant_maximum: Duration,
    pub data_dir: PathBuf,
    pub secret: SecretSource,
    pub dev: bool,
    pub storage: StorageConfig,
    pub ciphertext: CiphertextConfig,
    pub aws: AwsConfig,
    pub log_format: LogFormat,
    /// See [`Args::frame_assets_dir`] (dev mode only).
    pub frame_assets_dir: Option<PathBuf>,
    /// Connection, request, upload-rate and shutdown limits.
    pub limits: Limits,
}

fn parse_count(name: &str, v: &str, problems: &mut Vec<String>) -> usize {
    match v.trim().parse::<usize>() {
        Ok(n) if n > 0 => n,
        _ => {
            problems.push(format!("{name} must be a whole number greater than zero"));
            1
        }
    }
}

fn parse_limits(args: &Args, p: &mut Vec<String>) -> Limits {
    let d = Limits::default();
    let mut dur = |name: &str, v: &str, default: Duration| parse_duration(name, v, p).unwrap_or(default);
    let header_read_timeout = dur("TOKENIZER_HEADER_READ_TIMEOUT", &args.header_read_timeout, d.header_read_timeout);
    let request_timeout = dur("TOKENIZER_REQUEST_TIMEOUT", &args.request_timeout, d.request_timeout);
    let blob_min_rate_window = dur("BLOB_MIN_UPLOAD_WINDOW", &args.blob_min_upload_window, d.blob_min_rate_window);
    let shutdown_grace = dur("TOKENIZER_SHUTDOWN_GRACE", &args.shutdown_grace, d.shutdown_grace);
    let blob_min_rate_bytes = parse_size(&args.blob_min_upload_rate).unwrap_or_else(|| {
        p.push("BLOB_MIN_UPLOAD_RATE must be a size like 16384 or 16KiB (0 disables the check)".to_owned());
        d.blob_min_rate_bytes
    });
    Limits {
        header_read_timeout,
        request_timeout,
        max_connections: parse_count("TOKENIZER_MAX_CONNECTIONS", &args.max_connections, p),
        max_concurrent_requests: parse_count("TOKENIZER_MAX_CONCURRENT_REQUESTS", &args.max_concurrent_requests, p),
        blob_min_rate_bytes,
        blob_min_rate_window,
        shutdown_grace,
    }
}

fn parse_bool(name: &str, v: &str, problems: &mut Vec<String>) -> bool {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => true,
        "0" | "false" | "no" | "off" | "" => false,
        _ => {
            problems.push(format!("{name} must be true or false"));
            false
        }
    }
}

fn parse_duration(name: &str, v: &str, problems: &mut Vec<String>) -> Option<Duration> {
    match parse_go_duration(v.trim()) {
        Ok(d) if d.is_zero() => {
            problems.push(format!("{name} must be longer than zero"));
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            problems.push(format!("{name}: {}", e.message()));
            None
        }
    }
}

/// An absolute http(s) URL without query or fragment, returned without a trailing slash.
fn parse_base_url(name: &str, v: &str, problems: &mut Vec<String>) -> Option<String> {
    match Url::parse(v.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            if u.query().is_some() || u.fragment().is_some() {
                problems.push(format!("{name} must not have a query or fragment"));
                return None;
            }
            Some(u.as_str().trim_end_matches('/').to_owned())
        }
        _ => {
            problems.push(format!("{name} must be an absolute http(s) URL (e.g. http://localhost:3001)"));
            None
        }
    }
}

/// `123`, `64KiB`, `100MiB`, `1GiB` (also KB/MB/GB as binary units).
#[must_use]
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Formats a duration in Go syntax (`1h`, `15m`, `1h30m`, `45s`, `1.5s`).
#[must_use]
pub fn fmt_go_duration(d: Duration) -> String {
    use std::fmt::Write as _;
    let total = d.as_secs();
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    let ms = d.subsec_millis();
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if m > 0 {
        let _ = write!(out, "{m}m");
    }
    if ms > 0 {
        let frac = format!("{ms:03}");
        let _ = write!(out, "{s}.{}s", frac.trim_end_matches('0'));
    } else if s > 0 || out.is_empty() {
        let _ = write!(out, "{s}s");
    }
    out
}

fn parse_auth_providers(json: &str, problems: &mut Vec<String>) -> (Vec<AuthProvider>, Option<usize>) {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        url: String,
        #[serde(default)]
        default: bool,
    }
    let Ok(raw) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json) else {
        problems.push(
            r#"AUTH_PROVIDERS must be a JSON object like {"app":{"url":"http://localhost:3001","default":true}}"#
                .to_owned(),
        );
        return (Vec::new(), None);
    };
    let mut providers = Vec::new();
    let mut defaults = Vec::new();
    for (name, v) in raw {
        match serde_json::from_value::<Raw>(v) {
            Ok(r) => {
                if let Some(url) = parse_base_url(&format!("AUTH_PROVIDERS.{name}.url"), &r.url, problems) {
                    if r.default {
                        defaults.push(providers.len());
                    }
                    providers.push(AuthProvider { name, url });
                }
            }
            Err(_) => problems.push(format!(
                r#"AUTH_PROVIDERS.{name} must be an object {{"url":"http(s)://…","default":true|false}}"#
            )),
        }
    }
    let default = match defaults.as_slice() {
        [] if providers.len() == 1 => Some(0),
        [] => None,
        [one] => Some(*one),
        _ => {
            problems.push("AUTH_PROVIDERS has more than one provider with \"default\":true".to_owned());
            None
        }
    };
    (providers, default)
}

fn parse_public_key(pem_or_b64: &str, kid: &str, problems: &mut Vec<String>) -> Option<VerifyingKeys> {
    use base64::Engine as _;
    let text = pem_or_b64.trim();
    let pem = if text.starts_with("-----BEGIN") {
        text.to_owned()
    } else {
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(compact).ok().and_then(|b| String::from_utf8(b).ok());
        let Some(text) = decoded else {
            problems.push("SESSION_PUBLIC_KEY must be an RSA public key PEM (or the base64 of one)".to_owned());
            return None;
        };
        text
    };
    let keys = VerifyingKeys::from_public_pem(kid, &pem).ok();
    if keys.is_none() {
        problems.push("SESSION_PUBLIC_KEY is not an RSA public key PEM (-----BEGIN PUBLIC KEY-----)".to_owned());
    }
    keys
}

impl Config {
    /// Validates `args`; on failure returns every problem, one line each.
    #[allow(clippy::too_many_lines)] // one flat list of independent checks reads best in one place
    pub fn from_args(args: Args) -> Result<Self, Vec<String>> {
        let mut p = Vec::new();
        let http_addr = args.http_addr.trim().parse::<SocketAddr>().map_err(|_| {
            p.push("TOKENIZER_HTTP_ADDR must be an address and port like 127.0.0.1:37766 or 0.0.0.0:37766".to_owned());
        });
        let public_url = args.public_url.as_deref().and_then(|u| parse_base_url("TOKENIZER_PUBLIC_URL", u, &mut p));
        if args.public_url.is_none() && http_addr.is_ok_and(|a| a.ip().is_unspecified()) {
            p.push("TOKENIZER_PUBLIC_URL is required when listening on all interfaces (0.0.0.0 / ::)".to_owned());
        }

        let session_keys = match (args.session_jwks_url.as_deref(), args.session_public_key.as_deref()) {
            (Some(_), Some(_)) => {
                p.push("set only one of SESSION_JWKS_URL and SESSION_PUBLIC_KEY".to_owned());
                None
            }
            (None, None) => {
                p.push("SESSION_JWKS_URL (e.g. http://localhost:3001/.lunasec/jwks.json) or SESSION_PUBLIC_KEY is required".to_owned());
                None
            }
            (Some(url), None) => {
                let url = parse_base_url("SESSION_JWKS_URL", url, &mut p);
                let refresh = parse_duration("SESSION_JWKS_REFRESH", &args.session_jwks_refresh, &mut p);
                let min_refetch = parse_duration("SESSION_JWKS_MIN_REFETCH", &args.session_jwks_min_refetch, &mut p);
                match (url, refresh, min_refetch) {
                    (Some(url), Some(refresh), Some(min_refetch)) => {
                        Some(SessionKeySource::Jwks { url, refresh, min_refetch })
                    }
                    _ => None,
                }
            }
            (None, Some(pem)) => parse_public_key(pem, args.session_public_key_kid.trim(), &mut p)
                .map(|k| SessionKeySource::Fixed(Box::new(k))),
        };

        let (auth_providers, default_provider) = match args.auth_providers.as_deref().map(str::trim) {
            Some(j) if !j.is_empty() => parse_auth_providers(j, &mut p),
            _ => (Vec::new(), None),
        };

        let mut cors_origins = Vec::new();
        for origin in
            args.application_front_end.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty())
        {
            let ok = Url::parse(origin).ok().filter(|u| {
                matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.path() == "/" && u.query().is_none()
            });
            match (ok, HeaderValue::from_str(origin.trim_end_matches('/'))) {
                (Some(_), Ok(v)) => cors_origins.push(v),
                _ => p.push(format!(
                    "APPLICATION_FRONT_END entry {origin:?} must be an origin like https://app.example.com (scheme, host, optional port)"
                )),
            }
        }

        let grant_default = parse_duration("GRANT_DEFAULT_DURATION", &args.grant_default_duration, &mut p);
        let grant_maximum = parse_duration("GRANT_MAXIMUM_DURATION", &args.grant_maximum_duration, &mut p);
        if let (Some(d), Some(m)) = (grant_default, grant_maximum)
            && d > m
        {
            p.push(format!(
                "GRANT_DEFAULT_DURATION ({}) is longer than GRANT_MAXIMUM_DURATION ({})",
                fmt_go_duration(d),
                fmt_go_duration(m)
            ));
        }

        let dev = args.dev
            || match args.tokenizer_env.as_deref().map(|s| s.trim().to_ascii_lowercase()) {
                Some(e) if e == "dev" || e == "development" => true,
                Some(e) if e.is_empty() || e == "prod" || e == "production" => false,
                Some(_) => {
                    p.push("TOKENIZER_ENV must be dev or production".to_owned());
                    false
                }
                None => false,
            };
        if args.frame_assets_dir.is_some() && !dev {
            p.push("LUNASEC_FRAME_ASSETS_DIR is for developing the secure frame and needs dev mode (--dev)".to_owned());
        }
        let secret = match args.secret.as_deref() {
            Some(s) if s.len() >= MIN_SECRET_LEN => Some(SecretSource::Given(s.as_bytes().to_vec())),
            Some(_) => {
                p.push(format!(
                    "TOKENIZER_SECRET must be at least {MIN_SECRET_LEN} bytes (e.g. `openssl rand -base64 48`)"
                ));
                None
            }
            None if dev => Some(SecretSource::DevFile),
            None => {
                p.push(
                    "TOKENIZER_SECRET is required outside dev mode (e.g. `openssl rand -base64 48`); use --dev or TOKENIZER_ENV=dev to generate one locally"
                        .to_owned(),
                );
                None
            }
        };

        let storage = match args.storage_backend.trim() {
            "embedded" => Some(StorageConfig::Embedded),
            "dynamodb" => {
                let create_table = parse_bool("DYNAMODB_CREATE_TABLE", &args.dynamodb_create_table, &mut p);
                let table = args.dynamodb_table.trim().to_owned();
                if table.len() < 3
                    || table.len() > 255
                    || !table.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
                {
                    p.push("DYNAMODB_TABLE must be 3-255 characters of A-Z a-z 0-9 _ - .".to_owned());
                }
                Some(StorageConfig::DynamoDb { table, create_table })
            }
            _ => {
                p.push("STORAGE_BACKEND must be embedded or dynamodb".to_owned());
                None
            }
        };
        let ciphertext = match args.ciphertext_backend.trim() {
            "embedded" => match parse_size(&args.blob_max_size) {
                Some(max_size) if max_size > 0 => Some(CiphertextConfig::Embedded { max_size }),
                _ => {
                    p.push("BLOB_MAX_SIZE must be a size like 104857600 or 100MiB".to_owned());
                    None
                }
            },
            "s3" => {
                let create_bucket = parse_bool("S3_CREATE_BUCKET", &args.s3_create_bucket, &mut p);
                match args.s3_bucket.as_deref().map(str::trim) {
                    Some(b) if !b.is_empty() => Some(CiphertextConfig::S3 { bucket: b.to_owned(), create_bucket }),
                    _ => {
                        p.push("CIPHERTEXT_VAULT_S3_BUCKET is required with CIPHERTEXT_BACKEND=s3".to_owned());
                        None
                    }
                }
            }
            _ => {
                p.push("CIPHERTEXT_BACKEND must be embedded or s3".to_owned());
                None
            }
        };
        let endpoint = args.localstack_url.as_deref().and_then(|u| parse_base_url("LOCALSTACK_URL", u, &mut p));
        let static_credentials = match &endpoint {
            Some(_) if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() => Some(("test".to_owned(), "test".to_owned())),
            _ => None,
        };
        let region = args.aws_region.trim().to_owned();
        if region.is_empty() {
            p.push("AWS_REGION must not be empty".to_owned());
        }
        let limits = parse_limits(&args, &mut p);
        let log_format = match args.log_format.trim() {
            "compact" => LogFormat::Compact,
            "json" => LogFormat::Json,
            _ => {
                p.push("TOKENIZER_LOG_FORMAT must be compact or json".to_owned());
                LogFormat::Compact
            }
        };

        match (http_addr, session_keys, grant_default, grant_maximum, secret, storage, ciphertext) {
            (
                Ok(http_addr),
                Some(session_keys),
                Some(grant_default),
                Some(grant_maximum),
                Some(secret),
                Some(storage),
                Some(ciphertext),
            ) if p.is_empty() => Ok(Self {
                http_addr,
                public_url,
                session_keys,
                auth_providers,
                default_provider,
                cors_origins,
                grant_default,
                grant_maximum,
                data_dir: args.data_dir,
                secret,
                dev,
                storage,
                ciphertext,
                aws: AwsConfig { region, endpoint, static_credentials },
                log_format,
                frame_assets_dir: args.frame_assets_dir,
                limits,
            }),
            _ => Err(p),
        }
    }

    /// A dev configuration for tests and embedding: loopback on an ephemeral port, embedded
    /// everything under `data_dir`, the given key source and secret.
    #[must_use]
    pub fn embedded(data_dir: PathBuf, session_keys: SessionKeySource, secret: Vec<u8>) -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            session_keys,
            auth_providers: Vec::new(),
            default_provider: None,
            cors_origins: Vec::new(),
            grant_default: Duration::from_mins(15),
            grant_maximum: Duration::from_hours(1),
            data_dir,
            secret: SecretSource::Given(secret),
            dev: true,
            storage: StorageConfig::Embedded,
            ciphertext: CiphertextConfig::Embedded { max_size: 100 << 20 },
            aws: AwsConfig { region: "us-west-2".to_owned(), endpoint: None, static_credentials: None },
            log_format: LogFormat::Compact,
            frame_assets_dir: None,
            limits: Limits::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, Vec<String>> {
        let mut v = vec!["lunasec-tokenizer"];
        v.extend_from_slice(args);
        Config::from_args(Args::try_parse_from(v).unwrap())
    }

    #[test]
    fn go_durations_format() {
        assert_eq!(fmt_go_duration(Duration::from_hours(1)), "1h");
        assert_eq!(fmt_go_duration(Duration::from_mins(15)), "15m");
        assert_eq!(fmt_go_duration(Duration::from_secs(5430)), "1h30m30s");
        assert_eq!(fmt_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(fmt_go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100MiB"), Some(100 << 20));
        assert_eq!(parse_size("42"), Some(42));
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("1TB"), None);
        assert_eq!(parse_size("MiB"), None);
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let problems = parse(&[
            "--http-addr",
            "nope",
            "--grant-default-duration",
            "2h",
            "--storage-backend",
            "mongo",
            "--ciphertext-backend",
            "s3",
            "--auth-providers",
            "{\"a\":{\"url\":\"ftp://x\"}}",
            "--secret",
            "short",
            "--application-front-end",
            "http://ok.example, not an origin",
        ])
        .unwrap_err();
        let joined = problems.join("\n");
        for needle in [
            "TOKENIZER_HTTP_ADDR",
            "SESSION_JWKS_URL",
            "GRANT_DEFAULT_DURATION (2h) is longer than GRANT_MAXIMUM_DURATION (1h)",
            "STORAGE_BACKEND",
            "CIPHERTEXT_VAULT_S3_BUCKET",
            "AUTH_PROVIDERS.a.url",
            "TOKENIZER_SECRET must be at least 32 bytes",
            "APPLICATION_FRONT_END entry \"not an origin\"",
        ] {
            assert!(joined.contains(needle), "missing {needle:?} in:\n{joined}");
        }
        assert!(!joined.contains("short"), "the secret is never echoed");
    }

    #[test]
    fn dev_mode_defaults() {
        let c = parse(&["--dev", "--session-jwks-url", "http://localhost:3001/.lunasec/jwks.json"]).unwrap();
        assert!(c.dev);
        assert!(matches!(c.secret, SecretSource::DevFile));
        assert_eq!(c.grant_default, Duration::from_mins(15));
        assert_eq!(c.storage, StorageConfig::Embedded);
        assert_eq!(c.http_addr.port(), 37766);
        let c = parse(&[
            "--session-jwks-url",
            "http://localhost:3001/.lunasec/jwks.json",
            "--secret",
            "0123456789abcdef0123456789abcdef",
            "--auth-providers",
            r#"{"a":{"url":"http://localhost:3001/api/"},"b":{"url":"http://b","default":true}}"#,
        ])
        .unwrap();
        assert!(!c.dev);
        assert_eq!(c.auth_providers.len(), 2);
        assert_eq!(c.auth_providers[c.default_provider.unwrap()].name, "b");
        assert_eq!(c.auth_providers[0].url, "http://localhost:3001/api");
    }
}
