//! The rate-limit chain: Redis under a short timeout and a circuit breaker, then the DynamoDB
//! counter, and only if both fail an error (which the handler answers with `503`). Attempts
//! are never let through unthrottled. Degraded mode is logged and counted.

use std::sync::Arc;

use async_trait::async_trait;
use shared::breaker::CircuitBreaker;
use shared::error::Classify;
use shared::metrics::{Metric, Metrics};
use shared::ratelimit::{Decision, RateCheck, RateLimiter, StoreError};
use shared::timeout::{Budget, within};

/// Primary limiter with a breaker and a timeout, falling back to a second store.
#[derive(Debug)]
pub struct FallbackRateLimiter {
    primary: Arc<dyn RateLimiter>,
    fallback: Arc<dyn RateLimiter>,
    breaker: CircuitBreaker,
    budget: Budget,
    metrics: Metrics,
}

impl FallbackRateLimiter {
    /// `primary` (Redis) cut at `budget` and guarded by `breaker`, then `fallback` (DynamoDB).
    pub fn new(
        primary: Arc<dyn RateLimiter>,
        fallback: Arc<dyn RateLimiter>,
        breaker: CircuitBreaker,
        budget: Budget,
        metrics: Metrics,
    ) -> Self {
        Self {
            primary,
            fallback,
            breaker,
            budget,
            metrics,
        }
    }

    /// Whether the breaker currently skips the primary store.
    pub fn is_degraded(&self) -> bool {
        self.breaker.is_open()
    }

    /// Runs `checks` on the primary store, recording the outcome in the breaker.
    async fn try_primary(&self, checks: &[RateCheck]) -> Result<Vec<Decision>, String> {
        if !self.breaker.allow() {
            return Err("circuit open".to_owned());
        }
        let outcome = match within(self.budget, self.primary.check(checks)).await {
            Ok(Ok(decisions)) if decisions.len() == checks.len() => Ok(decisions),
            Ok(Ok(_)) => Err("short answer".to_owned()),
            Ok(Err(e)) => Err(e.class().as_str().to_owned()),
            Err(timeout) => Err(timeout.to_string()),
        };
        match &outcome {
            Ok(_) => self.breaker.record_success(),
            Err(_) => self.breaker.record_failure(),
        }
        outcome
    }
}

#[async_trait]
impl RateLimiter for FallbackRateLimiter {
    async fn check(&self, checks: &[RateCheck]) -> Result<Vec<Decision>, StoreError> {
        let reason = match self.try_primary(checks).await {
            Ok(decisions) => return Ok(decisions),
            Err(reason) => reason,
        };
        tracing::warn!(reason = %reason, "rate limiter degraded: primary store unavailable, using fallback");
        self.metrics.incr(Metric::RateLimiterDegraded);
        match self.fallback.check(checks).await {
            Ok(decisions) if decisions.len() == checks.len() => Ok(decisions),
            Ok(_) => {
                self.metrics.incr(Metric::RateLimiterUnavailable);
                Err(StoreError::Corrupt("fallback gave a short answer".into()))
            }
            Err(e) => {
                tracing::error!(class = e.class().as_str(), error = %e, "rate limiter unavailable: both stores failed");
                self.metrics.incr(Metric::RateLimiterUnavailable);
                Err(e)
            }
        }
    }

    /// Clears the counter in both stores at once (it may live in either); fails if neither
    /// cleared it.
    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        let primary = async {
            if !self.breaker.allow() {
                return false;
            }
            match within(self.budget, self.primary.reset(key)).await {
                Ok(Ok(())) => {
                    self.breaker.record_success();
                    true
                }
                _ => {
                    self.breaker.record_failure();
                    false
                }
            }
        };
        let (primary, fallback) = tokio::join!(primary, self.fallback.reset(key));
        match fallback {
            Ok(()) => Ok(()),
            Err(_) if primary => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Opens the primary store's connection at cold start (a peek on a fixed key), so the first
/// sign-in does not spend its short budget on the handshake. Failure is only logged: the
/// chain falls back by itself.
pub async fn warm_up(primary: &dyn RateLimiter) {
    let probe = RateCheck {
        key: "rl:{warm-up}".to_owned(),
        rule: shared::ratelimit::RateRule {
            limit: 1,
            window: std::time::Duration::from_secs(1),
        },
        mode: shared::ratelimit::CheckMode::Peek,
    };
    if let Err(e) = primary.check(&[probe]).await {
        tracing::warn!(
            class = e.class().as_str(),
            "rate limiter warm-up failed; will fall back if it stays down"
        );
    }
}
