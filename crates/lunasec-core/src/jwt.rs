//! The claims of the JWTs the application backend signs (protocol §2).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, ErrorCode, Result};
use crate::protocol::{ACCESS_TOKEN_COOKIE, MAX_COOKIE_LEN, cookie_overhead};

/// `iss` of every SDK-signed JWT.
pub const ISSUER: &str = "node-sdk";
/// `aud` of every SDK-signed JWT.
pub const AUDIENCE: &str = "secure-frame";
/// `exp - iat`.
pub const JWT_LIFETIME: Duration = Duration::from_mins(15);
/// Longest session id we sign (a larger one is almost certainly a bug in the caller). A user JWT
/// must fit in a cookie ([`MAX_USER_JWT_LEN`]): with an id this long of printable ASCII other than
/// `"` and `\` (which JSON escapes) and no extra claims, it is at most about 3.1 KB with any key the
/// SDK accepts (RSA up to 8192 bits, a `kid` up to 128 characters). Longer encodings (escapes,
/// extra claims) are caught by the length check when the JWT is signed.
pub const MAX_SESSION_ID_LEN: usize = 1024;
/// Longest user JWT we sign: the tokenizer keeps it in the `__Host-access_token` cookie, whose
/// `Set-Cookie` line (name, JWT, attributes with a `Max-Age` of up to 5 digits) must fit in
/// [`MAX_COOKIE_LEN`], or the browser drops it.
pub const MAX_USER_JWT_LEN: usize = MAX_COOKIE_LEN - cookie_overhead(ACCESS_TOKEN_COOKIE, 5);

/// Claims a caller may not set through the extra-claims map: the signer owns them.
pub const RESERVED_CLAIMS: [&str; 8] = ["iss", "aud", "sub", "iat", "exp", "nbf", "jti", "session_id"];

/// Who a JWT speaks for.
#[derive(Clone, PartialEq, Eq)]
pub enum Subject {
    /// A user of the app, by the app's session id (`sub: "user"`, `session_id`).
    User { session_id: String },
    /// The app backend itself (`sub: "application"`).
    Application,
}

impl Subject {
    /// A user subject; the session id must be non-empty and at most [`MAX_SESSION_ID_LEN`] bytes.
    pub fn user(session_id: impl Into<String>) -> Result<Self> {
        let session_id = session_id.into();
        if session_id.is_empty() {
            return Err(Error::new(ErrorCode::JwtClaimsInvalid, "a user JWT needs a non-empty session_id"));
        }
        if session_id.len() > MAX_SESSION_ID_LEN {
            return Err(Error::new(
                ErrorCode::JwtClaimsInvalid,
                format!("session_id is longer than {MAX_SESSION_ID_LEN} bytes"),
            ));
        }
        Ok(Self::User { session_id })
    }

    /// The `sub` claim's value.
    #[must_use]
    pub fn as_sub(&self) -> &'static str {
        match self {
            Self::User { .. } => "user",
            Self::Application => "application",
        }
    }

    #[must_use]
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Self::User { session_id } => Some(session_id),
            Self::Application => None,
        }
    }
}

impl std::fmt::Debug for Subject {
    // Session ids are bearer-ish secrets: keep them out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User { .. } => f.write_str("User { session_id: <redacted> }"),
            Self::Application => f.write_str("Application"),
        }
    }
}

/// The JWT claims set, as serialized.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    pub iat: u64,
    pub exp: u64,
    /// Extra claims (the original's `payloadClaims` / `createAuthenticationJWT` claims).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Claims {
    /// Claims for `subject`, issued at `now` (seconds since the epoch). Reserved names in
    /// `extra` are dropped: `iss`, `aud`, `sub`, `iat`, `exp`, `session_id` are ours to set.
    #[must_use]
    pub fn new(subject: &Subject, now: u64, mut extra: Map<String, Value>) -> Self {
        for name in RESERVED_CLAIMS {
            extra.remove(name);
        }
        Self {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: subject.as_sub().to_owned(),
            session_id: subject.session_id().map(str::to_owned),
            iat: now,
            exp: now + JWT_LIFETIME.as_secs(),
            extra,
        }
    }
}

impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claims")
            .field("sub", &self.sub)
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch.
#[must_use]
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
