//! `LunaSec` protocol core, shared by the Node binding and the Dedicated Tokenizer.
//!
//! Pure Rust, no napi: token format, Go-style durations, RS256 JWT signing ([`keys`]) and
//! verification ([`verify`]), JWKS types ([`jwks`]) and the tokenizer's wire types ([`protocol`]).
//! Expected failures are returned as typed [`Error`] values with a stable [`ErrorCode`];
//! no error message ever contains a token, a JWT, key material or a session id.

pub mod backoff;
#[cfg(feature = "client")]
pub mod client;
pub mod duration;
pub mod error;
pub mod jwks;
pub mod jwt;
pub mod keys;
pub mod presign;
pub mod protocol;
pub mod token;
pub mod verify;

pub use duration::parse_go_duration;
pub use error::{Error, ErrorCode};
pub use jwks::{Jwk, Jwks};
pub use jwt::{AUDIENCE, Claims, ISSUER, JWT_LIFETIME, Subject};
pub use keys::{DEFAULT_KID, KeySet, SigningKey};
pub use token::{Token, is_token};
pub use verify::{VerifiedClaims, VerifyingKeys};
