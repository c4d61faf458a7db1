//! The per-session limit on token creation: a signed-in user's JWT may call `/tokenize` at most
//! `per_minute` times a minute (a burst of that many, then one every `60 / per_minute` seconds),
//! so one session cannot fill the record store or the blob store. Application callers (the app's
//! backend, which holds the signing key) are not limited. Counted per tokenizer instance.
//!
//! GCRA from `governor`, keyed by the session hash; idle sessions are forgotten by
//! [`TokenizeLimiter::forget_idle`], which the sweep calls every minute, so memory follows the
//! number of sessions active in the last minute.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::crypto::Hash32;

/// Tokens a session may create per minute when not configured (`TOKENIZE_SESSION_RATE`).
pub const DEFAULT_PER_MINUTE: u32 = 600;

/// Per-session token-creation limiter (`None` inside [`TokenizeLimiter`]: no limit).
pub struct TokenizeLimiter {
    limiter: Option<DefaultKeyedRateLimiter<Hash32>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for TokenizeLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenizeLimiter").field("enabled", &self.limiter.is_some()).finish_non_exhaustive()
    }
}

impl TokenizeLimiter {
    /// `per_minute == 0` turns the limit off.
    #[must_use]
    pub fn new(per_minute: u32) -> Self {
        let clock = DefaultClock::default();
        let limiter = NonZeroU32::new(per_minute)
            .map(|n| governor::RateLimiter::dashmap_with_clock(Quota::per_minute(n), clock.clone()));
        Self { limiter, clock }
    }

    /// `Ok` if `session` may create a token now; else how long until it may (at least 1 s, for
    /// `Retry-After`).
    pub fn check(&self, session: &Hash32) -> Result<(), Duration> {
        let Some(l) = &self.limiter else { return Ok(()) };
        l.check_key(session).map_err(|not_until| not_until.wait_time_from(self.clock.now()).max(Duration::from_secs(1)))
    }

    /// Drops the state of sessions whose allowance is full again (nothing to remember).
    pub fn forget_idle(&self) {
        if let Some(l) = &self.limiter {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// Sessions currently remembered (for tests).
    #[must_use]
    pub fn remembered(&self) -> usize {
        self.limiter.as_ref().map_or(0, governor::RateLimiter::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_gets_its_burst_then_waits_others_are_unaffected() {
        let l = TokenizeLimiter::new(60);
        let (a, b) = ([1u8; 32], [2u8; 32]);
        for _ in 0..60 {
            assert!(l.check(&a).is_ok());
        }
        let wait = l.check(&a).unwrap_err();
        assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(2), "{wait:?}");
        assert!(l.check(&b).is_ok(), "another session has its own allowance");
        assert_eq!(l.remembered(), 2);
    }

    #[test]
    fn zero_means_no_limit() {
        let l = TokenizeLimiter::new(0);
        for _ in 0..10_000 {
            assert!(l.check(&[3u8; 32]).is_ok());
        }
        assert_eq!(l.remembered(), 0);
    }
}
