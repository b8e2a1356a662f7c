//! The local email worker loop applies email-retry's partial-batch response like Lambda's
//! SQS integration: a throttled send stays on the queue, hidden for the backoff the worker
//! chose, comes back with a higher receive count, and is deleted once sent — one email.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use email_retry::Worker;
use email_retry::record::{EmailStatus, MemoryEmailStore};
use infra::activity::Activity;
use infra::worker_loop::process_batch;
use shared::clock::{ManualClock, SharedClock};
use shared::email_job::{Email, EmailJob, OrderConfirmation};
use shared::faults::{Fault, FaultPlan, Faulty};
use shared::mailer::{MemoryMailer, SendFailure};
use shared::metrics::Metrics;
use shared::queue::{EmailQueue, MemoryQueue};
use shared::retry::Backoff;
use shared::telemetry::CorrelationId;

#[tokio::test]
async fn a_throttled_send_comes_back_after_its_backoff_and_is_sent_once() {
    let manual = ManualClock::at("2026-06-01T12:00:00Z");
    let clock: SharedClock = manual.shared();
    let queue = Arc::new(MemoryQueue::with_redrive(clock.clone(), 3));
    let mailer = Arc::new(Faulty::new(
        MemoryMailer::new(["example.com"]),
        FaultPlan::on_calls([1], Fault::FailSend(SendFailure::Retryable)),
    ));
    let store = Arc::new(MemoryEmailStore::new(clock.clone()));
    let settings = email_retry::Settings {
        sender: "bookings@example.com".into(),
        admin_email: "admin@example.com".into(),
        time_zone: chrono_tz::UTC,
        retry_budget: 3,
        backoff: Backoff::new(Duration::from_secs(10), Duration::from_secs(10)),
        paused_delay: Duration::from_secs(60),
        concurrency: 2,
        record_budget: Duration::from_secs(1),
        lease_cap: Duration::from_secs(60),
    };
    let worker = Worker::new(
        store.clone(),
        mailer.clone(),
        queue.clone(),
        Metrics::in_memory("email-retry").0,
        settings,
        clock.clone(),
        Some(7),
    );
    let job = EmailJob::new(
        "order-confirmation#o1",
        Email::OrderConfirmation(OrderConfirmation {
            order_id: "o1".into(),
            amount_cents: 1200,
            currency: "usd".into(),
            customer_name: "Jane".into(),
        }),
        "jane@example.com",
        CorrelationId::from_upstream("evt_1"),
        Utc::now(),
    );
    queue.enqueue(&job, Duration::ZERO).await.unwrap();
    let activity = Activity::default();

    // First receive: the send is throttled; the record is reported and stays, hidden.
    assert_eq!(
        process_batch(&worker, queue.as_ref(), &activity, &clock)
            .await
            .unwrap(),
        1
    );
    assert_eq!(queue.len(), 1);
    assert!(mailer.inner().sent().is_empty());
    assert_eq!(
        process_batch(&worker, queue.as_ref(), &activity, &clock)
            .await
            .unwrap(),
        0
    );

    // After the backoff cap (10 s) it is visible again, sent, and deleted.
    manual.advance(Duration::from_secs(11));
    assert_eq!(
        process_batch(&worker, queue.as_ref(), &activity, &clock)
            .await
            .unwrap(),
        1
    );
    assert!(queue.is_empty());
    assert_eq!(mailer.inner().sent().len(), 1);
    let record = store.snapshot().pop().unwrap();
    assert_eq!((record.status, record.attempts), (EmailStatus::Sent, 2));
    assert_eq!(activity.jobs(), ["order-confirmation#o1"]);
    manual.advance(Duration::from_secs(60));
    assert_eq!(
        process_batch(&worker, queue.as_ref(), &activity, &clock)
            .await
            .unwrap(),
        0
    );
}
