//! Session `state`s cost no storage (issue 12, item 1): `/session/ensure` issues a MAC'd state and
//! writes nothing; `/session/create` checks the MAC and expiry and records only the consumption.

use crate::common;

use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use futures_util::StreamExt as _;
use lunasec_core::protocol::STATE_COOKIE;
use lunasec_tokenizer::crypto::Secrets;
use lunasec_tokenizer::store::embedded::EmbeddedStore;
use lunasec_tokenizer::store::{after_ms, now_ms};

fn store_size(h: &Harness) -> u64 {
    std::fs::metadata(h.dir.join("store.redb")).unwrap().len()
}

/// `/session/ensure`; returns the state (the cookie, which the location repeats).
async fn ensure(h: &Harness) -> String {
    let r = h.get("/session/ensure", &[]).await;
    assert_eq!(r.status, 302, "{:?}", r.body);
    cookie_value(&r.set_cookies(), STATE_COOKIE).unwrap()
}

async fn create(h: &Harness, state: &str, jwt: &str) -> Resp {
    let cookie = format!("{STATE_COOKIE}={state}");
    h.get(&format!("/session/create?state={state}&openid_token={jwt}"), &[("cookie", &cookie)]).await
}

fn assert_state_invalid(r: &Resp, message: &str) {
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error_name(), "stateInvalid");
    let got = r.body["error"]["message"].as_str().unwrap();
    assert!(got.contains(message), "{got:?} should say {message:?}");
    assert!(r.set_cookies().is_empty(), "no cookie on failure");
}

/// Record counts (tokens, states, grants) once the tokenizer has stopped (redb is single-process).
async fn counts_after_shutdown(h: &mut Harness) -> (u64, u64, u64) {
    h.shutdown().await;
    let store = EmbeddedStore::open(&h.dir.join("store.redb")).unwrap();
    store.counts().unwrap()
}

#[tokio::test]
async fn ensure_writes_nothing_and_only_consumption_is_recorded() {
    let mut h = Harness::embedded().await;
    let before = store_size(&h);
    let mut states = vec![];
    for _ in 0..100 {
        states.push(ensure(&h).await);
    }
    assert_eq!(store_size(&h), before, "issuing states wrote to the store");
    let unique: std::collections::HashSet<&String> = states.iter().collect();
    assert_eq!(unique.len(), states.len(), "every state is fresh");
    // Every one of them is genuine: any of them (here the first and the last) opens a session.
    assert_eq!(create(&h, &states[0], &h.user_jwt("a")).await.status, 200);
    assert_eq!(create(&h, &states[99], &h.user_jwt("b")).await.status, 200);
    // Two states used, two consumption records; the 98 unused states left no trace.
    assert_eq!(counts_after_shutdown(&mut h).await, (0, 2, 0));
}

#[tokio::test]
async fn a_burst_of_20000_ensures_leaves_the_store_unchanged() {
    const N: usize = 20_000;
    const IN_FLIGHT: usize = 64;
    let mut h = Harness::embedded().await;
    let before = store_size(&h);
    let started = Instant::now();
    let url = h.url("/session/ensure");
    let client = h.client.clone();
    let statuses: Vec<u16> = futures_util::stream::iter(0..N)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            async move { client.get(url).send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let elapsed = started.elapsed();
    assert_eq!(statuses.len(), N);
    assert!(statuses.iter().all(|s| *s == 302), "every ensure redirects");
    assert_eq!(store_size(&h), before, "{N} ensures grew the store");
    // The service still works after the burst.
    let state = ensure(&h).await;
    assert_eq!(create(&h, &state, &h.user_jwt("after-burst")).await.status, 200);
    {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{N} ensures ({IN_FLIGHT} in flight) in {elapsed:?}");
    }
    assert_eq!(counts_after_shutdown(&mut h).await, (0, 1, 0));
}

#[tokio::test]
async fn forged_tampered_expired_and_foreign_states_are_refused() {
    let mut h = Harness::embedded().await;
    let before = store_size(&h);
    let jwt = h.user_jwt("s1");
    let genuine = ensure(&h).await;
    let raw = URL_SAFE_NO_PAD.decode(&genuine).unwrap();
    assert_eq!(raw.len(), 32);

    // Forged: well-formed, never issued.
    let forged = URL_SAFE_NO_PAD.encode(random_bytes(32));
    assert_state_invalid(&create(&h, &forged, &jwt).await, "unknown");
    // Tampered: the expiry pushed a day later (bytes 8..16), or one bit of the MAC flipped.
    let mut later = raw.clone();
    let exp = u64::from_be_bytes(later[8..16].try_into().unwrap());
    later[8..16].copy_from_slice(&(exp + 86_400_000).to_be_bytes());
    assert_state_invalid(&create(&h, &URL_SAFE_NO_PAD.encode(&later), &jwt).await, "unknown");
    let mut flipped = raw.clone();
    flipped[31] ^= 1;
    assert_state_invalid(&create(&h, &URL_SAFE_NO_PAD.encode(&flipped), &jwt).await, "unknown");
    // Truncated, padded, not base64url.
    for bad in [&genuine[..42], &format!("{genuine}A"), "not*base64", "A"] {
        assert_state_invalid(&create(&h, bad, &jwt).await, "unknown");
    }
    // Expired: genuinely MAC'd with this tokenizer's secret, but past its expiry.
    let expired = Secrets::derive(SECRET).issue_state(now_ms() - 1);
    assert_state_invalid(&create(&h, &expired, &jwt).await, "expired");
    // Made with another secret (another deployment's state).
    let foreign = Secrets::derive(b"another-secret-0123456789abcdef-0123456789")
        .issue_state(after_ms(now_ms(), std::time::Duration::from_mins(10)));
    assert_state_invalid(&create(&h, &foreign, &jwt).await, "unknown");
    // The JWT is still verified first: a bad JWT with a bad state is a JWT error.
    let r = create(&h, &forged, "not.a.jwt").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_name(), "jwtInvalid");

    // None of this wrote anything, and the genuine state still works.
    assert_eq!(store_size(&h), before);
    assert_eq!(create(&h, &genuine, &jwt).await.status, 200);
    assert_eq!(counts_after_shutdown(&mut h).await, (0, 1, 0));
}

#[tokio::test]
async fn a_state_is_used_once_even_by_concurrent_creates() {
    let h = Harness::embedded().await;
    let state = ensure(&h).await;
    let jwt = h.user_jwt("race");
    let tries: Vec<_> = (0..12).map(|_| create(&h, &state, &jwt)).collect();
    let results = futures_util::future::join_all(tries).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "exactly one create wins");
    for r in results.iter().filter(|r| r.status != 200) {
        assert_state_invalid(r, "already been used");
    }
    // And later replays too.
    assert_state_invalid(&create(&h, &state, &jwt).await, "already been used");
}
