//! Refusals, each its own test: every one answers the JSON failure envelope with a fitting status.

use crate::common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use lunasec_core::jwt::now_secs;
use serde_json::{Value, json};

async fn tokenize_status(h: &Harness, jwt: &str) -> (u16, String) {
    let r = h.post("/tokenize", Some(jwt), &json!({})).await;
    let name = r.error_name().to_owned();
    (r.status, name)
}

fn with(claims: Value, patch: &Value) -> Value {
    let mut c = claims;
    for (k, v) in patch.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

#[tokio::test]
async fn no_jwt() {
    let h = Harness::embedded().await;
    let r = h.post("/tokenize", None, &json!({})).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_name(), "jwtMissing");
    assert_eq!(r.header("content-type"), Some("application/json"), "JSON 401s [fix]");
    for path in ["/detokenize", "/metadata/get", "/metadata/set", "/grant/set", "/grant/verify"] {
        assert_eq!(h.post(path, None, &json!({})).await.status, 401, "{path}");
    }
    // An empty authorization header or Bearer with nothing is no JWT either.
    let r = h
        .post_with("/tokenize", &[("authorization", "Bearer "), ("content-type", "application/json")], b"{}".to_vec())
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn bearer_prefix_is_tolerated() {
    let h = Harness::embedded().await;
    let bearer = format!("Bearer {}", h.app_jwt());
    let r = h
        .post_with("/tokenize", &[("authorization", &bearer), ("content-type", "application/json")], b"{}".to_vec())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn tampered_signature() {
    let h = Harness::embedded().await;
    let jwt = h.app_jwt();
    let mut bad = jwt.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(tokenize_status(&h, &bad).await, (401, "jwtInvalid".into()));
    // Tampered payload (user → application) with the original signature.
    let parts: Vec<&str> = jwt.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(app_claims().to_string());
    let user = h.user_jwt("s");
    let user_parts: Vec<&str> = user.split('.').collect();
    let swapped = format!("{}.{}.{}", user_parts[0], payload, user_parts[2]);
    assert_eq!(tokenize_status(&h, &swapped).await, (401, "jwtInvalid".into()));
    let _ = parts;
}

#[tokio::test]
async fn alg_none() {
    let h = Harness::embedded().await;
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(app_claims().to_string())
    );
    assert_eq!(tokenize_status(&h, &none).await, (401, "jwtInvalid".into()));
}

#[tokio::test]
async fn hs256_signed_with_the_public_key() {
    use aws_lc_rs::hmac;
    let h = Harness::embedded().await;
    let msg = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT","kid":"lunasec-signing-key"}"#),
        URL_SAFE_NO_PAD.encode(app_claims().to_string())
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, RSA2048_PUBLIC.as_bytes());
    let jwt = format!("{msg}.{}", URL_SAFE_NO_PAD.encode(hmac::sign(&key, msg.as_bytes())));
    assert_eq!(tokenize_status(&h, &jwt).await, (401, "jwtInvalid".into()));
}

#[tokio::test]
async fn expired() {
    let h = Harness::embedded().await;
    let now = now_secs();
    let jwt = forge(&rs256_header(), &with(app_claims(), &json!({"iat": now - 2000, "exp": now - 1000})));
    assert_eq!(tokenize_status(&h, &jwt).await, (401, "jwtExpired".into()));
}

#[tokio::test]
async fn longer_lived_than_the_sdk_issues() {
    let h = Harness::embedded().await;
    let now = now_secs();
    // A week-long JWT, validly signed: refused although it has not expired.
    let jwt = forge(&rs256_header(), &with(app_claims(), &json!({"exp": now + 7 * 86_400})));
    let r = h.post("/tokenize", Some(&jwt), &json!({})).await;
    assert_eq!((r.status, r.error_name()), (401, "jwtLifetimeTooLong"), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("960 s"), "{}", r.body);
    // An old iat with a fresh exp (re-signed to stretch it) too.
    let jwt = forge(&rs256_header(), &with(app_claims(), &json!({"iat": now - 3600, "exp": now + 600})));
    assert_eq!(tokenize_status(&h, &jwt).await, (401, "jwtLifetimeTooLong".into()));
}

#[tokio::test]
async fn wrong_audience() {
    let h = Harness::embedded().await;
    let jwt = forge(&rs256_header(), &with(app_claims(), &json!({"aud": "someone-else"})));
    assert_eq!(tokenize_status(&h, &jwt).await, (401, "jwtClaimMismatch".into()));
}

#[tokio::test]
async fn wrong_issuer() {
    let h = Harness::embedded().await;
    let jwt = forge(&rs256_header(), &with(app_claims(), &json!({"iss": "evil"})));
    assert_eq!(tokenize_status(&h, &jwt).await, (401, "jwtClaimMismatch".into()));
}

#[tokio::test]
async fn signed_by_another_key() {
    let h = Harness::embedded().await;
    let other = keyset(&[(lunasec_core::DEFAULT_KID, RSA3072_PKCS8)]);
    assert_eq!(tokenize_status(&h, &other.application_jwt().unwrap()).await, (401, "jwtInvalid".into()));
}

#[tokio::test]
async fn user_jwt_on_application_routes() {
    let h = Harness::embedded().await;
    let user = h.user_jwt("u");
    let (token, _, _) = h.tokenize(&h.app_jwt(), json!({})).await;
    for (path, body) in [
        ("/grant/set", json!({"sessionId":"u","tokenId":token})),
        ("/grant/verify", json!({"sessionId":"u","tokenId":token})),
        ("/metadata/set", json!({"tokenId":token,"metadata":{}})),
    ] {
        let r = h.post(path, Some(&user), &body).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.error_name(), "wrongSubject");
    }
    // The user could not grant itself access.
    assert_eq!(h.detokenize(&user, &token).await.status, 403);
}

#[tokio::test]
async fn detokenize_without_grant() {
    let h = Harness::embedded().await;
    let (token, _, _) = h.tokenize(&h.app_jwt(), json!({})).await;
    let r = h.detokenize(&h.user_jwt("nobody"), &token).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_name(), "invalidGrant");
    assert!(!r.body.to_string().contains(&token), "the token is not echoed");
}

#[tokio::test]
async fn detokenize_with_an_expired_grant() {
    let h = Harness::embedded().await;
    let (token, _, _) = h.tokenize(&h.app_jwt(), json!({})).await;
    h.grant_set(json!({"sessionId":"x","tokenId":token,"customDuration":"1s"})).await;
    assert_eq!(h.detokenize(&h.user_jwt("x"), &token).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let r = h.detokenize(&h.user_jwt("x"), &token).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_name(), "invalidGrant");
}

#[tokio::test]
async fn detokenize_for_another_session() {
    let h = Harness::embedded().await;
    let (token, _, _) = h.tokenize(&h.user_jwt("alice"), json!({})).await;
    assert_eq!(h.detokenize(&h.user_jwt("alice"), &token).await.status, 200);
    let r = h.detokenize(&h.user_jwt("bob"), &token).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_name(), "invalidGrant");
}

#[tokio::test]
async fn unknown_token() {
    let h = Harness::embedded().await;
    let unknown = "lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c";
    let r = h.detokenize(&h.app_jwt(), unknown).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_name(), "tokenNotFound");
    let r = h.post("/metadata/get", Some(&h.app_jwt()), &json!({"tokenId": unknown})).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn malformed_json() {
    let h = Harness::embedded().await;
    let app = h.app_jwt();
    for body in [&b"{not json"[..], b"", b"[]", b"{\"tokenId\": 5}", b"{}"] {
        let r = h
            .post_with("/detokenize", &[("authorization", &app), ("content-type", "application/json")], body.to_vec())
            .await;
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(body));
        assert_eq!(r.error_name(), "malformedRequest");
    }
    // The message never quotes the body.
    let r = h
        .post_with(
            "/tokenize",
            &[("authorization", &app), ("content-type", "application/json")],
            br#"{"metadata": "4111-1111-1111-1111"}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(!r.body.to_string().contains("4111"), "{}", r.body);
    // Not JSON at all: 415.
    let r = h.post_with("/tokenize", &[("authorization", &app), ("content-type", "text/plain")], b"{}".to_vec()).await;
    assert_eq!(r.status, 415);
    assert_eq!(r.error_name(), "unsupportedMediaType");
}

#[tokio::test]
async fn non_token_ids() {
    let h = Harness::embedded().await;
    let app = h.app_jwt();
    for id in ["", "4111111111111111", "lunasec-", "lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5", "../../etc/passwd"] {
        for path in ["/detokenize", "/metadata/get"] {
            let r = h.post(path, Some(&app), &json!({"tokenId": id})).await;
            assert_eq!(r.status, 400, "{path} {id:?}");
            assert_eq!(r.error_name(), "badToken");
            if id.len() > 10 {
                assert!(!r.body.to_string().contains(id), "echoed {id:?}");
            }
        }
        let r = h.grant_set(json!({"sessionId":"s","tokenId": id})).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.error_name(), "badToken");
    }
}

#[tokio::test]
async fn a_10_mb_body() {
    let h = Harness::embedded().await;
    let app = h.app_jwt();
    let mut body = b"{\"metadata\":{\"x\":\"".to_vec();
    body.extend(std::iter::repeat_n(b'a', 10 << 20));
    body.extend_from_slice(b"\"}}");
    let r =
        h.post_with("/tokenize", &[("authorization", &app), ("content-type", "application/json")], body.clone()).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error_name(), "payloadTooLarge");
    // Without a content-length (chunked) the limit holds too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let resp = h
        .client
        .post(h.url("/tokenize"))
        .header("authorization", &app)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await;
    // The server may close the connection while the client is still sending; if the response
    // arrives it is the 413 envelope.
    if let Ok(resp) = resp {
        let r = Resp::from(resp).await;
        assert_eq!(r.status, 413);
        assert_eq!(r.error_name(), "payloadTooLarge");
    }
    // Metadata is capped separately, well under the body limit.
    let big = "m".repeat(70 * 1024);
    let r = h.post("/tokenize", Some(&app), &json!({"metadata":{"x": big}})).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error_name(), "metadataTooLarge");
    // And the server is fine afterwards.
    assert_eq!(h.post("/tokenize", Some(&app), &json!({})).await.status, 200);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let h = Harness::embedded().await;
    let r = h.get("/nope", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_name(), "notFound");
    let r = h.get("/tokenize", &[]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.error_name(), "methodNotAllowed");
    let r = h.get("/health", &[]).await;
    assert_eq!(r.body, json!({"success": true}));
}

#[tokio::test]
async fn cors_allows_only_the_configured_front_end_and_only_on_session_routes() {
    let h = Harness::embedded_with(|c| {
        c.cors_origins = vec![axum::http::HeaderValue::from_static("http://localhost:3000")];
    })
    .await;
    let preflight = |path: &'static str, origin: &'static str, method: &'static str| {
        h.client
            .request(reqwest::Method::OPTIONS, h.url(path))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type,authorization,lunasec-session-hash")
            .send()
    };
    let ok = preflight("/session/verify", "http://localhost:3000", "GET").await.unwrap();
    assert_eq!(ok.headers().get("access-control-allow-origin").unwrap(), "http://localhost:3000");
    assert_eq!(ok.headers().get("access-control-allow-credentials").unwrap(), "true");
    let allowed = ok.headers().get("access-control-allow-headers").unwrap().to_str().unwrap().to_owned();
    assert!(allowed.contains("lunasec-session-hash"), "{allowed}");
    let bad = preflight("/session/verify", "http://evil.example", "GET").await.unwrap();
    assert!(bad.headers().get("access-control-allow-origin").is_none());
    // Actual responses expose the session hash header to the allowed origin.
    let r = h
        .client
        .get(h.url("/session/verify"))
        .header("origin", "http://localhost:3000")
        .header("authorization", h.user_jwt("c"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("access-control-allow-origin").unwrap(), "http://localhost:3000");
    let exposed = r.headers().get("access-control-expose-headers").unwrap().to_str().unwrap();
    assert!(exposed.contains("lunasec-session-hash"));

    // The data routes answer no CORS at all, even to the configured front end: script in the
    // application's page must not read them (the secure frame is same-origin with them).
    let (token, _, _) = h.tokenize(&h.app_jwt(), json!({})).await;
    for path in ["/tokenize", "/detokenize", "/metadata/get", "/metadata/set", "/grant/set", "/grant/verify"] {
        let pre = preflight(path, "http://localhost:3000", "POST").await.unwrap();
        assert!(pre.headers().get("access-control-allow-origin").is_none(), "{path} preflight");
        assert!(pre.headers().get("access-control-allow-credentials").is_none(), "{path} preflight");
        let r = h
            .client
            .post(h.url(path))
            .header("origin", "http://localhost:3000")
            .header("authorization", h.user_jwt("c"))
            .header("content-type", "application/json")
            .body(json!({ "tokenId": token }).to_string())
            .send()
            .await
            .unwrap();
        assert!(r.headers().get("access-control-allow-origin").is_none(), "{path}");
        assert!(r.headers().get("access-control-allow-credentials").is_none(), "{path}");
    }
    for method in ["GET", "PUT"] {
        let pre = preflight("/blob/00ff", "http://localhost:3000", method).await.unwrap();
        assert!(pre.headers().get("access-control-allow-origin").is_none(), "/blob {method} preflight");
    }
}
