//! The order of checks on the JSON routes, and the session hash on every answer to a user whose
//! JWT verified, refusals included (see `src/http/mod.rs`).

use crate::common;

use common::*;
use lunasec_core::protocol::SESSION_HASH_HEADER;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Sends only the head of a request (no body) and returns the response's status line and head.
async fn head_only(h: &Harness, request_head: &str) -> String {
    let addr = h.tokenizer.as_ref().unwrap().addr();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request_head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed before a response");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// The session hash the tokenizer answers for `jwt`'s session.
async fn hash_of(h: &Harness, jwt: &str) -> String {
    let r = h.get("/session/verify", &[("authorization", jwt)]).await;
    assert_eq!(r.body, json!({"success": true}));
    r.header(SESSION_HASH_HEADER).unwrap().to_owned()
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_before_anything_else() {
    let h = Harness::embedded().await;
    let user = h.user_jwt("big");
    for (path, extra) in [
        ("/tokenize", String::new()),
        ("/grant/set", format!("authorization: {user}\r\n")),
        ("/detokenize", format!("authorization: {user}\r\ncontent-type: text/plain\r\n")),
        ("/metadata/get", "authorization: not.a.jwt\r\n".to_owned()),
    ] {
        let head = head_only(
            &h,
            &format!("POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-length: 1048577\r\n{extra}\r\n"),
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 413 "), "{path}: {head}");
        assert!(!head.contains(&format!("\n{SESSION_HASH_HEADER}:")), "{path}: {head}");
    }
    // At the limit, the body is waited for (and here the JWT is missing): not a 413.
    let r = h.post_with("/tokenize", &[("content-type", "application/json")], vec![b' '; 1 << 20]).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn authentication_comes_before_the_subject_and_the_body() {
    let h = Harness::embedded().await;
    // A bad JWT with a bad content type and a bad body: the JWT is reported.
    let r = h
        .post_with("/tokenize", &[("authorization", "not.a.jwt"), ("content-type", "text/plain")], b"{".to_vec())
        .await;
    assert_eq!((r.status, r.error_name()), (401, "jwtInvalid"));
    // A user on an application route with a bad body: the subject is reported.
    let user = h.user_jwt("order");
    let r =
        h.post_with("/grant/verify", &[("authorization", &user), ("content-type", "text/plain")], b"{".to_vec()).await;
    assert_eq!((r.status, r.error_name()), (401, "wrongSubject"));
    // The content type comes before the body.
    let r =
        h.post_with("/detokenize", &[("authorization", &user), ("content-type", "text/plain")], b"{".to_vec()).await;
    assert_eq!((r.status, r.error_name()), (415, "unsupportedMediaType"));
}

#[tokio::test]
async fn every_answer_to_a_verified_user_carries_the_session_hash() {
    let h = Harness::embedded().await;
    let user = h.user_jwt("hashed");
    let hash = hash_of(&h, &user).await;
    let json = "application/json";
    let cases: [(&str, &str, &[u8], u16); 7] = [
        ("/tokenize", json, b"{}", 200),
        ("/tokenize", "text/plain", b"{}", 415),
        ("/tokenize", json, b"{not json", 400),
        ("/detokenize", json, br#"{"tokenId":"lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c"}"#, 403),
        ("/detokenize", json, br#"{"tokenId":"nope"}"#, 400),
        ("/metadata/set", json, b"{}", 401),
        ("/grant/set", json, b"{}", 401),
    ];
    for (path, content_type, body, status) in cases {
        let r = h.post_with(path, &[("content-type", content_type), ("authorization", &user)], body.to_vec()).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
        assert_eq!(r.header(SESSION_HASH_HEADER), Some(hash.as_str()), "{path} {status}");
    }
    // Chunked, over the limit, after authentication: 413 with the hash.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(vec![b' '; 1 << 20]), Ok(b"{}".to_vec())];
    let resp = h
        .client
        .post(h.url("/tokenize"))
        .header("authorization", &user)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await;
    if let Ok(resp) = resp {
        let r = Resp::from(resp).await;
        assert_eq!(r.status, 413);
        assert_eq!(r.header(SESSION_HASH_HEADER), Some(hash.as_str()));
    }
    // Not before the JWT verified (a mismatched hash), nor for an application or a bad JWT.
    let r = h
        .post_with(
            "/tokenize",
            &[("content-type", json), ("authorization", &user), (SESSION_HASH_HEADER, &"0".repeat(64))],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!((r.status, r.error_name()), (401, "sessionHashMismatch"));
    assert!(r.header(SESSION_HASH_HEADER).is_none());
    for jwt in [h.app_jwt(), format!("{user}x")] {
        let r =
            h.post_with("/tokenize", &[("content-type", "text/plain"), ("authorization", &jwt)], b"{}".to_vec()).await;
        assert!(r.header(SESSION_HASH_HEADER).is_none(), "{}", r.status);
    }
    // Routes without authentication never send it.
    for path in ["/health", "/ready", "/session/ensure", "/nope"] {
        let r = h.get(path, &[("authorization", &user)]).await;
        assert!(r.header(SESSION_HASH_HEADER).is_none(), "{path}");
    }
    // /session/verify: 200 envelopes; the hash only for a user session.
    let r = h.get("/session/verify", &[("authorization", &h.app_jwt())]).await;
    assert_eq!((r.status, r.error_name()), (200, "wrongSubject"));
    assert!(r.header(SESSION_HASH_HEADER).is_none());
}
