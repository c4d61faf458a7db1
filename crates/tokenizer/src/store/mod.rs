//! The record store: token records (wrapped data key + metadata), single-use session states and
//! grants, behind one async trait with two backends: [`embedded`] (redb, the default) and
//! [`dynamo`] (DynamoDB, for several tokenizers behind a load balancer).
//!
//! Nothing secret is stored in the clear: records are keyed by HMACs of the token / state / session
//! id ([`crate::crypto::Secrets`]), and data keys are wrapped. Expiry is always checked by the
//! caller against the returned expiry; TTL attributes and sweeps are only cleanup.

pub mod dynamo;
pub mod embedded;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use lunasec_core::protocol::{GrantType, Metadata};

use crate::crypto::Hash32;

/// A token's record.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    /// The data key, wrapped under a key derived from the secret and the token (v2), or under the
    /// secret-only v1 key for records written before v2 (see [`crate::crypto`]).
    pub wrapped_key: Vec<u8>,
    pub metadata: Metadata,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: u64,
}

/// Names one grant: session (hash) × token (record key) × type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantKey {
    pub session: Hash32,
    pub token: Hash32,
    pub kind: GrantKind,
}

/// [`GrantType`] with an order and a one-byte code, for storage keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantKind {
    StoreToken,
    ReadToken,
    TokenFullAccess,
}

impl GrantKind {
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::StoreToken => 1,
            Self::ReadToken => 2,
            Self::TokenFullAccess => 3,
        }
    }

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StoreToken => "store_token",
            Self::ReadToken => "read_token",
            Self::TokenFullAccess => "token_full_access",
        }
    }
}

impl From<GrantType> for GrantKind {
    fn from(t: GrantType) -> Self {
        match t {
            GrantType::StoreToken => Self::StoreToken,
            GrantType::ReadToken => Self::ReadToken,
            GrantType::TokenFullAccess => Self::TokenFullAccess,
        }
    }
}

/// Outcome of recording a session `state`'s consumption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateConsume {
    /// First use: its consumption is now recorded.
    Consumed,
    /// Already used once: a replay.
    AlreadyUsed,
}

/// A storage failure. Both kinds are worth retrying; `Unavailable` is the transient kind
/// (unreachable, timed out, throttled).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("record store unavailable: {0}")]
    Unavailable(String),
    #[error("record store failed: {0}")]
    Failed(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The record store. All methods are atomic on their own; `put_token` writes the record and its
/// grants together (all or nothing).
pub trait RecordStore: Send + Sync + 'static {
    /// Creates a token record (refused as `Failed` if the key exists) together with `grants`.
    fn put_token(
        &self,
        key: Hash32,
        record: TokenRecord,
        grants: Vec<GrantKey>,
        grant_expires_ms: u64,
    ) -> BoxFuture<'_, StoreResult<()>>;

    fn get_token(&self, key: Hash32) -> BoxFuture<'_, StoreResult<Option<TokenRecord>>>;

    /// Deletes a token's record (a token whose upload never completed); `false` when there was
    /// none. Its grants are left to expire.
    fn delete_token(&self, key: Hash32) -> BoxFuture<'_, StoreResult<bool>>;

    /// Replaces a token's metadata; `false` when there is no such token.
    fn set_metadata(&self, key: Hash32, metadata: Metadata) -> BoxFuture<'_, StoreResult<bool>>;

    /// Records that the session state named `key` (valid until `expires_ms`) has been used: a
    /// conditional insert, so of several concurrent or repeated calls exactly one sees
    /// [`StateConsume::Consumed`]. Issuing a state stores nothing (it is authenticated by its MAC,
    /// checked by the caller); only its consumption is kept, until its expiry.
    fn consume_state(&self, key: Hash32, expires_ms: u64) -> BoxFuture<'_, StoreResult<StateConsume>>;

    /// Creates or replaces grants, all expiring at `expires_ms`.
    fn set_grants(&self, grants: Vec<GrantKey>, expires_ms: u64) -> BoxFuture<'_, StoreResult<()>>;

    /// The stored expiry of each grant (`None` when absent), in the order asked. May include
    /// expired grants: the caller compares with the clock.
    fn grant_expiries(&self, grants: Vec<GrantKey>) -> BoxFuture<'_, StoreResult<Vec<Option<u64>>>>;

    /// Deletes a bounded batch of expired grants and used states; returns how many. The caller
    /// repeats while a batch comes back full ([`PURGE_BATCH`]). A no-op where TTL does it.
    fn purge_expired(&self, now_ms: u64) -> BoxFuture<'_, StoreResult<u64>>;

    /// Whether the store was reachable at its last check (`/ready`). The embedded store always is.
    fn ready(&self) -> bool {
        true
    }

    /// Whether the store's last check *failed* (known to be down; not merely unchecked yet).
    /// `/session/ensure` then answers 503 rather than start a session that cannot be created.
    fn known_down(&self) -> bool {
        false
    }
}

/// Most entries one [`RecordStore::purge_expired`] call deletes (keeps a transaction small).
pub const PURGE_BATCH: usize = 10_000;

/// Milliseconds since the epoch.
#[must_use]
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `now_ms + d`, saturating.
#[must_use]
pub fn after_ms(now_ms: u64, d: Duration) -> u64 {
    now_ms.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
