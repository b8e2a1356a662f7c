//! Exponential backoff with full jitter, and a retry loop that only retries retryable errors.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::error::Classify;

/// Exponential backoff bounds: attempt `n` waits a random time in `[0, min(cap, base * 2^n)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wait bound for the first retry.
    pub base: Duration,
    /// Largest wait bound.
    pub cap: Duration,
}

impl Backoff {
    /// Backoff with the given bounds.
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap }
    }

    /// The upper bound for retry number `attempt` (0-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.checked_pow(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A full-jitter wait for retry number `attempt` (0-based).
    pub fn full_jitter(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis();
        let ceiling = u64::try_from(ceiling).unwrap_or(u64::MAX);
        Duration::from_millis(rng.random_range(0..=ceiling))
    }
}

/// Calls `op` up to `max_attempts` times, sleeping a full-jitter backoff between attempts,
/// and only while the error is retryable. Returns the last error otherwise.
pub async fn retry<T, E, F, Fut>(
    max_attempts: u32,
    backoff: Backoff,
    rng: &mut impl Rng,
    mut op: F,
) -> Result<T, E>
where
    E: Classify,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 0;
    loop {
        match op(attempt).await {
            Ok(v) => return Ok(v),
            Err(e) if e.class().is_retryable() && attempt + 1 < max_attempts => {
                tokio::time::sleep(backoff.full_jitter(attempt, rng)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn ceiling_doubles_then_caps() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let ceilings: Vec<_> = (0..7).map(|n| b.ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_within_bounds_and_spreads() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 0..12 {
            let waits: Vec<_> = (0..500).map(|_| b.full_jitter(attempt, &mut rng)).collect();
            let ceiling = b.ceiling(attempt);
            assert!(waits.iter().all(|w| *w <= ceiling));
            let below_half = waits.iter().filter(|w| **w < ceiling / 2).count();
            assert!((150..=350).contains(&below_half), "{attempt}: {below_half}");
        }
    }

    #[test]
    fn same_seed_same_waits() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        let a: Vec<_> = {
            let mut r = StdRng::seed_from_u64(1);
            (0..5).map(|n| b.full_jitter(n, &mut r)).collect()
        };
        let c: Vec<_> = {
            let mut r = StdRng::seed_from_u64(1);
            (0..5).map(|n| b.full_jitter(n, &mut r)).collect()
        };
        assert_eq!(a, c);
    }

    #[derive(Debug)]
    struct E(ErrorClass);
    impl Classify for E {
        fn class(&self) -> ErrorClass {
            self.0
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_until_success() {
        let mut rng = StdRng::seed_from_u64(3);
        let b = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
        let mut calls = 0;
        let out = retry(5, b, &mut rng, |n| {
            calls += 1;
            async move {
                if n < 2 {
                    Err(E(ErrorClass::Transient))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(out.unwrap(), 2);
        assert_eq!(calls, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let mut rng = StdRng::seed_from_u64(3);
        let b = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
        let mut calls = 0;
        let out: Result<(), E> = retry(5, b, &mut rng, |_| {
            calls += 1;
            async { Err(E(ErrorClass::Permanent)) }
        })
        .await;
        assert_eq!(out.unwrap_err().0, ErrorClass::Permanent);
        assert_eq!(calls, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts() {
        let mut rng = StdRng::seed_from_u64(3);
        let b = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
        let mut calls = 0;
        let out: Result<(), E> = retry(3, b, &mut rng, |_| {
            calls += 1;
            async { Err(E(ErrorClass::Transient)) }
        })
        .await;
        assert!(out.is_err());
        assert_eq!(calls, 3);
    }
}
