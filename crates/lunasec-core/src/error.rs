//! Typed errors with stable machine codes, and the SDK's one error table.
//!
//! [`error_table!`] below is the only place where an error code is defined: its `ERR_…` string
//! (`LunaSecError.errorCode` in JS), the original SDK's error `name`, the original's HTTP-like
//! `code` string and the HTTP `status` the SDK reports. The JS table (`lib/error-codes.js`), the
//! `LunaSecErrorCode` union in `lib/index.d.ts` and the README's table are generated from it by
//! `node scripts/error-table.js` (a jest test fails when they drift). Never rename a code; only add.

use std::fmt;

/// Defines [`ErrorCode`] and its table from one list of rows:
/// `/// doc` then `Variant = ("ERR_…", "name", "http-like code", status),`.
macro_rules! error_table {
    ($( $(#[doc = $doc:literal])+ $variant:ident = ($code:literal, $name:literal, $http:literal, $status:literal), )+) => {
        /// Stable, documented error codes (the SDK's error table).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant),+];

            /// The stable string form (`ERR_…`).
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $code,)+ }
            }

            /// The original SDK's error name (`badToken`, `invalidGrant`, …): `LunaSecError.name`.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self { $(Self::$variant => $name,)+ }
            }

            /// The original SDK's HTTP-like code string: `LunaSecError.code`.
            #[must_use]
            pub const fn http_code(self) -> &'static str {
                match self { $(Self::$variant => $http,)+ }
            }

            /// The HTTP status the SDK reports: `LunaSecError.statusCode`.
            #[must_use]
            pub const fn status(self) -> u16 {
                match self { $(Self::$variant => $status,)+ }
            }
        }
    };
}

error_table! {
    /// The SDK configuration is invalid (every problem is listed, with how to fix it).
    ConfigInvalid = ("ERR_CONFIG_INVALID", "configInvalid", "500", 500),
    /// A signing key source (environment variable, secret) is not set or empty.
    SigningKeyMissing = ("ERR_SIGNING_KEY_MISSING", "signingKeyMissing", "500", 500),
    /// The signing key is not a usable RSA private key (bad base64, bad PEM, wrong type, encrypted…).
    SigningKeyInvalid = ("ERR_SIGNING_KEY_INVALID", "signingKeyInvalid", "500", 500),
    /// RSA key under 2048 bits (or over 8192).
    SigningKeyTooSmall = ("ERR_SIGNING_KEY_TOO_SMALL", "signingKeyTooSmall", "500", 500),
    /// A key set is empty or has two keys with the same `kid`.
    KeySetInvalid = ("ERR_KEY_SET_INVALID", "keySetInvalid", "500", 500),
    /// Fetching the signing key from AWS Secrets Manager failed.
    SecretFetchFailed = ("ERR_SECRET_FETCH_FAILED", "secretFetchFailed", "502", 502),
    /// `@aws-sdk/client-secrets-manager` is needed for the `awsSecretsManager` provider and is not installed.
    AwsSdkMissing = ("ERR_AWS_SDK_MISSING", "awsSdkMissing", "500", 500),
    /// The claims given for a JWT are not acceptable (e.g. a user JWT without `session_id`, a session id over 1024 bytes, or a user JWT too long for the tokenizer's session cookie).
    JwtClaimsInvalid = ("ERR_JWT_CLAIMS_INVALID", "jwtClaimsInvalid", "500", 500),
    /// Signing failed inside the crypto library (should not happen with a valid key).
    JwtSignFailed = ("ERR_JWT_SIGN_FAILED", "jwtSignFailed", "500", 500),
    /// A JWT did not verify (signature, algorithm, format).
    JwtInvalid = ("ERR_JWT_INVALID", "jwtInvalid", "401", 401),
    /// A JWT names a `kid` the verifier does not know (the verifier may refetch its JWKS).
    JwtUnknownKid = ("ERR_JWT_UNKNOWN_KID", "jwtUnknownKid", "401", 401),
    /// A JWT verified but has expired.
    JwtExpired = ("ERR_JWT_EXPIRED", "jwtExpired", "401", 401),
    /// A JWT verified but its `iss`, `aud` or `sub` is not the expected one.
    JwtClaimMismatch = ("ERR_JWT_CLAIM_MISMATCH", "jwtClaimMismatch", "401", 401),
    /// A JWT verified but lives longer than the SDK ever issues (`exp` over 16 minutes past `iat` or past now).
    JwtLifetimeTooLong = ("ERR_JWT_LIFETIME_TOO_LONG", "jwtLifetimeTooLong", "401", 401),
    /// A JWKS document could not be used.
    JwksInvalid = ("ERR_JWKS_INVALID", "jwksInvalid", "500", 500),
    /// A value that should be a `LunaSec` token is not one.
    BadToken = ("ERR_BAD_TOKEN", "badToken", "400", 400),
    /// A Go-style duration string could not be parsed.
    DurationInvalid = ("ERR_DURATION_INVALID", "badDuration", "400", 400),
    /// `auth.sessionIdProvider` threw.
    SessionIdProviderFailed = ("ERR_SESSION_ID_PROVIDER_FAILED", "sessionIdProviderFailed", "500", 500),
    /// A session id is empty or not a string, or the request has no session.
    SessionIdInvalid = ("ERR_SESSION_ID_INVALID", "sessionError", "401", 401),
    /// S3 presigner configuration is invalid (bucket, region, endpoint, credentials).
    S3ConfigInvalid = ("ERR_S3_CONFIG_INVALID", "s3ConfigInvalid", "500", 500),
    /// SigV4 presigning failed.
    PresignFailed = ("ERR_PRESIGN_FAILED", "presignFailed", "500", 500),
    /// The tokenizer could not be reached (connection refused, DNS, TLS…).
    TokenizerUnreachable = ("ERR_TOKENIZER_UNREACHABLE", "tokenizerUnreachable", "503", 503),
    /// A tokenizer request timed out.
    TokenizerTimeout = ("ERR_TOKENIZER_TIMEOUT", "tokenizerTimeout", "504", 504),
    /// The tokenizer refused the request's JWT (its 401): the app's key is not in the JWKS it trusts.
    TokenizerUnauthorized = ("ERR_TOKENIZER_UNAUTHORIZED", "tokenizerUnauthorized", "502", 502),
    /// The tokenizer refused the request as malformed (400).
    TokenizerBadRequest = ("ERR_TOKENIZER_BAD_REQUEST", "tokenizerBadRequest", "400", 400),
    /// The tokenizer failed or answered something unexpected (5xx, bad envelope).
    TokenizerError = ("ERR_TOKENIZER_ERROR", "tokenizerError", "502", 502),
    /// No valid grant for this session and token (403, or a verify that came back false).
    InvalidGrant = ("ERR_INVALID_GRANT", "invalidGrant", "401", 401),
    /// The tokenizer does not know the token (404).
    TokenNotFound = ("ERR_TOKEN_NOT_FOUND", "tokenNotFound", "404", 404),
    /// Uploading or downloading a value through its presigned URL failed.
    StorageTransferFailed = ("ERR_STORAGE_TRANSFER_FAILED", "storageTransferFailed", "502", 502),
    /// The tokenizer refused to create a grant (e.g. a duration over its maximum). `code` is `'500'`, as in the original SDK.
    GrantCreationFailed = ("ERR_GRANT_CREATION_FAILED", "grantCreationFailure", "500", 400),
    /// `auth.sessionIdProvider` (or the simple tokenizer's `sessionIdProvider`) did not answer within its time-out.
    SessionIdProviderTimeout = ("ERR_SESSION_ID_PROVIDER_TIMEOUT", "sessionIdProviderTimeout", "504", 504),
    /// The simple tokenizer's `authorize(req, tokenId)` hook threw.
    AuthorizeFailed = ("ERR_AUTHORIZE_FAILED", "authorizeFailed", "500", 500),
    /// The simple tokenizer's `authorize(req, tokenId)` hook did not answer within its time-out.
    AuthorizeTimeout = ("ERR_AUTHORIZE_TIMEOUT", "authorizeTimeout", "504", 504),
    /// A value is larger than the simple tokenizer accepts (`maxSize`).
    ValueTooLarge = ("ERR_VALUE_TOO_LARGE", "valueTooLarge", "413", 413),
    /// Any other failure (e.g. a wrong argument type caught by the native binding).
    Other = ("ERR_LUNASEC", "lunaSecError", "500", 500),
}

impl AsRef<str> for ErrorCode {
    /// The `ERR_…` string: napi-rs uses it as the JS error's `code` property.
    fn as_ref(&self) -> &str {
        self.as_str()
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::ErrorCode;

    #[test]
    fn the_table_is_consistent() {
        let mut codes = HashSet::new();
        for &c in ErrorCode::ALL {
            assert!(codes.insert(c.as_str()), "{c} is listed twice");
            assert!(c.as_str().starts_with("ERR_"), "{c}");
            assert!((400..=599).contains(&c.status()), "{c}");
            assert_eq!(c.http_code().len(), 3, "{c}");
            assert!(c.http_code().parse::<u16>().is_ok(), "{c}");
            assert!(!c.name().is_empty() && c.name().chars().all(|ch| ch.is_ascii_alphanumeric()), "{c}");
            assert_eq!(c.as_ref(), c.as_str());
        }
    }
}
