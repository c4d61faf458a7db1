//! HTTP client of the Dedicated Tokenizer (feature `client`): grants, tokenize, detokenize,
//! metadata, and the upload/download through presigned URLs.
//!
//! One pooled keep-alive `reqwest` client (rustls) per instance. Requests that are safe to repeat
//! (grant verify/set, detokenize, metadata, downloads) are retried on connection errors and
//! 502/503/504 with a short backoff; `tokenize` and uploads are not. Errors are typed
//! ([`ErrorCode`]) and never contain the JWT, a token or a value; the tokenizer's own messages are
//! passed on with anything token- or JWT-shaped scrubbed.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backoff::Backoff;
use crate::error::{Error, ErrorCode, Result};
use crate::protocol::{
    DetokenizeResponse, Envelope, GrantRequest, GrantType, GrantVerifyResponse, Headers, Metadata, MetadataResponse,
    TokenIdRequest, TokenizeRequest, TokenizeResponse,
};
use crate::token::is_token;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Base URL of the tokenizer, e.g. `http://localhost:37766`.
    pub base_url: String,
    /// Whole-request timeout for API calls.
    pub timeout: Duration,
    /// Timeout for uploads and downloads of values.
    pub transfer_timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries for idempotent requests.
    pub retries: u32,
    /// Largest value `detokenize` will download into memory.
    pub max_download_bytes: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            base_url: "http://localhost:37766".into(),
            timeout: Duration::from_secs(10),
            transfer_timeout: Duration::from_mins(5),
            connect_timeout: Duration::from_secs(3),
            retries: 2,
            max_download_bytes: 1 << 30,
        }
    }
}

/// The tokenizer client.
#[derive(Debug, Clone)]
pub struct TokenizerClient {
    http: reqwest::Client,
    base: String,
    opts: ClientOptions,
}

fn err(code: ErrorCode, msg: impl Into<String>) -> Error {
    Error::new(code, msg)
}

/// Replaces token- and JWT-shaped substrings of a remote message, and bounds its length.
fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(300));
    for word in message.split_inclusive(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',') {
        let core = word.trim_end_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',');
        let tail = &word[core.len()..];
        if core.contains("lunasec-") && core.len() >= 44 {
            out.push_str("[token]");
        } else if core.starts_with("eyJ") && core.matches('.').count() >= 2 {
            out.push_str("[jwt]");
        } else {
            out.push_str(core);
        }
        out.push_str(tail);
        if out.len() > 300 {
            out.truncate(300);
            out.push('…');
            break;
        }
    }
    out
}

/// A transport failure, described without the URL (presigned URLs carry secrets in the query).
fn transport_error(e: &reqwest::Error, what: &str) -> Error {
    if e.is_timeout() {
        return err(ErrorCode::TokenizerTimeout, format!("{what} timed out"));
    }
    let mut cause = String::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    let cause = scrub(&cause);
    if e.is_connect() {
        return err(ErrorCode::TokenizerUnreachable, format!("{what}: could not connect ({cause})"));
    }
    err(ErrorCode::TokenizerUnreachable, format!("{what} failed ({cause})"))
}

fn status_error(status: StatusCode, name: Option<&str>, message: Option<&str>, what: &str) -> Error {
    let detail = match (name, message) {
        (Some(n), Some(m)) if !m.is_empty() => format!(": {n}: {}", scrub(m)),
        (Some(n), _) => format!(": {n}"),
        (None, Some(m)) if !m.is_empty() => format!(": {}", scrub(m)),
        _ => String::new(),
    };
    let code = match status.as_u16() {
        400 | 413 | 415 | 422 => ErrorCode::TokenizerBadRequest,
        401 => ErrorCode::TokenizerUnauthorized,
        403 => ErrorCode::InvalidGrant,
        404 => ErrorCode::TokenNotFound,
        _ => ErrorCode::TokenizerError,
    };
    err(code, format!("{what}: tokenizer answered {}{detail}", status.as_u16()))
}

/// Delays between retries of one request: up to 50 ms, 200 ms, then 800 ms (full jitter); the
/// default two retries wait at most 250 ms in all.
fn retry_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(50), Duration::from_millis(800)).factor(4)
}

fn retryable_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 502..=504)
}

fn check_tokens(ids: &[String]) -> Result<()> {
    if ids.iter().all(|t| is_token(t)) {
        Ok(())
    } else {
        Err(err(ErrorCode::BadToken, "value is not a LunaSec token (expected lunasec-<uuid>)"))
    }
}

impl TokenizerClient {
    pub fn new(opts: ClientOptions) -> Result<Self> {
        let base = opts.base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(err(ErrorCode::TokenizerBadRequest, "tokenizer URL must be http(s)"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(opts.connect_timeout)
            .pool_idle_timeout(Duration::from_mins(1))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| err(ErrorCode::TokenizerError, "could not build the HTTP client"))?;
        Ok(Self { http, base, opts })
    }

    /// POSTs a JSON request with the JWT and unwraps the envelope.
    async fn call<Req: Serialize + Sync, Resp: DeserializeOwned>(
        &self,
        path: &str,
        jwt: &str,
        req: &Req,
        idempotent: bool,
    ) -> Result<Resp> {
        let what = format!("POST {path}");
        let body =
            serde_json::to_vec(req).map_err(|_| err(ErrorCode::TokenizerBadRequest, "request not serializable"))?;
        let url = format!("{}{path}", self.base);
        let res = self
            .send_with_retries(idempotent, &what, || {
                self.http
                    .post(&url)
                    .timeout(self.opts.timeout)
                    .header("authorization", jwt)
                    .header("content-type", "application/json")
                    .header("accept", "application/json")
                    .body(body.clone())
            })
            .await?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(|e| transport_error(&e, &what))?;
        let envelope: Option<Envelope<serde_json::Value>> = serde_json::from_slice(&bytes).ok();
        match envelope {
            Some(Envelope::Success { data, .. }) if status.is_success() => serde_json::from_value(data)
                .map_err(|_| err(ErrorCode::TokenizerError, format!("{what}: unexpected response shape"))),
            Some(Envelope::Failure { error, .. }) => {
                let status = if status.is_success() { StatusCode::BAD_GATEWAY } else { status };
                Err(status_error(status, Some(&error.name), Some(&error.message), &what))
            }
            _ if !status.is_success() => Err(status_error(status, None, None, &what)),
            _ => Err(err(ErrorCode::TokenizerError, format!("{what}: response is not a LunaSec envelope"))),
        }
    }

    /// Sends the request `build` makes; when `idempotent`, retries connection errors, timeouts and
    /// 502/503/504 up to `retries` times with a short backoff. The last response is returned as is.
    async fn send_with_retries(
        &self,
        idempotent: bool,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let mut attempt = 0;
        let mut backoff = retry_backoff();
        loop {
            let retry_left = idempotent && attempt < self.opts.retries;
            match build().send().await {
                Err(e) if retry_left && (e.is_connect() || e.is_timeout()) => {}
                Err(e) => return Err(transport_error(&e, what)),
                Ok(res) if retry_left && retryable_status(res.status()) => {}
                Ok(res) => return Ok(res),
            }
            tokio::time::sleep(backoff.next_delay()).await;
            attempt += 1;
        }
    }

    fn grant_request(
        session_id: &str,
        token_ids: &[String],
        duration: Option<&str>,
        grant_type: GrantType,
    ) -> Result<GrantRequest> {
        if token_ids.is_empty() {
            return Err(err(ErrorCode::BadToken, "no tokens given"));
        }
        check_tokens(token_ids)?;
        if session_id.is_empty() {
            return Err(err(ErrorCode::SessionIdInvalid, "session id is empty"));
        }
        if let Some(d) = duration {
            crate::parse_go_duration(d)?;
        }
        // One token: the original's single-token shape (also understood by the original tokenizer).
        let (token_id, ids) =
            if token_ids.len() == 1 { (Some(token_ids[0].clone()), None) } else { (None, Some(token_ids.to_vec())) };
        Ok(GrantRequest {
            session_id: session_id.to_owned(),
            token_id,
            token_ids: ids,
            custom_duration: duration.map(str::to_owned),
            grant_type: Some(grant_type),
        })
    }

    /// Sets (or renews) grants for all `token_ids`, in one request.
    pub async fn grant_set(
        &self,
        jwt: &str,
        session_id: &str,
        token_ids: &[String],
        duration: Option<&str>,
        grant_type: GrantType,
    ) -> Result<()> {
        let req = Self::grant_request(session_id, token_ids, duration, grant_type)?;
        let _: serde_json::Value = self.call("/grant/set", jwt, &req, true).await?;
        Ok(())
    }

    /// Whether each of `token_ids` has a valid grant for `session_id`, in one request.
    pub async fn grant_verify(
        &self,
        jwt: &str,
        session_id: &str,
        token_ids: &[String],
        grant_type: GrantType,
    ) -> Result<Vec<bool>> {
        let req = Self::grant_request(session_id, token_ids, None, grant_type)?;
        let res: GrantVerifyResponse = self.call("/grant/verify", jwt, &req, true).await?;
        match res.results {
            Some(r) if r.len() == token_ids.len() => Ok(r),
            Some(_) => Err(err(ErrorCode::TokenizerError, "POST /grant/verify: result count does not match")),
            None if token_ids.len() == 1 => Ok(vec![res.valid]),
            // A tokenizer without batch support answered for the whole set only.
            None => Ok(vec![res.valid; token_ids.len()]),
        }
    }

    /// Creates a token for `value` and uploads the value through the presigned URL.
    pub async fn tokenize(&self, jwt: &str, value: Bytes, metadata: Metadata) -> Result<String> {
        let res: TokenizeResponse = self.call("/tokenize", jwt, &TokenizeRequest { metadata }, false).await?;
        if !is_token(&res.token_id) {
            return Err(err(ErrorCode::TokenizerError, "POST /tokenize: the tokenizer returned a malformed token"));
        }
        self.transfer(Method::PUT, &res.upload_url, &res.headers, Some(value), false).await?;
        Ok(res.token_id)
    }

    /// The presigned download URL and headers for `token`.
    pub async fn detokenize_to_url(&self, jwt: &str, token: &str) -> Result<DetokenizeResponse> {
        check_tokens(std::slice::from_ref(&token.to_owned()))?;
        self.call("/detokenize", jwt, &TokenIdRequest { token_id: token.to_owned() }, true).await
    }

    /// Downloads the value of `token`.
    pub async fn detokenize(&self, jwt: &str, token: &str) -> Result<Bytes> {
        let d = self.detokenize_to_url(jwt, token).await?;
        self.transfer(Method::GET, &d.download_url, &d.headers, None, true).await
    }

    /// The metadata of `token`.
    pub async fn get_metadata(&self, jwt: &str, token: &str) -> Result<Metadata> {
        check_tokens(std::slice::from_ref(&token.to_owned()))?;
        let res: MetadataResponse =
            self.call("/metadata/get", jwt, &TokenIdRequest { token_id: token.to_owned() }, true).await?;
        Ok(res.metadata)
    }

    /// PUT or GET through a presigned URL with its headers. The URL is never quoted in errors.
    async fn transfer(
        &self,
        method: Method,
        url: &str,
        headers: &Headers,
        body: Option<Bytes>,
        idempotent: bool,
    ) -> Result<Bytes> {
        let what = if method == Method::PUT { "upload of the value" } else { "download of the value" };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(err(ErrorCode::TokenizerError, format!("{what}: the tokenizer returned a malformed URL")));
        }
        let res = self
            .send_with_retries(idempotent, what, || {
                let mut req = self.http.request(method.clone(), url).timeout(self.opts.transfer_timeout);
                for (k, v) in headers {
                    // `host` comes from the URL (the original tokenizer sends it; clients drop it).
                    if !k.eq_ignore_ascii_case("host") {
                        req = req.header(k.as_str(), v.as_str());
                    }
                }
                match &body {
                    // Bytes clones share the buffer: retries do not copy the value.
                    Some(b) => req.body(b.clone()),
                    None => req,
                }
            })
            .await?;
        let status = res.status();
        if !status.is_success() {
            return Err(err(ErrorCode::StorageTransferFailed, format!("{what}: storage answered {}", status.as_u16())));
        }
        if method == Method::PUT {
            return Ok(Bytes::new());
        }
        let limit = self.opts.max_download_bytes;
        let too_large = || err(ErrorCode::StorageTransferFailed, format!("{what}: value is larger than {limit} bytes"));
        let expected = res.content_length().unwrap_or(0);
        if expected > limit {
            return Err(too_large());
        }
        let mut buf = BytesMut::with_capacity(usize::try_from(expected).unwrap_or(0));
        let mut res = res;
        while let Some(chunk) = res.chunk().await.map_err(|e| transport_error(&e, what))? {
            if (buf.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_tokens_and_jwts() {
        let m = "grant for lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c, jwt eyJhbGciOi.eyJzdWIiOi.c2ln failed";
        assert_eq!(scrub(m), "grant for [token], jwt [jwt] failed");
        assert!(scrub(&"x".repeat(1000)).len() <= 304);
    }

    #[test]
    fn grant_requests_validate_before_sending() {
        let t = "lunasec-351d1033-0e9f-4a1b-bbb6-adec04837a5c".to_owned();
        let one =
            TokenizerClient::grant_request("s", std::slice::from_ref(&t), Some("30m"), GrantType::ReadToken).unwrap();
        assert_eq!(one.token_id.as_deref(), Some(t.as_str()));
        assert!(one.token_ids.is_none());
        let two = TokenizerClient::grant_request("s", &[t.clone(), t.clone()], None, GrantType::StoreToken).unwrap();
        assert_eq!(two.token_ids.map(|v| v.len()), Some(2));
        let code = |r: Result<GrantRequest>| r.unwrap_err().code();
        assert_eq!(code(TokenizerClient::grant_request("s", &[], None, GrantType::ReadToken)), ErrorCode::BadToken);
        assert_eq!(
            code(TokenizerClient::grant_request("s", &["nope".into()], None, GrantType::ReadToken)),
            ErrorCode::BadToken
        );
        assert_eq!(
            code(TokenizerClient::grant_request("", std::slice::from_ref(&t), None, GrantType::ReadToken)),
            ErrorCode::SessionIdInvalid
        );
        assert_eq!(
            code(TokenizerClient::grant_request("s", std::slice::from_ref(&t), Some("1d"), GrantType::ReadToken)),
            ErrorCode::DurationInvalid
        );
    }
}
