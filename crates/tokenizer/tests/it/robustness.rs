//! Robustness: panics, keys that arrive late or rotate, unreachable S3/DynamoDB, and the binary
//! (configuration errors, --help, graceful shutdown, logs without secrets).

use crate::common;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use common::*;
use lunasec_core::protocol::{ACCESS_TOKEN_COOKIE, STATE_COOKIE};
use lunasec_tokenizer::config::{AwsConfig, CiphertextConfig, StorageConfig};
use lunasec_tokenizer::store::embedded::EmbeddedStore;
use serde_json::json;

#[allow(clippy::unused_async)] // an axum handler must be async
async fn boom() -> &'static str {
    assert!(!std::hint::black_box(true), "boom with secret-looking text lunasec-xyz");
    "unreachable"
}

#[tokio::test]
async fn a_panicking_handler_answers_500_json_and_the_server_stays_up() {
    let app = Router::new().route("/boom", get(boom)).route("/fine", get(|| async { "fine" }));
    let app = lunasec_tokenizer::http::apply_layers(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let c = client();
    for _ in 0..3 {
        let r = Resp::from(c.get(format!("http://{addr}/boom")).send().await.unwrap()).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.error_name(), "internalError");
        assert!(!r.body.to_string().contains("secret"), "the panic message is not sent");
        let ok = c.get(format!("http://{addr}/fine")).send().await.unwrap();
        assert_eq!(ok.status(), 200);
    }
    server.abort();
}

#[tokio::test]
async fn keys_that_arrive_after_start() {
    // The app backend is not up yet: nothing listens on the JWKS port.
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/.lunasec/jwks.json");
    let dir = temp_dir("late-keys");
    let keys = default_keyset();
    let h = Harness::start(embedded_config(dir.clone(), &url), default_keyset(), None, dir).await;
    assert_eq!(h.get("/health", &[]).await.status, 200, "health does not need keys");
    let r = h.post("/tokenize", Some(&h.app_jwt()), &json!({})).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.error_name(), "sessionKeysUnavailable");
    assert_eq!(r.header("retry-after"), Some("1"));
    let r = h.get("/session/verify", &[("cookie", &format!("{ACCESS_TOKEN_COOKIE}={}", h.user_jwt("s")))]).await;
    assert_eq!(r.error_name(), "sessionKeysUnavailable");
    // The app comes up; within the backoff (or on demand) the tokenizer gets the keys.
    let jwks = JwksServer::start_on(format!("127.0.0.1:{port}").parse().unwrap(), keys.jwks_json()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = h.post("/tokenize", Some(&h.app_jwt()), &json!({})).await;
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "keys never loaded: {}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(jwks);
}

#[tokio::test]
async fn a_rotated_key_is_fetched_on_its_unknown_kid_rate_limited() {
    let old = keyset(&[("k1", RSA2048_PKCS8)]);
    let jwks = JwksServer::start(old.jwks_json()).await;
    let dir = temp_dir("rotation");
    let h =
        Harness::start(embedded_config(dir.clone(), &jwks.url()), keyset(&[("k1", RSA2048_PKCS8)]), None, dir).await;
    assert_eq!(h.post("/tokenize", Some(&h.app_jwt()), &json!({})).await.status, 200);
    let before = jwks.fetches.load(Ordering::SeqCst);
    // The app rotates: new kid k2 signs, both published.
    let rotated = keyset(&[("k1", RSA2048_PKCS8), ("k2", RSA3072_PKCS8)]);
    jwks.set(rotated.jwks_json());
    let new_jwt = rotated.application_jwt().unwrap();
    // (Fetches are at most one per min_refetch, 200 ms here; the start-up fetch was just now.)
    tokio::time::sleep(Duration::from_millis(250)).await;
    let r = h.post("/tokenize", Some(&new_jwt), &json!({})).await;
    assert_eq!(r.status, 200, "refetched on the unknown kid: {}", r.body);
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), before + 1);
    // Old JWTs keep working (k1 still published).
    assert_eq!(h.post("/tokenize", Some(&old.application_jwt().unwrap()), &json!({})).await.status, 200);
    // A flood of unknown kids causes at most one fetch per min_refetch (200 ms in tests).
    let stranger = keyset(&[("k9", RSA3072_PKCS8)]).application_jwt().unwrap();
    let fetches = jwks.fetches.load(Ordering::SeqCst);
    for _ in 0..20 {
        let r = h.post("/tokenize", Some(&stranger), &json!({})).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.error_name(), "jwtUnknownKid");
    }
    assert!(jwks.fetches.load(Ordering::SeqCst) - fetches <= 2, "rate limited");
}

#[tokio::test]
async fn fixed_public_key_instead_of_jwks() {
    let dir = temp_dir("fixed-key");
    let keys = lunasec_core::VerifyingKeys::from_public_pem(lunasec_core::DEFAULT_KID, RSA2048_PUBLIC).unwrap();
    let mut config = embedded_config(dir.clone(), "http://unused.invalid/");
    config.session_keys = lunasec_tokenizer::config::SessionKeySource::Fixed(Box::new(keys));
    let h = Harness::start(config, default_keyset(), None, dir).await;
    assert_eq!(h.post("/tokenize", Some(&h.app_jwt()), &json!({})).await.status, 200);
}

fn unreachable_aws() -> AwsConfig {
    AwsConfig {
        region: "us-west-2".into(),
        endpoint: Some(format!("http://127.0.0.1:{}", closed_port())),
        static_credentials: Some(("test".into(), "test".into())),
    }
}

#[tokio::test]
async fn s3_unreachable_gives_503_and_writes_nothing() {
    let keys = default_keyset();
    let jwks = JwksServer::start(keys.jwks_json()).await;
    let dir = temp_dir("s3-down");
    let mut config = embedded_config(dir.clone(), &jwks.url());
    config.ciphertext = CiphertextConfig::S3 { bucket: "lunasec-test".into(), create_bucket: true };
    config.aws = unreachable_aws();
    let mut h = Harness::start(config, default_keyset(), None, dir.clone()).await;
    let user = h.user_jwt("s");
    let r = h.post("/tokenize", Some(&user), &json!({"metadata":{}})).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.error_name(), "storageUnavailable");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("retry"));
    h.shutdown().await;
    // Nothing half-written: no record, no grant.
    let store = EmbeddedStore::open(&dir.join("store.redb")).unwrap();
    assert_eq!(store.counts().unwrap(), (0, 0, 0));
    drop(jwks);
}

#[tokio::test]
async fn dynamodb_unreachable_gives_503_and_writes_nothing() {
    let keys = default_keyset();
    let jwks = JwksServer::start(keys.jwks_json()).await;
    let dir = temp_dir("ddb-down");
    let mut config = embedded_config(dir.clone(), &jwks.url());
    config.storage = StorageConfig::DynamoDb { table: "lunasec-test".into(), create_table: true };
    config.aws = unreachable_aws();
    let h = Harness::start(config, default_keyset(), None, dir.clone()).await;
    let started = Instant::now();
    let r = h.post("/tokenize", Some(&h.user_jwt("s")), &json!({})).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.error_name(), "storageUnavailable");
    assert!(started.elapsed() < Duration::from_secs(15), "fails fast: {:?}", started.elapsed());
    let token = "lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c";
    for (path, body) in [
        ("/grant/set", json!({"sessionId":"s","tokenId":token})),
        ("/grant/verify", json!({"sessionId":"s","tokenId":token})),
        ("/detokenize", json!({"tokenId":token})),
    ] {
        let r = h.post(path, Some(&h.app_jwt()), &body).await;
        assert_eq!(r.status, 503, "{path}: {}", r.body);
        assert_eq!(r.error_name(), "storageUnavailable");
    }
    let r = h.get("/session/ensure", &[]).await;
    assert_eq!(r.status, 503);
    assert!(r.set_cookies().is_empty(), "no state cookie for a state that was not recorded");
    // Embedded blobs: tokenize presigned nothing that was stored; the blob dir is empty.
    assert!(
        std::fs::read_dir(dir.join("blobs")).unwrap().filter(|e| e.as_ref().unwrap().path().is_file()).count() == 0
    );
    drop(jwks);
}

// ---------------------------------------------------------------------------------------------
// The binary

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lunasec-tokenizer"));
    c.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
    c
}

#[test]
fn bad_config_exits_2_with_one_line_per_problem() {
    let out = bin()
        .args(["--http-addr", "nonsense", "--grant-maximum-duration", "1x"])
        .env("STORAGE_BACKEND", "postgres")
        .env("TOKENIZER_SECRET", "too-short-secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("configuration error")).collect();
    assert!(lines.len() >= 5, "{err}");
    // A problem names the flag or the environment variable, whichever the value came from.
    for needle in [
        "--http-addr must be",
        "--grant-maximum-duration: invalid duration",
        "STORAGE_BACKEND must be embedded or dynamodb",
        "TOKENIZER_SECRET must be at least",
        "SESSION_JWKS_URL",
    ] {
        assert!(lines.iter().any(|l| l.contains(needle)), "no line for {needle}: {err}");
    }
    assert!(!err.contains("too-short-secret"), "the secret is never printed");
}

#[test]
fn the_secret_is_refused_on_the_command_line() {
    let secret = "a-secret-on-the-command-line-0123456789";
    let out = bin()
        .args(["--dev", "--session-jwks-url", "http://localhost:3001/.lunasec/jwks.json", "--secret", secret])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("configuration error: --secret is refused: a secret on the command line shows in `ps` and shell history; pass TOKENIZER_SECRET in the environment or use --secret-file"),
        "{err}"
    );
    assert!(!err.contains(secret), "the secret is never printed: {err}");
}

#[test]
fn help_documents_every_option() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in [
        "TOKENIZER_HTTP_ADDR",
        "TOKENIZER_PUBLIC_URL",
        "SESSION_JWKS_URL",
        "SESSION_PUBLIC_KEY",
        "AUTH_PROVIDERS",
        "APPLICATION_FRONT_END",
        "GRANT_DEFAULT_DURATION",
        "GRANT_MAXIMUM_DURATION",
        "TOKENIZER_DATA_DIR",
        "TOKENIZER_SECRET",
        "TOKENIZER_SECRET_FILE",
        "TOKENIZER_ENV",
        "STORAGE_BACKEND",
        "DYNAMODB_TABLE",
        "DYNAMODB_CREATE_TABLE",
        "CIPHERTEXT_BACKEND",
        "CIPHERTEXT_VAULT_S3_BUCKET",
        "S3_CREATE_BUCKET",
        "LOCALSTACK_URL",
        "AWS_REGION",
        "BLOB_MAX_SIZE",
        "TOKENIZER_LOG_FORMAT",
    ] {
        assert!(help.contains(var), "--help does not mention {var}");
    }
}

/// Starts the binary in dev mode on a free port with the test public key; returns (child, base url).
fn spawn_binary(dir: &std::path::Path, extra_env: &[(&str, &str)]) -> (std::process::Child, String) {
    let port = closed_port();
    let mut cmd = bin();
    cmd.args(["--dev", "--http-addr", &format!("127.0.0.1:{port}")])
        .env("TOKENIZER_DATA_DIR", dir)
        .env("SESSION_PUBLIC_KEY", RSA2048_PUBLIC)
        .env("AUTH_PROVIDERS", r#"{"app":{"url":"http://localhost:3001","default":true}}"#)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the binary did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, base)
}

fn sigterm(child: &std::process::Child) {
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
}

#[tokio::test]
async fn binary_serves_shuts_down_gracefully_and_logs_no_secrets() {
    let dir = temp_dir("binary");
    let (mut child, base) = spawn_binary(&dir, &[("TOKENIZER_LOG", "debug")]);
    let keys = default_keyset();
    let c = client();
    let session = "very-secret-session-id-123";
    let user = keys.user_jwt(session).unwrap();
    let app = keys.application_jwt().unwrap();
    // A full tour: session flow, tokenize, upload, grant, detokenize, download.
    let r = Resp::from(c.get(format!("{base}/session/ensure")).send().await.unwrap()).await;
    let state = cookie_value(&r.set_cookies(), STATE_COOKIE).unwrap();
    let r = Resp::from(
        c.get(format!("{base}/session/create?state={state}&openid_token={user}"))
            .header("cookie", format!("{STATE_COOKIE}={state}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let post = |path: &str, jwt: &str, body: serde_json::Value| {
        c.post(format!("{base}{path}"))
            .header("authorization", jwt)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let r = Resp::from(post("/tokenize", &user, json!({"metadata":{"dataType":"string"}})).await.unwrap()).await;
    let token = r.body["data"]["tokenId"].as_str().unwrap().to_owned();
    let url = r.body["data"]["uploadUrl"].as_str().unwrap().to_owned();
    let headers = headers_of(&r.body["data"]["headers"]);
    let plaintext = b"PLAINTEXT-4111-1111-1111-1111".to_vec();
    assert_eq!(upload(&c, &url, &headers, plaintext.clone()).await, 200);
    assert_eq!(
        Resp::from(post("/grant/set", &app, json!({"sessionId":session,"tokenId":token})).await.unwrap()).await.status,
        200
    );
    let r = Resp::from(post("/detokenize", &user, json!({"tokenId":token})).await.unwrap()).await;
    let (status, got) = download(&c, r.body["data"]["downloadUrl"].as_str().unwrap(), &headers).await;
    assert_eq!((status, got), (200, plaintext));
    let _ = Resp::from(
        post("/detokenize", &user, json!({"tokenId":"lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c"})).await.unwrap(),
    )
    .await;

    // Graceful shutdown on SIGTERM.
    sigterm(&child);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("tokenizer listening"), "{log}");
    assert!(log.contains("shutting down"), "{log}");
    let secret = std::fs::read_to_string(dir.join("tokenizer-secret")).unwrap();
    let key_b64 = &headers.iter().find(|(k, _)| k == "x-amz-server-side-encryption-customer-key").unwrap().1;
    let jwt_sig = user.rsplit('.').next().unwrap();
    for (what, needle) in [
        ("token", token.as_str()),
        ("token uuid", &token[8..]),
        ("user JWT", jwt_sig),
        ("application JWT", app.rsplit('.').next().unwrap()),
        ("session id", session),
        ("state", state.as_str()),
        ("SSE-C key", key_b64.as_str()),
        ("tokenizer secret", secret.trim()),
        ("plaintext", "PLAINTEXT"),
        ("presigned URL signature", url.rsplit("signature=").next().unwrap()),
    ] {
        assert!(!log.contains(needle), "the log contains the {what}:\n{log}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
