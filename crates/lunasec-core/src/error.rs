//! Typed errors with stable machine codes.
//!
//! The [`ErrorCode`] strings are part of the public contract (they surface in JS as
//! `LunaSecError.errorCode`); never rename one, only add.

use std::fmt;

/// Stable, documented error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A signing key source (environment variable, secret) is not set or empty.
    SigningKeyMissing,
    /// The signing key is not a usable RSA private key (bad base64, bad PEM, wrong type, encrypted…).
    SigningKeyInvalid,
    /// RSA key under 2048 bits (or over 8192).
    SigningKeyTooSmall,
    /// A key set is empty or has two keys with the same `kid`.
    KeySetInvalid,
    /// The claims given for a JWT are not acceptable (e.g. a user JWT without `session_id`).
    JwtClaimsInvalid,
    /// Signing failed inside the crypto library (should not happen with a valid key).
    JwtSignFailed,
    /// A JWT did not verify (signature, algorithm, format, unknown kid).
    JwtInvalid,
    /// A JWT names a `kid` the verifier does not know (the verifier may refetch its JWKS).
    JwtUnknownKid,
    /// A JWT verified but has expired.
    JwtExpired,
    /// A JWT verified but its `iss`, `aud` or `sub` is not the expected one.
    JwtClaimMismatch,
    /// A value that should be a `LunaSec` token is not one.
    BadToken,
    /// A Go-style duration string could not be parsed.
    DurationInvalid,
    /// A JWKS document could not be used.
    JwksInvalid,
    /// S3 presigner configuration is invalid (bucket, region, endpoint, credentials).
    S3ConfigInvalid,
    /// SigV4 presigning failed.
    PresignFailed,
    /// The tokenizer could not be reached (connection refused, DNS, TLS…).
    TokenizerUnreachable,
    /// A tokenizer request timed out.
    TokenizerTimeout,
    /// The tokenizer refused the request's JWT (401).
    TokenizerUnauthorized,
    /// The tokenizer refused the request as malformed (400).
    TokenizerBadRequest,
    /// The tokenizer failed or answered something unexpected (5xx, bad envelope).
    TokenizerError,
    /// No valid grant for this session and token (403, or a verify that came back false).
    InvalidGrant,
    /// The tokenizer does not know the token (404).
    TokenNotFound,
    /// Uploading or downloading a value through its presigned URL failed.
    StorageTransferFailed,
    /// A session id is empty or not a string.
    SessionIdInvalid,
}

impl ErrorCode {
    /// The stable string form (`ERR_…`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SigningKeyMissing => "ERR_SIGNING_KEY_MISSING",
            Self::SigningKeyInvalid => "ERR_SIGNING_KEY_INVALID",
            Self::SigningKeyTooSmall => "ERR_SIGNING_KEY_TOO_SMALL",
            Self::KeySetInvalid => "ERR_KEY_SET_INVALID",
            Self::JwtClaimsInvalid => "ERR_JWT_CLAIMS_INVALID",
            Self::JwtSignFailed => "ERR_JWT_SIGN_FAILED",
            Self::JwtInvalid => "ERR_JWT_INVALID",
            Self::JwtUnknownKid => "ERR_JWT_UNKNOWN_KID",
            Self::JwtExpired => "ERR_JWT_EXPIRED",
            Self::JwtClaimMismatch => "ERR_JWT_CLAIM_MISMATCH",
            Self::BadToken => "ERR_BAD_TOKEN",
            Self::DurationInvalid => "ERR_DURATION_INVALID",
            Self::JwksInvalid => "ERR_JWKS_INVALID",
            Self::S3ConfigInvalid => "ERR_S3_CONFIG_INVALID",
            Self::PresignFailed => "ERR_PRESIGN_FAILED",
            Self::TokenizerUnreachable => "ERR_TOKENIZER_UNREACHABLE",
            Self::TokenizerTimeout => "ERR_TOKENIZER_TIMEOUT",
            Self::TokenizerUnauthorized => "ERR_TOKENIZER_UNAUTHORIZED",
            Self::TokenizerBadRequest => "ERR_TOKENIZER_BAD_REQUEST",
            Self::TokenizerError => "ERR_TOKENIZER_ERROR",
            Self::InvalidGrant => "ERR_INVALID_GRANT",
            Self::TokenNotFound => "ERR_TOKEN_NOT_FOUND",
            Self::StorageTransferFailed => "ERR_STORAGE_TRANSFER_FAILED",
            Self::SessionIdInvalid => "ERR_SESSION_ID_INVALID",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from the core. The message is safe to show and to log: callers build it from
/// static text and names (variable names, kids, limits), never from secret values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    code: ErrorCode,
    message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    #[must_use]
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
