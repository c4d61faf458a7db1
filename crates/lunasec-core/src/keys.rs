//! RSA signing keys, parsed once, and key sets for rotation.
//!
//! A [`SigningKey`] holds a parsed `aws-lc-rs` key pair (never re-parsed per signature), its `kid`,
//! the pre-encoded JWT header and its public JWK. A [`KeySet`] orders keys oldest → newest, signs with
//! the newest, publishes all of them as a JWKS, and caches the application JWT until shortly before
//! it expires.

use std::fmt;
use std::sync::RwLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

use crate::error::{Error, ErrorCode, Result};
use crate::jwks::{Jwk, Jwks};
use crate::jwt::{Claims, MAX_USER_JWT_LEN, Subject, now_secs};
use crate::protocol::MAX_COOKIE_LEN;

/// The `kid` used when none is configured (and assumed for a JWT without `kid`).
pub const DEFAULT_KID: &str = "lunasec-signing-key";
/// Smallest accepted RSA modulus.
pub const MIN_RSA_BITS: usize = 2048;
/// A cached application JWT is replaced when fewer than this many seconds of its life remain.
pub const APPLICATION_JWT_REFRESH_MARGIN_SECS: u64 = 120;
const MAX_KID_LEN: usize = 128;

/// A parsed RSA private key with its `kid`.
pub struct SigningKey {
    kid: String,
    pair: RsaKeyPair,
    /// base64url of `{"alg":"RS256","typ":"JWT","kid":…}` followed by `.`.
    header_prefix: String,
    jwk: Jwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("bits", &self.bits()).finish_non_exhaustive()
    }
}

fn validate_kid(kid: &str) -> Result<()> {
    let ok = !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::KeySetInvalid,
            format!("key id must be 1-{MAX_KID_LEN} characters of A-Z a-z 0-9 - _ . :"),
        ))
    }
}

impl SigningKey {
    /// Parses a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    /// `source` names where the key came from (e.g. `LUNASEC_SIGNING_KEY`) for error messages;
    /// the key itself is never quoted.
    pub fn from_pem(kid: impl Into<String>, pem_text: &str, source: &str) -> Result<Self> {
        let kid = kid.into();
        validate_kid(&kid)?;
        let invalid = |why: &str| Error::new(ErrorCode::SigningKeyInvalid, format!("signing key from {source} {why}"));
        if pem_text.trim().is_empty() {
            return Err(Error::new(ErrorCode::SigningKeyMissing, format!("signing key from {source} is empty")));
        }
        let block = pem::parse(pem_text.trim())
            .map_err(|_| invalid("is not a PEM document (expected -----BEGIN PRIVATE KEY-----)"))?;
        let parsed = match block.tag() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(block.contents()),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(block.contents()),
            "ENCRYPTED PRIVATE KEY" => {
                return Err(invalid("is encrypted; provide the unencrypted PKCS#8 or PKCS#1 PEM"));
            }
            "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => {
                return Err(invalid("is a public key or certificate; the SDK needs the RSA private key"));
            }
            _ => {
                return Err(invalid("has an unsupported PEM type (expected PRIVATE KEY or RSA PRIVATE KEY)"));
            }
        };
        let pair = parsed.map_err(|rejected| match rejected.description_() {
            "TooSmall" => Error::new(
                ErrorCode::SigningKeyTooSmall,
                format!("signing key from {source} is too small: RSA keys must have at least {MIN_RSA_BITS} bits"),
            ),
            "TooLarge" => {
                Error::new(ErrorCode::SigningKeyTooSmall, format!("signing key from {source} is over 8192 bits"))
            }
            _ => invalid("is not a valid RSA private key"),
        })?;
        // aws-lc-rs enforces the range too; keep the check explicit so it cannot silently loosen.
        if pair.public_modulus_len() * 8 < MIN_RSA_BITS {
            return Err(Error::new(
                ErrorCode::SigningKeyTooSmall,
                format!("signing key from {source} is too small: RSA keys must have at least {MIN_RSA_BITS} bits"),
            ));
        }
        let public = pair.public_key();
        let jwk = Jwk {
            kty: "RSA".into(),
            n: Some(URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero())),
            e: Some(URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero())),
            kid: Some(kid.clone()),
            alg: Some("RS256".into()),
            use_: Some("sig".into()),
        };
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": kid });
        let header_prefix = format!("{}.", URL_SAFE_NO_PAD.encode(header.to_string()));
        Ok(Self { kid, pair, header_prefix, jwk })
    }

    /// Parses the value of an environment variable holding the **base64 of a PEM** (the
    /// original's format). A raw PEM is accepted too. `var` names the variable in errors.
    pub fn from_env_value(kid: impl Into<String>, value: &str, var: &str) -> Result<Self> {
        let value = value.trim();
        if value.is_empty() {
            return Err(Error::new(
                ErrorCode::SigningKeyMissing,
                format!(
                    "{var} is not set: put the base64 of your RSA private key PEM in it (e.g. `base64 -w0 key.pem`)"
                ),
            ));
        }
        if value.starts_with("-----BEGIN") {
            return Self::from_pem(kid, value, var);
        }
        let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let bytes = STANDARD
            .decode(compact.as_bytes())
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(compact.as_bytes()))
            .map_err(|_| {
                Error::new(
                    ErrorCode::SigningKeyInvalid,
                    format!("{var} is not valid base64 (it must hold the base64 of a PEM private key)"),
                )
            })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::new(ErrorCode::SigningKeyInvalid, format!("{var} does not decode to a PEM text")))?;
        Self::from_pem(kid, &text, var)
    }

    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    #[must_use]
    pub fn bits(&self) -> usize {
        self.pair.public_modulus_len() * 8
    }

    #[must_use]
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Signs `claims` as a compact RS256 JWS. A user JWT longer than [`MAX_USER_JWT_LEN`] (too
    /// long for the tokenizer's cookie) is refused before signing.
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let payload = serde_json::to_vec(claims)
            .map_err(|_| Error::new(ErrorCode::JwtClaimsInvalid, "claims could not be serialized to JSON"))?;
        let sig_len = self.pair.public_modulus_len();
        let len = jwt_len(self.header_prefix.len(), payload.len(), sig_len);
        // A user JWT (the only kind with a session id) becomes the tokenizer's cookie.
        if claims.session_id.is_some() && len > MAX_USER_JWT_LEN {
            return Err(Error::new(
                ErrorCode::JwtClaimsInvalid,
                format!(
                    "this user JWT would be {len} bytes, too long for the tokenizer's session cookie (browsers keep \
                     at most {MAX_COOKIE_LEN} bytes per cookie): a user JWT may be at most {MAX_USER_JWT_LEN} bytes; \
                     shorten the session id or the extra claims"
                ),
            ));
        }
        let mut out = String::with_capacity(self.header_prefix.len() + payload.len() * 4 / 3 + 4 + sig_len * 4 / 3 + 4);
        out.push_str(&self.header_prefix);
        URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
        let mut sig = vec![0u8; sig_len];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), out.as_bytes(), &mut sig)
            .map_err(|_| Error::new(ErrorCode::JwtSignFailed, "RSA signing failed"))?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&sig, &mut out);
        Ok(out)
    }
}

/// The length of a compact JWS: the header prefix (with its dot), the base64url payload, a dot and
/// the base64url signature.
fn jwt_len(header_prefix_len: usize, payload_len: usize, sig_len: usize) -> usize {
    let b64 = |n: usize| n / 3 * 4 + [0, 2, 3][n % 3];
    header_prefix_len + b64(payload_len) + 1 + b64(sig_len)
}

struct CachedJwt {
    jwt: String,
    exp: u64,
}

/// Keys ordered oldest → newest. Signs with the newest; publishes all.
pub struct KeySet {
    keys: Vec<SigningKey>,
    jwks: Jwks,
    jwks_json: String,
    application_jwt: RwLock<Option<CachedJwt>>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet").field("keys", &self.keys).finish_non_exhaustive()
    }
}

impl KeySet {
    /// A key set from keys ordered oldest → newest. Empty sets and duplicate kids are refused.
    ///
    /// # Panics
    /// Never: a JWKS of strings always serializes.
    pub fn new(keys: Vec<SigningKey>) -> Result<Self> {
        if keys.is_empty() {
            return Err(Error::new(ErrorCode::KeySetInvalid, "a key set needs at least one signing key"));
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.kid == k.kid) {
                return Err(Error::new(
                    ErrorCode::KeySetInvalid,
                    format!("two signing keys share the key id \"{}\"", k.kid),
                ));
            }
        }
        let jwks = Jwks { keys: keys.iter().map(|k| k.jwk.clone()).collect() };
        let jwks_json = serde_json::to_string(&jwks).expect("a JWKS always serializes");
        Ok(Self { keys, jwks, jwks_json, application_jwt: RwLock::new(None) })
    }

    /// The key new JWTs are signed with (the newest).
    ///
    /// # Panics
    /// Never: [`KeySet::new`] refuses empty sets.
    #[must_use]
    pub fn current(&self) -> &SigningKey {
        self.keys.last().expect("a key set is never empty")
    }

    #[must_use]
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    #[must_use]
    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }

    /// The JWKS document, serialized once at construction.
    #[must_use]
    pub fn jwks_json(&self) -> &str {
        &self.jwks_json
    }

    /// Signs a fresh JWT for `subject` issued at `now` (seconds), with extra claims.
    pub fn sign_at(&self, subject: &Subject, extra: Map<String, Value>, now: u64) -> Result<String> {
        self.current().sign(&Claims::new(subject, now, extra))
    }

    /// Signs a fresh JWT for `subject`, issued now.
    pub fn sign(&self, subject: &Subject, extra: Map<String, Value>) -> Result<String> {
        self.sign_at(subject, extra, now_secs())
    }

    /// A user JWT (`sub: "user"`, `session_id`) for the session redirect.
    pub fn user_jwt(&self, session_id: &str) -> Result<String> {
        self.sign(&Subject::user(session_id)?, Map::new())
    }

    /// The application JWT, reused until [`APPLICATION_JWT_REFRESH_MARGIN_SECS`] before it expires.
    pub fn application_jwt(&self) -> Result<String> {
        self.application_jwt_at(now_secs())
    }

    /// [`Self::application_jwt`] at a given clock (for tests).
    pub fn application_jwt_at(&self, now: u64) -> Result<String> {
        let fresh = |c: &CachedJwt| now + APPLICATION_JWT_REFRESH_MARGIN_SECS < c.exp;
        if let Some(c) = self.application_jwt.read().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref()
            && fresh(c)
        {
            return Ok(c.jwt.clone());
        }
        let mut slot = self.application_jwt.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = slot.as_ref()
            && fresh(c)
        {
            return Ok(c.jwt.clone());
        }
        let claims = Claims::new(&Subject::Application, now, Map::new());
        let exp = claims.exp;
        let jwt = self.current().sign(&claims)?;
        *slot = Some(CachedJwt { jwt: jwt.clone(), exp });
        Ok(jwt)
    }
}

#[cfg(test)]
pub(crate) mod test_keys {
    /// Test keys generated with `openssl genrsa`; they protect nothing.
    pub const RSA2048_PKCS8: &str = include_str!("../testdata/rsa2048-pkcs8.pem");
    pub const RSA2048_PKCS1: &str = include_str!("../testdata/rsa2048-pkcs1.pem");
    pub const RSA3072_PKCS8: &str = include_str!("../testdata/rsa3072-pkcs8.pem");
    pub const RSA1024_PKCS8: &str = include_str!("../testdata/rsa1024-pkcs8.pem");
    pub const EC_P256_PKCS8: &str = include_str!("../testdata/ec-p256-pkcs8.pem");
    pub const ENCRYPTED_PKCS8: &str = include_str!("../testdata/rsa2048-encrypted.pem");
    pub const RSA2048_PUBLIC: &str = include_str!("../testdata/rsa2048-public.pem");
}

#[cfg(test)]
mod tests {
    use super::test_keys::*;
    use super::*;

    fn key(kid: &str, pem: &str) -> SigningKey {
        SigningKey::from_pem(kid, pem, "test").unwrap()
    }

    fn decode_part(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn parses_pkcs8_and_pkcs1_to_the_same_public_key() {
        let a = key(DEFAULT_KID, RSA2048_PKCS8);
        let b = key(DEFAULT_KID, RSA2048_PKCS1);
        assert_eq!(a.bits(), 2048);
        assert_eq!(a.jwk(), b.jwk());
        assert_eq!(a.jwk().e.as_deref(), Some("AQAB"));
        assert_eq!(a.jwk().alg.as_deref(), Some("RS256"));
        assert_eq!(a.jwk().use_.as_deref(), Some("sig"));
    }

    #[test]
    fn env_value_is_base64_of_pem_and_raw_pem_is_tolerated() {
        let b64 = STANDARD.encode(RSA2048_PKCS8);
        let wrapped: String =
            b64.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\n");
        let a = SigningKey::from_env_value(DEFAULT_KID, &b64, "LUNASEC_SIGNING_KEY").unwrap();
        let b = SigningKey::from_env_value(DEFAULT_KID, &wrapped, "LUNASEC_SIGNING_KEY").unwrap();
        let c = SigningKey::from_env_value(DEFAULT_KID, RSA2048_PKCS8, "LUNASEC_SIGNING_KEY").unwrap();
        assert_eq!(a.jwk(), b.jwk());
        assert_eq!(a.jwk(), c.jwk());
    }

    #[test]
    fn key_errors_are_typed_name_the_source_and_never_quote_the_key() {
        let cases: [(&str, ErrorCode); 7] = [
            ("", ErrorCode::SigningKeyMissing),
            ("%%%not base64%%%", ErrorCode::SigningKeyInvalid),
            (&STANDARD.encode("hello world"), ErrorCode::SigningKeyInvalid),
            (&STANDARD.encode(RSA1024_PKCS8), ErrorCode::SigningKeyTooSmall),
            (&STANDARD.encode(EC_P256_PKCS8), ErrorCode::SigningKeyInvalid),
            (&STANDARD.encode(ENCRYPTED_PKCS8), ErrorCode::SigningKeyInvalid),
            (&STANDARD.encode(RSA2048_PUBLIC), ErrorCode::SigningKeyInvalid),
        ];
        for (value, code) in cases {
            let err = SigningKey::from_env_value(DEFAULT_KID, value, "LUNASEC_SIGNING_KEY").unwrap_err();
            assert_eq!(err.code(), code, "{}", err.message());
            assert!(err.message().contains("LUNASEC_SIGNING_KEY"), "{}", err.message());
            assert!(!err.message().contains("MII"), "key material leaked: {}", err.message());
            if !value.is_empty() {
                assert!(!err.message().contains(&value[..value.len().min(12)]), "value leaked: {}", err.message());
            }
        }
    }

    #[test]
    fn bad_kids_and_sets_are_refused() {
        assert_eq!(SigningKey::from_pem("", RSA2048_PKCS8, "t").unwrap_err().code(), ErrorCode::KeySetInvalid);
        assert_eq!(SigningKey::from_pem("a\"b", RSA2048_PKCS8, "t").unwrap_err().code(), ErrorCode::KeySetInvalid);
        assert_eq!(KeySet::new(vec![]).unwrap_err().code(), ErrorCode::KeySetInvalid);
        let dup = KeySet::new(vec![key("k", RSA2048_PKCS8), key("k", RSA3072_PKCS8)]).unwrap_err();
        assert_eq!(dup.code(), ErrorCode::KeySetInvalid);
    }

    #[test]
    fn signs_with_the_newest_kid_and_publishes_all() {
        let set = KeySet::new(vec![key("old", RSA2048_PKCS8), key("new", RSA3072_PKCS8)]).unwrap();
        assert_eq!(set.current().kid(), "new");
        let jwt = set.user_jwt("sess-1").unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode_part(parts[0]);
        assert_eq!(header, serde_json::json!({"alg":"RS256","typ":"JWT","kid":"new"}));
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 3072 / 8);
        let kids: Vec<_> = set.jwks().keys.iter().map(|k| k.kid.clone().unwrap()).collect();
        assert_eq!(kids, ["old", "new"]);
        let parsed: Jwks = serde_json::from_str(set.jwks_json()).unwrap();
        assert_eq!(&parsed, set.jwks());
    }

    #[test]
    fn claims_follow_the_spec_and_reserved_claims_cannot_be_overridden() {
        let set = KeySet::new(vec![key(DEFAULT_KID, RSA2048_PKCS8)]).unwrap();
        let mut extra = Map::new();
        extra.insert("sub".into(), "application".into());
        extra.insert("exp".into(), 99_999_999_999u64.into());
        extra.insert("session_id".into(), "evil".into());
        extra.insert("tenant".into(), "acme".into());
        let jwt = set.sign_at(&Subject::user("42").unwrap(), extra, 1_000).unwrap();
        let claims = decode_part(jwt.split('.').nth(1).unwrap());
        assert_eq!(
            claims,
            serde_json::json!({"iss":"node-sdk","aud":"secure-frame","sub":"user","session_id":"42","iat":1000,"exp":1900,"tenant":"acme"})
        );
        let app = set.sign_at(&Subject::Application, Map::new(), 1_000).unwrap();
        let claims = decode_part(app.split('.').nth(1).unwrap());
        assert_eq!(
            claims,
            serde_json::json!({"iss":"node-sdk","aud":"secure-frame","sub":"application","iat":1000,"exp":1900})
        );
    }

    #[test]
    fn user_subject_validation() {
        assert_eq!(Subject::user("").unwrap_err().code(), ErrorCode::JwtClaimsInvalid);
        assert_eq!(Subject::user("x".repeat(5000)).unwrap_err().code(), ErrorCode::JwtClaimsInvalid);
        assert_eq!(Subject::user("x".repeat(1025)).unwrap_err().code(), ErrorCode::JwtClaimsInvalid);
        assert!(Subject::user("x".repeat(1024)).is_ok());
        assert_eq!(format!("{:?}", Subject::user("secret-session").unwrap()), "User { session_id: <redacted> }");
    }

    #[test]
    fn user_jwts_fit_in_the_tokenizer_cookie() {
        use crate::jwt::{MAX_SESSION_ID_LEN, MAX_USER_JWT_LEN};
        use crate::protocol::{ACCESS_TOKEN_COOKIE, MAX_COOKIE_LEN, set_cookie_line};
        // The budget: a JWT of MAX_USER_JWT_LEN fits with a Max-Age of up to 5 digits.
        let line = set_cookie_line(ACCESS_TOKEN_COOKIE, &"j".repeat(MAX_USER_JWT_LEN), 99_999);
        assert_eq!(line.len(), MAX_COOKIE_LEN);
        // The length is computed exactly, before signing.
        let k = key(DEFAULT_KID, RSA3072_PKCS8);
        for n in 1..8 {
            let jwt = k.sign(&Claims::new(&Subject::user("s".repeat(n)).unwrap(), 1000, Map::new())).unwrap();
            let payload = URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).unwrap()).unwrap();
            assert_eq!(jwt.len(), jwt_len(k.header_prefix.len(), payload.len(), k.pair.public_modulus_len()));
        }
        // The longest session id, plain ASCII, fits with the largest key and kid the SDK accepts.
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": "k".repeat(MAX_KID_LEN) });
        let header_prefix_len = URL_SAFE_NO_PAD.encode(header.to_string()).len() + 1;
        let claims = Claims::new(&Subject::user("s".repeat(MAX_SESSION_ID_LEN)).unwrap(), 9_999_999_999, Map::new());
        let worst = jwt_len(header_prefix_len, serde_json::to_vec(&claims).unwrap().len(), 8192 / 8);
        assert!(worst <= MAX_USER_JWT_LEN, "{worst}");
        assert!(worst < 3200, "{worst}: update MAX_SESSION_ID_LEN's doc");
        let set = KeySet::new(vec![key(DEFAULT_KID, RSA2048_PKCS8)]).unwrap();
        assert!(set.user_jwt(&"s".repeat(MAX_SESSION_ID_LEN)).is_ok());
        // What JSON escapes, or extra claims, can make it too long: refused when signing.
        let err = set.user_jwt(&"\u{1}".repeat(MAX_SESSION_ID_LEN)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::JwtClaimsInvalid);
        assert!(err.message().contains(&format!("at most {MAX_USER_JWT_LEN} bytes")), "{}", err.message());
        assert!(!err.message().contains("\\u0001"), "the session id is not quoted");
        let mut extra = Map::new();
        extra.insert("roles".into(), Value::String("r".repeat(3000)));
        let user = Subject::user("s").unwrap();
        assert_eq!(set.sign(&user, extra.clone()).unwrap_err().code(), ErrorCode::JwtClaimsInvalid);
        // Application JWTs travel in a header, not a cookie: no such limit.
        extra.insert("more".into(), Value::String("m".repeat(3000)));
        assert!(set.sign(&Subject::Application, extra).unwrap().len() > MAX_COOKIE_LEN);
    }

    #[test]
    fn application_jwt_is_cached_until_close_to_expiry() {
        let set = KeySet::new(vec![key(DEFAULT_KID, RSA2048_PKCS8)]).unwrap();
        let t0 = 1_000_000;
        let a = set.application_jwt_at(t0).unwrap();
        assert_eq!(set.application_jwt_at(t0 + 60).unwrap(), a);
        let last_reuse = t0 + crate::JWT_LIFETIME.as_secs() - APPLICATION_JWT_REFRESH_MARGIN_SECS - 1;
        assert_eq!(set.application_jwt_at(last_reuse).unwrap(), a);
        let b = set.application_jwt_at(last_reuse + 1).unwrap();
        assert_ne!(a, b);
        let claims = decode_part(b.split('.').nth(1).unwrap());
        assert_eq!(claims["iat"], last_reuse + 1);
    }
}
