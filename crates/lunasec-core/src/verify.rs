//! RS256 verification of SDK-signed JWTs (used by the tokenizer, and by tests of the signer).
//!
//! **[fix]** over the original: `alg` must be RS256, and `exp` (with [`LEEWAY_SECS`]), `iss`, `aud`
//! and `sub` are validated, not just the signature; a JWT living longer than the SDK issues
//! ([`MAX_JWT_LIFETIME`]) is refused, so a leaked signing key cannot mint long-lived JWTs unnoticed
//! and a stolen JWT is useful for minutes, not days.

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, ErrorCode, Result};
use crate::jwks::Jwks;
use crate::jwt::{AUDIENCE, ISSUER, JWT_LIFETIME, Subject, now_secs};
use crate::keys::DEFAULT_KID;

/// Clock leeway for `exp`/`nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// Longest JWT lifetime accepted: `exp` at most this far past `iat` (when present) and past the
/// verifier's now. The SDK issues every JWT for [`JWT_LIFETIME`] (15 minutes, `exp = iat + 900`);
/// the extra minute absorbs a signer clock running ahead of the verifier's.
pub const MAX_JWT_LIFETIME: Duration = JWT_LIFETIME.saturating_add(Duration::from_mins(1));

/// What a verified JWT says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    pub subject: Subject,
    pub iat: Option<u64>,
    pub exp: u64,
    pub kid: String,
}

#[derive(Deserialize)]
struct RawClaims {
    sub: String,
    // Optional here so that a missing `exp` is reported by the validator as a missing claim.
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    session_id: Option<Value>,
}

/// Public keys by `kid`, each parsed once.
#[derive(Clone)]
pub struct VerifyingKeys {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for VerifyingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKeys").field("kids", &self.kids()).finish()
    }
}

fn validation() -> Validation {
    let mut v = Validation::new(Algorithm::RS256);
    v.leeway = LEEWAY_SECS;
    v.validate_nbf = true;
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v
}

fn jwks_invalid(why: &str) -> Error {
    Error::new(ErrorCode::JwksInvalid, why.to_owned())
}

impl VerifyingKeys {
    /// Keys from a JWKS. Non-RSA keys and keys for other algorithms or uses are skipped; a set
    /// with no usable key is an error. A key without `kid` is filed under [`DEFAULT_KID`].
    pub fn from_jwks(jwks: &Jwks) -> Result<Self> {
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            if jwk.kty != "RSA"
                || jwk.alg.as_deref().is_some_and(|a| a != "RS256")
                || jwk.use_.as_deref().is_some_and(|u| u != "sig")
            {
                continue;
            }
            let (Some(n), Some(e)) = (jwk.n.as_deref(), jwk.e.as_deref()) else {
                return Err(jwks_invalid("an RSA key in the JWKS has no n or e"));
            };
            let key = DecodingKey::from_rsa_components(n, e)
                .map_err(|_| jwks_invalid("an RSA key in the JWKS is malformed"))?;
            keys.insert(jwk.kid.clone().unwrap_or_else(|| DEFAULT_KID.to_owned()), key);
        }
        if keys.is_empty() {
            return Err(jwks_invalid("the JWKS has no RS256 signing key"));
        }
        Ok(Self { keys, validation: validation() })
    }

    /// A single key from a PEM public key (`SESSION_PUBLIC_KEY`), filed under `kid`.
    pub fn from_public_pem(kid: &str, pem_text: &str) -> Result<Self> {
        let key = DecodingKey::from_rsa_pem(pem_text.as_bytes())
            .map_err(|_| jwks_invalid("the public key is not an RSA PEM public key"))?;
        Ok(Self { keys: HashMap::from([(kid.to_owned(), key)]), validation: validation() })
    }

    #[must_use]
    pub fn kids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        kids
    }

    #[must_use]
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// Verifies a compact JWT: RS256 only, signature by the key its `kid` names, `exp`, `nbf`,
    /// `iss: node-sdk`, `aud: secure-frame`, and `sub` `user` (with a session id) or `application`.
    pub fn verify(&self, jwt: &str) -> Result<VerifiedClaims> {
        let invalid = |why: &str| Error::new(ErrorCode::JwtInvalid, why.to_owned());
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| invalid("malformed JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid("JWT algorithm must be RS256"));
        }
        let kid = header.kid.unwrap_or_else(|| DEFAULT_KID.to_owned());
        let Some(key) = self.keys.get(&kid) else {
            return Err(Error::new(ErrorCode::JwtUnknownKid, "JWT is signed with an unknown key id"));
        };
        let data = jsonwebtoken::decode::<RawClaims>(jwt, key, &self.validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => Error::new(ErrorCode::JwtExpired, "JWT has expired"),
            ErrorKind::InvalidIssuer => Error::new(ErrorCode::JwtClaimMismatch, "JWT issuer is not node-sdk"),
            ErrorKind::InvalidAudience => Error::new(ErrorCode::JwtClaimMismatch, "JWT audience is not secure-frame"),
            ErrorKind::MissingRequiredClaim(_) => {
                Error::new(ErrorCode::JwtClaimMismatch, "JWT lacks a required claim (exp, iss, aud, sub)")
            }
            ErrorKind::ImmatureSignature => invalid("JWT is not valid yet"),
            ErrorKind::InvalidSignature => invalid("JWT signature is invalid"),
            _ => invalid("JWT is invalid"),
        })?;
        let claims = data.claims;
        let exp = claims.exp.ok_or_else(|| Error::new(ErrorCode::JwtClaimMismatch, "JWT lacks exp"))?;
        check_lifetime(claims.iat, exp, now_secs())?;
        let subject = match claims.sub.as_str() {
            "application" => Subject::Application,
            "user" => {
                let session_id = match claims.session_id {
                    Some(Value::String(s)) => s,
                    // The original SDK passed through whatever its session provider returned.
                    Some(Value::Number(n)) => n.to_string(),
                    _ => {
                        return Err(Error::new(ErrorCode::JwtClaimMismatch, "user JWT lacks a session_id"));
                    }
                };
                Subject::user(session_id)
                    .map_err(|_| Error::new(ErrorCode::JwtClaimMismatch, "user JWT has an unusable session_id"))?
            }
            _ => {
                return Err(Error::new(ErrorCode::JwtClaimMismatch, "JWT subject must be user or application"));
            }
        };
        Ok(VerifiedClaims { subject, iat: claims.iat, exp, kid })
    }
}

/// Refuses an `exp` more than [`MAX_JWT_LIFETIME`] past `iat` (when given) or past `now`.
fn check_lifetime(iat: Option<u64>, exp: u64, now: u64) -> Result<()> {
    let max = MAX_JWT_LIFETIME.as_secs();
    if iat.is_some_and(|iat| exp.saturating_sub(iat) > max) || exp.saturating_sub(now) > max {
        return Err(Error::new(
            ErrorCode::JwtLifetimeTooLong,
            format!("JWT expires more than {max} s after it was issued or from now (the SDK issues 15-minute JWTs)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Map, json};

    use super::*;
    use crate::jwt::now_secs;
    use crate::keys::test_keys::*;
    use crate::keys::{KeySet, SigningKey};

    fn set(keys: &[(&str, &str)]) -> KeySet {
        KeySet::new(keys.iter().map(|(kid, pem)| SigningKey::from_pem(*kid, pem, "test").unwrap()).collect()).unwrap()
    }

    fn code(keys: &VerifyingKeys, jwt: &str) -> ErrorCode {
        keys.verify(jwt).unwrap_err().code()
    }

    /// Re-signs arbitrary header/claims with a key, to forge tokens the SDK would never make.
    fn forge(key: &SigningKey, header: &Value, claims: &Value) -> String {
        use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
        let der = pem::parse(RSA2048_PKCS8).unwrap();
        let pair = RsaKeyPair::from_pkcs8(der.contents()).unwrap();
        assert_eq!(key.bits(), 2048);
        let msg =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut sig = vec![0; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), msg.as_bytes(), &mut sig).unwrap();
        format!("{msg}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    #[test]
    fn round_trip_user_and_application() {
        let s = set(&[(DEFAULT_KID, RSA2048_PKCS8)]);
        let v = VerifyingKeys::from_jwks(s.jwks()).unwrap();
        let user = v.verify(&s.user_jwt("sess-9").unwrap()).unwrap();
        assert_eq!(user.subject, Subject::user("sess-9").unwrap());
        assert_eq!(user.kid, DEFAULT_KID);
        let app = v.verify(&s.application_jwt().unwrap()).unwrap();
        assert_eq!(app.subject, Subject::Application);
    }

    #[test]
    fn kid_selection_and_rotation() {
        let old = set(&[("k1", RSA2048_PKCS8)]);
        let rotated = set(&[("k1", RSA2048_PKCS8), ("k2", RSA3072_PKCS8)]);
        let v_old = VerifyingKeys::from_jwks(old.jwks()).unwrap();
        let v_new = VerifyingKeys::from_jwks(rotated.jwks()).unwrap();
        let jwt_old = old.user_jwt("s").unwrap();
        let jwt_new = rotated.user_jwt("s").unwrap();
        assert_eq!(v_new.verify(&jwt_old).unwrap().kid, "k1");
        assert_eq!(v_new.verify(&jwt_new).unwrap().kid, "k2");
        assert_eq!(code(&v_old, &jwt_new), ErrorCode::JwtUnknownKid);
        assert_eq!(v_new.kids(), ["k1", "k2"]);
    }

    #[test]
    fn jwt_without_kid_uses_the_default_kid() {
        let s = set(&[(DEFAULT_KID, RSA2048_PKCS8)]);
        let v = VerifyingKeys::from_jwks(s.jwks()).unwrap();
        let now = now_secs();
        let claims = json!({"iss":"node-sdk","aud":"secure-frame","sub":"application","iat":now,"exp":now+900});
        let jwt = forge(&s.keys()[0], &json!({"alg":"RS256","typ":"JWT"}), &claims);
        assert_eq!(v.verify(&jwt).unwrap().kid, DEFAULT_KID);
    }

    #[test]
    fn refusals() {
        let s = set(&[(DEFAULT_KID, RSA2048_PKCS8)]);
        let key = &s.keys()[0];
        let v = VerifyingKeys::from_jwks(s.jwks()).unwrap();
        let now = now_secs();
        let good = json!({"iss":"node-sdk","aud":"secure-frame","sub":"user","session_id":"s","iat":now,"exp":now+900});
        let hdr = json!({"alg":"RS256","typ":"JWT","kid":DEFAULT_KID});
        assert!(v.verify(&forge(key, &hdr, &good)).is_ok());

        // Tampered payload, same signature.
        let jwt = s.user_jwt("alice").unwrap();
        let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(
            json!({"iss":"node-sdk","aud":"secure-frame","sub":"user","session_id":"bob","iat":now,"exp":now+900})
                .to_string(),
        );
        assert_eq!(code(&v, &parts.join(".")), ErrorCode::JwtInvalid);
        // Tampered signature.
        let mut bad_sig = jwt.clone();
        let last = bad_sig.pop().unwrap();
        bad_sig.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(code(&v, &bad_sig), ErrorCode::JwtInvalid);
        // alg none.
        let none =
            format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), URL_SAFE_NO_PAD.encode(good.to_string()));
        assert_eq!(code(&v, &none), ErrorCode::JwtInvalid);
        // HS256 "signed" with the public key (the classic confusion attack).
        let hs = {
            use aws_lc_rs::hmac;
            let msg = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
                URL_SAFE_NO_PAD.encode(good.to_string())
            );
            let k = hmac::Key::new(hmac::HMAC_SHA256, RSA2048_PUBLIC.as_bytes());
            format!("{msg}.{}", URL_SAFE_NO_PAD.encode(hmac::sign(&k, msg.as_bytes())))
        };
        assert_eq!(code(&v, &hs), ErrorCode::JwtInvalid);
        // Expired (beyond leeway), wrong aud, wrong iss, unknown sub, user without session, missing exp.
        let with = |patch: Value| {
            let mut c = good.clone();
            for (k, val) in patch.as_object().unwrap() {
                if val.is_null() {
                    c.as_object_mut().unwrap().remove(k);
                } else {
                    c[k] = val.clone();
                }
            }
            forge(key, &hdr, &c)
        };
        assert_eq!(code(&v, &with(json!({"iat": now - 2000, "exp": now - 100}))), ErrorCode::JwtExpired);
        assert!(v.verify(&with(json!({"exp": now - 5}))).is_ok(), "within leeway");
        assert_eq!(code(&v, &with(json!({"aud":"someone-else"}))), ErrorCode::JwtClaimMismatch);
        assert_eq!(code(&v, &with(json!({"iss":"evil"}))), ErrorCode::JwtClaimMismatch);
        assert_eq!(code(&v, &with(json!({"sub":"admin"}))), ErrorCode::JwtClaimMismatch);
        assert_eq!(code(&v, &with(json!({"session_id": null}))), ErrorCode::JwtClaimMismatch);
        assert_eq!(code(&v, &with(json!({"exp": null}))), ErrorCode::JwtClaimMismatch);
        assert_eq!(code(&v, &with(json!({"nbf": now + 3600}))), ErrorCode::JwtInvalid);
        // Longer-lived than the SDK issues: by iat, by now, or both.
        assert_eq!(code(&v, &with(json!({"exp": now + 86_400}))), ErrorCode::JwtLifetimeTooLong);
        assert_eq!(code(&v, &with(json!({"iat": now - 600, "exp": now + 900}))), ErrorCode::JwtLifetimeTooLong);
        assert_eq!(code(&v, &with(json!({"iat": null, "exp": now + 1000}))), ErrorCode::JwtLifetimeTooLong);
        assert!(v.verify(&with(json!({"iat": null, "exp": now + 900}))).is_ok());
        assert!(v.verify(&with(json!({"iat": now + 60, "exp": now + 960}))).is_ok(), "signer clock a minute ahead");
        // Garbage.
        for junk in ["", "a.b", "a.b.c", "....", "eyJ.eyJ.sig"] {
            assert_eq!(code(&v, junk), ErrorCode::JwtInvalid, "{junk:?}");
        }
        // Numeric session id from an original SDK is accepted as its string form.
        assert_eq!(v.verify(&with(json!({"session_id": 42}))).unwrap().subject, Subject::user("42").unwrap());
        let _ = Map::<String, Value>::new();
    }

    #[test]
    fn lifetime_limit_admits_every_sdk_jwt_and_nothing_much_longer() {
        let max = MAX_JWT_LIFETIME.as_secs();
        assert_eq!(max, 960);
        let t = 1_700_000_000;
        // What the SDK signs: exp = iat + 900, verified any time up to expiry (and a minute early).
        for now in [t - 60, t, t + 450, t + 900] {
            assert!(check_lifetime(Some(t), t + JWT_LIFETIME.as_secs(), now).is_ok(), "{now}");
        }
        let s = set(&[(DEFAULT_KID, RSA2048_PKCS8)]);
        let v = VerifyingKeys::from_jwks(s.jwks()).unwrap();
        assert!(v.verify(&s.user_jwt("s").unwrap()).is_ok());
        // Just over.
        assert!(check_lifetime(Some(t), t + max + 1, t).is_err());
        assert!(check_lifetime(None, t + max + 1, t).is_err());
        assert!(check_lifetime(Some(t - 3600), t + 600, t).is_err(), "by iat though close to now");
        assert!(check_lifetime(Some(t + 10), t + 5, t).is_ok(), "exp before iat is for exp checks to refuse");
        let e = check_lifetime(None, u64::MAX, t).unwrap_err();
        assert_eq!((e.code(), e.code().name()), (ErrorCode::JwtLifetimeTooLong, "jwtLifetimeTooLong"));
    }

    #[test]
    fn public_pem_and_jwks_errors() {
        let v = VerifyingKeys::from_public_pem(DEFAULT_KID, RSA2048_PUBLIC).unwrap();
        let s = set(&[(DEFAULT_KID, RSA2048_PKCS8)]);
        assert!(v.verify(&s.application_jwt().unwrap()).is_ok());
        assert_eq!(VerifyingKeys::from_public_pem("k", "nope").unwrap_err().code(), ErrorCode::JwksInvalid);
        assert_eq!(VerifyingKeys::from_jwks(&Jwks::default()).unwrap_err().code(), ErrorCode::JwksInvalid);
        let ec: Jwks = serde_json::from_value(json!({"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b"}]})).unwrap();
        assert_eq!(VerifyingKeys::from_jwks(&ec).unwrap_err().code(), ErrorCode::JwksInvalid);
    }
}
