//! One timeout helper for every remote call, with a named budget per dependency.
//!
//! [`within`] drops the inner future when the budget runs out, which cancels the call
//! (unlike wrapping an already-running promise, the seed's mistake).

use std::future::Future;
use std::time::Duration;

use crate::error::{Classify, ErrorClass};

/// A named time budget for one kind of remote call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The dependency, as named in logs and errors (`dynamodb`, `redis`, ...).
    pub dependency: &'static str,
    /// How long one call may take.
    pub limit: Duration,
}

impl Budget {
    /// DynamoDB single-item operations.
    pub const DYNAMODB: Self = Self::new("dynamodb", Duration::from_millis(1500));
    /// Redis rate-limit decisions: short, the fallback takes over.
    pub const REDIS: Self = Self::new("redis", Duration::from_millis(100));
    /// SQS sends and visibility changes.
    pub const SQS: Self = Self::new("sqs", Duration::from_secs(2));
    /// One SES send.
    pub const SES: Self = Self::new("ses", Duration::from_secs(5));
    /// One Stripe API call.
    pub const STRIPE: Self = Self::new("stripe", Duration::from_secs(3));
    /// One Secrets Manager read (cold start, webhook secret rotation).
    pub const SECRETS_MANAGER: Self = Self::new("secretsmanager", Duration::from_secs(3));

    /// A budget of `limit` for `dependency`.
    pub const fn new(dependency: &'static str, limit: Duration) -> Self {
        Self { dependency, limit }
    }

    /// The same dependency with another limit.
    pub const fn with_limit(self, limit: Duration) -> Self {
        Self { limit, ..self }
    }
}

/// A call ran out of its budget and was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{dependency} call timed out after {limit:?}")]
pub struct TimedOut {
    /// The dependency that was too slow.
    pub dependency: &'static str,
    /// The budget it had.
    pub limit: Duration,
}

impl Classify for TimedOut {
    fn class(&self) -> ErrorClass {
        ErrorClass::Transient
    }
}

/// Runs `fut` for at most `budget.limit`; on expiry the future is dropped (cancelled).
pub async fn within<F: Future>(budget: Budget, fut: F) -> Result<F::Output, TimedOut> {
    tokio::time::timeout(budget.limit, fut)
        .await
        .map_err(|_| TimedOut {
            dependency: budget.dependency,
            limit: budget.limit,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_call_is_cancelled_not_awaited() {
        let dropped = Arc::new(AtomicBool::new(false));
        let completed = Arc::new(AtomicBool::new(false));
        let (d, c) = (dropped.clone(), completed.clone());
        let slow = async move {
            let _guard = SetOnDrop(d);
            tokio::time::sleep(Duration::from_secs(60)).await;
            c.store(true, Ordering::SeqCst);
        };
        let err = within(Budget::REDIS, slow).await.unwrap_err();
        assert_eq!(err.dependency, "redis");
        assert_eq!(err.class(), ErrorClass::Transient);
        assert!(dropped.load(Ordering::SeqCst), "future must be dropped");
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert!(
            !completed.load(Ordering::SeqCst),
            "cancelled work must not finish"
        );
    }

    #[tokio::test]
    async fn a_fast_call_returns_its_value() {
        assert_eq!(within(Budget::SQS, async { 42 }).await, Ok(42));
    }
}
