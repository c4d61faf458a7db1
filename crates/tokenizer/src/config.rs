//! Configuration from flags and environment variables (the original tokenizer's names where they
//! exist).
//!
//! Every option is typed and parsed once, by the value parser named on its field in [`Args`].
//! Those parsers never fail: each yields a [`Checked`] value, the parsed value or the problems with
//! it (naming the flag or environment variable it came from), so that clap does not stop at the
//! first bad value. [`Config::from_args`] then collects the problems of every option, applies the
//! rules across options, and reports every problem at once.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::HeaderValue;
use clap::builder::{PossibleValue, TypedValueParser};
use clap::parser::ValueSource;
use clap::{Arg, Command, Parser, ValueEnum};
use lunasec_core::{DEFAULT_KID, VerifyingKeys, parse_go_duration};
use reqwest::Url;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterExt as _, filter_fn};
use tracing_subscriber::layer::Filter;
use tracing_subscriber::registry::LookupSpan;

use crate::crypto::MIN_SECRET_LEN;
pub use crate::limits::Limits;

const ABOUT: &str = "The LunaSec Dedicated Tokenizer: tokens, grants and the secure-frame session flow, with \
ciphertext in S3 (SSE-C) or in its own embedded blob store, and records in an embedded file store or DynamoDB.";

const LONG_ABOUT_TAIL: &str = "\
Every option can be given as a flag or as the environment variable shown, except the secret: \
TOKENIZER_SECRET is read from the environment only (never from the command line, which shows in ps and \
shell history), or from a file with --secret-file. Bad configuration makes the tokenizer exit with \
status 2 after printing one line per problem.

Quick start (no services at all):
  lunasec-tokenizer --dev --session-jwks-url http://localhost:3001/.lunasec/jwks.json

Logs go to stderr; level from TOKENIZER_LOG or RUST_LOG (default info), e.g. debug or
lunasec_tokenizer=trace. Other crates' logs (hyper, h2, reqwest, rustls, the AWS SDK, redb, tower...)
are capped at info whatever the level says: at debug and trace they can log headers and URLs, and
presigned URLs and JWTs are secrets. No token, JWT, key, cookie, session id or plaintext is ever
logged.";

// ---------------------------------------------------------------------------------------------
// The options

/// Command-line flags and environment variables, each parsed into its type (see the module docs).
#[derive(Debug, Clone, Parser)]
#[command(name = "lunasec-tokenizer", version, about = ABOUT, long_about = format!("{ABOUT}\n\n{LONG_ABOUT_TAIL}"))]
pub struct Args {
    /// Address and port to listen on.
    #[arg(long, env = "TOKENIZER_HTTP_ADDR", default_value = "127.0.0.1:37766", value_name = "ADDR:PORT",
          value_parser = check(socket_addr))]
    pub http_addr: Checked<SocketAddr>,

    /// Base URL where browsers and the SDK reach this tokenizer (used in embedded blob URLs).
    /// Default: http://<the listening address>.
    #[arg(long, env = "TOKENIZER_PUBLIC_URL", value_name = "URL", value_parser = check(base_url))]
    pub public_url: Option<Checked<String>>,

    #[command(flatten)]
    pub session: SessionArgs,

    /// Where /session/ensure sends the browser: JSON {"name":{"url":"http://localhost:3001","default":true}}.
    /// The app's Express plugin answers <url>/.lunasec/secure-frame.
    #[arg(long, env = "AUTH_PROVIDERS", value_name = "JSON", value_parser = check(auth_providers))]
    pub auth_providers: Option<Checked<AuthProviders>>,

    /// Comma-separated origins allowed by CORS, with credentials (e.g. `http://localhost:3000`).
    #[arg(long, env = "APPLICATION_FRONT_END", value_name = "ORIGINS", value_parser = check(origins))]
    pub application_front_end: Option<Checked<Vec<HeaderValue>>>,

    /// Grant lifetime when /grant/set names none (Go duration syntax).
    #[arg(long, env = "GRANT_DEFAULT_DURATION", default_value = "15m", value_name = "DURATION",
          value_parser = check(duration))]
    pub grant_default_duration: Checked<Duration>,

    /// Longest grant /grant/set accepts; longer requests are refused with 400.
    #[arg(long, env = "GRANT_MAXIMUM_DURATION", default_value = "1h", value_name = "DURATION",
          value_parser = check(duration))]
    pub grant_maximum_duration: Checked<Duration>,

    /// Directory for the embedded store, the embedded blobs and (in dev mode) the generated secret.
    #[arg(long, env = "TOKENIZER_DATA_DIR", default_value = "./.lunasec-tokenizer", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// `TOKENIZER_SECRET`, from the environment only: the flag form is refused (a secret on a
    /// command line shows in `ps` and shell history). See --secret-file.
    #[arg(long = "secret", env = "TOKENIZER_SECRET", hide = true, value_parser = raw_check(secret_from_env))]
    pub secret: Option<Checked<Secret>>,

    /// File holding the tokenizer secret; or set `TOKENIZER_SECRET` in the environment (never on
    /// the command line). At least 32 bytes (trailing line breaks are ignored), from which every
    /// tokenizer key is derived. Required outside dev mode; every tokenizer sharing a store must
    /// use the same one; losing it loses all data. The file must not be accessible to group or
    /// others (chmod 600).
    #[arg(long, env = "TOKENIZER_SECRET_FILE", value_name = "PATH", value_parser = raw_check(secret_from_file))]
    pub secret_file: Option<Checked<Secret>>,

    /// Dev mode: a missing `TOKENIZER_SECRET` is generated once and kept in `<data dir>/tokenizer-secret` (0600).
    #[arg(long)]
    pub dev: bool,

    /// `dev` is the same as --dev; `production` (or empty) is not dev mode.
    #[arg(long = "env", env = "TOKENIZER_ENV", value_name = "ENV", value_parser = check_deploy_env())]
    pub tokenizer_env: Option<Checked<DeployEnv>>,

    #[command(flatten)]
    pub storage: StorageArgs,

    #[command(flatten)]
    pub ciphertext: CiphertextArgs,

    #[command(flatten)]
    pub aws: AwsArgs,

    #[command(flatten)]
    pub limits: LimitArgs,

    /// Log format.
    #[arg(long, env = "TOKENIZER_LOG_FORMAT", default_value = "compact", value_name = "FORMAT",
          value_parser = check_enum::<LogFormat>())]
    pub log_format: Checked<LogFormat>,

    /// Development of the secure frame only: serve `frame.js` and `frame.css` from this directory,
    /// re-read on every request, instead of the copies compiled into the binary. Refused outside
    /// dev mode.
    #[arg(long, env = "LUNASEC_FRAME_ASSETS_DIR", value_name = "DIR", hide = true)]
    pub frame_assets_dir: Option<PathBuf>,
}

/// Where the application's public keys come from (part of [`Args`]).
#[derive(Debug, Clone, clap::Args)]
pub struct SessionArgs {
    /// URL of the application's JWKS (normally <app backend>/.lunasec/jwks.json). Fetched at start
    /// with retries (the app may start later), refreshed periodically and on an unknown kid.
    /// Exactly one of this and --session-public-key is required.
    #[arg(long, env = "SESSION_JWKS_URL", value_name = "URL", value_parser = check(jwks_url))]
    pub session_jwks_url: Option<Checked<String>>,

    /// The application's RSA public key as PEM text (or base64 of the PEM), instead of a JWKS URL.
    #[arg(long, env = "SESSION_PUBLIC_KEY", value_name = "PEM", hide_env_values = true, allow_hyphen_values = true,
          value_parser = check(public_key))]
    pub session_public_key: Option<Checked<PublicKeyPem>>,

    /// Key id the --session-public-key is filed under (JWTs without kid use the default too).
    #[arg(long, env = "SESSION_PUBLIC_KEY_KID", default_value = DEFAULT_KID, value_name = "KID")]
    pub session_public_key_kid: String,

    /// How often the JWKS is refetched (Go duration syntax).
    #[arg(long, env = "SESSION_JWKS_REFRESH", default_value = "5m", value_name = "DURATION",
          value_parser = check(duration))]
    pub session_jwks_refresh: Checked<Duration>,

    /// Least time between two on-demand JWKS fetches triggered by an unknown kid.
    #[arg(long, env = "SESSION_JWKS_MIN_REFETCH", default_value = "10s", value_name = "DURATION",
          value_parser = check(duration))]
    pub session_jwks_min_refetch: Checked<Duration>,
}

impl SessionArgs {
    fn take(self, p: &mut Vec<String>) -> Option<SessionKeySource> {
        match (self.session_jwks_url.is_some(), self.session_public_key.is_some()) {
            (true, true) => p.push("set only one of SESSION_JWKS_URL and SESSION_PUBLIC_KEY".to_owned()),
            (false, false) => p.push(
                "SESSION_JWKS_URL (e.g. http://localhost:3001/.lunasec/jwks.json) or SESSION_PUBLIC_KEY is required"
                    .to_owned(),
            ),
            _ => {}
        }
        let values = (
            self.session_jwks_url.take(p),
            self.session_public_key.take(p),
            self.session_jwks_refresh.take(p),
            self.session_jwks_min_refetch.take(p),
        );
        match values {
            (Some(url), None, Some(refresh), Some(min_refetch)) => {
                Some(SessionKeySource::Jwks { url, refresh, min_refetch })
            }
            (None, Some(PublicKeyPem(pem)), ..) => {
                VerifyingKeys::from_public_pem(self.session_public_key_kid.trim(), &pem)
                    .map_err(|_| p.push("SESSION_PUBLIC_KEY is not an RSA public key PEM".to_owned()))
                    .ok()
                    .map(|k| SessionKeySource::Fixed(Box::new(k)))
            }
            _ => None,
        }
    }
}

/// The record store (part of [`Args`]).
#[derive(Debug, Clone, clap::Args)]
pub struct StorageArgs {
    /// Record store: `embedded` (a file in the data dir; one tokenizer) or `dynamodb` (several).
    #[arg(long, env = "STORAGE_BACKEND", default_value = "embedded", value_name = "KIND",
          value_parser = check_enum::<StorageBackend>())]
    pub storage_backend: Checked<StorageBackend>,

    /// DynamoDB table for records, states and grants (hash key `pk`, string; TTL attribute `ttl`).
    #[arg(long, env = "DYNAMODB_TABLE", default_value = "lunasec-tokenizer", value_name = "NAME",
          value_parser = check(dynamodb_table))]
    pub dynamodb_table: Checked<String>,

    /// Create the DynamoDB table (on demand billing, TTL enabled) at start if missing.
    #[arg(long, env = "DYNAMODB_CREATE_TABLE", value_name = "BOOL", default_value = "false",
          num_args = 0..=1, default_missing_value = "true", value_parser = check(boolean))]
    pub dynamodb_create_table: Checked<bool>,
}

impl StorageArgs {
    fn take(self, p: &mut Vec<String>) -> Option<StorageConfig> {
        match (self.storage_backend.take(p), self.dynamodb_table.take(p), self.dynamodb_create_table.take(p)) {
            (Some(StorageBackend::Embedded), ..) => Some(StorageConfig::Embedded),
            (Some(StorageBackend::DynamoDb), Some(table), Some(create_table)) => {
                Some(StorageConfig::DynamoDb { table, create_table })
            }
            _ => None,
        }
    }
}

/// The ciphertext store (part of [`Args`]).
#[derive(Debug, Clone, clap::Args)]
pub struct CiphertextArgs {
    /// Ciphertext store: `embedded` (blob URLs served by this tokenizer) or `s3`.
    #[arg(long, env = "CIPHERTEXT_BACKEND", default_value = "embedded", value_name = "KIND",
          value_parser = check_enum::<CiphertextBackend>())]
    pub ciphertext_backend: Checked<CiphertextBackend>,

    /// S3 bucket for ciphertext (required with --ciphertext-backend s3).
    #[arg(long, env = "CIPHERTEXT_VAULT_S3_BUCKET", value_name = "BUCKET", value_parser = check(non_empty))]
    pub s3_bucket: Option<Checked<String>>,

    /// Create the S3 bucket at start if missing.
    #[arg(long, env = "S3_CREATE_BUCKET", value_name = "BOOL", default_value = "false",
          num_args = 0..=1, default_missing_value = "true", value_parser = check(boolean))]
    pub s3_create_bucket: Checked<bool>,

    /// Largest object the embedded blob store accepts (bytes, or with KiB/MiB/GiB).
    #[arg(long, env = "BLOB_MAX_SIZE", default_value = "100MiB", value_name = "SIZE", value_parser = check(positive_size))]
    pub blob_max_size: Checked<u64>,
}

impl CiphertextArgs {
    fn take(self, p: &mut Vec<String>) -> Option<CiphertextConfig> {
        let backend = self.ciphertext_backend.take(p);
        if backend == Some(CiphertextBackend::S3) && self.s3_bucket.is_none() {
            p.push("CIPHERTEXT_VAULT_S3_BUCKET is required with CIPHERTEXT_BACKEND=s3".to_owned());
        }
        match (backend, self.s3_bucket.take(p), self.s3_create_bucket.take(p), self.blob_max_size.take(p)) {
            (Some(CiphertextBackend::Embedded), .., Some(max_size)) => Some(CiphertextConfig::Embedded { max_size }),
            (Some(CiphertextBackend::S3), Some(bucket), Some(create_bucket), _) => {
                Some(CiphertextConfig::S3 { bucket, create_bucket })
            }
            _ => None,
        }
    }
}

/// AWS client settings (part of [`Args`]).
#[derive(Debug, Clone, clap::Args)]
pub struct AwsArgs {
    /// Endpoint override for S3 and DynamoDB (LocalStack, e.g. http://127.0.0.1:4566): path-style
    /// S3, and credentials test/test unless `AWS_ACCESS_KEY_ID` is set.
    #[arg(long, env = "LOCALSTACK_URL", value_name = "URL", value_parser = check(base_url))]
    pub localstack_url: Option<Checked<String>>,

    /// AWS region of the bucket and table. Credentials come from the usual AWS chain.
    #[arg(long, env = "AWS_REGION", default_value = "us-west-2", value_name = "REGION", value_parser = check(non_empty))]
    pub aws_region: Checked<String>,
}

impl AwsArgs {
    fn take(self, p: &mut Vec<String>) -> Option<AwsConfig> {
        let (endpoint, region) = (self.localstack_url.take(p), self.aws_region.take(p)?);
        let static_credentials = (endpoint.is_some() && std::env::var_os("AWS_ACCESS_KEY_ID").is_none())
            .then(|| ("test".to_owned(), "test".to_owned()));
        Some(AwsConfig { region, endpoint, static_credentials })
    }
}

/// The options of [`Limits`] (part of [`Args`]).
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Embedded blob uploads slower than this are cut off (`408`, the partial file is removed):
    /// at least this many bytes (or KiB/MiB) must arrive in every --blob-min-upload-window.
    /// 0 disables the check.
    #[arg(long, env = "BLOB_MIN_UPLOAD_RATE", default_value = "16KiB", value_name = "SIZE", value_parser = check(size))]
    pub blob_min_upload_rate: Checked<u64>,

    /// The window of --blob-min-upload-rate (Go duration syntax).
    #[arg(long, env = "BLOB_MIN_UPLOAD_WINDOW", default_value = "10s", value_name = "DURATION",
          value_parser = check(duration))]
    pub blob_min_upload_window: Checked<Duration>,

    /// A connection must send a request's complete headers within this time, else it is closed.
    #[arg(long, env = "TOKENIZER_HEADER_READ_TIMEOUT", default_value = "10s", value_name = "DURATION",
          value_parser = check(duration))]
    pub header_read_timeout: Checked<Duration>,

    /// Longest time a request may take, blob transfers excepted (`503` with Retry-After).
    #[arg(long, env = "TOKENIZER_REQUEST_TIMEOUT", default_value = "30s", value_name = "DURATION",
          value_parser = check(duration))]
    pub request_timeout: Checked<Duration>,

    /// Open connections at most; a connection over the cap is answered `503` (Retry-After) and
    /// closed. Keep it below the process's file-descriptor limit (`ulimit -n`).
    #[arg(long, env = "TOKENIZER_MAX_CONNECTIONS", default_value = "4096", value_name = "N", value_parser = check(count))]
    pub max_connections: Checked<usize>,

    /// Requests in progress at most (`/health` and `/ready` excepted); more are answered `503`
    /// with Retry-After at once.
    #[arg(long, env = "TOKENIZER_MAX_CONCURRENT_REQUESTS", default_value = "512", value_name = "N",
          value_parser = check(count))]
    pub max_concurrent_requests: Checked<usize>,

    /// Tokens one user session may create per minute (a burst of this many, then one every
    /// 60/N seconds); more are answered `429` with Retry-After. Application callers are not
    /// limited. Counted per tokenizer instance. 0 disables the limit.
    #[arg(long, env = "TOKENIZE_SESSION_RATE", default_value = "600", value_name = "N",
          value_parser = check(per_minute))]
    pub tokenize_session_rate: Checked<u32>,

    /// On SIGTERM/SIGINT, in-flight requests get this long to finish; then open connections are
    /// dropped and the process exits.
    #[arg(long, env = "TOKENIZER_SHUTDOWN_GRACE", default_value = "10s", value_name = "DURATION",
          value_parser = check(duration))]
    pub shutdown_grace: Checked<Duration>,
}

impl LimitArgs {
    fn take(self, p: &mut Vec<String>) -> Option<Limits> {
        let values = (
            self.header_read_timeout.take(p),
            self.request_timeout.take(p),
            self.max_connections.take(p),
            self.max_concurrent_requests.take(p),
            self.blob_min_upload_rate.take(p),
            self.blob_min_upload_window.take(p),
            self.shutdown_grace.take(p),
            self.tokenize_session_rate.take(p),
        );
        let (
            Some(header_read_timeout),
            Some(request_timeout),
            Some(max_connections),
            Some(max_concurrent_requests),
            Some(blob_min_rate_bytes),
            Some(blob_min_rate_window),
            Some(shutdown_grace),
            Some(tokenize_per_session_per_minute),
        ) = values
        else {
            return None;
        };
        Some(Limits {
            header_read_timeout,
            request_timeout,
            max_connections,
            max_concurrent_requests,
            blob_min_rate_bytes,
            blob_min_rate_window,
            shutdown_grace,
            tokenize_per_session_per_minute,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Compact,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageBackend {
    Embedded,
    #[value(name = "dynamodb")]
    DynamoDb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CiphertextBackend {
    Embedded,
    S3,
}

/// `TOKENIZER_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeployEnv {
    #[value(alias = "development")]
    Dev,
    #[value(alias = "prod")]
    Production,
}

/// `SESSION_PUBLIC_KEY`: PEM text of an RSA public key (checked to be one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyPem(pub String);

/// The tokenizer secret's bytes (never shown by `Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// `AUTH_PROVIDERS`: the providers, and which one is the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthProviders {
    pub list: Vec<AuthProvider>,
    /// Index into `list`.
    pub default: Option<usize>,
}

// ---------------------------------------------------------------------------------------------
// Checked values and the value parsers that produce them

/// One option's value as its parser left it: the value, or the problems with it (whole lines that
/// name the flag or environment variable the value came from, and never quote a secret).
#[derive(Debug, Clone)]
pub struct Checked<T>(Result<T, Vec<String>>);

impl<T> Checked<T> {
    /// The value, if it parsed.
    #[must_use]
    pub fn value(&self) -> Option<&T> {
        self.0.as_ref().ok()
    }

    /// The problems with the value (empty if it parsed).
    #[must_use]
    pub fn problems(&self) -> &[String] {
        self.0.as_ref().err().map_or(&[], Vec::as_slice)
    }
}

/// Takes the value out of a [`Checked`] option, adding its problems to `problems`.
pub trait Take {
    type Value;
    /// `None` when the value had problems (they are added to `problems`) or, for an optional
    /// option, when it was not given.
    fn take(self, problems: &mut Vec<String>) -> Option<Self::Value>;
}

impl<T> Take for Checked<T> {
    type Value = T;
    fn take(self, problems: &mut Vec<String>) -> Option<T> {
        self.0.map_err(|ps| problems.extend(ps)).ok()
    }
}

impl<T> Take for Option<Checked<T>> {
    type Value = T;
    fn take(self, problems: &mut Vec<String>) -> Option<T> {
        self.and_then(|c| c.take(problems))
    }
}

/// What a value parser says: the value, or what is wrong with it, each problem worded to follow
/// the option's name ("must be …", "entry … must be …", or ": …").
type Parsed<T> = Result<T, Vec<String>>;

fn bad<T>(problem: impl Into<String>) -> Parsed<T> {
    Err(vec![problem.into()])
}

/// How a problem names the option: the flag when the value came from the command line, else the
/// environment variable.
fn option_name(arg: Option<&Arg>, source: ValueSource) -> String {
    let Some(arg) = arg else { return "a value".to_owned() };
    let env = arg.get_env().and_then(OsStr::to_str);
    match (source, arg.get_long(), env) {
        (ValueSource::CommandLine, Some(long), _) | (_, Some(long), None) => format!("--{long}"),
        (_, _, Some(env)) => env.to_owned(),
        (_, None, None) => arg.get_id().to_string(),
    }
}

fn name_problems<T>(parsed: Parsed<T>, arg: Option<&Arg>, source: ValueSource) -> Checked<T> {
    Checked(parsed.map_err(|problems| {
        let name = option_name(arg, source);
        problems
            .into_iter()
            .map(|p| if p.starts_with(':') { format!("{name}{p}") } else { format!("{name} {p}") })
            .collect()
    }))
}

/// A clap value parser that never fails: it runs `parse` on the trimmed text and yields a
/// [`Checked`] value.
pub struct Check<T> {
    parse: fn(&str) -> Parsed<T>,
    /// The values shown in `--help` (enumerations).
    values: fn() -> Vec<PossibleValue>,
}

impl<T> Clone for Check<T> {
    fn clone(&self) -> Self {
        Self { parse: self.parse, values: self.values }
    }
}

fn check<T>(parse: fn(&str) -> Parsed<T>) -> Check<T> {
    Check { parse, values: Vec::new }
}

fn check_enum<E: ValueEnum + 'static>() -> Check<E> {
    Check { parse: parse_enum::<E>, values: possible_values::<E> }
}

/// `TOKENIZER_ENV`: an empty value is production.
fn check_deploy_env() -> Check<DeployEnv> {
    Check {
        parse: |s| if s.is_empty() { Ok(DeployEnv::Production) } else { parse_enum(s) },
        values: possible_values::<DeployEnv>,
    }
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Check<T> {
    type Value = Checked<T>;

    fn parse_ref(&self, cmd: &Command, arg: Option<&Arg>, value: &OsStr) -> Result<Checked<T>, clap::Error> {
        self.parse_ref_(cmd, arg, value, ValueSource::CommandLine)
    }

    fn parse_ref_(
        &self,
        _cmd: &Command,
        arg: Option<&Arg>,
        value: &OsStr,
        source: ValueSource,
    ) -> Result<Checked<T>, clap::Error> {
        let parsed = match value.to_str() {
            Some(text) => (self.parse)(text.trim()),
            None => bad("must be UTF-8 text"),
        };
        Ok(name_problems(parsed, arg, source))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        let values = (self.values)();
        (!values.is_empty()).then(|| Box::new(values.into_iter()) as Box<dyn Iterator<Item = PossibleValue>>)
    }
}

/// A clap value parser that never fails, for values taken as given (neither trimmed nor
/// necessarily UTF-8); `parse` also learns where the value came from.
pub struct RawCheck<T> {
    parse: fn(&OsStr, ValueSource) -> Parsed<T>,
}

impl<T> Clone for RawCheck<T> {
    fn clone(&self) -> Self {
        Self { parse: self.parse }
    }
}

fn raw_check<T>(parse: fn(&OsStr, ValueSource) -> Parsed<T>) -> RawCheck<T> {
    RawCheck { parse }
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for RawCheck<T> {
    type Value = Checked<T>;

    fn parse_ref(&self, cmd: &Command, arg: Option<&Arg>, value: &OsStr) -> Result<Checked<T>, clap::Error> {
        self.parse_ref_(cmd, arg, value, ValueSource::CommandLine)
    }

    fn parse_ref_(
        &self,
        _cmd: &Command,
        arg: Option<&Arg>,
        value: &OsStr,
        source: ValueSource,
    ) -> Result<Checked<T>, clap::Error> {
        Ok(name_problems((self.parse)(value, source), arg, source))
    }
}

/// At least [`MIN_SECRET_LEN`] bytes, taken as they are (they are the key material); never quoted
/// in a problem.
fn secret(bytes: &[u8]) -> Parsed<Secret> {
    if bytes.len() < MIN_SECRET_LEN {
        return bad(format!("must be at least {MIN_SECRET_LEN} bytes (e.g. `openssl rand -base64 48`)"));
    }
    Ok(Secret(bytes.to_vec()))
}

/// `TOKENIZER_SECRET`: from the environment only.
fn secret_from_env(value: &OsStr, source: ValueSource) -> Parsed<Secret> {
    if source == ValueSource::CommandLine {
        return bad(
            "is refused: a secret on the command line shows in `ps` and shell history; pass TOKENIZER_SECRET in the environment or use --secret-file",
        );
    }
    secret(value.as_encoded_bytes())
}

/// Largest secret file read.
const MAX_SECRET_FILE: u64 = 64 << 10;

/// `--secret-file`: the file's bytes without trailing line breaks. The file must not be accessible
/// to group or others (checked on the opened file).
fn secret_from_file(path: &OsStr, _source: ValueSource) -> Parsed<Secret> {
    use std::io::Read as _;
    let path = std::path::Path::new(path);
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| vec![format!(": cannot open {shown}: {e}")])?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = file.metadata().map_err(|e| vec![format!(": cannot read {shown}: {e}")])?.permissions().mode();
        if mode & 0o077 != 0 {
            return bad(format!(
                ": {shown} is accessible to group or others (mode {:04o}); make it readable by the tokenizer's user only (chmod 600; a Kubernetes secret volume: defaultMode 0400)",
                mode & 0o7777
            ));
        }
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE + 1).read_to_end(&mut bytes).map_err(|e| vec![format!(": cannot read {shown}: {e}")])?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return bad(format!(": {shown} is larger than 64 KiB; it must hold only the secret"));
    }
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    secret(&bytes).map_err(|_| {
        vec![format!(": {shown} must hold at least {MIN_SECRET_LEN} bytes (e.g. `openssl rand -base64 48 > FILE`)")]
    })
}

fn possible_values<E: ValueEnum>() -> Vec<PossibleValue> {
    E::value_variants().iter().filter_map(ValueEnum::to_possible_value).collect()
}

fn parse_enum<E: ValueEnum>(s: &str) -> Parsed<E> {
    E::from_str(s, true).or_else(|_| {
        let names: Vec<String> = possible_values::<E>().iter().map(|v| v.get_name().to_owned()).collect();
        let list = match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        };
        bad(format!("must be {list}"))
    })
}

fn socket_addr(s: &str) -> Parsed<SocketAddr> {
    s.parse().or_else(|_| bad("must be an address and port like 127.0.0.1:37766 or 0.0.0.0:37766"))
}

/// An absolute http(s) URL without query or fragment, returned without a trailing slash.
fn base_url(s: &str) -> Parsed<String> {
    match Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            if u.query().is_some() || u.fragment().is_some() {
                return bad("must not have a query or fragment");
            }
            Ok(u.as_str().trim_end_matches('/').to_owned())
        }
        _ => bad("must be an absolute http(s) URL (e.g. http://localhost:3001)"),
    }
}

/// The JWKS URL: a base URL that is `https://`, or `http://` to a loopback host only (keys fetched
/// over plain HTTP from elsewhere could be replaced in transit).
fn jwks_url(s: &str) -> Parsed<String> {
    let url = base_url(s)?;
    match Url::parse(&url).ok().and_then(|u| crate::keys::jwks_url_problem(&u)) {
        Some(problem) => bad(format!(": {problem}")),
        None => Ok(url),
    }
}

/// A Go duration (`45s`, `15m`, `1h30m`) longer than zero.
fn duration(s: &str) -> Parsed<Duration> {
    match parse_go_duration(s) {
        Ok(d) if d.is_zero() => bad("must be longer than zero"),
        Ok(d) => Ok(d),
        Err(e) => bad(format!(": {}", e.message())),
    }
}

fn size(s: &str) -> Parsed<u64> {
    parse_size(s).map_or_else(|| bad("must be a size like 16384 or 16KiB (bytes, or with KiB/MiB/GiB)"), Ok)
}

fn positive_size(s: &str) -> Parsed<u64> {
    match parse_size(s) {
        Some(n) if n > 0 => Ok(n),
        _ => bad("must be a size greater than zero like 104857600 or 100MiB"),
    }
}

fn count(s: &str) -> Parsed<usize> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bad("must be a whole number greater than zero"),
    }
}

fn per_minute(s: &str) -> Parsed<u32> {
    match s.parse::<u32>() {
        Ok(n) if n <= 1_000_000 => Ok(n),
        _ => bad("must be a whole number from 0 (no limit) to 1000000"),
    }
}

fn boolean(s: &str) -> Parsed<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => bad("must be true or false"),
    }
}

fn non_empty(s: &str) -> Parsed<String> {
    if s.is_empty() { bad("must not be empty") } else { Ok(s.to_owned()) }
}

fn dynamodb_table(s: &str) -> Parsed<String> {
    if (3..=255).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) {
        Ok(s.to_owned())
    } else {
        bad("must be 3-255 characters of A-Z a-z 0-9 _ - .")
    }
}

/// Comma-separated origins (scheme, host, optional port); empty entries are ignored.
fn origins(s: &str) -> Parsed<Vec<HeaderValue>> {
    let mut values = Vec::new();
    let mut problems = Vec::new();
    for origin in s.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let ok = Url::parse(origin).ok().filter(|u| {
            matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.path() == "/" && u.query().is_none()
        });
        match (ok, HeaderValue::from_str(origin.trim_end_matches('/'))) {
            (Some(_), Ok(v)) => values.push(v),
            _ => problems.push(format!(
                "entry {origin:?} must be an origin like https://app.example.com (scheme, host, optional port)"
            )),
        }
    }
    if problems.is_empty() { Ok(values) } else { Err(problems) }
}

/// `{"name":{"url":"http(s)://…","default":true|false}, …}`; an empty value is no provider.
fn auth_providers(json: &str) -> Parsed<AuthProviders> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        url: String,
        #[serde(default)]
        default: bool,
    }
    if json.is_empty() {
        return Ok(AuthProviders::default());
    }
    let Ok(raw) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json) else {
        return bad(r#"must be a JSON object like {"app":{"url":"http://localhost:3001","default":true}}"#);
    };
    let mut problems = Vec::new();
    let mut list = Vec::new();
    let mut defaults = Vec::new();
    for (name, v) in raw {
        match serde_json::from_value::<Raw>(v) {
            Ok(r) => match base_url(r.url.trim()) {
                Ok(url) => {
                    if r.default {
                        defaults.push(list.len());
                    }
                    list.push(AuthProvider { name, url });
                }
                Err(e) => problems.extend(e.into_iter().map(|e| format!("provider {name:?}: url {e}"))),
            },
            Err(_) => problems
                .push(format!(r#"provider {name:?} must be an object {{"url":"http(s)://…","default":true|false}}"#)),
        }
    }
    let default = match defaults.as_slice() {
        [] if list.len() == 1 => Some(0),
        [] => None,
        [one] => Some(*one),
        _ => {
            problems.push("has more than one provider with \"default\":true".to_owned());
            None
        }
    };
    if problems.is_empty() { Ok(AuthProviders { list, default }) } else { Err(problems) }
}

/// An RSA public key PEM, or the base64 of one.
fn public_key(text: &str) -> Parsed<PublicKeyPem> {
    use base64::Engine as _;

    let pem = if text.starts_with("-----BEGIN") {
        text.to_owned()
    } else {
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(compact).ok().and_then(|b| String::from_utf8(b).ok());
        let Some(text) = decoded else {
            return bad("must be an RSA public key PEM (or the base64 of one)");
        };
        text
    };
    match VerifyingKeys::from_public_pem(DEFAULT_KID, &pem) {
        Ok(_) => Ok(PublicKeyPem(pem)),
        Err(_) => bad("is not an RSA public key PEM (-----BEGIN PUBLIC KEY-----)"),
    }
}

// ---------------------------------------------------------------------------------------------
// The validated configuration

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

impl Config {
    /// Collects every option's problems, applies the rules across options, and returns the
    /// configuration or every problem (one line each).
    pub fn from_args(args: Args) -> Result<Self, Vec<String>> {
        let p = &mut Vec::new();
        let public_url_given = args.public_url.is_some();
        let secrets_given = (args.secret.is_some(), args.secret_file.is_some());
        let (http_addr, public_url) = (args.http_addr.take(p), args.public_url.take(p));
        let session_keys = args.session.take(p);
        let auth = args.auth_providers.take(p).unwrap_or_default();
        let cors_origins = args.application_front_end.take(p).unwrap_or_default();
        let (grant_default, grant_maximum) = (args.grant_default_duration.take(p), args.grant_maximum_duration.take(p));
        let (secret, secret_file) = (args.secret.take(p), args.secret_file.take(p));
        let env = args.tokenizer_env.take(p);
        let (storage, ciphertext) = (args.storage.take(p), args.ciphertext.take(p));
        let (aws, limits, log_format) = (args.aws.take(p), args.limits.take(p), args.log_format.take(p));

        // Rules across options.
        if !public_url_given && http_addr.is_some_and(|a| a.ip().is_unspecified()) {
            p.push("TOKENIZER_PUBLIC_URL is required when listening on all interfaces (0.0.0.0 / ::)".to_owned());
        }
        if let (Some(d), Some(m)) = (grant_default, grant_maximum)
            && d > m
        {
            p.push(format!(
                "GRANT_DEFAULT_DURATION ({}) is longer than GRANT_MAXIMUM_DURATION ({})",
                fmt_go_duration(d),
                fmt_go_duration(m)
            ));
        }
        let dev = args.dev || env == Some(DeployEnv::Dev);
        if args.frame_assets_dir.is_some() && !dev {
            p.push("LUNASEC_FRAME_ASSETS_DIR is for developing the secure frame and needs dev mode (--dev)".to_owned());
        }
        if secrets_given == (true, true) {
            p.push("set only one of TOKENIZER_SECRET and TOKENIZER_SECRET_FILE (--secret-file)".to_owned());
        }
        let secret = match secret.or(secret_file) {
            Some(Secret(s)) => Some(SecretSource::Given(s)),
            None if dev => Some(SecretSource::DevFile),
            None if secrets_given == (false, false) => {
                p.push(
                    "TOKENIZER_SECRET (in the environment) or --secret-file is required outside dev mode (e.g. `openssl rand -base64 48`); use --dev or TOKENIZER_ENV=dev to generate one locally"
                        .to_owned(),
                );
                None
            }
            None => None,
        };

        let (
            Some(http_addr),
            Some(session_keys),
            Some(grant_default),
            Some(grant_maximum),
            Some(secret),
            Some(storage),
            Some(ciphertext),
            Some(aws),
            Some(limits),
            Some(log_format),
        ) = (
            http_addr,
            session_keys,
            grant_default,
            grant_maximum,
            secret,
            storage,
            ciphertext,
            aws,
            limits,
            log_format,
        )
        else {
            return Err(std::mem::take(p));
        };
        if !p.is_empty() {
            return Err(std::mem::take(p));
        }
        Ok(Self {
            http_addr,
            public_url,
            session_keys,
            auth_providers: auth.list,
            default_provider: auth.default,
            cors_origins,
            grant_default,
            grant_maximum,
            data_dir: args.data_dir,
            secret,
            dev,
            storage,
            ciphertext,
            aws,
            log_format,
            frame_assets_dir: args.frame_assets_dir,
            limits,
        })
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

// ---------------------------------------------------------------------------------------------
// Logging

/// The crates whose events are logged at whatever level `TOKENIZER_LOG` / `RUST_LOG` asks for.
pub const OWN_LOG_TARGETS: [&str; 2] = ["lunasec_tokenizer", "lunasec_core"];

/// Whether an event or span is let through the cap: every target outside [`OWN_LOG_TARGETS`]
/// (hyper, h2, reqwest, rustls, the AWS SDK, redb, tower, …) is capped at `info`, whatever the
/// filter says, because at `debug`/`trace` those crates may log headers or URLs, and presigned URLs
/// and JWTs are secrets.
#[must_use]
pub fn log_allowed(target: &str, level: tracing::Level) -> bool {
    level <= tracing::Level::INFO
        || OWN_LOG_TARGETS
            .iter()
            .any(|own| target.strip_prefix(own).is_some_and(|r| r.is_empty() || r.starts_with("::")))
}

/// The log filter: `spec` in `EnvFilter` syntax (`info` when absent or invalid), and the cap of
/// [`log_allowed`] on top of it.
#[must_use]
pub fn log_filter<S>(spec: Option<&str>) -> impl Filter<S> + Send + Sync + 'static
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let spec = spec.and_then(|s| EnvFilter::try_new(s).ok()).unwrap_or_else(|| EnvFilter::new("info"));
    spec.and(filter_fn(|meta| log_allowed(meta.target(), *meta.level())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, Vec<String>> {
        let mut v = vec!["lunasec-tokenizer"];
        v.extend_from_slice(args);
        Config::from_args(Args::try_parse_from(v).unwrap())
    }

    const JWKS: &str = "http://localhost:3001/.lunasec/jwks.json";
    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_jwks_url_over_plain_http_must_be_loopback() {
        let problems =
            parse(&["--dev", "--session-jwks-url", "http://app.example.com/.lunasec/jwks.json"]).unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains("--session-jwks-url") && p.contains("not a loopback host")),
            "{problems:?}"
        );
        for ok in ["https://app.example.com/.lunasec/jwks.json", "http://127.0.0.1:3001/jwks.json", JWKS] {
            assert!(parse(&["--dev", "--session-jwks-url", ok]).is_ok(), "{ok}");
        }
    }

    /// A file holding `contents`, with permissions `mode`.
    fn secret_file(contents: &str, mode: u32) -> String {
        use std::os::unix::fs::PermissionsExt as _;
        let path = std::env::temp_dir()
            .join(format!("lunasec-config-test-{}", crate::crypto::hex(&crate::crypto::random::<8>())));
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path.to_str().unwrap().to_owned()
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
            "{\"a\":{\"url\":\"ftp://x\"},\"b\":{\"url\":\"http://b\",\"default\":true},\"c\":{\"url\":\"http://c\",\"default\":true}}",
            "--secret",
            "short",
            "--application-front-end",
            "http://ok.example, not an origin",
            "--max-connections",
            "0",
            "--header-read-timeout",
            "10 parsecs",
            "--log-format",
            "xml",
            "--s3-create-bucket",
            "maybe",
        ])
        .unwrap_err();
        let joined = problems.join("\n");
        for needle in [
            "--http-addr must be an address and port",
            "SESSION_JWKS_URL (e.g. http://localhost:3001/.lunasec/jwks.json) or SESSION_PUBLIC_KEY is required",
            "GRANT_DEFAULT_DURATION (2h) is longer than GRANT_MAXIMUM_DURATION (1h)",
            "--storage-backend must be embedded or dynamodb",
            "CIPHERTEXT_VAULT_S3_BUCKET is required with CIPHERTEXT_BACKEND=s3",
            "--auth-providers provider \"a\": url must be an absolute http(s) URL",
            "--auth-providers has more than one provider with \"default\":true",
            "--secret is refused: a secret on the command line shows in `ps` and shell history; pass TOKENIZER_SECRET in the environment or use --secret-file",
            "--application-front-end entry \"not an origin\" must be an origin",
            "--max-connections must be a whole number greater than zero",
            "--header-read-timeout: invalid duration",
            "--log-format must be compact or json",
            "--s3-create-bucket must be true or false",
        ] {
            assert!(joined.contains(needle), "missing {needle:?} in:\n{joined}");
        }
        assert_eq!(problems.len(), 13, "one line per problem, nothing twice:\n{joined}");
        assert!(!joined.contains("short"), "the secret is never echoed");
    }

    #[test]
    fn problems_name_the_environment_variable_when_the_value_came_from_there() {
        // (The process environment is not touched in tests: the parser is called as clap calls it.)
        let cmd = <Args as clap::CommandFactory>::command();
        let parser = check(socket_addr);
        let a = Arg::new("http_addr").long("http-addr").env("TOKENIZER_HTTP_ADDR");
        let c = parser.parse_ref_(&cmd, Some(&a), OsStr::new("x"), ValueSource::EnvVariable).unwrap();
        assert_eq!(
            c.problems()[0],
            "TOKENIZER_HTTP_ADDR must be an address and port like 127.0.0.1:37766 or 0.0.0.0:37766"
        );
        let c = parser.parse_ref_(&cmd, Some(&a), OsStr::new("x"), ValueSource::CommandLine).unwrap();
        assert!(c.problems()[0].starts_with("--http-addr must"));
        let c = parser.parse_ref_(&cmd, Some(&a), OsStr::new(" 127.0.0.1:1 "), ValueSource::CommandLine).unwrap();
        assert_eq!(c.value(), Some(&SocketAddr::from(([127, 0, 0, 1], 1))));
    }

    #[test]
    fn the_secret_comes_from_the_environment_or_a_private_file_only() {
        let cmd = <Args as clap::CommandFactory>::command();
        let env_parser = raw_check(secret_from_env);
        let arg = Arg::new("secret").long("secret").env("TOKENIZER_SECRET");
        let c = env_parser.parse_ref_(&cmd, Some(&arg), OsStr::new(SECRET), ValueSource::EnvVariable).unwrap();
        assert_eq!(c.value(), Some(&Secret(SECRET.as_bytes().to_vec())));
        let c = env_parser.parse_ref_(&cmd, Some(&arg), OsStr::new("short"), ValueSource::EnvVariable).unwrap();
        assert_eq!(c.problems(), ["TOKENIZER_SECRET must be at least 32 bytes (e.g. `openssl rand -base64 48`)"]);
        let c = env_parser.parse_ref_(&cmd, Some(&arg), OsStr::new(SECRET), ValueSource::CommandLine).unwrap();
        assert!(c.problems()[0].starts_with("--secret is refused"), "{:?}", c.problems());
        assert!(!format!("{c:?}").contains(SECRET), "Debug never shows the secret");

        let file_parser = raw_check(secret_from_file);
        let arg = Arg::new("secret_file").long("secret-file").env("TOKENIZER_SECRET_FILE");
        let file = secret_file(SECRET, 0o640);
        let c = file_parser.parse_ref_(&cmd, Some(&arg), OsStr::new(&file), ValueSource::EnvVariable).unwrap();
        assert_eq!(
            c.problems(),
            [format!(
                "TOKENIZER_SECRET_FILE: {file} is accessible to group or others (mode 0640); make it readable by the tokenizer's user only (chmod 600; a Kubernetes secret volume: defaultMode 0400)"
            )]
        );
        let file = secret_file(&format!("{SECRET}\r\n"), 0o600);
        let c = file_parser.parse_ref_(&cmd, Some(&arg), OsStr::new(&file), ValueSource::CommandLine).unwrap();
        assert_eq!(c.value(), Some(&Secret(SECRET.as_bytes().to_vec())));
        let c =
            file_parser.parse_ref_(&cmd, Some(&arg), OsStr::new("/nonexistent/x"), ValueSource::CommandLine).unwrap();
        assert!(c.problems()[0].starts_with("--secret-file: cannot open /nonexistent/x: "), "{:?}", c.problems());
    }

    #[test]
    fn typed_values() {
        let file = secret_file(SECRET, 0o600);
        let c = parse(&[
            "--session-jwks-url",
            JWKS,
            "--secret-file",
            &file,
            "--storage-backend",
            "DynamoDB",
            "--dynamodb-create-table",
            "--ciphertext-backend",
            "s3",
            "--s3-bucket",
            "b",
            "--s3-create-bucket",
            "no",
            "--blob-min-upload-rate",
            "0",
            "--max-concurrent-requests",
            "7",
            "--shutdown-grace",
            "1m30s",
            "--log-format",
            "JSON",
            "--env",
            "development",
        ])
        .unwrap();
        assert!(c.dev);
        assert_eq!(c.storage, StorageConfig::DynamoDb { table: "lunasec-tokenizer".into(), create_table: true });
        assert_eq!(c.ciphertext, CiphertextConfig::S3 { bucket: "b".into(), create_bucket: false });
        assert_eq!(c.limits.blob_min_rate_bytes, 0);
        assert_eq!(c.limits.max_concurrent_requests, 7);
        assert_eq!(c.limits.shutdown_grace, Duration::from_secs(90));
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(matches!(c.session_keys, SessionKeySource::Jwks { ref url, .. } if url == JWKS));
    }

    #[test]
    fn a_fixed_public_key_and_its_kid() {
        use base64::Engine as _;
        let pem = include_str!("../../lunasec-core/testdata/rsa2048-public.pem");
        let c = parse(&["--dev", "--session-public-key", pem, "--session-public-key-kid", "k1"]).unwrap();
        let SessionKeySource::Fixed(keys) = c.session_keys else { panic!("not fixed") };
        assert_eq!(keys.kids(), ["k1"]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
        assert!(parse(&["--dev", "--session-public-key", &b64]).is_ok());
        let problems = parse(&["--dev", "--session-public-key", "bm90IGEga2V5"]).unwrap_err();
        assert_eq!(problems, ["--session-public-key is not an RSA public key PEM (-----BEGIN PUBLIC KEY-----)"]);
    }

    #[test]
    fn dev_mode_defaults() {
        let c = parse(&["--dev", "--session-jwks-url", JWKS]).unwrap();
        assert!(c.dev);
        assert!(matches!(c.secret, SecretSource::DevFile));
        assert_eq!(c.grant_default, Duration::from_mins(15));
        assert_eq!(c.storage, StorageConfig::Embedded);
        assert_eq!(c.ciphertext, CiphertextConfig::Embedded { max_size: 100 << 20 });
        assert_eq!(c.http_addr.port(), 37766);
        assert_eq!(c.limits, Limits::default());
        let file = secret_file(&format!("{SECRET}\n"), 0o400);
        let c = parse(&[
            "--session-jwks-url",
            JWKS,
            "--secret-file",
            &file,
            "--auth-providers",
            r#"{"a":{"url":"http://localhost:3001/api/"},"b":{"url":"http://b","default":true}}"#,
        ])
        .unwrap();
        assert!(!c.dev);
        assert!(matches!(c.secret, SecretSource::Given(ref s) if s == SECRET.as_bytes()), "trailing newline dropped");
        assert_eq!(c.auth_providers.len(), 2);
        assert_eq!(c.auth_providers[c.default_provider.unwrap()].name, "b");
        assert_eq!(c.auth_providers[0].url, "http://localhost:3001/api");
    }

    #[test]
    fn cross_option_rules() {
        let p = parse(&["--http-addr", "0.0.0.0:1", "--session-jwks-url", JWKS, "--session-public-key", "x"])
            .unwrap_err()
            .join("\n");
        assert!(p.contains("TOKENIZER_PUBLIC_URL is required when listening on all interfaces"), "{p}");
        assert!(p.contains("set only one of SESSION_JWKS_URL and SESSION_PUBLIC_KEY"), "{p}");
        assert!(
            p.contains("TOKENIZER_SECRET (in the environment) or --secret-file is required outside dev mode"),
            "{p}"
        );
        // A bad secret is reported once, not also as missing.
        let file = secret_file("short", 0o600);
        let p = parse(&["--session-jwks-url", JWKS, "--secret-file", &file]).unwrap_err();
        assert_eq!(
            p,
            [format!("--secret-file: {file} must hold at least 32 bytes (e.g. `openssl rand -base64 48 > FILE`)")]
        );
        let p =
            parse(&["--session-jwks-url", JWKS, "--secret-file", &file, "--secret", SECRET]).unwrap_err().join("\n");
        assert!(p.contains("set only one of TOKENIZER_SECRET and TOKENIZER_SECRET_FILE"), "{p}");
        assert!(!p.contains(SECRET), "{p}");
    }

    #[test]
    fn help_shows_environment_variables_defaults_and_choices() {
        let help = <Args as clap::CommandFactory>::command().render_long_help().to_string();
        for needle in [
            "[env: TOKENIZER_HTTP_ADDR=]",
            "[default: 127.0.0.1:37766]",
            "[default: 15m]",
            "[possible values: embedded, dynamodb]",
            "[env: TOKENIZER_MAX_CONNECTIONS=]",
            "[default: 4096]",
        ] {
            assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
        }
    }

    #[test]
    fn other_crates_logs_are_capped_at_info() {
        use tracing::Level;
        assert!(log_allowed("lunasec_tokenizer", Level::TRACE));
        assert!(log_allowed("lunasec_tokenizer::http", Level::TRACE));
        assert!(log_allowed("lunasec_core::jwks", Level::DEBUG));
        assert!(!log_allowed("lunasec_tokenizerx", Level::DEBUG));
        assert!(!log_allowed("hyper::proto::h1::role", Level::DEBUG));
        assert!(!log_allowed("aws_smithy_runtime::client::orchestrator", Level::TRACE));
        assert!(log_allowed("reqwest::connect", Level::INFO));
        assert!(log_allowed("h2::codec", Level::WARN));
    }

    #[test]
    fn the_log_filter_applies_the_cap_whatever_the_spec_says() {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::layer::SubscriberExt as _;

        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let log = |spec: Option<&str>| {
            let buf = Buf::default();
            let writer = buf.clone();
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .with_filter(log_filter(spec));
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
                tracing::debug!(target: "hyper::proto::h1::role", "third-party debug: authorization header");
                tracing::trace!(target: "aws_smithy_runtime::client", "third-party trace: presigned URL");
                tracing::info!(target: "hyper::server", "third-party info");
                tracing::trace!(target: "lunasec_tokenizer::http", "own trace");
                tracing::debug!(target: "lunasec_core", "core debug");
            });
            let out = buf.0.lock().unwrap().clone();
            String::from_utf8(out).unwrap()
        };
        for spec in ["trace", "hyper=trace,aws_smithy_runtime=trace,lunasec_tokenizer=trace,lunasec_core=trace"] {
            let out = log(Some(spec));
            assert!(!out.contains("third-party debug") && !out.contains("third-party trace"), "{spec}: {out}");
            assert!(
                out.contains("third-party info") && out.contains("own trace") && out.contains("core debug"),
                "{spec}: {out}"
            );
        }
        for spec in [None, Some("not a [valid filter")] {
            let out = log(spec);
            assert!(out.contains("third-party info") && !out.contains("own trace"), "{spec:?}: {out}");
        }
    }
}
