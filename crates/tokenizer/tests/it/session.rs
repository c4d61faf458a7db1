//! The session redirect (protocol §4): ensure → app → create → verify, with cookies, and its refusals.

use crate::common;

use common::*;
use lunasec_core::protocol::SESSION_HASH_HEADER;

/// `/session/ensure`, checked; returns the state.
async fn ensure(h: &Harness, query: &str) -> String {
    let r = h.get(&format!("/session/ensure{query}"), &[]).await;
    assert_eq!(r.status, 302, "{:?}", r.body);
    let location = r.header("location").unwrap().to_owned();
    let cookies = r.set_cookies();
    let state = cookie_value(&cookies, "state").unwrap();
    assert_eq!(location, format!("http://localhost:3001/.lunasec/secure-frame?state={state}"));
    assert_eq!(state.len(), 43, "32 random bytes, base64url");
    let c = &cookies[0];
    for attr in ["HttpOnly", "Path=/", "Max-Age=900", "SameSite=None", "Secure", "Partitioned"] {
        assert!(c.contains(attr), "state cookie lacks {attr}: {c}");
    }
    state
}

async fn create(h: &Harness, state: &str, jwt: &str, cookie_state: Option<&str>) -> Resp {
    let cookie = cookie_state.map(|s| format!("state={s}"));
    let mut headers = vec![];
    if let Some(c) = &cookie {
        headers.push(("cookie", c.as_str()));
    }
    h.get(&format!("/session/create?state={state}&openid_token={jwt}"), &headers).await
}

#[tokio::test]
async fn full_session_flow_with_cookies() {
    let h = Harness::embedded().await;
    // 1. The frame asks whether it has a session: not yet.
    let r = h.get("/session/verify", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["success"], false);
    assert_eq!(r.error_name(), "jwtMissing");

    // 2. ensure → 302 to the app with a state cookie.
    let state = ensure(&h, "").await;
    // 3. The app (our Express plugin) vouches for its user: it signs a user JWT.
    let jwt = h.user_jwt("app-session-42");
    // 4. create: cookie + query state match, JWT verifies.
    let r = create(&h, &state, &jwt, Some(&state)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, serde_json::json!({"success": true}));
    let cookies = r.set_cookies();
    let access = cookie_value(&cookies, "access_token").unwrap();
    assert_eq!(access, jwt);
    let access_cookie = cookies.iter().find(|c| c.starts_with("access_token=")).unwrap();
    for attr in ["HttpOnly", "Path=/", "SameSite=None", "Secure", "Partitioned"] {
        assert!(access_cookie.contains(attr), "access cookie lacks {attr}");
    }
    let max_age: u64 = access_cookie.split("Max-Age=").nth(1).unwrap().split(';').next().unwrap().parse().unwrap();
    assert!((880..=900).contains(&max_age), "Max-Age is the JWT's remaining life: {max_age}");
    let cleared = cookies.iter().find(|c| c.starts_with("state=")).unwrap();
    assert!(cleared.starts_with("state=;") && cleared.contains("Max-Age=0"), "state cookie cleared: {cleared}");
    let hash = r.header(SESSION_HASH_HEADER).unwrap().to_owned();
    assert_eq!(hash.len(), 64);

    // 5. verify with the cookie: success, and the same session hash.
    let cookie = format!("access_token={access}");
    let r = h.get("/session/verify", &[("cookie", &cookie)]).await;
    assert_eq!(r.body, serde_json::json!({"success": true}));
    assert_eq!(r.header(SESSION_HASH_HEADER), Some(hash.as_str()));

    // The cookie authenticates API calls too (the browser's way).
    let r =
        h.post_with("/tokenize", &[("cookie", &cookie), ("content-type", "application/json")], b"{}".to_vec()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header(SESSION_HASH_HEADER), Some(hash.as_str()));
}

#[tokio::test]
async fn ensure_picks_the_named_provider_and_refuses_unknown_ones() {
    let h = Harness::embedded_with(|c| {
        c.auth_providers.push(lunasec_tokenizer::config::AuthProvider {
            name: "other".into(),
            url: "https://other.example/api".into(),
        });
    })
    .await;
    let r = h.get("/session/ensure?auth_provider=other", &[]).await;
    assert_eq!(r.status, 302);
    assert!(r.header("location").unwrap().starts_with("https://other.example/api/.lunasec/secure-frame?state="));
    let r = h.get("/session/ensure?auth_provider=nope", &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_name(), "unknownAuthProvider");
    assert!(r.set_cookies().is_empty());
}

#[tokio::test]
async fn replayed_state_is_refused() {
    let h = Harness::embedded().await;
    let state = ensure(&h, "").await;
    let jwt = h.user_jwt("s1");
    assert_eq!(create(&h, &state, &jwt, Some(&state)).await.status, 200);
    let r = create(&h, &state, &jwt, Some(&state)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_name(), "stateInvalid");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("already been used"));
    assert!(r.set_cookies().is_empty(), "no cookie on failure");
}

#[tokio::test]
async fn state_cookie_mismatch_is_refused() {
    let h = Harness::embedded().await;
    let state = ensure(&h, "").await;
    let other = ensure(&h, "").await;
    let jwt = h.user_jwt("s1");
    // Cookie from another ensure (an attacker's state) — refused.
    let r = create(&h, &state, &jwt, Some(&other)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_name(), "stateMismatch");
    assert!(r.set_cookies().is_empty());
    // No cookie at all.
    let r = create(&h, &state, &jwt, None).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_name(), "stateMismatch");
    // A state never issued, even if cookie and query agree.
    let forged = "A".repeat(43);
    let r = create(&h, &forged, &jwt, Some(&forged)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_name(), "stateInvalid");
    // The genuine pair still works afterwards (failures did not burn it), also when the browser
    // sends a stale state cookie beside the right one.
    let both = format!("{other}; state={state}");
    assert_eq!(create(&h, &state, &jwt, Some(&both)).await.status, 200);
}

#[tokio::test]
async fn create_needs_a_valid_user_jwt() {
    let h = Harness::embedded().await;
    let state = ensure(&h, "").await;
    for (jwt, name) in [
        (h.app_jwt(), "wrongSubject"),
        ("not.a.jwt".to_owned(), "jwtInvalid"),
        (
            forge(
                &rs256_header(),
                &serde_json::json!({"iss":"node-sdk","aud":"elsewhere","sub":"user","session_id":"s","exp":lunasec_core::jwt::now_secs()+600}),
            ),
            "jwtClaimMismatch",
        ),
    ] {
        let r = create(&h, &state, &jwt, Some(&state)).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.error_name(), name);
        assert!(r.set_cookies().is_empty());
    }
    let r = h.get(&format!("/session/create?state={state}"), &[("cookie", &format!("state={state}"))]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_name(), "openidTokenMissing");
}

#[tokio::test]
async fn verify_refuses_application_and_bad_cookies() {
    let h = Harness::embedded().await;
    let r = h.get("/session/verify", &[("cookie", &format!("access_token={}", h.app_jwt()))]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.error_name(), "wrongSubject");
    let mut jwt = h.user_jwt("s");
    jwt.push('x');
    let r = h.get("/session/verify", &[("cookie", &format!("access_token={jwt}"))]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.error_name(), "jwtInvalid");
}
