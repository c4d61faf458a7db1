//! Test harness: in-process tokenizers on 127.0.0.1:0, a tiny JWKS server standing in for the app
//! backend, JWT signing with the SDK's own `KeySet`, and forging helpers for refusal tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use lunasec_core::jwt::now_secs;
use lunasec_core::{DEFAULT_KID, KeySet, SigningKey};
use lunasec_tokenizer::config::{AuthProvider, SessionKeySource};
use lunasec_tokenizer::{Config, Tokenizer};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const RSA2048_PKCS8: &str = include_str!("../../../lunasec-core/testdata/rsa2048-pkcs8.pem");
pub const RSA3072_PKCS8: &str = include_str!("../../../lunasec-core/testdata/rsa3072-pkcs8.pem");
pub const RSA2048_PUBLIC: &str = include_str!("../../../lunasec-core/testdata/rsa2048-public.pem");
pub const SECRET: &[u8] = b"test-secret-0123456789abcdef-0123456789abcdef";

pub fn keyset(keys: &[(&str, &str)]) -> KeySet {
    KeySet::new(keys.iter().map(|(kid, pem)| SigningKey::from_pem(*kid, pem, "test").unwrap()).collect()).unwrap()
}

pub fn default_keyset() -> KeySet {
    keyset(&[(DEFAULT_KID, RSA2048_PKCS8)])
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lunasec-tokenizer-test-{tag}-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn uuid_like() -> String {
    lunasec_tokenizer::crypto::hex(&lunasec_tokenizer::crypto::random::<8>())
}

/// The app backend stand-in: serves the JWKS (swappable) and counts fetches.
pub struct JwksServer {
    pub addr: SocketAddr,
    pub jwks: Arc<RwLock<String>>,
    pub fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    pub async fn start(jwks_json: &str) -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), jwks_json).await
    }

    pub async fn start_on(addr: SocketAddr, jwks_json: &str) -> Self {
        let jwks = Arc::new(RwLock::new(jwks_json.to_owned()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (j, f) = (Arc::clone(&jwks), Arc::clone(&fetches));
        let app = Router::new().route(
            "/.lunasec/jwks.json",
            get(move || {
                let (j, f) = (Arc::clone(&j), Arc::clone(&f));
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    ([("content-type", "application/json")], j.read().unwrap().clone())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, jwks, fetches, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/.lunasec/jwks.json", self.addr)
    }

    pub fn set(&self, jwks_json: &str) {
        jwks_json.clone_into(&mut self.jwks.write().unwrap());
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A started tokenizer plus what a test needs to talk to it.
pub struct Harness {
    pub tokenizer: Option<Tokenizer>,
    pub base: String,
    pub client: reqwest::Client,
    pub keys: KeySet,
    /// Kept so the JWKS server lives as long as the tokenizer that fetches from it.
    pub _jwks: Option<JwksServer>,
    pub dir: PathBuf,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// An embedded-mode config with a JWKS URL (fast refetch for tests) and one auth provider.
pub fn embedded_config(dir: PathBuf, jwks_url: &str) -> Config {
    let mut c = Config::embedded(
        dir,
        SessionKeySource::Jwks {
            url: jwks_url.to_owned(),
            refresh: Duration::from_mins(5),
            min_refetch: Duration::from_millis(200),
        },
        SECRET.to_vec(),
    );
    c.auth_providers = vec![AuthProvider { name: "app".into(), url: "http://localhost:3001".into() }];
    c.default_provider = Some(0);
    c
}

impl Harness {
    /// Embedded store + embedded blobs, keys from a JWKS server.
    pub async fn embedded() -> Self {
        Self::embedded_with(|_| {}).await
    }

    pub async fn embedded_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let keys = default_keyset();
        let jwks = JwksServer::start(keys.jwks_json()).await;
        let dir = temp_dir("embedded");
        let mut config = embedded_config(dir.clone(), &jwks.url());
        tweak(&mut config);
        Self::start(config, keys, Some(jwks), dir).await
    }

    pub async fn start(config: Config, keys: KeySet, jwks: Option<JwksServer>, dir: PathBuf) -> Self {
        let tokenizer = lunasec_tokenizer::start(config).await.unwrap();
        let base = format!("http://{}", tokenizer.addr());
        Self { tokenizer: Some(tokenizer), base, client: client(), keys, _jwks: jwks, dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn app_jwt(&self) -> String {
        self.keys.application_jwt().unwrap()
    }

    pub fn user_jwt(&self, session: &str) -> String {
        self.keys.user_jwt(session).unwrap()
    }

    /// POST JSON with a JWT in `authorization`.
    pub async fn post(&self, path: &str, jwt: Option<&str>, body: &Value) -> Resp {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap());
        if let Some(j) = jwt {
            req = req.header("authorization", j);
        }
        Resp::from(req.send().await.unwrap()).await
    }

    pub async fn post_with(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
        let mut req = self.client.post(self.url(path)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Resp::from(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.client.get(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Resp::from(req.send().await.unwrap()).await
    }

    /// `/tokenize` as `jwt`; returns (token, upload url, headers).
    pub async fn tokenize(&self, jwt: &str, metadata: Value) -> (String, String, Vec<(String, String)>) {
        let r = self.post("/tokenize", Some(jwt), &json!({ "metadata": metadata })).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let d = &r.body["data"];
        let headers = d["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        (d["tokenId"].as_str().unwrap().to_owned(), d["uploadUrl"].as_str().unwrap().to_owned(), headers)
    }

    pub async fn detokenize(&self, jwt: &str, token: &str) -> Resp {
        self.post("/detokenize", Some(jwt), &json!({ "tokenId": token })).await
    }

    pub async fn grant_set(&self, body: Value) -> Resp {
        self.post("/grant/set", Some(&self.app_jwt()), &body).await
    }

    pub async fn grant_verify(&self, body: Value) -> Resp {
        self.post("/grant/verify", Some(&self.app_jwt()), &body).await
    }

    pub async fn shutdown(&mut self) {
        if let Some(t) = self.tokenizer.take() {
            t.shutdown().await.unwrap();
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    pub body: Value,
}

impl Resp {
    pub async fn from(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap().to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Self { status, headers, bytes, body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    /// `name` of the error envelope; panics (with the body) if this is not one.
    pub fn error_name(&self) -> &str {
        assert_eq!(self.body["success"], false, "not a failure envelope: {:?}", String::from_utf8_lossy(&self.bytes));
        assert!(self.body["error"]["message"].is_string(), "{}", self.body);
        self.body["error"]["name"].as_str().unwrap()
    }
}

/// Upload `data` with the presigned PUT; returns the status.
pub async fn upload(client: &reqwest::Client, url: &str, headers: &[(String, String)], data: Vec<u8>) -> u16 {
    let mut req = client.put(url).body(data);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.send().await.unwrap().status().as_u16()
}

/// Download with the presigned GET; returns (status, bytes).
pub async fn download(client: &reqwest::Client, url: &str, headers: &[(String, String)]) -> (u16, Vec<u8>) {
    let mut req = client.get(url);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

pub fn headers_of(v: &Value) -> Vec<(String, String)> {
    v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect()
}

/// Signs arbitrary header/claims with the 2048-bit test key (forgeries the SDK never makes).
pub fn forge(header: &Value, claims: &Value) -> String {
    let b64: String = RSA2048_PKCS8.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(b64).unwrap();
    let pair = RsaKeyPair::from_pkcs8(&der).unwrap();
    let msg = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut sig = vec![0; pair.public_modulus_len()];
    pair.sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), msg.as_bytes(), &mut sig).unwrap();
    format!("{msg}.{}", URL_SAFE_NO_PAD.encode(sig))
}

pub fn rs256_header() -> Value {
    json!({"alg":"RS256","typ":"JWT","kid":DEFAULT_KID})
}

pub fn app_claims() -> Value {
    let now = now_secs();
    json!({"iss":"node-sdk","aud":"secure-frame","sub":"application","iat":now,"exp":now+900})
}

/// The value of cookie `name` in a `Set-Cookie` list.
pub fn cookie_value(set_cookies: &[String], name: &str) -> Option<String> {
    set_cookies.iter().find_map(|c| {
        let first = c.split(';').next()?.trim();
        let (k, v) = first.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// A port with nothing listening (bound then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut v).unwrap();
    v
}
