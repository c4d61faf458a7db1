//! Wiring: data directory, secret, stores, background tasks, listener, graceful shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::ciphertext::CiphertextStore;
use crate::ciphertext::blob::BlobStore;
use crate::ciphertext::s3::S3Ciphertext;
use crate::config::{AwsConfig, CiphertextConfig, Config, SecretSource, SessionKeySource, StorageConfig};
use crate::crypto::{self, Secrets};
use crate::http::{AppState, router};
use crate::keys::KeyManager;
use crate::limits::Limits;
use crate::ratelimit::TokenizeLimiter;
use crate::store::RecordStore;
use crate::store::dynamo::DynamoStore;
use crate::store::embedded::EmbeddedStore;

/// How often the embedded store sweeps expired grants and states.
const PURGE_EVERY: Duration = Duration::from_mins(1);
/// File (in the data dir) holding the dev-mode secret.
pub const DEV_SECRET_FILE: &str = "tokenizer-secret";

/// A start-up failure (after the configuration was validated).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// A running tokenizer.
#[derive(Debug)]
pub struct Tokenizer {
    addr: SocketAddr,
    public_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
    /// Loops that can be aborted at any point (fetches, checks).
    background: Vec<JoinHandle<()>>,
    /// The sweep: told to stop and awaited, so that no store operation outlives `shutdown`.
    sweeper: Option<(tokio::sync::watch::Sender<bool>, JoinHandle<()>)>,
}

impl Tokenizer {
    /// The bound address (useful with port 0).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients are told to use.
    #[must_use]
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Stops accepting, lets in-flight requests finish, stops background tasks.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let served = match (&mut self.server).await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        };
        // Stop and wait, so the stores (e.g. the redb file lock) are released on return.
        if let Some((stop, sweeper)) = self.sweeper.take() {
            let _ = stop.send(true);
            let _ = sweeper.await;
        }
        for t in &self.background {
            t.abort();
        }
        for t in self.background.drain(..) {
            let _ = t.await;
        }
        served
    }

    /// Runs until SIGINT/SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.shutdown().await
    }
}

/// The accept loop: HTTP/1.1 connections with a header-read timeout, at most
/// `max_connections` of them, and on `stop` a graceful shutdown bounded by `shutdown_grace`.
///
/// Over the cap a connection is still accepted, answered `503` with `Retry-After` and closed:
/// leaving it in the kernel's backlog instead would make the client wait (and look hung) for as
/// long as the flood lasts, and a full backlog drops SYNs without telling anyone.
async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    mut stop: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (drain_tx, drain_rx) = tokio::sync::watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // E.g. out of file descriptors: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    tracing::debug!("connection cap reached; refusing a connection");
                    let _ = stream.try_write(crate::limits::CONNECTION_REFUSED_RESPONSE);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
                let mut drain = drain_rx.clone();
                conns.spawn(async move {
                    tokio::pin!(conn);
                    let result = tokio::select! {
                        r = conn.as_mut() => r,
                        _ = drain.changed() => {
                            conn.as_mut().graceful_shutdown();
                            conn.await
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    drop(slot);
                });
            }
        }
    }
    drop(listener);
    let _ = drain_tx.send(true);
    let drained =
        tokio::time::timeout(limits.shutdown_grace, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(open = conns.len(), "shutdown deadline reached; dropping the remaining connections");
        conns.shutdown().await;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        // An existing directory is not changed (it may be shared, e.g. `.`), only reported.
        if std::fs::metadata(dir)?.permissions().mode() & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), "the data directory is accessible to other users; consider chmod 700");
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// The dev-mode secret: read `<data dir>/tokenizer-secret`, or generate it (0600) on first start.
fn dev_secret(data_dir: &Path) -> Result<Vec<u8>, StartError> {
    let path = data_dir.join(DEV_SECRET_FILE);
    let fail = |what: &str, e: &std::io::Error| StartError(format!("{what} {}: {e}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let s = text.trim();
            if s.len() < crypto::MIN_SECRET_LEN {
                return Err(StartError(format!("{} is too short to be a tokenizer secret", path.display())));
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = std::fs::metadata(&path).map_err(|e| fail("cannot stat", &e))?.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), "the dev secret file was readable by others; setting mode 0600");
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| fail("cannot chmod", &e))?;
                }
            }
            Ok(s.as_bytes().to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write as _;
            let secret = crypto::hex(&crypto::random::<32>());
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                opts.mode(0o600);
            }
            let mut f = opts.open(&path).map_err(|e| fail("cannot create", &e))?;
            f.write_all(secret.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| fail("cannot write", &e))?;
            tracing::warn!(path = %path.display(), "dev mode: generated a tokenizer secret (keep this file; set TOKENIZER_SECRET in production)");
            Ok(secret.into_bytes())
        }
        Err(e) => Err(fail("cannot read", &e)),
    }
}

/// The AWS SDK configuration: region, optional endpoint (LocalStack), static or default-chain
/// credentials, short timeouts (an unreachable service must fail a request in seconds, not hang).
pub async fn aws_sdk_config(aws: &AwsConfig) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(aws.region.clone()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(12))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if let Some(ep) = &aws.endpoint {
        loader = loader.endpoint_url(ep);
    }
    if let Some((id, secret)) = &aws.static_credentials {
        loader = loader.credentials_provider(Credentials::new(id, secret, None, None, "lunasec-static"));
    }
    loader.load().await
}

/// Starts a tokenizer: everything is checked and bound before this returns; keys, bucket and
/// table checks continue in the background.
#[allow(clippy::too_many_lines)] // linear start-up sequence
pub async fn start(config: Config) -> Result<Tokenizer, StartError> {
    create_private_dir(&config.data_dir)
        .map_err(|e| StartError(format!("cannot create the data directory {}: {e}", config.data_dir.display())))?;
    let secret = match &config.secret {
        SecretSource::Given(s) => s.clone(),
        SecretSource::DevFile => dev_secret(&config.data_dir)?,
    };
    let secrets = Arc::new(Secrets::derive(&secret));
    drop(secret);

    let listener = TcpListener::bind(config.http_addr)
        .await
        .map_err(|e| StartError(format!("cannot listen on {}: {e}", config.http_addr)))?;
    let addr = listener.local_addr().map_err(|e| StartError(format!("cannot read the bound address: {e}")))?;
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));

    let mut background = Vec::new();
    let keys = Arc::new(match &config.session_keys {
        SessionKeySource::Fixed(k) => KeyManager::fixed((**k).clone()),
        SessionKeySource::Jwks { url, refresh, min_refetch } => KeyManager::jwks(url.clone(), *refresh, *min_refetch),
    });
    background.push(tokio::spawn(Arc::clone(&keys).run()));

    let needs_aws = matches!(config.storage, StorageConfig::DynamoDb { .. })
        || matches!(config.ciphertext, CiphertextConfig::S3 { .. });
    let sdk = if needs_aws { Some(aws_sdk_config(&config.aws).await) } else { None };

    let store: Arc<dyn RecordStore> =
        if let (StorageConfig::DynamoDb { table, create_table }, Some(sdk)) = (&config.storage, &sdk) {
            {
                let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table.clone());
                // Creates the table if asked, then keeps checking it for `/ready`.
                background.push(tokio::spawn(store.clone().run(*create_table)));
                Arc::new(store)
            }
        } else {
            let path = config.data_dir.join("store.redb");
            let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(&path))
                .await
                .map_err(|e| StartError(format!("cannot open the embedded store: {e}")))?
                .map_err(StartError)?;
            Arc::new(store)
        };
    let tokenize_limiter = Arc::new(TokenizeLimiter::new(config.limits.tokenize_per_session_per_minute));
    let sweeper = {
        let s = Arc::clone(&store);
        let limiter = Arc::clone(&tokenize_limiter);
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PURGE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop_rx.changed() => break,
                }
                limiter.forget_idle();
                // Batch after batch until one comes back short, so a backlog does not outgrow the
                // sweep; a short pause between batches lets queued writes through.
                let mut deleted = 0u64;
                loop {
                    match s.purge_expired(crate::store::now_ms()).await {
                        Ok(n) => {
                            deleted += n;
                            if n < crate::store::PURGE_BATCH as u64 || *stop_rx.borrow() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "sweeping expired grants failed");
                            break;
                        }
                    }
                }
                if deleted > 0 {
                    tracing::debug!(deleted, "expired grants and states removed");
                }
            }
        });
        Some((stop_tx, task))
    };

    let (ciphertext, blobs): (Arc<dyn CiphertextStore>, Option<Arc<BlobStore>>) =
        if let (CiphertextConfig::S3 { bucket, create_bucket }, Some(sdk)) = (&config.ciphertext, &sdk) {
            {
                let s3 =
                    Arc::new(S3Ciphertext::new(sdk, bucket.clone(), *create_bucket, &public_url).map_err(StartError)?);
                background.push(tokio::spawn(Arc::clone(&s3).run()));
                (s3, None)
            }
        } else {
            // `needs_aws` guarantees an SDK config for S3, so this is the embedded case.
            let max_size = match config.ciphertext {
                CiphertextConfig::Embedded { max_size } => max_size,
                CiphertextConfig::S3 { .. } => 100 << 20,
            };
            let blob = Arc::new(
                BlobStore::new(config.data_dir.join("blobs"), public_url.clone(), Arc::clone(&secrets), max_size)
                    .map_err(|e| StartError(format!("cannot create the blob directory: {e}")))?
                    .with_min_upload_rate(config.limits.blob_min_rate_bytes, config.limits.blob_min_rate_window),
            );
            // Tokens whose upload never completed are purged once their URL has expired.
            let (b, s) = (Arc::clone(&blob), Arc::clone(&store));
            background.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(PURGE_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if let Err(e) = b.sweep_pending(s.as_ref(), lunasec_core::jwt::now_secs()).await {
                        tracing::warn!(error = %e, "sweeping never-uploaded tokens failed");
                    }
                }
            }));
            (Arc::clone(&blob) as Arc<dyn CiphertextStore>, Some(blob))
        };

    let state = Arc::new(AppState {
        secrets,
        keys,
        store,
        ciphertext,
        blobs,
        auth_providers: config.auth_providers.clone(),
        default_provider: config.default_provider,
        grant_default: config.grant_default,
        grant_maximum: config.grant_maximum,
        front_end_origins: config
            .cors_origins
            .iter()
            .filter_map(|o| o.to_str().ok().and_then(crate::ciphertext::origin_of))
            .collect(),
        frame_assets_dir: config.frame_assets_dir.clone(),
        tokenize_limiter,
    });
    let app = crate::limits::apply(router(state, config.cors_origins.clone()), &config.limits);
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, app, config.limits.clone(), rx));
    tracing::info!(
        addr = %addr,
        public_url = %public_url,
        storage = match config.storage { StorageConfig::Embedded => "embedded", StorageConfig::DynamoDb { .. } => "dynamodb" },
        ciphertext = match config.ciphertext { CiphertextConfig::Embedded { .. } => "embedded", CiphertextConfig::S3 { .. } => "s3" },
        dev = config.dev,
        "tokenizer listening"
    );
    Ok(Tokenizer { addr, public_url, shutdown: Some(tx), server, background, sweeper })
}
