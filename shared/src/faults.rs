//! Fault-injecting wrappers for every port: fail the Nth call, fail at random (seeded), add
//! latency, hang past the timeout, or fail after the call went through ("response lost").
//!
//! They wrap a real adapter, so "what if the database fails here" is an ordinary test.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::claims::{Claim, ClaimKey, ClaimOutcome, ClaimRecord, ClaimRequest, ClaimStore};
use crate::email_job::EmailJob;
use crate::error::ErrorClass;
use crate::mailer::{Mailer, OutgoingEmail, SendError, SendFailure, SentEmail};
use crate::queue::{EmailQueue, Receipt, ReceivedMessage};
use crate::ratelimit::{Decision, RateCheck, RateLimiter};
use crate::store_error::StoreError;

/// What happens to an affected call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fail before reaching the adapter, with this class.
    Fail(ErrorClass),
    /// Fail a send with this mailer failure (stores see it as transient).
    FailSend(SendFailure),
    /// Run the call, then report failure anyway (the response was lost).
    FailAfter(ErrorClass),
    /// Wait this long, then run the call.
    Latency(Duration),
    /// Never answer (a timeout around the call must cancel it).
    Hang,
}

#[derive(Debug, Clone)]
enum Trigger {
    Calls(HashSet<u64>),
    Probability(f64),
    Always,
}

/// Which calls fail and how. Calls are numbered from 1.
#[derive(Debug)]
pub struct FaultPlan {
    trigger: Trigger,
    fault: Fault,
    calls: AtomicU64,
    injected: AtomicU64,
    disarmed: AtomicBool,
    rng: Mutex<StdRng>,
}

impl FaultPlan {
    fn new(trigger: Trigger, fault: Fault, seed: u64) -> Self {
        Self {
            trigger,
            fault,
            calls: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            disarmed: AtomicBool::new(false),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// No faults: a pass-through that still counts calls.
    pub fn none() -> Self {
        Self::new(Trigger::Calls(HashSet::new()), Fault::Hang, 0)
    }

    /// `fault` on the listed call numbers (1-based).
    pub fn on_calls(calls: impl IntoIterator<Item = u64>, fault: Fault) -> Self {
        Self::new(Trigger::Calls(calls.into_iter().collect()), fault, 0)
    }

    /// `fault` on each call with probability `p`, from a seeded generator.
    pub fn random(p: f64, seed: u64, fault: Fault) -> Self {
        Self::new(Trigger::Probability(p), fault, seed)
    }

    /// `fault` on every call.
    pub fn always(fault: Fault) -> Self {
        Self::new(Trigger::Always, fault, 0)
    }

    /// Calls seen so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// Stops injecting (the outage is over); calls are still counted.
    pub fn disarm(&self) {
        self.disarmed.store(true, Ordering::SeqCst);
    }

    /// Runs a store-like `call` through the plan: for wrappers of ports defined outside
    /// `shared` (a function crate's own store), with the same faults as [`Faulty`].
    pub async fn run<T, F>(&self, call: F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        match self.before().await {
            None => call.await,
            Some(fault) => {
                let (run_first, err) = store_fault(fault);
                if run_first {
                    let _ = call.await;
                }
                Err(err)
            }
        }
    }

    /// Decides for the next call; waits out latency or hangs as planned.
    async fn before(&self) -> Option<Fault> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.disarmed.load(Ordering::SeqCst) {
            return None;
        }
        let hit = match &self.trigger {
            Trigger::Calls(set) => set.contains(&n),
            Trigger::Always => true,
            Trigger::Probability(p) => self
                .rng
                .lock()
                .map(|mut r| r.random_bool(p.clamp(0.0, 1.0)))
                .unwrap_or(false),
        };
        if !hit {
            return None;
        }
        self.injected.fetch_add(1, Ordering::SeqCst);
        match self.fault {
            Fault::Latency(d) => {
                tokio::time::sleep(d).await;
                None
            }
            Fault::Hang => std::future::pending().await,
            other => Some(other),
        }
    }
}

fn injected_store(class: ErrorClass) -> StoreError {
    StoreError::backend("injected", class, "injected fault")
}

fn store_fault(fault: Fault) -> (bool, StoreError) {
    match fault {
        Fault::Fail(class) => (false, injected_store(class)),
        Fault::FailAfter(class) => (true, injected_store(class)),
        _ => (false, injected_store(ErrorClass::Transient)),
    }
}

/// Wraps an adapter with a [`FaultPlan`].
#[derive(Debug)]
pub struct Faulty<T> {
    inner: T,
    plan: FaultPlan,
}

impl<T> Faulty<T> {
    /// `inner` with `plan` applied to each call.
    pub fn new(inner: T, plan: FaultPlan) -> Self {
        Self { inner, plan }
    }

    /// The plan (for its counters).
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// The wrapped adapter.
    pub fn inner(&self) -> &T {
        &self.inner
    }
}

#[async_trait]
impl<T: ClaimStore> ClaimStore for Faulty<T> {
    async fn claim(&self, request: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        self.plan.run(self.inner.claim(request)).await
    }
    async fn complete(&self, claim: &Claim, result: Option<&str>) -> Result<(), StoreError> {
        self.plan.run(self.inner.complete(claim, result)).await
    }
    async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        self.plan.run(self.inner.release(claim)).await
    }
    async fn fail_permanently(&self, claim: &Claim, reason: &str) -> Result<(), StoreError> {
        self.plan
            .run(self.inner.fail_permanently(claim, reason))
            .await
    }
    async fn extend(
        &self,
        claim: &Claim,
        lease_until: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        self.plan.run(self.inner.extend(claim, lease_until)).await
    }
    async fn get(&self, key: &ClaimKey) -> Result<Option<ClaimRecord>, StoreError> {
        self.plan.run(self.inner.get(key)).await
    }
}

#[async_trait]
impl<T: EmailQueue> EmailQueue for Faulty<T> {
    async fn enqueue(&self, job: &EmailJob, delay: Duration) -> Result<String, StoreError> {
        self.plan.run(self.inner.enqueue(job, delay)).await
    }
    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, StoreError> {
        self.plan.run(self.inner.receive(max, visibility)).await
    }
    async fn change_visibility(
        &self,
        receipt: &Receipt,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        self.plan
            .run(self.inner.change_visibility(receipt, timeout))
            .await
    }
    async fn delete(&self, receipt: &Receipt) -> Result<(), StoreError> {
        self.plan.run(self.inner.delete(receipt)).await
    }
}

#[async_trait]
impl<T: RateLimiter> RateLimiter for Faulty<T> {
    async fn check(&self, checks: &[RateCheck]) -> Result<Vec<Decision>, StoreError> {
        self.plan.run(self.inner.check(checks)).await
    }
    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.plan.run(self.inner.reset(key)).await
    }
}

#[async_trait]
impl<T: Mailer> Mailer for Faulty<T> {
    async fn send(&self, email: &OutgoingEmail) -> Result<SentEmail, SendError> {
        let kind = match self.plan.before().await {
            None => return self.inner.send(email).await,
            Some(Fault::FailSend(kind)) => kind,
            Some(Fault::FailAfter(_)) => {
                let _ = self.inner.send(email).await;
                SendFailure::Ambiguous
            }
            Some(Fault::Fail(ErrorClass::Permanent)) => SendFailure::Permanent,
            Some(_) => SendFailure::Retryable,
        };
        Err(SendError::new(kind, "injected fault"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::ratelimit::{CheckMode, MemoryRateLimiter, RateRule};

    fn check() -> RateCheck {
        RateCheck {
            key: "k".into(),
            rule: RateRule {
                limit: 10,
                window: Duration::from_secs(60),
            },
            mode: CheckMode::Count,
        }
    }

    #[tokio::test]
    async fn fails_exactly_the_listed_calls() {
        let clock = ManualClock::at("2026-01-01T00:00:00Z");
        let limiter = Faulty::new(
            MemoryRateLimiter::new(clock.shared()),
            FaultPlan::on_calls([2, 4], Fault::Fail(ErrorClass::DependencyDown)),
        );
        let mut results = Vec::new();
        for _ in 0..5 {
            results.push(limiter.check(&[check()]).await.is_ok());
        }
        assert_eq!(results, [true, false, true, false, true]);
        assert_eq!(limiter.plan().injected(), 2);
    }

    #[tokio::test]
    async fn fail_after_runs_the_call() {
        let clock = ManualClock::at("2026-01-01T00:00:00Z");
        let limiter = Faulty::new(
            MemoryRateLimiter::new(clock.shared()),
            FaultPlan::on_calls([1], Fault::FailAfter(ErrorClass::Transient)),
        );
        assert!(limiter.check(&[check()]).await.is_err());
        let d = limiter.check(&[check()]).await.unwrap();
        assert_eq!(d[0].count, 2, "the failed call still counted");
    }

    #[tokio::test(start_paused = true)]
    async fn hang_is_cut_by_the_timeout_helper() {
        use crate::timeout::{Budget, within};
        let clock = ManualClock::at("2026-01-01T00:00:00Z");
        let limiter = Faulty::new(
            MemoryRateLimiter::new(clock.shared()),
            FaultPlan::always(Fault::Hang),
        );
        let out = within(Budget::REDIS, limiter.check(&[check()])).await;
        assert!(out.is_err());
    }

    #[tokio::test]
    async fn random_faults_are_reproducible() {
        let run = || async {
            let clock = ManualClock::at("2026-01-01T00:00:00Z");
            let l = Faulty::new(
                MemoryRateLimiter::new(clock.shared()),
                FaultPlan::random(0.3, 42, Fault::Fail(ErrorClass::Transient)),
            );
            let mut pattern = Vec::new();
            for _ in 0..50 {
                pattern.push(l.check(&[check()]).await.is_ok());
            }
            pattern
        };
        let (a, b) = (run().await, run().await);
        assert_eq!(a, b);
        let failures = a.iter().filter(|ok| !**ok).count();
        assert!((5..=25).contains(&failures), "{failures}");
    }
}
