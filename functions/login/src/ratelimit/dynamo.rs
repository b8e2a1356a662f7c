//! Fixed-window counters in DynamoDB (items `ratelimit#<key>` in `UsersTable`), with the
//! same semantics as the Redis script: the window starts at the first counted event, each
//! count is atomic (`ADD` under a condition), and an item without a window end is repaired
//! by the next count, so nobody is locked out forever. `expires_at` lets TTL clean up.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use shared::aws::store_error;
use shared::clock::SharedClock;
use shared::deadline::to_delta;
use shared::dynamo_item::{Item, get_i64, get_millis, n, s};
use shared::error::ErrorClass;
use shared::ratelimit::{CheckMode, Decision, RateCheck, RateLimiter, RateRule, StoreError};
use shared::timeout::{Budget, within};
use tokio::task::JoinSet;

const DEP: &str = "dynamodb";
/// A live window: the item exists and its end is in the future.
const LIVE: &str = "attribute_exists(pk) AND #we > :now_ms";
/// A window may be (re)started: no item, an ended window, or one that lost its end.
const STARTABLE: &str = "attribute_not_exists(pk) OR attribute_not_exists(#we) OR #we <= :now_ms";
/// Rounds of "count in the live window, else start one" before giving up on a race.
const ATTEMPTS: usize = 4;

/// Rate-limit counters in a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoRateLimiter {
    client: Client,
    table: String,
    clock: SharedClock,
    budget: Budget,
}

/// Partition key of a counter.
pub fn counter_pk(key: &str) -> String {
    format!("ratelimit#{key}")
}

impl DynamoRateLimiter {
    /// Counters in `table`, windows read from `clock`.
    pub fn new(client: Client, table: impl Into<String>, clock: SharedClock) -> Self {
        Self {
            client,
            table: table.into(),
            clock,
            budget: Budget::DYNAMODB,
        }
    }

    /// Overrides the per-call time budget.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// Adds one to a live window; `None` when there is no live window.
    async fn add_to_live(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(u32, DateTime<Utc>)>, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(counter_pk(key)))
            .update_expression("ADD #c :one")
            .condition_expression(LIVE)
            .expression_attribute_names("#c", "count")
            .expression_attribute_names("#we", "window_end")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now_ms", n(now.timestamp_millis()))
            .return_values(ReturnValue::AllNew);
        match within(self.budget, update.send()).await? {
            Ok(out) => {
                let item = out.attributes().cloned().unwrap_or_default();
                Ok(Some(read_counter(&item)?))
            }
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(None)
            }
            Err(e) => Err(store_error(DEP, e)),
        }
    }

    /// Starts a window at 1; `false` when someone else started one first.
    async fn start_window(
        &self,
        key: &str,
        now: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(counter_pk(key)))
            .item("count", n(1))
            .item("window_end", n(end.timestamp_millis()))
            .item("expires_at", n(ceil_secs(end)))
            .condition_expression(STARTABLE)
            .expression_attribute_names("#we", "window_end")
            .expression_attribute_values(":now_ms", n(now.timestamp_millis()));
        match within(self.budget, put.send()).await? {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(store_error(DEP, e)),
        }
    }

    async fn count(&self, key: &str, rule: RateRule) -> Result<Decision, StoreError> {
        for _ in 0..ATTEMPTS {
            let now = self.clock.now();
            if let Some((count, end)) = self.add_to_live(key, now).await? {
                return Ok(decide(CheckMode::Count, rule, count, end, now));
            }
            let end = now + to_delta(rule.window);
            if self.start_window(key, now, end).await? {
                return Ok(decide(CheckMode::Count, rule, 1, end, now));
            }
        }
        Err(StoreError::Conflict(format!(
            "counter {} kept changing",
            shared::telemetry::log_hash(key)
        )))
    }

    async fn peek(&self, key: &str, rule: RateRule) -> Result<Decision, StoreError> {
        let now = self.clock.now();
        let get = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(counter_pk(key)))
            .consistent_read(true);
        let out = within(self.budget, get.send())
            .await?
            .map_err(|e| store_error(DEP, e))?;
        let live = match out.item() {
            Some(item) if item.contains_key("window_end") => {
                Some(read_counter(item)?).filter(|(_, end)| *end > now)
            }
            _ => None,
        };
        Ok(match live {
            Some((count, end)) => decide(CheckMode::Peek, rule, count, end, now),
            None => Decision::from_count(CheckMode::Peek, rule, 0, Duration::ZERO),
        })
    }
}

fn read_counter(item: &Item) -> Result<(u32, DateTime<Utc>), StoreError> {
    let count = u32::try_from(get_i64(item, "count")?.max(0)).unwrap_or(u32::MAX);
    Ok((count, get_millis(item, "window_end")?))
}

fn ceil_secs(t: DateTime<Utc>) -> i64 {
    let ms = t.timestamp_millis();
    ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) > 0)
}

fn decide(
    mode: CheckMode,
    rule: RateRule,
    count: u32,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Decision {
    Decision::from_count(mode, rule, count, (end - now).to_std().unwrap_or_default())
}

#[async_trait]
impl RateLimiter for DynamoRateLimiter {
    /// Each counter is its own conditional write; they run concurrently (dropping the call
    /// aborts them all).
    async fn check(&self, checks: &[RateCheck]) -> Result<Vec<Decision>, StoreError> {
        let mut tasks = JoinSet::new();
        for (i, c) in checks.iter().cloned().enumerate() {
            let me = self.clone();
            tasks.spawn(async move {
                let decision = match c.mode {
                    CheckMode::Count => me.count(&c.key, c.rule).await,
                    CheckMode::Peek => me.peek(&c.key, c.rule).await,
                };
                (i, decision)
            });
        }
        let mut decisions: Vec<Option<Decision>> = vec![None; checks.len()];
        while let Some(joined) = tasks.join_next().await {
            let (i, decision) =
                joined.map_err(|e| StoreError::backend(DEP, ErrorClass::Transient, e))?;
            if let Some(slot) = decisions.get_mut(i) {
                *slot = Some(decision?);
            }
        }
        decisions
            .into_iter()
            .map(|d| d.ok_or_else(|| StoreError::Corrupt("a counter went unanswered".into())))
            .collect()
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(counter_pk(key)));
        within(self.budget, delete.send())
            .await?
            .map(|_| ())
            .map_err(|e| store_error(DEP, e))
    }
}
