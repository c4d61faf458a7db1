//! `KeySet`: RSA signing keys parsed once, RS256 JWTs, JWKS.

use std::sync::Arc;

use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;
use serde_json::{Map, Value};

use lunasec_core::{DEFAULT_KID, SigningKey, Subject};

use crate::error::{IntoNapi, Result};

/// One signing key.
#[napi(object)]
pub struct SigningKeyInput {
    /// The RSA private key as PEM text (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`),
    /// or, with `base64: true`, the base64 of that PEM (the `LUNASEC_SIGNING_KEY` format).
    pub pem: String,
    /// Key id, published in the JWKS and set as the JWT `kid`. Default: `lunasec-signing-key`.
    pub kid: Option<String>,
    /// What to call the key's source in error messages (e.g. `LUNASEC_SIGNING_KEY`). Default: `signingKey`.
    pub source: Option<String>,
    /// `pem` holds the base64 of a PEM. Default: false.
    pub base64: Option<bool>,
}

/// RSA signing keys (oldest → newest), parsed once. Signs RS256 JWTs with the newest key and
/// publishes all of them as a JWKS.
#[napi]
pub struct KeySet {
    inner: Arc<lunasec_core::KeySet>,
}

fn subject(sub: &str, claims: &mut Map<String, Value>) -> Result<Subject> {
    let invalid = |m: &str| crate::error::coded(lunasec_core::ErrorCode::JwtClaimsInvalid, m);
    match sub {
        "application" => Ok(Subject::Application),
        "user" => match claims.remove("session_id") {
            Some(Value::String(s)) => Subject::user(s).napi(),
            Some(Value::Number(n)) => Subject::user(n.to_string()).napi(),
            _ => Err(invalid("a user JWT needs claims.session_id (a string or number)")),
        },
        _ => Err(invalid("subject must be 'user' or 'application'")),
    }
}

#[napi]
impl KeySet {
    /// Parses the keys (newest last). Throws `ERR_SIGNING_KEY_*` / `ERR_KEY_SET_INVALID` errors
    /// that name the key's source and never its material.
    #[napi(constructor)]
    pub fn new(keys: Vec<SigningKeyInput>) -> Result<Self> {
        let parsed = keys
            .into_iter()
            .map(|k| {
                let kid = k.kid.unwrap_or_else(|| DEFAULT_KID.to_owned());
                let source = k.source.unwrap_or_else(|| "signingKey".to_owned());
                if k.base64.unwrap_or(false) {
                    SigningKey::from_env_value(kid, &k.pem, &source)
                } else {
                    SigningKey::from_pem(kid, &k.pem, &source)
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .napi()?;
        Ok(Self { inner: Arc::new(lunasec_core::KeySet::new(parsed).napi()?) })
    }

    /// Key ids, oldest → newest.
    #[napi(getter)]
    pub fn kids(&self) -> Vec<String> {
        self.inner.keys().iter().map(|k| k.kid().to_owned()).collect()
    }

    /// The key id new JWTs are signed with.
    #[napi(getter)]
    pub fn current_kid(&self) -> String {
        self.inner.current().kid().to_owned()
    }

    /// The JWKS document as JSON text (built once).
    #[napi]
    pub fn jwks_json(&self) -> String {
        self.inner.jwks_json().to_owned()
    }

    /// Signs a JWT now, on the calling thread (~0.3 ms for RSA-2048).
    /// `subject` is `'user'` (needs `claims.session_id`) or `'application'`; other claims are
    /// added, except the reserved `iss aud sub iat exp nbf jti`.
    #[napi]
    pub fn sign_sync(&self, subject_kind: String, claims: Option<Map<String, Value>>) -> Result<String> {
        let mut claims = claims.unwrap_or_default();
        let subject = subject(&subject_kind, &mut claims)?;
        self.inner.sign(&subject, claims).napi()
    }

    /// Like `signSync`, on the libuv thread pool (does not block the event loop).
    #[napi(ts_return_type = "Promise<string>")]
    pub fn sign(&self, subject_kind: String, claims: Option<Map<String, Value>>) -> Result<AsyncTask<SignTask>> {
        let mut claims = claims.unwrap_or_default();
        let subject = subject(&subject_kind, &mut claims)?;
        Ok(AsyncTask::new(SignTask { keys: Arc::clone(&self.inner), subject, claims }))
    }

    /// The application JWT (`sub: application`), reused until 2 minutes before it expires.
    #[napi]
    pub fn application_jwt(&self) -> Result<String> {
        self.inner.application_jwt().napi()
    }
}

pub struct SignTask {
    keys: Arc<lunasec_core::KeySet>,
    subject: Subject,
    claims: Map<String, Value>,
}

impl Task for SignTask {
    /// The core's result crosses back to the JS thread as is; `resolve` turns an error into the
    /// coded JS error (a `Task` can otherwise only reject with a napi `Status`).
    type Output = lunasec_core::error::Result<String>;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.keys.sign(&self.subject, std::mem::take(&mut self.claims)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<String> {
        output.map_err(|e| crate::error::reject(env, &e))
    }
}
