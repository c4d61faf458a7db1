//! Where ciphertext lives: presigned URLs for S3 with SSE-C ([`s3`]) or for the tokenizer's own
//! blob store ([`blob`]). Either way the client gets a URL and the three SSE-C headers, and the
//! plaintext never passes through the tokenizer's request handlers (blob mode stores what the
//! client sends, encrypted under the client-supplied SSE-C key, exactly like S3).

pub mod blob;
pub mod s3;

use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::crypto::DataKey;

/// Lifetime of every presigned URL.
pub const PRESIGN_TTL: Duration = lunasec_core::presign::DEFAULT_EXPIRES;

/// What a presigned URL lets the client do, and the URL with the headers the client must send:
/// the core's types, shared with the simple tokenizer (the `Debug` of [`Presigned`] is redacted:
/// the URL and the SSE-C key are secrets).
pub use lunasec_core::presign::{Method, Presigned};

/// A ciphertext store failure (`Unavailable` is transient).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CiphertextError {
    #[error("ciphertext store unavailable: {0}")]
    Unavailable(String),
    #[error("ciphertext store failed: {0}")]
    Failed(String),
}

/// Presigns object URLs.
pub trait CiphertextStore: Send + Sync + 'static {
    fn presign<'a>(
        &'a self,
        method: Method,
        object_key: &'a str,
        key: &'a DataKey,
    ) -> BoxFuture<'a, Result<Presigned, CiphertextError>>;

    /// A short name for logs (`s3` or `embedded`).
    fn kind(&self) -> &'static str;

    /// Whether the store was reachable at its last check (`/ready`). The embedded blob store always is.
    fn ready(&self) -> bool {
        true
    }

    /// The origin (`scheme://host[:port]`) that presigned URLs point to, for the secure frame's
    /// CSP `connect-src`; `None` when it cannot be told (the frame then allows `'self'` only).
    fn browser_origin(&self) -> BoxFuture<'_, Option<String>>;
}

/// `scheme://host[:port]` of a URL.
#[must_use]
pub fn origin_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    let o = u.origin();
    o.is_tuple().then(|| o.ascii_serialization())
}
