//! Prepares a running tokenizer for `bench/tokenizer/run.sh`: signs an application JWT and a user
//! JWT with the core crate's test key (the tokenizer must trust its public key, e.g.
//! `SESSION_PUBLIC_KEY=crates/lunasec-core/testdata/rsa2048-public.pem`), tokenizes N values as that
//! user (which grants its session store + read), uploads a small ciphertext for each, extends the
//! read grants to 1 hour in one batch call, and writes shell variables for the load generator:
//!
//! ```text
//! cargo run --release --example bench_client -- http://127.0.0.1:37766 100 bench.env
//! ```
//!
//! Test keys only: the JWTs it writes protect nothing.

use std::fmt::Write as _;
use std::time::Duration;

use lunasec_core::{DEFAULT_KID, KeySet, SigningKey};
use serde_json::{Value, json};

const TEST_KEY: &str = include_str!("../../lunasec-core/testdata/rsa2048-pkcs8.pem");
const SESSION: &str = "bench-session";

async fn post(client: &reqwest::Client, url: &str, jwt: &str, body: &Value) -> Value {
    let r = client
        .post(url)
        .header("authorization", jwt)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("the tokenizer answers");
    let status = r.status();
    let v: Value = serde_json::from_slice(&r.bytes().await.expect("a body")).expect("JSON");
    assert!(status.is_success(), "{url}: {status} {v}");
    v
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = args.get(1).map_or("http://127.0.0.1:37766", String::as_str).trim_end_matches('/').to_owned();
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let out = args.get(3).map_or("bench.env", String::as_str);

    let keys =
        KeySet::new(vec![SigningKey::from_pem(DEFAULT_KID, TEST_KEY, "test key").expect("test key")]).expect("key set");
    let app = keys.application_jwt().expect("app JWT");
    let user = keys.user_jwt(SESSION).expect("user JWT");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");

    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let r = post(&client, &format!("{base}/tokenize"), &user, &json!({"metadata":{"dataType":"string"}})).await;
        let d = &r["data"];
        let mut req = client.put(d["uploadUrl"].as_str().expect("uploadUrl")).body(format!("bench value {i:06}"));
        for (k, v) in d["headers"].as_object().expect("headers") {
            req = req.header(k, v.as_str().expect("header value"));
        }
        let status = req.send().await.expect("upload").status();
        assert!(status.is_success(), "upload: {status}");
        tokens.push(d["tokenId"].as_str().expect("tokenId").to_owned());
    }
    post(
        &client,
        &format!("{base}/grant/set"),
        &app,
        &json!({"sessionId": SESSION, "tokenIds": tokens, "customDuration": "1h"}),
    )
    .await;
    let check = post(
        &client,
        &format!("{base}/grant/verify"),
        &app,
        &json!({"sessionId": SESSION, "tokenIds": tokens, "grantType": "read_token"}),
    )
    .await;
    assert_eq!(check["data"]["valid"], true, "{check}");

    let mut env = String::new();
    let _ = writeln!(env, "BENCH_APP_JWT={app}");
    let _ = writeln!(env, "BENCH_USER_JWT={user}");
    let _ = writeln!(env, "BENCH_SESSION={SESSION}");
    let _ = writeln!(env, "BENCH_TOKENS={}", tokens.join(","));
    std::fs::write(out, env).expect("write the env file");
    eprintln!("bench_client: {n} tokens ready for session {SESSION}; variables in {out}");
}
