//! The application's public keys and JWT verification.
//!
//! Keys come from `SESSION_PUBLIC_KEY` (fixed) or from `SESSION_JWKS_URL`: fetched at start with
//! exponential backoff (the app may start after us; until then JWT routes answer 503), refetched
//! periodically, and refetched at once when a JWT names an unknown `kid` (at most once per
//! [`KeyManager::min_refetch`]). Successful verifications are cached by the exact JWT string until
//! the JWT's `exp` (bounded; the SDK reuses an application JWT for ~13 minutes, so the hot path is
//! a hash-map lookup). Failures are never cached. The cache is dropped whenever the key set changes,
//! and a verification that ran against a key set replaced meanwhile is not cached (a generation
//! counter tells): a withdrawn key stops working at once.
//!
//! The JWKS URL must be `https://`, or `http://` to a loopback host ([`jwks_url_problem`]);
//! redirects may not leave that rule nor go from `https://` to `http://` ([`redirect_problem`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use lunasec_core::backoff::Backoff;
use lunasec_core::jwt::now_secs;
use lunasec_core::{ErrorCode, Jwks, VerifiedClaims, VerifyingKeys};

/// Most cached verifications; past this, expired entries are dropped, then everything.
pub const JWT_CACHE_CAPACITY: usize = 16_384;
/// Largest JWKS document we read.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// Most redirects followed when fetching the JWKS.
const MAX_REDIRECTS: usize = 3;
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
    /// Why the URL may not be fetched from, if it may not ([`jwks_url_problem`]).
    refused: Option<String>,
    client: reqwest::Client,
}

/// Holds the current keys and the verification cache.
pub struct KeyManager {
    keys: RwLock<Option<(Arc<VerifyingKeys>, Option<Jwks>)>>,
    /// Bumped (under the `keys` write lock) whenever the key set is replaced.
    generation: AtomicU64,
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

    /// Keys from a JWKS URL; call [`KeyManager::run`] to fetch them. A URL that
    /// [`jwks_url_problem`] refuses is never fetched from (the keys stay unavailable and
    /// [`KeyManager::last_error`] says why); the configuration reports it before this is reached.
    ///
    /// # Panics
    /// If the HTTP client cannot be built (no TLS provider), which is a build problem.
    #[must_use]
    pub fn jwks(url: String, refresh_every: Duration, min_refetch: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .redirect(redirect_policy())
            .build()
            .expect("the HTTP client for the JWKS can be built");
        let refused = match reqwest::Url::parse(&url) {
            Ok(u) => jwks_url_problem(&u),
            Err(_) => Some("the JWKS URL is not a valid URL".to_owned()),
        };
        if let Some(why) = &refused {
            tracing::error!(url = %url, error = %why, "the session JWKS URL is refused; JWT routes answer 503");
        }
        let manager =
            Self::build(None, Some(JwksSource { url, refused: refused.clone(), client }), refresh_every, min_refetch);
        *manager.last_error.lock().unwrap_or_else(PoisonError::into_inner) = refused;
        manager
    }

    fn build(
        keys: Option<(Arc<VerifyingKeys>, Option<Jwks>)>,
        source: Option<JwksSource>,
        refresh_every: Duration,
        min_refetch: Duration,
    ) -> Self {
        Self {
            keys: RwLock::new(keys),
            generation: AtomicU64::new(0),
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

    /// The current keys and their generation, read together.
    fn current(&self) -> Option<(Arc<VerifyingKeys>, u64)> {
        let slot = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref().map(|(k, _)| (Arc::clone(k), self.generation.load(Ordering::Acquire)))
    }

    /// Replaces the key set: a new generation, and the verification cache dropped.
    fn install(&self, keys: VerifyingKeys, jwks: Option<Jwks>) {
        let mut slot = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        *slot = Some((Arc::new(keys), jwks));
        self.generation.fetch_add(1, Ordering::AcqRel);
        drop(slot);
        self.cache.write().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Verifies a JWT (any subject; the caller checks which one it needs).
    pub async fn verify(&self, jwt: &str) -> Result<VerifiedClaims, VerifyError> {
        let now = now_secs();
        if let Some(c) = self.cache.read().unwrap_or_else(PoisonError::into_inner).get(jwt)
            && now <= c.exp
        {
            return Ok(c.claims.clone());
        }
        let (keys, generation) = if let Some(k) = self.current() {
            k
        } else {
            // Maybe the app has come up since the last background attempt.
            self.refetch_rate_limited().await;
            self.current().ok_or(VerifyError::KeysUnavailable)?
        };
        let (result, generation) = match keys.verify(jwt) {
            Err(e) if e.code() == ErrorCode::JwtUnknownKid && self.source.is_some() => {
                // A rotated key, perhaps: refetch (rate limited) and try once more.
                if self.refetch_rate_limited().await {
                    let (keys, generation) = self.current().ok_or(VerifyError::KeysUnavailable)?;
                    (keys.verify(jwt), generation)
                } else {
                    (Err(e), generation)
                }
            }
            other => (other, generation),
        };
        let claims = result.map_err(VerifyError::Invalid)?;
        self.remember(jwt, &claims, now, generation);
        Ok(claims)
    }

    /// Caches a verification made against key-set `generation`, unless the key set has been
    /// replaced since (checked under the cache lock, which [`KeyManager::install`] takes after
    /// bumping the generation: an entry either is refused here or is cleared there).
    fn remember(&self, jwt: &str, claims: &VerifiedClaims, now: u64, generation: u64) {
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
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
        let result = match &src.refused {
            Some(why) => Err(why.clone()),
            None => fetch_jwks(&src.client, &src.url).await,
        };
        let mut last_error = self.last_error.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok((jwks, keys)) => {
                *last_error = None;
                drop(last_error);
                let changed = self
                    .keys
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                    .is_none_or(|(_, old)| old.as_ref() != Some(&jwks));
                if changed {
                    tracing::info!(kids = ?keys.kids(), "session keys loaded from the JWKS");
                    self.install(keys, Some(jwks));
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

/// Whether `host` (a URL's host) is a loopback host: 127.0.0.0/8, `::1` or `localhost`.
fn is_loopback_host(host: &str) -> bool {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why keys may not be fetched from `url`, if they may not: only `https://`, or `http://` to a
/// loopback host (127.0.0.0/8, `::1`, `localhost`; an app backend on the same machine). Keys fetched
/// over plain HTTP across a network can be swapped by anyone on the path, and with them every JWT
/// forged. The configuration reports this with its other problems; [`KeyManager::jwks`] enforces it.
#[must_use]
pub fn jwks_url_problem(url: &reqwest::Url) -> Option<String> {
    match url.scheme() {
        "https" => None,
        "http" if url.host_str().is_some_and(is_loopback_host) => None,
        "http" => Some(format!(
            "the JWKS URL uses plain http:// to {}, which is not a loopback host: use https:// (http:// is allowed only to 127.0.0.1, ::1 or localhost)",
            url.host_str().unwrap_or("no host")
        )),
        other => Some(format!("the JWKS URL must be an https:// URL, not {other}:")),
    }
}

/// Why a redirect from `from` to `to` may not be followed while fetching the JWKS, if it may not:
/// never from `https://` to anything else, never to a URL [`jwks_url_problem`] refuses.
#[must_use]
pub fn redirect_problem(from: &reqwest::Url, to: &reqwest::Url) -> Option<String> {
    if from.scheme() == "https" && to.scheme() != "https" {
        return Some(format!("the JWKS URL redirected from https:// to {}://, which is refused", to.scheme()));
    }
    jwks_url_problem(to).map(|why| format!("redirected: {why}"))
}

/// At most [`MAX_REDIRECTS`], each checked by [`redirect_problem`].
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        // `previous` holds the URLs requested so far, the original one first.
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error("too many redirects");
        }
        let problem = attempt.previous().last().and_then(|from| redirect_problem(from, attempt.url()));
        match problem {
            Some(why) => attempt.error(why),
            None => attempt.follow(),
        }
    })
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

#[cfg(test)]
mod tests {
    use lunasec_core::{KeySet, SigningKey};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    const RSA2048: &str = include_str!("../../lunasec-core/testdata/rsa2048-pkcs8.pem");
    const RSA3072: &str = include_str!("../../lunasec-core/testdata/rsa3072-pkcs8.pem");

    fn keyset(kid: &str, pem: &str) -> KeySet {
        KeySet::new(vec![SigningKey::from_pem(kid, pem, "test").unwrap()]).unwrap()
    }

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    fn cached(km: &KeyManager, jwt: &str) -> bool {
        km.cache.read().unwrap().contains_key(jwt)
    }

    #[tokio::test]
    async fn a_verification_overtaken_by_a_key_rotation_is_not_cached() {
        let (a, b) = (keyset("k1", RSA2048), keyset("k2", RSA3072));
        let km = KeyManager::fixed(VerifyingKeys::from_jwks(a.jwks()).unwrap());
        let jwt = a.application_jwt().unwrap();
        let now = now_secs();

        // As `verify` does: the keys and their generation are read, the JWT verified against them…
        let (keys, generation) = km.current().unwrap();
        let claims = keys.verify(&jwt).unwrap();
        // …while the key set is replaced, k1 withdrawn…
        km.install(VerifyingKeys::from_jwks(b.jwks()).unwrap(), Some(b.jwks().clone()));
        // …so the result is not cached, and the JWT no longer verifies.
        km.remember(&jwt, &claims, now, generation);
        assert!(!cached(&km, &jwt));
        match km.verify(&jwt).await {
            Err(VerifyError::Invalid(e)) => assert_eq!(e.code(), ErrorCode::JwtUnknownKid),
            other => panic!("{other:?}"),
        }

        // Without a rotation in between, a verification is cached, and a rotation drops it.
        let jwt = b.application_jwt().unwrap();
        assert!(km.verify(&jwt).await.is_ok());
        assert!(cached(&km, &jwt));
        let (_, generation) = km.current().unwrap();
        km.install(VerifyingKeys::from_jwks(a.jwks()).unwrap(), Some(a.jwks().clone()));
        assert!(!cached(&km, &jwt));
        assert_ne!(km.current().unwrap().1, generation);
        assert!(km.verify(&jwt).await.is_err());
    }

    #[test]
    fn jwks_urls_https_or_loopback_http() {
        for ok in [
            "https://app.example.com/.lunasec/jwks.json",
            "http://127.0.0.1:3001/.lunasec/jwks.json",
            "http://127.8.9.10/jwks",
            "http://[::1]:3001/jwks",
            "http://localhost:3001/jwks",
            "http://LOCALHOST/jwks",
        ] {
            assert_eq!(jwks_url_problem(&url(ok)), None, "{ok}");
        }
        for (bad, says) in [
            ("http://app.example.com/jwks", "app.example.com"),
            ("http://10.0.0.5/jwks", "10.0.0.5"),
            ("http://128.0.0.1/jwks", "128.0.0.1"),
            ("http://[::2]/jwks", "[::2]"),
            ("http://localhost.evil.com/jwks", "localhost.evil.com"),
            ("http://0.0.0.0/jwks", "0.0.0.0"),
            ("ftp://127.0.0.1/jwks", "ftp:"),
            ("file:///etc/jwks.json", "file:"),
        ] {
            let why = jwks_url_problem(&url(bad)).unwrap_or_else(|| panic!("{bad} must be refused"));
            assert!(why.contains(says), "{bad}: {why}");
        }
    }

    #[test]
    fn redirects_never_downgrade_nor_leave_loopback_http() {
        let https = url("https://app.example.com/jwks");
        let local = url("http://127.0.0.1:3001/jwks");
        assert_eq!(redirect_problem(&https, &url("https://cdn.example.com/jwks")), None);
        assert_eq!(redirect_problem(&local, &url("http://localhost:3001/v2/jwks")), None);
        assert_eq!(redirect_problem(&local, &url("https://app.example.com/jwks")), None);
        let why = redirect_problem(&https, &url("http://app.example.com/jwks")).unwrap();
        assert!(why.contains("from https:// to http://"), "{why}");
        assert!(redirect_problem(&https, &url("http://127.0.0.1/jwks")).is_some(), "no downgrade, even to loopback");
        let why = redirect_problem(&local, &url("http://evil.example.com/jwks")).unwrap();
        assert!(why.contains("evil.example.com"), "{why}");
    }

    /// A loopback server answering every request with a redirect to `location`.
    async fn redirector(location: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let resp = format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n");
                let _ = s.write_all(resp.as_bytes()).await;
            }
        });
        format!("http://{addr}/.lunasec/jwks.json")
    }

    #[tokio::test]
    async fn the_fetch_refuses_a_redirect_off_loopback_and_a_refused_url_is_never_fetched() {
        // Nothing listens there: the policy must refuse before any connection is tried.
        let start = redirector("http://jwks.invalid/.lunasec/jwks.json").await;
        let km = KeyManager::jwks(start, Duration::from_hours(1), Duration::ZERO);
        let err = km.fetch_and_install().await.unwrap_err();
        assert!(err.contains("redirected") && err.contains("jwks.invalid"), "{err}");
        assert!(!km.ready());

        let km = KeyManager::jwks("http://app.example.com/jwks".into(), Duration::from_hours(1), Duration::ZERO);
        assert!(km.last_error().unwrap().contains("not a loopback host"));
        let err = km.fetch_and_install().await.unwrap_err();
        assert!(err.contains("not a loopback host"), "{err}");
        assert!(matches!(km.verify("a.b.c").await, Err(VerifyError::KeysUnavailable)));
    }
}
