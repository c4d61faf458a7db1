//! `GET /frame`: the secure frame page, its refusals and its headers.

use crate::common::*;

const APP: &str = "http://localhost:3000";

async fn harness() -> Harness {
    Harness::embedded_with(|c| {
        c.cors_origins = vec![
            axum::http::HeaderValue::from_static("http://localhost:3000"),
            axum::http::HeaderValue::from_static("https://app.example.com/"),
        ];
    })
    .await
}

fn frame_path(n: &str, origin: &str, component: &str) -> String {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("n", n)
        .append_pair("origin", origin)
        .append_pair("component", component)
        .finish();
    format!("/frame?{q}")
}

fn csp_nonce(csp: &str) -> String {
    let start = csp.find("script-src 'nonce-").unwrap() + "script-src 'nonce-".len();
    csp[start..].split('\'').next().unwrap().to_owned()
}

#[tokio::test]
async fn serves_every_component_with_a_fresh_strict_csp() {
    let h = harness().await;
    let mut nonces = Vec::new();
    for component in ["input", "textarea", "paragraph", "upload", "download"] {
        let r = h.get(&frame_path("abcdefghijklmnopqrstuv", APP, component), &[]).await;
        assert_eq!(r.status, 200, "{component}");
        let header = |name: &str| r.headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert_eq!(header("content-type"), "text/html; charset=utf-8");
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("referrer-policy"), "no-referrer");
        assert_eq!(header("cache-control"), "no-store");
        let csp = header("content-security-policy");
        let nonce = csp_nonce(&csp);
        assert!(nonce.len() >= 22, "{csp}");
        for part in [
            "default-src 'none'".to_owned(),
            format!("style-src 'nonce-{nonce}'"),
            format!("connect-src 'self' {}", h.base),
            "img-src 'self' blob: data:".to_owned(),
            "frame-ancestors http://localhost:3000 https://app.example.com;".to_owned(),
            "base-uri 'none'".to_owned(),
            "form-action 'none'".to_owned(),
            "object-src 'none'".to_owned(),
            "require-trusted-types-for 'script'".to_owned(),
        ] {
            assert!(csp.contains(&part), "{part} not in {csp}");
        }
        let html = String::from_utf8(r.bytes.clone()).unwrap();
        assert!(html.contains(&format!("<script nonce=\"{nonce}\" src=\"/frame/frame.js?v=")), "{component}");
        assert!(html.contains(&format!("<style nonce=\"{nonce}\">")), "{component}");
        assert!(html.contains(&format!("&quot;component&quot;:&quot;{component}&quot;")), "{component}");
        assert!(html.contains("&quot;origin&quot;:&quot;http://localhost:3000&quot;"));
        assert_eq!(html.matches("<script").count(), 1, "one script, the nonce'd one");
        nonces.push(nonce);
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 5, "a fresh nonce per response");
    // A configured origin written with a trailing slash matches its serialized form.
    assert_eq!(h.get(&frame_path("abcdefghijklmnopqrstuv", "https://app.example.com", "input"), &[]).await.status, 200);
}

#[tokio::test]
async fn the_script_is_immutable_and_matches_its_integrity() {
    use base64::Engine as _;
    let h = harness().await;
    let r = h.get(&frame_path("abcdefghijklmnopqrstuv", APP, "input"), &[]).await;
    let html = String::from_utf8(r.bytes.clone()).unwrap();
    let src = html.split("src=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let integrity = html.split("integrity=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(src.starts_with("/frame/frame.js?v="), "{src}");
    let js = h.get(&src, &[]).await;
    assert_eq!(js.status, 200);
    let header = |name: &str| js.headers.get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "text/javascript; charset=utf-8");
    assert_eq!(header("cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("cross-origin-resource-policy"), "same-origin");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &js.bytes);
    let want = format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(digest.as_ref()));
    assert_eq!(integrity, want);
    assert!(String::from_utf8_lossy(&js.bytes).contains("NotifyOnStart"));
}

#[tokio::test]
async fn refuses_unknown_origins_components_and_bad_nonces_without_a_frame() {
    let h = harness().await;
    let cases = [
        (frame_path("abcdefghijklmnopqrstuv", "http://evil.example", "input"), "originNotAllowed"),
        (frame_path("abcdefghijklmnopqrstuv", "http://localhost:3000/", "input"), "originNotAllowed"),
        (frame_path("abcdefghijklmnopqrstuv", "http://LOCALHOST:3000", "input"), "originNotAllowed"),
        (frame_path("abcdefghijklmnopqrstuv", "null", "input"), "originNotAllowed"),
        (frame_path("abcdefghijklmnopqrstuv", APP, "script"), "unknownComponent"),
        (frame_path("abcdefghijklmnopqrstuv", APP, ""), "unknownComponent"),
        (frame_path("short", APP, "input"), "badFrameNonce"),
        (frame_path("abcdefghijklmnop\"><img>", APP, "input"), "badFrameNonce"),
        ("/frame".to_owned(), "badFrameNonce"),
        ("/frame?n=abcdefghijklmnopqrstuv&component=input".to_owned(), "originNotAllowed"),
    ];
    for (path, name) in cases {
        let r = h.get(&path, &[]).await;
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(r.error_name(), name, "{path}");
        assert!(r.headers.get("content-security-policy").is_none(), "{path}");
        assert!(!String::from_utf8_lossy(&r.bytes).contains("<script"), "{path}");
        assert!(!String::from_utf8_lossy(&r.bytes).contains("evil"), "{path}: the message does not echo input");
    }
}

#[tokio::test]
async fn no_front_end_configured_means_no_frame() {
    let h = Harness::embedded().await;
    let r = h.get(&frame_path("abcdefghijklmnopqrstuv", APP, "input"), &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_name(), "originNotAllowed");
}
