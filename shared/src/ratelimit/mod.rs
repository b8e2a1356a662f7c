//! The rate limiter port: fixed-window counters decided atomically by the store.

mod memory;
mod redis;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

pub use self::memory::MemoryRateLimiter;
pub use self::redis::RedisRateLimiter;
pub use crate::store_error::StoreError;

/// A limit: at most `limit` counted events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateRule {
    /// Events allowed per window.
    pub limit: u32,
    /// Window length; it starts at the first counted event.
    pub window: Duration,
}

/// Whether a check counts an event or only reads the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckMode {
    /// Count this event, then decide (allowed while the count is within the limit).
    Count,
    /// Read only (allowed while the count is below the limit); e.g. failures so far.
    Peek,
}

/// One counter to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCheck {
    /// Counter key (already namespaced, e.g. `rl:{ip:203.0.113.0}`).
    pub key: String,
    /// Its rule.
    pub rule: RateRule,
    /// Count or peek.
    pub mode: CheckMode,
}

/// The decision for one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the event may proceed.
    pub allowed: bool,
    /// The counter after this check.
    pub count: u32,
    /// The rule's limit.
    pub limit: u32,
    /// Events left in this window.
    pub remaining: u32,
    /// True time until the window resets (from the store's own expiry).
    pub reset_after: Duration,
}

impl Decision {
    /// Decides from a counter value and its remaining time to live.
    pub fn from_count(mode: CheckMode, rule: RateRule, count: u32, ttl: Duration) -> Self {
        let allowed = match mode {
            CheckMode::Count => count <= rule.limit,
            CheckMode::Peek => count < rule.limit,
        };
        Self {
            allowed,
            count,
            limit: rule.limit,
            remaining: rule.limit.saturating_sub(count),
            reset_after: if count == 0 { rule.window } else { ttl },
        }
    }
}

/// The rate limiter port.
#[async_trait]
pub trait RateLimiter: Send + Sync + fmt::Debug {
    /// Evaluates every check atomically per counter, all in one round trip.
    async fn check(&self, checks: &[RateCheck]) -> Result<Vec<Decision>, StoreError>;

    /// Deletes a counter (e.g. an account's failures after a successful sign-in).
    async fn reset(&self, key: &str) -> Result<(), StoreError>;
}

#[async_trait]
impl<T: RateLimiter + ?Sized> RateLimiter for std::sync::Arc<T> {
    async fn check(&self, checks: &[RateCheck]) -> Result<Vec<Decision>, StoreError> {
        (**self).check(checks).await
    }
    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        (**self).reset(key).await
    }
}
