//! Rate limiter on Redis: one Lua script per counter, all checks pipelined in one round trip.
//!
//! The script counts and sets the expiry atomically (no `INCR` then `EXPIRE` gap), and gives
//! back a TTL to a key that lost it, so no client can be locked out forever. Each script
//! touches one key only, so it works on clustered Redis too.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::{CheckMode, Decision, RateCheck, RateLimiter, StoreError};
use crate::error::ErrorClass;
use crate::timeout::{Budget, within};

const DEP: &str = "redis";

/// KEYS[1]: counter. ARGV[1]: window in ms. ARGV[2]: "1" to count, "0" to peek.
/// Returns {count, ttl_ms}.
pub const SCRIPT: &str = r"
local count
if ARGV[2] == '1' then
  count = redis.call('INCR', KEYS[1])
else
  count = tonumber(redis.call('GET', KEYS[1]) or '0')
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
elseif ttl == -2 then
  ttl = 0
end
return {count, ttl}
";

/// Counters in Redis. The connection is opened on first use (a Redis outage at cold start
/// must not stop the function: the caller falls back).
#[derive(Debug)]
pub struct RedisRateLimiter {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    budget: Budget,
}

impl RedisRateLimiter {
    /// A limiter for the server at `url` (`redis://` or `rediss://`).
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::backend(DEP, ErrorClass::Config, e))?;
        Ok(Self {
            client,
            conn: OnceCell::new(),
            budget: Budget::REDIS,
        })
    }

    /// Overrides the per-decision time budget.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.budget.limit))
            .set_response_timeout(Some(self.budget.limit))
            .set_number_of_retries(1);
        let conn = self
            .conn
            .get_or_try_init(|| async {
                within(
                    self.budget,
                    ConnectionManager::new_with_config(self.client.clone(), config),
                )
                .await?
                .map_err(redis_error)
            })
            .await?;
        Ok(conn.clone())
    }
}

/// Classifies a Redis error from its typed kind.
fn redis_error(err: redis::RedisError) -> StoreError {
    let class = if err.is_connection_refusal() || err.is_connection_dropped() {
        ErrorClass::DependencyDown
    } else if err.is_timeout() || err.is_io_error() {
        ErrorClass::Transient
    } else {
        ErrorClass::Permanent
    };
    StoreError::backend(DEP, class, err)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, checks: &[RateCheck]) -> Result<Vec<Decision>, StoreError> {
        let mut conn = self.connection().await?;
        let mut pipe = redis::pipe();
        for c in checks {
            pipe.cmd("EVAL")
                .arg(SCRIPT)
                .arg(1)
                .arg(&c.key)
                .arg(millis(c.rule.window))
                .arg(if c.mode == CheckMode::Count { "1" } else { "0" });
        }
        let replies: Vec<(i64, i64)> = within(self.budget, pipe.query_async(&mut conn))
            .await?
            .map_err(redis_error)?;
        Ok(checks
            .iter()
            .zip(replies)
            .map(|(c, (count, ttl_ms))| {
                let count = u32::try_from(count.max(0)).unwrap_or(u32::MAX);
                let ttl = Duration::from_millis(u64::try_from(ttl_ms.max(0)).unwrap_or(0));
                Decision::from_count(c.mode, c.rule, count, ttl)
            })
            .collect())
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        within(
            self.budget,
            redis::cmd("DEL").arg(key).query_async::<()>(&mut conn),
        )
        .await?
        .map_err(redis_error)
    }
}
