//! Tokenize → upload → detokenize → download (embedded blobs), grants, metadata, session binding.

use crate::common;

use std::time::Duration;

use common::*;
use lunasec_core::is_token;
use lunasec_core::protocol::SESSION_HASH_HEADER;
use serde_json::json;

const SSE_KEY: &str = "x-amz-server-side-encryption-customer-key";
const SSE_MD5: &str = "x-amz-server-side-encryption-customer-key-md5";

fn replace_header(headers: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    headers.iter().map(|(k, v)| (k.clone(), if k == name { value.to_owned() } else { v.clone() })).collect()
}

fn other_key_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    use base64::Engine as _;
    let key = [7u8; 32];
    let b64 = base64::engine::general_purpose::STANDARD.encode(key);
    let md5 = lunasec_tokenizer::crypto::md5_base64(&key);
    replace_header(&replace_header(headers, SSE_KEY, &b64), SSE_MD5, &md5)
}

#[tokio::test]
async fn tokenize_upload_detokenize_download_embedded() {
    let h = Harness::embedded().await;
    let user = h.user_jwt("alice-session");
    let (token, upload_url, headers) = h.tokenize(&user, json!({"dataType":"string"})).await;
    assert!(is_token(&token), "{token}");
    assert!(upload_url.starts_with(&format!("{}/blob/", h.base)), "{upload_url}");
    assert!(upload_url.contains("method=PUT"));
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "x-amz-server-side-encryption-customer-algorithm",
            "x-amz-server-side-encryption-customer-key",
            "x-amz-server-side-encryption-customer-key-md5"
        ]
    );
    assert!(!upload_url.contains(&token[8..]), "the object key is not the token");

    // Several segments and a partial last one.
    let data = random_bytes(3 * 64 * 1024 + 123);
    assert_eq!(upload(&h.client, &upload_url, &headers, data.clone()).await, 200);

    let r = h.detokenize(&user, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let url = r.body["data"]["downloadUrl"].as_str().unwrap();
    assert!(url.contains("method=GET"));
    let dl_headers = headers_of(&r.body["data"]["headers"]);
    assert_eq!(dl_headers, headers, "same customer key both ways");
    let (status, got) = download(&h.client, url, &dl_headers).await;
    assert_eq!(status, 200);
    assert_eq!(got, data);

    // Real SSE-C semantics: without the key 400, another key 403, MD5 not matching the key 403.
    let (status, _) = download(&h.client, url, &[]).await;
    assert_eq!(status, 400);
    let (status, body) = download(&h.client, url, &other_key_headers(&dl_headers)).await;
    assert_eq!(status, 403);
    assert!(!body.windows(16).any(|w| data.windows(16).next() == Some(w)));
    let (status, _) = download(&h.client, url, &replace_header(&dl_headers, SSE_MD5, "AAAAAAAAAAAAAAAAAAAAAA==")).await;
    assert_eq!(status, 403);
    // The PUT URL does not read, a tampered signature does not verify.
    let (status, _) = download(&h.client, &upload_url.replace("method=PUT", "method=GET"), &dl_headers).await;
    assert_eq!(status, 403);
    let tampered = format!("{}{}", &url[..url.len() - 1], if url.ends_with('0') { '1' } else { '0' });
    assert_eq!(download(&h.client, &tampered, &dl_headers).await.0, 403);

    // At rest the blob is ciphertext.
    let mut found = false;
    for entry in walk(&h.dir.join("blobs")) {
        let bytes = std::fs::read(&entry).unwrap();
        found = true;
        assert!(!bytes.windows(32).any(|w| w == &data[..32]), "plaintext at rest in {}", entry.display());
    }
    assert!(found);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn empty_and_exact_segment_uploads_round_trip() {
    let h = Harness::embedded().await;
    let app = h.app_jwt();
    for len in [0, 64 * 1024, 2 * 64 * 1024, 1] {
        let (token, url, headers) = h.tokenize(&app, json!({})).await;
        let data = random_bytes(len);
        assert_eq!(upload(&h.client, &url, &headers, data.clone()).await, 200);
        let r = h.detokenize(&app, &token).await;
        let (status, got) = download(
            &h.client,
            r.body["data"]["downloadUrl"].as_str().unwrap(),
            &headers_of(&r.body["data"]["headers"]),
        )
        .await;
        assert_eq!((status, got.len()), (200, len));
        assert_eq!(got, data);
    }
}

#[tokio::test]
async fn blob_size_cap_and_missing_object() {
    let h = Harness::embedded_with(|c| {
        c.ciphertext = lunasec_tokenizer::config::CiphertextConfig::Embedded { max_size: 1000 };
    })
    .await;
    let app = h.app_jwt();
    let (token, url, headers) = h.tokenize(&app, json!({})).await;
    // Not uploaded yet: the download URL answers 404 like S3's NoSuchKey.
    let r = h.detokenize(&app, &token).await;
    assert_eq!(r.status, 200);
    let (status, _) =
        download(&h.client, r.body["data"]["downloadUrl"].as_str().unwrap(), &headers_of(&r.body["data"]["headers"]))
            .await;
    assert_eq!(status, 404);
    assert_eq!(upload(&h.client, &url, &headers, vec![1; 1001]).await, 413);
    // Nothing was left behind (no object, no temporary file).
    assert!(walk(&h.dir.join("blobs")).is_empty());
    assert_eq!(upload(&h.client, &url, &headers, vec![1; 1000]).await, 200);
    // A streamed body (no content-length) is capped too.
    let stream = futures_util::stream::iter((0..20).map(|_| Ok::<_, std::io::Error>(vec![0u8; 100])));
    let mut req = h.client.put(&url).body(reqwest::Body::wrap_stream(stream));
    for (k, v) in &headers {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status().as_u16(), 413);
    assert_eq!(walk(&h.dir.join("blobs")).len(), 1, "the first upload only");
}

#[tokio::test]
async fn application_callers_need_no_grants() {
    let h = Harness::embedded().await;
    let app = h.app_jwt();
    let (token, _, _) = h.tokenize(&app, json!({"dataType":"string"})).await;
    assert_eq!(h.detokenize(&app, &token).await.status, 200);
    let r = h.post("/metadata/get", Some(&app), &json!({"tokenId": token})).await;
    assert_eq!(r.body["data"]["metadata"], json!({"dataType":"string"}));
    // ...and tokenize by the application creates no grant for anyone.
    let r = h.grant_verify(json!({"sessionId":"anyone","tokenId":token})).await;
    assert_eq!(r.body["data"], json!({"valid": false}));
}

#[tokio::test]
async fn tokenize_creates_store_and_read_grants_for_the_users_session() {
    let h = Harness::embedded().await;
    let (token, _, _) = h.tokenize(&h.user_jwt("bob"), json!({})).await;
    let r = h.grant_verify(json!({"sessionId":"bob","tokenId":token})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"success":true,"data":{"valid":true}}), "store_token is the verify default");
    let r = h.grant_verify(json!({"sessionId":"bob","tokenId":token,"grantType":"read_token"})).await;
    assert_eq!(r.body["data"]["valid"], true);
    let r = h.grant_verify(json!({"sessionId":"bob","tokenId":token,"grantType":"token_full_access"})).await;
    assert_eq!(r.body["data"]["valid"], true, "store + read together count as full access");
    let r = h.grant_verify(json!({"sessionId":"mallory","tokenId":token})).await;
    assert_eq!(r.body["data"]["valid"], false);
}

#[tokio::test]
async fn grants_default_custom_over_maximum_and_types() {
    let h = Harness::embedded().await;
    let (token, _, _) = h.tokenize(&h.app_jwt(), json!({})).await;
    // Default duration, default type read_token.
    let r = h.grant_set(json!({"sessionId":"s1","tokenId":token})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"success":true,"data":{}}));
    assert_eq!(
        h.grant_verify(json!({"sessionId":"s1","tokenId":token,"grantType":"read_token"})).await.body["data"]["valid"],
        true
    );
    assert_eq!(
        h.grant_verify(json!({"sessionId":"s1","tokenId":token})).await.body["data"]["valid"],
        false,
        "no store grant"
    );
    // The user can now detokenize.
    assert_eq!(h.detokenize(&h.user_jwt("s1"), &token).await.status, 200);
    // Custom durations in Go syntax.
    for d in ["45s", "30m", "1h", "1.5s", "59m59s"] {
        let r =
            h.grant_set(json!({"sessionId":"s2","tokenId":token,"customDuration":d,"grantType":"store_token"})).await;
        assert_eq!(r.status, 200, "{d}: {}", r.body);
    }
    assert_eq!(h.grant_verify(json!({"sessionId":"s2","tokenId":token})).await.body["data"]["valid"], true);
    // Over the maximum: 400 naming the maximum.
    let r = h.grant_set(json!({"sessionId":"s3","tokenId":token,"customDuration":"1h0m1s"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_name(), "invalidDuration");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("maximum of 1h"), "{}", r.body);
    let r = h.grant_set(json!({"sessionId":"s3","tokenId":token,"customDuration":"forever"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_name(), "invalidDuration");
    let r = h.grant_set(json!({"sessionId":"s3","tokenId":token,"grantType":"admin"})).await;
    assert_eq!(r.status, 400);
    // token_full_access counts as both.
    h.grant_set(json!({"sessionId":"s4","tokenId":token,"grantType":"token_full_access"})).await;
    assert_eq!(h.grant_verify(json!({"sessionId":"s4","tokenId":token})).await.body["data"]["valid"], true);
    assert_eq!(h.detokenize(&h.user_jwt("s4"), &token).await.status, 200);
}

#[tokio::test]
async fn grants_expire_and_setting_again_replaces_the_expiry() {
    let h = Harness::embedded().await;
    let (token, _, _) = h.tokenize(&h.app_jwt(), json!({})).await;
    let (t2, _, _) = h.tokenize(&h.app_jwt(), json!({})).await;
    h.grant_set(json!({"sessionId":"short","tokenId":token,"customDuration":"1s"})).await;
    // Replaced with a longer one → survives.
    h.grant_set(json!({"sessionId":"long","tokenId":token,"customDuration":"1s"})).await;
    h.grant_set(json!({"sessionId":"long","tokenId":token,"customDuration":"1h"})).await;
    // Replaced with a shorter one → expires.
    h.grant_set(json!({"sessionId":"shortened","tokenId":t2,"customDuration":"1h"})).await;
    h.grant_set(json!({"sessionId":"shortened","tokenId":t2,"customDuration":"1s"})).await;
    let read = |s: &str, t: &str| json!({"sessionId":s,"tokenId":t,"grantType":"read_token"});
    assert_eq!(h.grant_verify(read("short", &token)).await.body["data"]["valid"], true);
    assert_eq!(h.detokenize(&h.user_jwt("short"), &token).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(h.grant_verify(read("short", &token)).await.body["data"]["valid"], false);
    assert_eq!(h.grant_verify(read("long", &token)).await.body["data"]["valid"], true);
    assert_eq!(h.grant_verify(read("shortened", &t2)).await.body["data"]["valid"], false);
    // Detokenize with the expired grant: 403.
    let r = h.detokenize(&h.user_jwt("short"), &token).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_name(), "invalidGrant");
}

#[tokio::test]
async fn batch_grants_answer_per_item() {
    let h = Harness::embedded().await;
    let mut tokens = vec![];
    for _ in 0..3 {
        tokens.push(h.tokenize(&h.app_jwt(), json!({})).await.0);
    }
    let r = h.grant_set(json!({"sessionId":"b","tokenIds":&tokens[..2],"customDuration":"10m"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h.grant_verify(json!({"sessionId":"b","tokenIds":tokens,"grantType":"read_token"})).await;
    assert_eq!(r.body["data"], json!({"valid": false, "results": [true, true, false]}));
    let r = h.grant_verify(json!({"sessionId":"b","tokenIds":&tokens[..2],"grantType":"read_token"})).await;
    assert_eq!(r.body["data"], json!({"valid": true, "results": [true, true]}));
    // Duplicates are fine.
    let r = h.grant_verify(json!({"sessionId":"b","tokenIds":[&tokens[0], &tokens[0]],"grantType":"read_token"})).await;
    assert_eq!(r.body["data"]["results"], json!([true, true]));
    // A non-token anywhere refuses the whole batch, naming the index.
    let r = h.grant_set(json!({"sessionId":"b","tokenIds":[&tokens[0], "nope"]})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_name(), "badToken");
    assert!(r.body["error"]["message"].as_str().unwrap().starts_with("tokenIds[1]"));
    for bad in [
        json!({"sessionId":"b","tokenIds":[]}),
        json!({"sessionId":"b"}),
        json!({"sessionId":"b","tokenId":&tokens[0],"tokenIds":[&tokens[0]]}),
        json!({"sessionId":"","tokenId":&tokens[0]}),
    ] {
        assert_eq!(h.grant_verify(bad.clone()).await.status, 400, "{bad}");
    }
}

#[tokio::test]
async fn metadata_get_and_set() {
    let h = Harness::embedded().await;
    let user = h.user_jwt("m");
    let meta = json!({"dataType":"file","fileinfo":{"filename":"a.pdf","type":"application/pdf","lastModified":1},"customFields":{"x":1}});
    let (token, _, _) = h.tokenize(&user, meta.clone()).await;
    let r = h.post("/metadata/get", Some(&user), &json!({"tokenId":token})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["metadata"], meta);
    // Another user's session has no grant: 403 (not 404, whether or not the token exists).
    let other = h.user_jwt("not-m");
    assert_eq!(h.post("/metadata/get", Some(&other), &json!({"tokenId":token})).await.status, 403);
    let unknown = "lunasec-00000000-0000-4000-8000-000000000000";
    assert_eq!(h.post("/metadata/get", Some(&other), &json!({"tokenId":unknown})).await.status, 403);
    // Set: application only; replaces the metadata.
    let r = h.post("/metadata/set", Some(&user), &json!({"tokenId":token,"metadata":{}})).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_name(), "wrongSubject");
    let r =
        h.post("/metadata/set", Some(&h.app_jwt()), &json!({"tokenId":token,"metadata":{"dataType":"string"}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h.post("/metadata/get", Some(&user), &json!({"tokenId":token})).await;
    assert_eq!(r.body["data"]["metadata"], json!({"dataType":"string"}));
    let r = h.post("/metadata/set", Some(&h.app_jwt()), &json!({"tokenId":unknown,"metadata":{}})).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_name(), "tokenNotFound");
}

#[tokio::test]
async fn session_hash_binding() {
    let h = Harness::embedded().await;
    let user = h.user_jwt("bound-session");
    let r = h.post("/tokenize", Some(&user), &json!({})).await;
    let hash = r.header(SESSION_HASH_HEADER).unwrap().to_owned();
    let token = r.body["data"]["tokenId"].as_str().unwrap().to_owned();
    // Same session, same hash; another session, another hash.
    let r2 = h.post("/tokenize", Some(&user), &json!({})).await;
    assert_eq!(r2.header(SESSION_HASH_HEADER), Some(hash.as_str()));
    let r3 = h.post("/tokenize", Some(&h.user_jwt("other")), &json!({})).await;
    assert_ne!(r3.header(SESSION_HASH_HEADER), Some(hash.as_str()));
    // Sending the right hash is fine; a different one is refused with 401.
    let body = serde_json::to_vec(&json!({"tokenId": token})).unwrap();
    let ok = h
        .post_with(
            "/detokenize",
            &[("authorization", &user), ("content-type", "application/json"), (SESSION_HASH_HEADER, &hash)],
            body.clone(),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let other_hash = r3.header(SESSION_HASH_HEADER).unwrap().to_owned();
    let bad = h
        .post_with(
            "/detokenize",
            &[("authorization", &user), ("content-type", "application/json"), (SESSION_HASH_HEADER, &other_hash)],
            body,
        )
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.error_name(), "sessionHashMismatch");
    // Application responses carry no session hash.
    let r = h.post("/tokenize", Some(&h.app_jwt()), &json!({})).await;
    assert!(r.header(SESSION_HASH_HEADER).is_none());
}

#[tokio::test]
async fn data_survives_a_restart_with_the_dev_secret_file() {
    let keys = default_keyset();
    let jwks = JwksServer::start(keys.jwks_json()).await;
    let parent = temp_dir("restart");
    let dir = parent.join("data"); // created by the tokenizer
    let mut config = embedded_config(dir.clone(), &jwks.url());
    config.secret = lunasec_tokenizer::config::SecretSource::DevFile;
    let mut h = Harness::start(config.clone(), default_keyset(), None, temp_dir("unused")).await;
    let app = h.app_jwt();
    let (token, url, headers) = h.tokenize(&app, json!({"dataType":"string"})).await;
    assert_eq!(upload(&h.client, &url, &headers, b"4111 1111 1111 1111".to_vec()).await, 200);
    h.shutdown().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("tokenizer-secret")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o077, 0, "data dir is private");
    }
    // Same data dir, same generated secret: the token still resolves, on a new port.
    let h2 = Harness::start(config, default_keyset(), None, parent).await;
    let r = h2.detokenize(&h2.app_jwt(), &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let url = r.body["data"]["downloadUrl"].as_str().unwrap();
    let (status, got) = download(&h2.client, url, &headers_of(&r.body["data"]["headers"])).await;
    assert_eq!((status, got), (200, b"4111 1111 1111 1111".to_vec()));
    drop(jwks);
}
