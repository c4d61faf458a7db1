//! `GET /frame`: the secure frame page (`browser/PROTOCOL.md` in the repository).
//!
//! The page is a cross-origin iframe in the application's page; the user types or sees a sensitive
//! value here and the application's page only ever gets tokens. Its script and styles
//! (`crates/tokenizer/frame/`) are compiled into the binary. Every answer carries a fresh CSP whose
//! nonce is the only way a script or style runs, `frame-ancestors` limited to the configured
//! front-end origins, and no caching.
//!
//! Refusals (JSON, status 400, no frame): an `origin` that is not a configured front-end origin, an
//! unknown `component`, a missing or malformed frame nonce `n`.
//!
//! The script is a separate, immutable, content-addressed resource (`GET /frame/frame.js?v=<hash>`,
//! loaded with the page's nonce and Subresource Integrity), so browsers cache it and reuse its
//! compiled code across frames instead of parsing ~50 KB of inline script in every new frame
//! process. The styles are small and stay inline.

use std::borrow::Cow;
use std::path::Path;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::crypto;
use crate::error::ApiError;
use crate::http::{Shared, param, query_params};

/// The frame's script, compiled in.
const FRAME_JS: &str = include_str!("../frame/frame.js");
/// The frame's styles, compiled in.
const FRAME_CSS: &str = include_str!("../frame/frame.css");

/// The frame script's digest: its SRI `integrity` value and a short version for its URL.
struct ScriptDigest {
    integrity: String,
    version: String,
}

fn digest(js: &str) -> ScriptDigest {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, js.as_bytes());
    ScriptDigest {
        integrity: format!("sha384-{}", STANDARD.encode(d.as_ref())),
        version: crypto::hex(&d.as_ref()[..8]),
    }
}

/// The compiled-in script's digest, computed once.
fn builtin_digest() -> &'static ScriptDigest {
    static DIGEST: std::sync::OnceLock<ScriptDigest> = std::sync::OnceLock::new();
    DIGEST.get_or_init(|| digest(FRAME_JS))
}

/// The components a frame can be.
pub const COMPONENTS: [&str; 5] = ["input", "textarea", "paragraph", "upload", "download"];

/// Frame nonces: 16 to 64 characters of the base64url alphabet.
fn valid_nonce(n: &str) -> bool {
    (16..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `&`, `<`, `>`, `"` and `'` as character references, for text placed in an attribute.
fn escape_attr(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The page's Content-Security-Policy for one response.
#[must_use]
pub fn content_security_policy(nonce: &str, ciphertext_origin: Option<&str>, ancestors: &[String]) -> String {
    let connect = match ciphertext_origin {
        Some(o) => format!("'self' {o}"),
        None => "'self'".to_owned(),
    };
    let ancestors = if ancestors.is_empty() { "'none'".to_owned() } else { ancestors.join(" ") };
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src {connect}; \
         img-src 'self' blob: data:; frame-ancestors {ancestors}; base-uri 'none'; form-action 'none'; \
         object-src 'none'; require-trusted-types-for 'script'"
    )
}

/// The frame's script and styles: compiled in, or (dev mode, `LUNASEC_FRAME_ASSETS_DIR`) read
/// from disk on every request so the frame can be developed without rebuilding.
async fn assets(dir: Option<&Path>) -> Result<(Cow<'static, str>, Cow<'static, str>), ApiError> {
    let Some(dir) = dir else { return Ok((Cow::Borrowed(FRAME_JS), Cow::Borrowed(FRAME_CSS))) };
    let read = |name: &'static str| async move {
        tokio::fs::read_to_string(dir.join(name)).await.map_err(|e| {
            tracing::error!(file = name, error = %e, "cannot read a frame asset from LUNASEC_FRAME_ASSETS_DIR");
            ApiError::internal()
        })
    };
    Ok((Cow::Owned(read("frame.js").await?), Cow::Owned(read("frame.css").await?)))
}

/// `</` inside inline script or style text would end the element early; the assets are ours,
/// but a stray `</script` must not become markup.
fn inline_safe(s: &str) -> Cow<'_, str> {
    if s.contains("</") { Cow::Owned(s.replace("</", "<\\/")) } else { Cow::Borrowed(s) }
}

/// `GET /frame` and `GET /frame/frame.js`.
pub(crate) fn routes() -> Router<Shared> {
    Router::new().route("/frame", get(frame)).route("/frame/frame.js", get(frame_script))
}

pub async fn frame(State(st): State<Shared>, RawQuery(q): RawQuery) -> Response {
    match frame_page(&st, q.as_deref()).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn frame_page(st: &crate::http::AppState, q: Option<&str>) -> Result<Response, ApiError> {
    let params = query_params(q);
    let nonce = param(&params, "n").filter(|n| valid_nonce(n)).ok_or_else(|| {
        ApiError::bad_request("badFrameNonce", "n (the frame nonce) must be 16 to 64 characters of [A-Za-z0-9_-]")
    })?;
    let component = param(&params, "component").filter(|c| COMPONENTS.contains(c)).ok_or_else(|| {
        ApiError::bad_request("unknownComponent", format!("component must be one of {}", COMPONENTS.join(", ")))
    })?;
    // The claimed parent origin must be configured, in its serialized form (what `location.origin`
    // gives), since the frame posts to it by that exact string.
    let origin = param(&params, "origin").filter(|o| st.front_end_origins.iter().any(|f| f == o)).ok_or_else(|| {
        ApiError::bad_request(
            "originNotAllowed",
            "origin is not one of the tokenizer's front-end origins (APPLICATION_FRONT_END)",
        )
    })?;

    let (js, css) = assets(st.frame_assets_dir.as_deref()).await?;
    let dev_digest;
    let script = if st.frame_assets_dir.is_some() {
        dev_digest = digest(&js);
        &dev_digest
    } else {
        builtin_digest()
    };
    let csp_nonce = URL_SAFE_NO_PAD.encode(crypto::random::<18>());
    let ciphertext_origin = st.ciphertext.browser_origin().await;
    let csp = content_security_policy(&csp_nonce, ciphertext_origin.as_deref(), &st.front_end_origins);
    let params_json = serde_json::json!({ "nonce": nonce, "origin": origin, "component": component }).to_string();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"lunasec-frame\" content=\"{}\"><title>Secure field</title>\
         <style nonce=\"{csp_nonce}\">{}</style></head><body><div id=\"root\"></div>\
         <script nonce=\"{csp_nonce}\" src=\"/frame/frame.js?v={}\" integrity=\"{}\"></script></body></html>",
        escape_attr(&params_json),
        inline_safe(&css),
        script.version,
        script.integrity,
    );
    let mut resp = (StatusCode::OK, html).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_str(&csp).map_err(|_| ApiError::internal())?);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `GET /frame/frame.js`: the frame's script. Immutable and cacheable when compiled in (its URL
/// carries its digest); `no-store` when read from `LUNASEC_FRAME_ASSETS_DIR` in dev mode.
pub async fn frame_script(State(st): State<Shared>) -> Response {
    let (js, _) = match assets(st.frame_assets_dir.as_deref()).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let cache = if st.frame_assets_dir.is_some() { "no-store" } else { "public, max-age=31536000, immutable" };
    let mut resp = (StatusCode::OK, js.into_owned()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces() {
        assert!(valid_nonce("abcdefghijklmnop"));
        assert!(valid_nonce("AZaz09-_AZaz09-_AZaz09"));
        assert!(!valid_nonce("short"));
        assert!(!valid_nonce("abcdefghijklmnop\"><script>"));
        assert!(!valid_nonce(&"a".repeat(65)));
    }

    #[test]
    fn attributes_are_escaped() {
        assert_eq!(escape_attr(r#"{"a":"<&'>"}"#), "{&quot;a&quot;:&quot;&lt;&amp;&#39;&gt;&quot;}");
        assert!(matches!(escape_attr("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn csp_lists_everything() {
        let csp =
            content_security_policy("N0nce", Some("http://127.0.0.1:4566"), &["http://localhost:3001".to_owned()]);
        for part in [
            "default-src 'none'",
            "script-src 'nonce-N0nce'",
            "style-src 'nonce-N0nce'",
            "connect-src 'self' http://127.0.0.1:4566",
            "img-src 'self' blob: data:",
            "frame-ancestors http://localhost:3001",
            "base-uri 'none'",
            "form-action 'none'",
            "object-src 'none'",
            "require-trusted-types-for 'script'",
        ] {
            assert!(csp.contains(part), "{part} missing from {csp}");
        }
        assert!(content_security_policy("n", None, &[]).contains("frame-ancestors 'none'"));
    }

    #[test]
    fn closing_tags_in_assets_stay_text() {
        assert_eq!(inline_safe("a</script>b"), "a<\\/script>b");
    }
}
