//! The session redirect (protocol §4): ensure → app → create → verify, with cookies, and its refusals.

use crate::common;

use common::*;
use lunasec_core::protocol::{
    ACCESS_TOKEN_COOKIE, LEGACY_ACCESS_TOKEN_COOKIE, LEGACY_STATE_COOKIE, SESSION_HASH_HEADER, STATE_COOKIE,
};

/// `/session/ensure`, checked; returns the state.
async fn ensure(h: &Harness, query: &str) -> String {
    let r = h.get(&format!("/session/ensure{query}"), &[]).await;
    assert_eq!(r.status, 302, "{:?}", r.body);
    let location = r.header("location").unwrap().to_owned();
    let cookies = r.set_cookies();
    let state = cookie_value(&cookies, STATE_COOKIE).unwrap();
    assert_eq!(location, format!("http://localhost:3001/.lunasec/secure-frame?state={state}"));
    assert_eq!(state.len(), 43, "32 random bytes, base64url");
    let c = &cookies[0];
    for attr in ["HttpOnly", "Path=/", "Max-Age=900", "SameSite=None", "Secure", "Partitioned"] {
        assert!(c.contains(attr), "state cookie lacks {attr}: {c}");
    }
    state
}

async fn create(h: &Harness, state: &str, jwt: &str, cookie_state: Option<&str>) -> Resp {
    let cookie = cookie_state.map(|s| format!("{STATE_COOKIE}={s}"));
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
    let access = cookie_value(&cookies, ACCESS_TOKEN_COOKIE).unwrap();
    assert_eq!(access, jwt);
    let access_cookie = cookies.iter().find(|c| c.starts_with(&format!("{ACCESS_TOKEN_COOKIE}="))).unwrap();
    for attr in ["HttpOnly", "Path=/", "SameSite=None", "Secure", "Partitioned"] {
        assert!(access_cookie.contains(attr), "access cookie lacks {attr}");
    }
    let max_age: u64 = access_cookie.split("Max-Age=").nth(1).unwrap().split(';').next().unwrap().parse().unwrap();
    assert!((880..=900).contains(&max_age), "Max-Age is the JWT's remaining life: {max_age}");
    let cleared = cookies.iter().find(|c| c.starts_with(&format!("{STATE_COOKIE}="))).unwrap();
    assert!(
        cleared.starts_with(&format!("{STATE_COOKIE}=;")) && cleared.contains("Max-Age=0"),
        "state cookie cleared: {cleared}"
    );
    let hash = r.header(SESSION_HASH_HEADER).unwrap().to_owned();
    assert_eq!(hash.len(), 64);

    // 5. verify with the cookie: success, and the same session hash.
    let cookie = format!("{ACCESS_TOKEN_COOKIE}={access}");
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
    let both = format!("{other}; {STATE_COOKIE}={state}");
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
    let r = h.get(&format!("/session/create?state={state}"), &[("cookie", &format!("{STATE_COOKIE}={state}"))]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_name(), "openidTokenMissing");
}

#[tokio::test]
async fn verify_refuses_application_and_bad_cookies() {
    let h = Harness::embedded().await;
    let r = h.get("/session/verify", &[("cookie", &format!("{ACCESS_TOKEN_COOKIE}={}", h.app_jwt()))]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.error_name(), "wrongSubject");
    let mut jwt = h.user_jwt("s");
    jwt.push('x');
    let r = h.get("/session/verify", &[("cookie", &format!("{ACCESS_TOKEN_COOKIE}={jwt}"))]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.error_name(), "jwtInvalid");
}

/// The name and the attributes (lowercased, without values) of a `Set-Cookie` line.
fn cookie_parts(line: &str) -> (String, Vec<String>) {
    let mut parts = line.split(';').map(str::trim);
    let name = parts.next().unwrap().split_once('=').unwrap().0.to_owned();
    (name, parts.map(|a| a.split('=').next().unwrap().to_ascii_lowercase()).collect())
}

#[tokio::test]
async fn cookies_are_set_under_host_prefixed_names() {
    assert_eq!((STATE_COOKIE, ACCESS_TOKEN_COOKIE), ("__Host-state", "__Host-access_token"));
    let h = Harness::embedded().await;
    let r = h.get("/session/ensure", &[]).await;
    let cookies = r.set_cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let state = cookie_value(&cookies, STATE_COOKIE).unwrap();
    // What `__Host-` requires: Secure, Path=/, no Domain.
    let (name, attrs) = cookie_parts(&cookies[0]);
    assert_eq!(name, "__Host-state");
    assert!(attrs.contains(&"secure".to_owned()) && cookies[0].contains("; Path=/;"), "{cookies:?}");
    assert!(!attrs.contains(&"domain".to_owned()), "{cookies:?}");

    let jwt = h.user_jwt("prefixed");
    let r = create(&h, &state, &jwt, Some(&state)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cookies = r.set_cookies();
    assert_eq!(cookie_value(&cookies, "__Host-access_token").as_deref(), Some(jwt.as_str()));
    let access = cookies.iter().find(|c| c.starts_with("__Host-access_token=")).unwrap();
    assert!(access.contains("; Path=/;") && access.contains("; Secure") && !access.contains("Domain"), "{access}");
    // Both state cookies and the legacy access token are cleared; nothing else is set.
    let mut cleared: Vec<String> =
        cookies.iter().filter(|c| c.contains("Max-Age=0")).map(|c| cookie_parts(c).0).collect();
    cleared.sort();
    assert_eq!(cleared, ["__Host-state", "access_token", "state"]);
    for c in cookies.iter().filter(|c| c.contains("Max-Age=0")) {
        assert!(c.split(';').next().unwrap().ends_with('='), "a cleared cookie has no value: {c}");
    }
    assert_eq!(cookies.len(), 4, "{cookies:?}");
}

#[tokio::test]
async fn cookies_set_by_an_older_tokenizer_are_still_read() {
    assert_eq!((LEGACY_STATE_COOKIE, LEGACY_ACCESS_TOKEN_COOKIE), ("state", "access_token"));
    let h = Harness::embedded().await;
    // A state cookie under the old name (a session flow begun before an upgrade).
    let state = ensure(&h, "").await;
    let jwt = h.user_jwt("legacy-a");
    let r = h
        .get(&format!("/session/create?state={state}&openid_token={jwt}"), &[("cookie", &format!("state={state}"))])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let hash_a = r.header(SESSION_HASH_HEADER).unwrap().to_owned();

    // An access token cookie under the old name authenticates.
    let r = h.get("/session/verify", &[("cookie", &format!("access_token={jwt}"))]).await;
    assert_eq!(r.body, serde_json::json!({"success": true}));
    assert_eq!(r.header(SESSION_HASH_HEADER), Some(hash_a.as_str()));
    let legacy = format!("access_token={jwt}");
    let r =
        h.post_with("/tokenize", &[("cookie", &legacy), ("content-type", "application/json")], b"{}".to_vec()).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Both names sent: the prefixed one wins, whichever comes first.
    let other = h.user_jwt("legacy-b");
    for cookie in [
        format!("access_token={other}; __Host-access_token={jwt}"),
        format!("__Host-access_token={jwt}; access_token={other}"),
    ] {
        let r = h.get("/session/verify", &[("cookie", &cookie)]).await;
        assert_eq!(r.header(SESSION_HASH_HEADER), Some(hash_a.as_str()), "{cookie}");
    }
    // An empty prefixed cookie does not hide the legacy one.
    let r = h.get("/session/verify", &[("cookie", &format!("__Host-access_token=; access_token={jwt}"))]).await;
    assert_eq!(r.header(SESSION_HASH_HEADER), Some(hash_a.as_str()));

    // Both state names sent: only the prefixed one is compared.
    let genuine = ensure(&h, "").await;
    let older = ensure(&h, "").await;
    let r = create(&h, &genuine, &jwt, Some(&format!("{older}; state={genuine}"))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error_name(), "stateMismatch");
    let r = create(&h, &genuine, &jwt, Some(&format!("{genuine}; state={older}"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn a_jwt_too_long_for_a_cookie_is_refused_without_using_the_state() {
    use lunasec_core::jwt::{MAX_SESSION_ID_LEN, now_secs};
    use lunasec_core::protocol::{MAX_COOKIE_LEN, set_cookie_line};
    let h = Harness::embedded().await;
    let now = now_secs();
    // Signed with the app's key but padded with an extra claim (the SDK would not sign these).
    let jwt_with_pad = |n: usize| {
        let claims = serde_json::json!({"iss":"node-sdk","aud":"secure-frame","sub":"user","session_id":"padded",
            "iat":now,"exp":now+900,"pad":"p".repeat(n)});
        forge(&rs256_header(), &claims)
    };
    let line_len = |jwt: &str| set_cookie_line(ACCESS_TOKEN_COOKIE, jwt, 900).len();
    // The most padding whose cookie line still fits in 4096 bytes (`remaining` is 899 or 900).
    let (mut fits, mut too_long) = (0, 4096);
    while too_long - fits > 1 {
        let mid = usize::midpoint(fits, too_long);
        if line_len(&jwt_with_pad(mid)) <= MAX_COOKIE_LEN { fits = mid } else { too_long = mid }
    }
    let (fitting, oversized) = (jwt_with_pad(fits), jwt_with_pad(too_long));
    assert!(line_len(&fitting) > MAX_COOKIE_LEN - 4, "the boundary is tight: {}", line_len(&fitting));

    let state = ensure(&h, "").await;
    let r = create(&h, &state, &oversized, Some(&state)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error_name(), "jwtTooLarge");
    let message = r.body["error"]["message"].as_str().unwrap();
    let max_jwt = MAX_COOKIE_LEN - (line_len(&oversized) - oversized.len());
    assert!(message.contains(&format!("at most {max_jwt} bytes")) && message.contains("4096"), "{message}");
    assert!(!message.contains(&oversized[..40]) && !message.contains("padded"), "nothing quoted: {message}");
    assert!(r.set_cookies().is_empty());
    assert!(r.header(SESSION_HASH_HEADER).is_none());
    // The state was not used: the same state opens a session with the largest JWT that fits.
    let r = create(&h, &state, &fitting, Some(&state)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cookies = r.set_cookies();
    let access = cookies.iter().find(|c| c.starts_with("__Host-access_token=")).unwrap();
    assert!(access.len() <= MAX_COOKIE_LEN, "{}", access.len());
    assert_eq!(cookie_value(&cookies, ACCESS_TOKEN_COOKIE).as_deref(), Some(fitting.as_str()));

    // What the SDK signs always fits: the longest session id it accepts.
    let state = ensure(&h, "").await;
    let longest = h.user_jwt(&"s".repeat(MAX_SESSION_ID_LEN));
    assert_eq!(create(&h, &state, &longest, Some(&state)).await.status, 200);
}
