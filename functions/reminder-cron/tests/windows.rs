//! Issue 14's windows, one test each, on in-memory adapters with fault plans and a manual
//! clock; queued reminders are delivered by the real email worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use reminder_cron::appointments::AppointmentStore;
use reminder_cron::due::ReminderKind;
use reminder_cron::run::{claim_key, run};
use reminder_cron::tuning;
use shared::claims::{
    Claim, ClaimKey, ClaimOutcome, ClaimRecord, ClaimRequest, ClaimStatus, ClaimStore,
    MemoryClaimStore, StoreError,
};
use shared::clock::ManualClock;
use shared::deadline::Deadline;
use shared::email_job::Email;
use shared::error::ErrorClass;
use shared::faults::{Fault, FaultPlan, Faulty};
use shared::mailer::SendFailure;
use shared::metrics::Metric;
use shared::queue::EmailQueue;
use support::{ADMIN, World, appointment, drain, with_concurrency, worker};

/// The root cause of the 1,001: a failed send is handed to the queue, the queue's answer is
/// lost (SendMessage timed out after SQS stored it), the run releases the claim, the next run
/// sends directly, and the worker delivered the queued copy too. Now the worker sends a
/// queued reminder only when its claim says `queued:`; here it says `sent:`, so the copy is
/// dropped.
#[tokio::test]
async fn an_enqueue_whose_answer_was_lost_is_not_delivered_twice() {
    let w = World::new();
    w.appointments
        .put(&appointment("lost", w.in_(30)))
        .await
        .unwrap();
    let mailer = Arc::new(Faulty::new(
        w.mailer.clone(),
        FaultPlan::on_calls([1], Fault::FailSend(SendFailure::Retryable)),
    ));
    let queue = Arc::new(Faulty::new(
        w.queue.clone(),
        FaultPlan::on_calls([1], Fault::FailAfter(ErrorClass::Transient)),
    ));
    let app = w.deps_with(w.appointments.clone(), w.claims.clone(), queue, mailer);
    assert!(
        run(&app, &w.deadline()).await.is_err(),
        "hand-over unconfirmed"
    );
    w.clock.advance(tuning::SCHEDULE_INTERVAL);
    let s = run(&app, &w.deadline()).await.unwrap();
    assert_eq!(s.sent, 1, "the next run sends directly");
    let worker = worker(
        &w.clock,
        w.queue.clone(),
        w.mailer.clone(),
        w.appointments.clone(),
        w.claims.clone(),
    );
    assert_eq!(
        drain(&w.clock, &*w.queue, &worker).await,
        1,
        "the copy was queued"
    );
    assert_eq!(
        w.sent_to("lost@customer.example.com").len(),
        1,
        "delivered once"
    );
}

/// A failed send handed to the queue is delivered by the worker, once.
#[tokio::test]
async fn a_handed_over_reminder_is_delivered_by_the_worker_once() {
    let w = World::new();
    w.appointments
        .put(&appointment("h", w.in_(30)))
        .await
        .unwrap();
    let mailer = Arc::new(Faulty::new(
        w.mailer.clone(),
        FaultPlan::on_calls([1], Fault::FailSend(SendFailure::Retryable)),
    ));
    let app = w.deps_with(
        w.appointments.clone(),
        w.claims.clone(),
        w.queue.clone(),
        mailer,
    );
    assert_eq!(run(&app, &w.deadline()).await.unwrap().queued_for_retry, 1);
    let worker = worker(
        &w.clock,
        w.queue.clone(),
        w.mailer.clone(),
        w.appointments.clone(),
        w.claims.clone(),
    );
    drain(&w.clock, &*w.queue, &worker).await;
    assert_eq!(w.sent_to("h@customer.example.com").len(), 1);
}

/// A claim store whose `complete` fails `failures` times, each failure taking 1.5 s of the
/// manual clock (a DynamoDB call timing out); it pauses before the first success so a second
/// run can be started at that moment.
#[derive(Debug)]
struct SlowCompletions {
    inner: MemoryClaimStore,
    clock: ManualClock,
    failures: u32,
    seen: AtomicU32,
    reached: tokio::sync::Notify,
    gate: tokio::sync::Notify,
}

#[async_trait]
impl ClaimStore for SlowCompletions {
    async fn claim(&self, r: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        self.inner.claim(r).await
    }
    async fn complete(&self, c: &Claim, result: Option<&str>) -> Result<(), StoreError> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= self.failures {
            self.clock.advance(Duration::from_millis(1500));
            return Err(StoreError::backend(
                "dynamodb",
                ErrorClass::Transient,
                "timed out",
            ));
        }
        if n == self.failures + 1 {
            self.reached.notify_one();
            self.gate.notified().await;
        }
        self.inner.complete(c, result).await
    }
    async fn release(&self, c: &Claim) -> Result<(), StoreError> {
        self.inner.release(c).await
    }
    async fn fail_permanently(&self, c: &Claim, reason: &str) -> Result<(), StoreError> {
        self.inner.fail_permanently(c, reason).await
    }
    async fn extend(&self, c: &Claim, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.extend(c, until).await
    }
    async fn get(&self, key: &ClaimKey) -> Result<Option<ClaimRecord>, StoreError> {
        self.inner.get(key).await
    }
}

/// After a successful send, a 45 s DynamoDB outage: the completion is retried until it goes
/// through (not given up after ~1 s), and the lease is extended meanwhile, so a run starting
/// 45 s later finds the reminder in progress instead of sending it again.
#[tokio::test(start_paused = true)]
async fn completion_is_retried_until_the_deadline_with_the_lease_extended() {
    let w = World::new();
    w.appointments
        .put(&appointment("slow", w.in_(30)))
        .await
        .unwrap();
    let claims = Arc::new(SlowCompletions {
        inner: MemoryClaimStore::new(w.clock.shared()),
        clock: w.clock.clone(),
        failures: 30,
        seen: AtomicU32::new(0),
        reached: tokio::sync::Notify::new(),
        gate: tokio::sync::Notify::new(),
    });
    let app = w.deps_with(
        w.appointments.clone(),
        claims.clone(),
        w.queue.clone(),
        w.mailer.clone(),
    );
    let first = {
        let (app, deadline) = (app.clone(), w.deadline());
        tokio::spawn(async move { run(&app, &deadline).await })
    };
    tokio::select! {
        () = claims.reached.notified() => {}
        r = tokio::time::sleep(Duration::from_secs(3600)) => panic!("completion given up early: {r:?}"),
    }
    let elapsed = Duration::from_millis(1500 * 30);
    assert!(
        elapsed > tuning::LEASE,
        "the first lease alone would have lapsed"
    );
    let second = run(&app, &w.deadline()).await.unwrap();
    assert_eq!(second.already_sent, 1, "the extended lease still holds");
    claims.gate.notify_one();
    let first = first.await.unwrap().unwrap();
    assert_eq!((first.sent, first.errors), (1, 0));
    assert_eq!(w.sent_to("slow@customer.example.com").len(), 1);
}

/// With less than claim + send + completion left before the margin, no reminder starts (the
/// old check only looked at the margin). The lease is the reminder's budget plus slack, not
/// the Lambda deadline.
#[tokio::test]
async fn a_reminder_starts_only_when_claim_send_and_completion_fit() {
    let w = World::new();
    let a = appointment("fit", w.in_(30));
    w.appointments.put(&a).await.unwrap();
    let margin = Duration::from_secs(5);
    let short = Deadline::after(
        margin + tuning::REMINDER_BUDGET / 2,
        margin,
        w.clock.shared(),
    );
    let s = run(&w.deps(), &short).await.unwrap();
    assert_eq!((s.deferred, s.sent), (1, 0));
    let enough = Deadline::after(margin + tuning::REMINDER_BUDGET, margin, w.clock.shared());
    let s = run(&w.deps(), &enough).await.unwrap();
    assert_eq!(s.sent, 1);
    let record = w
        .claims
        .get(&claim_key(&a, ReminderKind::HOUR_BEFORE))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.lease_until,
        w.now() + TimeDelta::from_std(tuning::LEASE).unwrap()
    );
    assert!(tuning::LEASE > tuning::REMINDER_BUDGET);
}

/// Bad address, unknown zone, bad link: `FAILED_PERMANENT`, the metric, an admin alert, and
/// the run's summary says so.
#[tokio::test]
async fn an_unrenderable_reminder_fails_permanently_with_metric_and_admin_alert() {
    let w = World::new();
    let mut bad_email = appointment("bad-email", w.in_(30));
    bad_email.customer_email = "not an address".into();
    let mut bad_zone = appointment("bad-zone", w.in_(31));
    bad_zone.time_zone = "Mars/Olympus".into();
    let mut bad_link = appointment("bad-link", w.in_(32));
    bad_link.meeting_link = Some("javascript:alert(1)".into());
    for a in [&bad_email, &bad_zone, &bad_link] {
        w.appointments.put(a).await.unwrap();
    }
    let s = run(&with_concurrency(&w.deps(), 1), &w.deadline())
        .await
        .unwrap();
    assert_eq!((s.failed_permanent, s.sent, s.errors), (3, 0, 0));
    assert_eq!(w.metrics.1.total(Metric::EmailFailedPermanent), 3.0);
    for a in [&bad_email, &bad_zone, &bad_link] {
        let r = w
            .claims
            .get(&claim_key(a, ReminderKind::HOUR_BEFORE))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status, ClaimStatus::FailedPermanent, "{}", a.id);
    }
    let alerts = w.queue.receive(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(alerts.len(), 3);
    for m in alerts {
        let job = m.job().unwrap();
        assert!(matches!(job.email, Email::AdminAlert(_)), "{job:?}");
        assert_eq!(job.to, ADMIN);
    }
    let again = run(&w.deps(), &w.deadline()).await.unwrap();
    assert_eq!(again.already_sent, 3, "recorded: not retried every run");
    assert!(w.mailer.sent().is_empty());
}

/// Moved away and back to its original time: the new version gets a fresh reminder (the key
/// carries the version, not only the start).
#[tokio::test]
async fn moving_an_appointment_back_to_its_original_time_gets_a_fresh_reminder() {
    let w = World::new();
    let mut a = appointment("back", w.in_(20 * 60));
    w.appointments.put(&a).await.unwrap();
    assert_eq!(run(&w.deps(), &w.deadline()).await.unwrap().sent, 1);
    let original = a.starts_at;
    a.starts_at = original + TimeDelta::hours(2);
    a.version += 1;
    w.appointments.put(&a).await.unwrap();
    a.starts_at = original;
    a.version += 1;
    w.appointments.put(&a).await.unwrap();
    assert_eq!(run(&w.deps(), &w.deadline()).await.unwrap().sent, 1);
    assert_eq!(w.sent_to("back@customer.example.com").len(), 2);
    assert!(
        claim_key(&a, ReminderKind::DAY_BEFORE)
            .as_str()
            .ends_with("#v3")
    );
}
