//! `GET /ready` (issue 12, item 9): 200 once the session keys are loaded and the stores answered
//! their last check, else 503 `notReady` naming what is missing; `/health` stays liveness only.
//! (On LocalStack: `localstack.rs`.)

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use lunasec_tokenizer::config::{AwsConfig, CiphertextConfig, SessionKeySource, StorageConfig};
use serde_json::json;

/// `/ready` answered 503 `notReady` with `Retry-After`; returns the message.
pub fn not_ready_message(r: &Resp) -> String {
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.error_name(), "notReady");
    assert!(r.header("retry-after").is_some(), "Retry-After on a 503");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.body["error"]["message"].as_str().unwrap().to_owned()
}

/// Polls `/ready` until `done` holds for the response (bounded).
pub async fn wait_ready_until(h: &Harness, what: &str, limit: Duration, done: impl Fn(&Resp) -> bool) -> Resp {
    let deadline = Instant::now() + limit;
    loop {
        let r = h.get("/ready", &[]).await;
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "{what} within {limit:?}; last answer {} {}", r.status, r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn embedded_mode_is_ready_once_the_keys_are_loaded() {
    // The app backend (JWKS) is not up yet.
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/.lunasec/jwks.json");
    let dir = temp_dir("ready-late-keys");
    let keys = default_keyset();
    let h = Harness::start(embedded_config(dir.clone(), &url), default_keyset(), None, dir).await;
    let health = h.get("/health", &[]).await;
    assert_eq!((health.status, &health.body), (200, &json!({"success":true})), "liveness needs no keys");
    let msg = not_ready_message(&h.get("/ready", &[]).await);
    assert!(msg.contains("session keys"), "{msg}");
    assert!(!msg.contains("record store") && !msg.contains("ciphertext store"), "embedded stores are ready: {msg}");
    assert!(!msg.contains(&url) && !msg.contains(&port.to_string()), "no configuration in the answer: {msg}");
    // /ready itself never fetches: still not ready a moment later (the JWKS is still down).
    tokio::time::sleep(Duration::from_millis(300)).await;
    not_ready_message(&h.get("/ready", &[]).await);

    // The app comes up; the background fetch (with backoff) loads the keys.
    let jwks = JwksServer::start_on(format!("127.0.0.1:{port}").parse().unwrap(), keys.jwks_json()).await;
    let r = wait_ready_until(&h, "ready once the JWKS answers", Duration::from_secs(20), |r| r.status == 200).await;
    assert_eq!(r.body, json!({"success":true}));
    assert_eq!(r.bytes, br#"{"success":true}"#);
    assert_eq!(h.post("/tokenize", Some(&h.app_jwt()), &json!({})).await.status, 200, "and it serves");
    drop(jwks);
}

#[tokio::test]
async fn fixed_keys_and_embedded_stores_are_ready_at_once() {
    let dir = temp_dir("ready-fixed");
    let keys = lunasec_core::VerifyingKeys::from_public_pem(lunasec_core::DEFAULT_KID, RSA2048_PUBLIC).unwrap();
    let mut config = embedded_config(dir.clone(), "http://unused.invalid/");
    config.session_keys = SessionKeySource::Fixed(Box::new(keys));
    let h = Harness::start(config, default_keyset(), None, dir).await;
    let r = h.get("/ready", &[]).await;
    assert_eq!((r.status, r.body), (200, json!({"success":true})));
    // Only GET (and HEAD) answer.
    let r = h.post_with("/ready", &[], Vec::new()).await;
    assert_eq!(r.status, 405);
}

fn unreachable_aws() -> AwsConfig {
    AwsConfig {
        region: "us-west-2".into(),
        endpoint: Some(format!("http://127.0.0.1:{}", closed_port())),
        static_credentials: Some(("test-key-id".into(), "test-secret-access-key".into())),
    }
}

/// Starts with `tweak` applied and the JWKS up; waits until the keys are loaded; returns the
/// (still not ready) message.
async fn not_ready_with(tag: &str, tweak: impl FnOnce(&mut lunasec_tokenizer::Config)) -> String {
    let keys = default_keyset();
    let jwks = JwksServer::start(keys.jwks_json()).await;
    let dir = temp_dir(tag);
    let mut config = embedded_config(dir.clone(), &jwks.url());
    config.aws = unreachable_aws();
    tweak(&mut config);
    let h = Harness::start(config, keys, Some(jwks), dir).await;
    let r = wait_ready_until(&h, "the keys to load", Duration::from_secs(10), |r| {
        r.status != 503 || !r.body["error"]["message"].as_str().unwrap_or("").contains("session keys")
    })
    .await;
    let msg = not_ready_message(&r);
    assert!(h.get("/health", &[]).await.status == 200);
    for secret in ["test-secret-access-key", "test-key-id", std::str::from_utf8(SECRET).unwrap()] {
        assert!(!msg.contains(secret), "no credential in the answer: {msg}");
    }
    msg
}

#[tokio::test]
async fn not_ready_while_the_s3_bucket_is_unreachable() {
    let msg = not_ready_with("ready-s3-down", |c| {
        c.ciphertext = CiphertextConfig::S3 { bucket: "lunasec-ready".into(), create_bucket: true };
    })
    .await;
    assert!(msg.contains("ciphertext store (s3)"), "{msg}");
    assert!(!msg.contains("record store"), "the embedded record store is ready: {msg}");
}

#[tokio::test]
async fn not_ready_while_the_dynamodb_table_is_unreachable() {
    for create_table in [true, false] {
        let msg = not_ready_with("ready-ddb-down", |c| {
            c.storage = StorageConfig::DynamoDb { table: "lunasec-ready".into(), create_table };
        })
        .await;
        assert!(msg.contains("record store (DynamoDB table)"), "create_table={create_table}: {msg}");
        assert!(!msg.contains("ciphertext store"), "the embedded blob store is ready: {msg}");
    }
}
