//! In-memory fixed-window counters.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{CheckMode, Decision, RateCheck, RateLimiter, StoreError};
use crate::clock::SharedClock;
use crate::deadline::to_delta;

/// Counters in a map; windows read an injectable clock.
#[derive(Debug)]
pub struct MemoryRateLimiter {
    counters: Mutex<HashMap<String, (u32, DateTime<Utc>)>>,
    clock: SharedClock,
}

impl MemoryRateLimiter {
    /// Empty counters reading `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            counters: Mutex::new(HashMap::new()),
            clock,
        }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(&self, checks: &[RateCheck]) -> Result<Vec<Decision>, StoreError> {
        let now = self.clock.now();
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        Ok(checks
            .iter()
            .map(|c| {
                let live = counters
                    .get(&c.key)
                    .copied()
                    .filter(|(_, until)| *until > now);
                let (count, until) = match (c.mode, live) {
                    (CheckMode::Count, Some((n, until))) => (n.saturating_add(1), until),
                    (CheckMode::Count, None) => (1, now + to_delta(c.rule.window)),
                    (CheckMode::Peek, Some(entry)) => entry,
                    (CheckMode::Peek, None) => (0, now),
                };
                if count > 0 {
                    counters.insert(c.key.clone(), (count, until));
                }
                let ttl = (until - now).to_std().unwrap_or_default();
                Decision::from_count(c.mode, c.rule, count, ttl)
            })
            .collect())
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        Ok(())
    }
}
