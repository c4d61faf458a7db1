//! Against LocalStack (S3 with enforced presigned signatures and SSE-C, DynamoDB), when
//! `LOCALSTACK_ENDPOINT` is set (e.g. `http://127.0.0.1:4566`); otherwise each test prints
//! "skipped: `LOCALSTACK_ENDPOINT` not set" and passes.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use lunasec_core::protocol::STATE_COOKIE;
use lunasec_tokenizer::Config;
use lunasec_tokenizer::config::{AwsConfig, CiphertextConfig, StorageConfig};
use serde_json::json;

fn endpoint() -> Option<String> {
    use std::io::Write as _;
    match std::env::var("LOCALSTACK_ENDPOINT") {
        Ok(e) if !e.trim().is_empty() => Some(e.trim().trim_end_matches('/').to_owned()),
        _ => {
            assert!(
                std::env::var_os("LUNASEC_REQUIRE_SERVICES").is_none(),
                "LUNASEC_REQUIRE_SERVICES is set but LOCALSTACK_ENDPOINT is not"
            );
            // Straight to the stderr handle: the test harness captures `eprintln!` of passing tests.
            let _ = writeln!(std::io::stderr(), "skipped: LOCALSTACK_ENDPOINT not set");
            None
        }
    }
}

struct Names {
    table: String,
    bucket: String,
}

fn names() -> Names {
    let id = uuid_like();
    Names { table: format!("lunasec-test-{id}"), bucket: format!("lunasec-test-{id}") }
}

fn ls_config(endpoint: &str, names: &Names, jwks_url: &str) -> Config {
    let mut c = embedded_config(temp_dir("localstack"), jwks_url);
    c.storage = StorageConfig::DynamoDb { table: names.table.clone(), create_table: true };
    c.ciphertext = CiphertextConfig::S3 { bucket: names.bucket.clone(), create_bucket: true };
    c.aws = AwsConfig {
        region: "us-west-2".into(),
        endpoint: Some(endpoint.to_owned()),
        static_credentials: Some(("test".into(), "test".into())),
    };
    c
}

/// Starts a tokenizer on LocalStack and waits until the bucket and table are ready.
async fn start(endpoint: &str, names: &Names, jwks: &JwksServer) -> Harness {
    let config = ls_config(endpoint, names, &jwks.url());
    let dir = config.data_dir.clone();
    let h = Harness::start(config, default_keyset(), None, dir).await;
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        // Exercises both S3 (bucket check) and DynamoDB (token record).
        let r = h.post("/tokenize", Some(&h.app_jwt()), &json!({})).await;
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "LocalStack backends never became ready: {}", r.body);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    h
}

#[tokio::test]
async fn s3_sse_c_round_trip_with_dynamodb_records() {
    let Some(ep) = endpoint() else { return };
    let keys = default_keyset();
    let jwks = JwksServer::start(keys.jwks_json()).await;
    let n = names();
    let h = start(&ep, &n, &jwks).await;
    let user = h.user_jwt("ls-user");
    let (token, upload_url, headers) = h.tokenize(&user, json!({"dataType":"string"})).await;
    assert!(upload_url.starts_with(&format!("{ep}/{}/", n.bucket)), "path-style: {upload_url}");
    assert!(upload_url.contains("X-Amz-Signature="));
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "x-amz-server-side-encryption-customer-algorithm",
            "x-amz-server-side-encryption-customer-key",
            "x-amz-server-side-encryption-customer-key-md5"
        ],
        "same headers as the embedded blob store"
    );
    assert!(!upload_url.contains(&token[8..]), "the object key is not the token");
    let data = random_bytes(200_000);
    assert_eq!(upload(&h.client, &upload_url, &headers, data.clone()).await, 200);

    let r = h.detokenize(&user, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let url = r.body["data"]["downloadUrl"].as_str().unwrap().to_owned();
    let dl_headers = headers_of(&r.body["data"]["headers"]);
    let (status, got) = download(&h.client, &url, &dl_headers).await;
    assert_eq!(status, 200);
    assert_eq!(got, data);

    // Real SSE-C: without the key refused (403 here: the SSE-C headers are signed into the URL, so
    // S3 reports a signature mismatch before the missing key), another key 403; a tampered URL
    // 403; the PUT URL does not GET.
    let (status, body) = download(&h.client, &url, &[]).await;
    assert!(matches!(status, 400 | 403), "{status}: {}", String::from_utf8_lossy(&body));
    assert_ne!(body, data);
    let other = {
        use base64::Engine as _;
        let k = [9u8; 32];
        vec![
            ("x-amz-server-side-encryption-customer-algorithm".to_owned(), "AES256".to_owned()),
            (
                "x-amz-server-side-encryption-customer-key".to_owned(),
                base64::engine::general_purpose::STANDARD.encode(k),
            ),
            ("x-amz-server-side-encryption-customer-key-md5".to_owned(), lunasec_tokenizer::crypto::md5_base64(&k)),
        ]
    };
    assert_eq!(download(&h.client, &url, &other).await.0, 403);
    let tampered = url.replace("X-Amz-Expires=900", "X-Amz-Expires=901");
    assert_ne!(tampered, url);
    assert_eq!(download(&h.client, &tampered, &dl_headers).await.0, 403);
    assert_eq!(download(&h.client, &upload_url, &dl_headers).await.0, 403);

    // Metadata and grants live in DynamoDB.
    let r = h.post("/metadata/get", Some(&user), &json!({"tokenId":token})).await;
    assert_eq!(r.body["data"]["metadata"], json!({"dataType":"string"}));
    assert_eq!(h.detokenize(&h.user_jwt("someone-else"), &token).await.status, 403);
}

#[tokio::test]
async fn grants_and_session_state_on_dynamodb() {
    let Some(ep) = endpoint() else { return };
    let keys = default_keyset();
    let jwks = JwksServer::start(keys.jwks_json()).await;
    let n = names();
    let h = start(&ep, &n, &jwks).await;
    let (token, _, _) = h.tokenize(&h.app_jwt(), json!({})).await;
    let (t2, _, _) = h.tokenize(&h.app_jwt(), json!({})).await;
    let read = |s: &str, t: &str| json!({"sessionId":s,"tokenId":t,"grantType":"read_token"});
    // Default, custom, over the maximum, replaced, expired, batch.
    assert_eq!(h.grant_set(json!({"sessionId":"d","tokenId":token})).await.status, 200);
    assert_eq!(h.grant_verify(read("d", &token)).await.body["data"]["valid"], true);
    let r = h.grant_set(json!({"sessionId":"d","tokenId":token,"customDuration":"2h"})).await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("maximum of 1h"));
    h.grant_set(json!({"sessionId":"e","tokenId":token,"customDuration":"1s"})).await;
    h.grant_set(json!({"sessionId":"r","tokenId":token,"customDuration":"1s"})).await;
    h.grant_set(json!({"sessionId":"r","tokenId":token,"customDuration":"30m"})).await;
    assert_eq!(h.grant_verify(read("e", &token)).await.body["data"]["valid"], true);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(h.grant_verify(read("e", &token)).await.body["data"]["valid"], false);
    assert_eq!(h.grant_verify(read("r", &token)).await.body["data"]["valid"], true);
    assert_eq!(h.detokenize(&h.user_jwt("e"), &token).await.status, 403);
    let tokens: Vec<String> = std::iter::repeat_n(token.clone(), 2).chain([t2.clone()]).collect();
    let r = h.grant_verify(json!({"sessionId":"d","tokenIds":tokens,"grantType":"read_token"})).await;
    assert_eq!(r.body["data"], json!({"valid":false,"results":[true,true,false]}));
    // A batch larger than one BatchGetItem / BatchWriteItem request.
    let mut many = vec![];
    for _ in 0..60 {
        many.push(lunasec_core::Token::generate().as_str().to_owned());
    }
    assert_eq!(h.grant_set(json!({"sessionId":"m","tokenIds":many})).await.status, 200);
    let r = h.grant_verify(json!({"sessionId":"m","tokenIds":many,"grantType":"read_token"})).await;
    assert_eq!(r.body["data"]["valid"], true, "{}", r.body);

    // Single-use state with a conditional write.
    let r = h.get("/session/ensure", &[]).await;
    let state = cookie_value(&r.set_cookies(), STATE_COOKIE).unwrap();
    let jwt = h.user_jwt("ddb-session");
    let path = format!("/session/create?state={state}&openid_token={jwt}");
    let cookie = format!("{STATE_COOKIE}={state}");
    let hdrs = [("cookie", cookie.as_str())];
    assert_eq!(h.get(&path, &hdrs).await.status, 200);
    let replay = h.get(&path, &hdrs).await;
    assert_eq!(replay.status, 400);
    assert_eq!(replay.error_name(), "stateInvalid");
    assert!(replay.body["error"]["message"].as_str().unwrap().contains("already been used"));
}

#[tokio::test]
async fn two_tokenizers_on_one_dynamodb_and_s3_agree() {
    let Some(ep) = endpoint() else { return };
    let keys = default_keyset();
    let jwks = JwksServer::start(keys.jwks_json()).await;
    let n = names();
    let a = start(&ep, &n, &jwks).await;
    let b = start(&ep, &n, &jwks).await;
    assert_ne!(a.base, b.base);

    // A grant set through A is honoured by B.
    let (token, upload_url, headers) = a.tokenize(&a.app_jwt(), json!({"dataType":"string"})).await;
    assert_eq!(upload(&a.client, &upload_url, &headers, b"shared secret".to_vec()).await, 200);
    assert_eq!(a.grant_set(json!({"sessionId":"shared","tokenId":token})).await.status, 200);
    let r = b.grant_verify(json!({"sessionId":"shared","tokenId":token,"grantType":"read_token"})).await;
    assert_eq!(r.body["data"]["valid"], true, "{}", r.body);
    let r = b.detokenize(&b.user_jwt("shared"), &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (status, got) =
        download(&b.client, r.body["data"]["downloadUrl"].as_str().unwrap(), &headers_of(&r.body["data"]["headers"]))
            .await;
    assert_eq!((status, got), (200, b"shared secret".to_vec()));

    // A user's tokenize on B gives grants A honours.
    let (t2, _, _) = b.tokenize(&b.user_jwt("u2"), json!({})).await;
    assert_eq!(a.detokenize(&a.user_jwt("u2"), &t2).await.status, 200);
    assert_eq!(a.grant_verify(json!({"sessionId":"u2","tokenId":t2})).await.body["data"]["valid"], true);

    // A state issued by A is consumed once, whichever instance sees it; concurrently, exactly one wins.
    let r = a.get("/session/ensure", &[]).await;
    let state = cookie_value(&r.set_cookies(), STATE_COOKIE).unwrap();
    let jwt = a.user_jwt("lb-session");
    let path = format!("/session/create?state={state}&openid_token={jwt}");
    let cookie = format!("{STATE_COOKIE}={state}");
    let hdrs = [("cookie", cookie.as_str())];
    let (ra, rb) = tokio::join!(a.get(&path, &hdrs), b.get(&path, &hdrs));
    let mut statuses = [ra.status, rb.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
}

#[tokio::test]
async fn ready_follows_the_table_and_the_bucket() {
    use crate::ready::{not_ready_message, wait_ready_until};
    let Some(ep) = endpoint() else { return };
    let keys = default_keyset();
    let jwks = JwksServer::start(keys.jwks_json()).await;
    let n = names();
    // A tokenizer that does not create them, started before the table and the bucket exist.
    let mut config = ls_config(&ep, &n, &jwks.url());
    config.storage = StorageConfig::DynamoDb { table: n.table.clone(), create_table: false };
    config.ciphertext = CiphertextConfig::S3 { bucket: n.bucket.clone(), create_bucket: false };
    let dir = config.data_dir.clone();
    let waiting = Harness::start(config, default_keyset(), None, dir).await;
    let r = wait_ready_until(&waiting, "the keys to load", Duration::from_secs(10), |r| {
        r.status != 503 || !r.body["error"]["message"].as_str().unwrap_or("").contains("session keys")
    })
    .await;
    let msg = not_ready_message(&r);
    assert!(msg.contains("record store (DynamoDB table)"), "{msg}");
    assert!(msg.contains("ciphertext store (s3)"), "{msg}");
    assert_eq!(waiting.get("/health", &[]).await.status, 200);

    // One that creates them is ready once its checks pass ...
    let creator = start(&ep, &n, &jwks).await;
    let r = wait_ready_until(&creator, "the creator ready", Duration::from_mins(1), |r| r.status == 200).await;
    assert_eq!(r.body, json!({"success":true}));
    // ... and the first follows on its next checks (table probe, bucket check; backoff ≤ 15 s).
    wait_ready_until(&waiting, "the first ready too", Duration::from_mins(1), |r| r.status == 200).await;
    assert_eq!(waiting.post("/tokenize", Some(&waiting.app_jwt()), &json!({})).await.status, 200);
}

/// State consumption on DynamoDB is idempotent under the SDK's retries: a retried `PutItem` whose
/// first response was lost finds its own item (same attempt id) and counts as consumed; any other
/// attempt is a replay.
#[tokio::test]
async fn dynamodb_state_consumption_is_idempotent_per_attempt() {
    use lunasec_tokenizer::store::dynamo::DynamoStore;
    use lunasec_tokenizer::store::{RecordStore as _, StateConsume, after_ms, now_ms};
    let Some(ep) = endpoint() else { return };
    let keys = default_keyset();
    let jwks = JwksServer::start(keys.jwks_json()).await;
    let n = names();
    let h = start(&ep, &n, &jwks).await; // creates the table
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-west-2"))
        .endpoint_url(&ep)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "test"))
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(conf);
    let store = DynamoStore::new(client.clone(), n.table.clone());
    let state_items = || async {
        let out = client
            .scan()
            .table_name(&n.table)
            .filter_expression("begins_with(pk, :s)")
            .expression_attribute_values(":s", aws_sdk_dynamodb::types::AttributeValue::S("s#".into()))
            .consistent_read(true)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .unwrap();
        assert!(out.last_evaluated_key.is_none(), "a small table scans in one page");
        out.count
    };
    let exp = after_ms(now_ms(), Duration::from_mins(15));

    let key = random_bytes(32).try_into().unwrap();
    assert_eq!(store.consume_state_attempt(key, exp, "attempt-1").await.unwrap(), StateConsume::Consumed);
    // The SDK's retry of that same call (its response lost): still ours, still consumed.
    assert_eq!(store.consume_state_attempt(key, exp, "attempt-1").await.unwrap(), StateConsume::Consumed);
    // Any other attempt, or a fresh call, is a replay.
    assert_eq!(store.consume_state_attempt(key, exp, "attempt-2").await.unwrap(), StateConsume::AlreadyUsed);
    assert_eq!(store.consume_state(key, exp).await.unwrap(), StateConsume::AlreadyUsed);
    // A fresh call on an unused key consumes it; of concurrent fresh calls exactly one wins.
    let fresh = random_bytes(32).try_into().unwrap();
    let tries: Vec<_> = (0..8).map(|_| store.consume_state(fresh, exp)).collect();
    let results = futures_util::future::join_all(tries).await;
    assert_eq!(results.iter().filter(|r| **r == Ok(StateConsume::Consumed)).count(), 1, "{results:?}");
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    assert_eq!(state_items().await, 2);

    // Through HTTP: ensure puts nothing in DynamoDB either; only the consumption is recorded.
    let mut state = String::new();
    for _ in 0..20 {
        let r = h.get("/session/ensure", &[]).await;
        assert_eq!(r.status, 302);
        state = cookie_value(&r.set_cookies(), STATE_COOKIE).unwrap();
    }
    assert_eq!(state_items().await, 2, "ensure wrote to the table");
    let jwt = h.user_jwt("ddb-idem");
    let path = format!("/session/create?state={state}&openid_token={jwt}");
    let cookie = format!("{STATE_COOKIE}={state}");
    assert_eq!(h.get(&path, &[("cookie", cookie.as_str())]).await.status, 200);
    assert_eq!(state_items().await, 3);
    let replay = h.get(&path, &[("cookie", cookie.as_str())]).await;
    assert_eq!(replay.error_name(), "stateInvalid");
    assert!(replay.body["error"]["message"].as_str().unwrap().contains("already been used"));
}
