//! Exponential backoff with full jitter: the one helper behind every retry loop of the project
//! (the SDK's tokenizer client, the tokenizer's JWKS fetch, its DynamoDB and S3 checks, DynamoDB
//! batch retries).
//!
//! ```
//! use std::time::Duration;
//! use lunasec_core::backoff::Backoff;
//!
//! let mut b = Backoff::new(Duration::from_millis(250), Duration::from_secs(15));
//! let first = b.next_delay(); // somewhere in 0..=250 ms
//! let second = b.next_delay(); // somewhere in 0..=500 ms
//! assert!(first <= Duration::from_millis(250) && second <= Duration::from_millis(500));
//! b.reset(); // after a success: back to 250 ms
//! ```

use std::time::Duration;

/// Delays that grow by `factor` from `start` up to `max`. Each delay handed out is drawn uniformly
/// from `0..=d`, where `d` is the nominal delay ("full jitter": retries of many clients that
/// failed together spread out instead of arriving in waves); [`Backoff::without_jitter`] hands out
/// `d` itself.
#[derive(Debug, Clone)]
pub struct Backoff {
    start: Duration,
    max: Duration,
    factor: u32,
    jitter: bool,
    next: Duration,
}

impl Backoff {
    /// Doubling from `start` up to `max` (a `start` above `max` is lowered to it), with full jitter.
    #[must_use]
    pub const fn new(start: Duration, max: Duration) -> Self {
        let start = if start.as_nanos() > max.as_nanos() { max } else { start };
        Self { start, max, factor: 2, jitter: true, next: start }
    }

    /// Grows by `factor` (at least 1) instead of 2.
    #[must_use]
    pub const fn factor(mut self, factor: u32) -> Self {
        self.factor = if factor == 0 { 1 } else { factor };
        self
    }

    /// Hands out the nominal delays themselves.
    #[must_use]
    pub const fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The delay to wait before the next attempt; the one after it is `factor` times longer (up
    /// to `max`).
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self.next;
        self.next = nominal.saturating_mul(self.factor).min(self.max);
        if self.jitter { full_jitter(nominal) } else { nominal }
    }

    /// Back to `start` (after a success).
    pub fn reset(&mut self) {
        self.next = self.start;
    }
}

/// Uniform in `0..=d` (nanosecond resolution), from the system CSPRNG that aws-lc-rs already
/// provides; `d` itself if it fails (it does not in practice).
fn full_jitter(d: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return d;
    }
    let nanos = u128::from(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    // (r * (n + 1)) >> 64 maps a uniform 64-bit r onto 0..=n without a modulo bias worth the name.
    let scaled = (u128::from(u64::from_le_bytes(bytes)) * (nanos + 1)) >> 64;
    Duration::from_nanos(u64::try_from(scaled).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn nominal_delays_grow_cap_and_reset() {
        let mut b = Backoff::new(250 * MS, 15_000 * MS).without_jitter();
        let got: Vec<u128> = (0..9).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(got, [250, 500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]);
        b.reset();
        assert_eq!(b.next_delay(), 250 * MS);

        let mut b = Backoff::new(50 * MS, 800 * MS).factor(4).without_jitter();
        let got: Vec<u128> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(got, [50, 200, 800, 800]);

        let mut b = Backoff::new(10 * MS, 5 * MS).factor(0).without_jitter();
        assert_eq!((b.next_delay(), b.next_delay()), (5 * MS, 5 * MS));
    }

    #[test]
    fn full_jitter_stays_within_the_nominal_delay_and_spreads() {
        let mut b = Backoff::new(100 * MS, 100 * MS);
        let delays: Vec<Duration> = (0..200).map(|_| b.next_delay()).collect();
        assert!(delays.iter().all(|d| *d <= 100 * MS));
        let low = delays.iter().filter(|d| **d < 50 * MS).count();
        assert!((40..=160).contains(&low), "{low} of 200 in the lower half");
        assert_eq!(full_jitter(Duration::ZERO), Duration::ZERO);
        assert!(full_jitter(Duration::MAX) <= Duration::MAX);
    }
}
