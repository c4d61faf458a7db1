//! `JwtVerifier`: RS256 verification of SDK JWTs against a JWKS (what the tokenizer does).

use napi_derive::napi;

use crate::error::{IntoNapi, Result};

/// What a verified JWT says.
#[napi(object)]
pub struct VerifiedJwt {
    /// `'user'` or `'application'`.
    pub sub: String,
    /// The user's session id (user JWTs only).
    pub session_id: Option<String>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// The key id that verified it.
    pub kid: String,
}

/// Verifies SDK-signed JWTs: RS256 only, `exp` (30 s leeway), `iss: node-sdk`, `aud: secure-frame`,
/// `sub` user/application, a lifetime of at most 16 minutes. Keys are parsed once, at construction.
#[napi]
pub struct JwtVerifier {
    keys: lunasec_core::VerifyingKeys,
}

#[napi]
impl JwtVerifier {
    /// Builds a verifier from a JWKS document (JSON text, `{"keys":[…]}`).
    #[napi(constructor)]
    pub fn new(jwks_json: String) -> Result<Self> {
        let jwks: lunasec_core::Jwks = serde_json::from_str(&jwks_json).map_err(|_| {
            crate::error::to_napi(&lunasec_core::Error::new(
                lunasec_core::ErrorCode::JwksInvalid,
                "JWKS is not valid JSON",
            ))
        })?;
        Ok(Self { keys: lunasec_core::VerifyingKeys::from_jwks(&jwks).napi()? })
    }

    /// Verifies a compact JWT; throws `ERR_JWT_*` on failure.
    #[napi]
    pub fn verify_sync(&self, jwt: String) -> Result<VerifiedJwt> {
        let v = self.keys.verify(&jwt).napi()?;
        Ok(VerifiedJwt {
            sub: v.subject.as_sub().to_owned(),
            session_id: v.subject.session_id().map(str::to_owned),
            exp: i64::try_from(v.exp).unwrap_or(i64::MAX),
            kid: v.kid,
        })
    }
}
