//! The application's public keys and JWT verification.
//!
//! Keys come from `SESSION_PUBLIC_KEY` (fixed) or from `SESSION_JWKS_URL`: fetched at start with
//! exponential backoff (the app may start after us; until then JWT routes answer 503), refetched
//! periodically, and refetched at once when a JWT names an unknown `kid` (at most once per
//! [`KeyManager::min_refetch`]). Successful verifications are cached by the exact JWT string until
//! the JWT's `exp` (bounded; the SDK reuses an application JWT for ~13 minutes, so the hot path is
//! a hash-map lookup). Failures are never cached. The cache is dropped whenever the key set changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use lunasec_core::backoff::Backoff;
use lunasec_core::jwt::now_secs;
use lunasec_core::{ErrorCode, Jwks, VerifiedClaims, VerifyingKeys};

/// Most cached verifications; past this, expired entries are dropped, then everything.
pub const JWT_CACHE_CAPACITY: usize = 16_384;
/// Largest JWKS document we read.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// Retries of the fetch while it fails: 250 ms doubling up to 30 s (full jitter).
const BACKOFF: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));

/// Why a JWT was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// No keys yet (the JWKS has not been fetched successfully).
    KeysUnavailable,
    /// The JWT did not verify; the core error says why (never quoting the JWT).
    Invalid(lunasec_core::Error),
}

struct Cached {
    claims: VerifiedClaims,
    exp: u64,
}

struct JwksSource {
    url: String,
    client: reqwest::Client,
}

/// Holds the current keys and the verification cache.
pub struct KeyManager {
    keys: RwLock<Option<(Arc<VerifyingKeys>, Option<Jwks>)>>,
    cache: RwLock<HashMap<Box<str>, Cached>>,
    source: Option<JwksSource>,
    /// Serializes fetches and rate-limits on-demand ones.
    fetch_lock: tokio::sync::Mutex<Option<Instant>>,
    min_refetch: Duration,
    refresh_every: Duration,
    last_error: Mutex<Option<String>>,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManager").field("jwks_url", &self.source.as_ref().map(|s| &s.url)).finish_non_exhaustive()
    }
}

impl KeyManager {
    /// Fixed keys (`SESSION_PUBLIC_KEY`).
    #[must_use]
    pub fn fixed(keys: VerifyingKeys) -> Self {
        Self::build(Some((Arc::new(keys), None)), None, Duration::MAX, Duration::MAX)
    }

    /// Keys from a JWKS URL; call [`KeyManager::run`] to fetch them.
    ///
    /// # Panics
    /// If the HTTP client cannot be built (no TLS provider), which is a build problem.
    #[must_use]
    pub fn jwks(url: String, refresh_every: Duration, min_refetch: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .expect("the HTTP client for the JWKS can be built");
        Self::build(None, Some(JwksSource { url, client }), refresh_every, min_refetch)
    }

    fn build(
        keys: Option<(Arc<VerifyingKeys>, Option<Jwks>)>,
        source: Option<JwksSource>,
        refresh_every: Duration,
        min_refetch: Duration,
    ) -> Self {
        Self {
            keys: RwLock::new(keys),
            cache: RwLock::new(HashMap::new()),
            source,
            fetch_lock: tokio::sync::Mutex::new(None),
            min_refetch,
            refresh_every,
            last_error: Mutex::new(None),
        }
    }

    /// Whether keys are loaded.
    #[must_use]
    pub fn ready(&self) -> bool {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    /// The last fetch error, if the last fetch failed.
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    #[must_use]
    pub fn min_refetch(&self) -> Duration {
        self.min_refetch
    }

    fn current(&self) -> Option<Arc<VerifyingKeys>> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).as_ref().map(|(k, _)| Arc::clone(k))
    }

    /// Verifies a JWT (any subject; the caller checks which one it needs).
    pub async fn verify(&self, jwt: &str) -> Result<VerifiedClaims, VerifyError> {
        let now = now_secs();
        if let Some(c) = self.cache.read().unwrap_or_else(PoisonError::into_inner).get(jwt)
            && now <= c.exp
        {
            return Ok(c.claims.clone());
        }
        let keys = if let Some(k) = self.current() {
            k
        } else {
            // Maybe the app has come up since the last background attempt.
            self.refetch_rate_limited().await;
            self.current().ok_or(VerifyError::KeysUnavailable)?
        };
        let claims = match keys.verify(jwt) {
            Err(e) if e.code() == ErrorCode::JwtUnknownKid && self.source.is_some() => {
                // A rotated key, perhaps: refetch (rate limited) and try once more.
                if self.refetch_rate_limited().await {
                    self.current().ok_or(VerifyError::KeysUnavailable)?.verify(jwt)
                } else {
                    Err(e)
                }
            }
            other => other,
        }
        .map_err(VerifyError::Invalid)?;
        self.remember(jwt, &claims, now);
        Ok(claims)
    }

    fn remember(&self, jwt: &str, claims: &VerifiedClaims, now: u64) {
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= JWT_CACHE_CAPACITY {
            cache.retain(|_, c| now <= c.exp);
            if cache.len() >= JWT_CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(jwt.into(), Cached { claims: claims.clone(), exp: claims.exp });
    }

    /// Fetches now unless a fetch happened within `min_refetch`; `true` if the keys changed.
    async fn refetch_rate_limited(&self) -> bool {
        if self.source.is_none() {
            return false;
        }
        let mut last = self.fetch_lock.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.min_refetch) {
            return false;
        }
        *last = Some(Instant::now());
        self.fetch_and_install().await.unwrap_or(false)
    }

    /// Fetches the JWKS and installs it; `Ok(true)` if the key set changed.
    async fn fetch_and_install(&self) -> Result<bool, String> {
        let Some(src) = &self.source else { return Ok(false) };
        let result = fetch_jwks(&src.client, &src.url).await;
        let mut last_error = self.last_error.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok((jwks, keys)) => {
                *last_error = None;
                drop(last_error);
                let mut slot = self.keys.write().unwrap_or_else(PoisonError::into_inner);
                let changed = slot.as_ref().is_none_or(|(_, old)| old.as_ref() != Some(&jwks));
                if changed {
                    tracing::info!(kids = ?keys.kids(), "session keys loaded from the JWKS");
                    *slot = Some((Arc::new(keys), Some(jwks)));
                    drop(slot);
                    self.cache.write().unwrap_or_else(PoisonError::into_inner).clear();
                }
                Ok(changed)
            }
            Err(e) => {
                tracing::warn!(url = %src.url, error = %e, "fetching the session JWKS failed");
                *last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// The background loop: fetch with backoff until it works, then refresh every
    /// `refresh_every`. Returns at once for fixed keys.
    pub async fn run(self: Arc<Self>) {
        if self.source.is_none() {
            return;
        }
        let mut backoff = BACKOFF;
        loop {
            let ok = {
                let mut last = self.fetch_lock.lock().await;
                *last = Some(Instant::now());
                self.fetch_and_install().await.is_ok()
            };
            let wait = if ok && self.ready() {
                backoff.reset();
                self.refresh_every
            } else {
                let w = backoff.next_delay();
                // Once keys are loaded a failed refresh keeps them and retries at the normal pace.
                if self.ready() { w.max(self.min_refetch) } else { w }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

async fn fetch_jwks(client: &reqwest::Client, url: &str) -> Result<(Jwks, VerifyingKeys), String> {
    let mut resp = client.get(url).send().await.map_err(|e| error_chain(&e))?;
    if !resp.status().is_success() {
        return Err(format!("the JWKS URL answered HTTP {}", resp.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| error_chain(&e))? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err("the JWKS document is larger than 1 MiB".into());
        }
        body.extend_from_slice(&chunk);
    }
    let jwks: Jwks =
        serde_json::from_slice(&body).map_err(|_| "the JWKS URL did not answer a JWKS document".to_owned())?;
    let keys = VerifyingKeys::from_jwks(&jwks).map_err(|e| e.message().to_owned())?;
    Ok((jwks, keys))
}

/// An error and its causes on one line (reqwest's `Display` hides the cause).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let msg = c.to_string();
        if !s.contains(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = c.source();
    }
    s
}
