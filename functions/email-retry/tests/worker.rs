//! Worker behaviour on in-memory adapters: each failure class, duplicates, the retry budget,
//! alerts, the SES pause, malformed bodies, ambiguous sends and the deadline cut-off.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use email_retry::record::EmailStatus;
use shared::clock::ManualClock;
use shared::metrics::Metric;
use shared::queue::EmailQueue;

#[tokio::test]
async fn a_job_is_sent_once_and_recorded() {
    let h = Harness::new();
    let job = order_job("o1", "jane@example.com");
    let msgs = h.deliver(std::slice::from_ref(&job)).await;
    let response = h.handle(&msgs).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(h.mailer.calls(), 1);
    let sent = h.mailer.inner.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.subject, "Order o1 confirmed");
    assert!(sent[0].1.text.contains("USD 19.99"));
    let record = h.store.get(&job.id).await.unwrap().unwrap();
    assert_eq!(record.status, EmailStatus::Sent);
    assert_eq!(
        record.ses_message_id.as_deref(),
        Some(sent[0].0.message_id.as_str())
    );
    assert_eq!(record.attempts, 1);
    assert!(record.sent_at.is_some());
    assert_eq!(h.metrics.total(Metric::EmailSent), 1.0);
}

#[tokio::test]
async fn a_redelivered_sent_job_is_acknowledged_without_calling_ses() {
    let h = Harness::new();
    let job = order_job("o1", "jane@example.com");
    let first = h.deliver(std::slice::from_ref(&job)).await;
    h.handle(&first).await;
    // The same job queued again (producer retry) and the original redelivered.
    let again = h.deliver(std::slice::from_ref(&job)).await;
    let response = h.handle(&[first[0].clone(), again[0].clone()]).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(h.mailer.calls(), 1);
    assert_eq!(h.metrics.total(Metric::DuplicateSuppressed), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_message_delivered_twice_concurrently_makes_one_ses_call() {
    let mut mailer = ScriptedMailer::new();
    mailer.latency = Duration::from_millis(200);
    let h = Arc::new(Harness::with(settings(), mailer, None));
    let msgs = h.deliver(&[order_job("o1", "jane@example.com")]).await;
    let (a, b) = tokio::join!(
        tokio::spawn({
            let (h, m) = (h.clone(), msgs.clone());
            async move { h.handle(&m).await }
        }),
        tokio::spawn({
            let (h, m) = (h.clone(), msgs.clone());
            async move { h.handle(&m).await }
        })
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(h.mailer.calls(), 1);
    // Exactly one delivery finished it; the other lost the lease and comes back.
    let failed = a.batch_item_failures.len() + b.batch_item_failures.len();
    assert_eq!(failed, 1);
    assert_eq!(h.metrics.total(Metric::ClaimLost), 1.0);
    // When it comes back, it is acknowledged without a second send.
    let response = h.handle(&msgs).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(h.mailer.calls(), 1);
}

#[tokio::test]
async fn retryable_failures_back_off_and_come_back_within_the_jitter_bound() {
    let h = Harness::new();
    let job = order_job("o1", "retry-jane@example.com");
    let msgs = h.deliver(std::slice::from_ref(&job)).await;
    let response = h.handle(&msgs).await;
    assert_eq!(failed_ids(&response), vec![msgs[0].message_id.clone()]);
    let record = h.store.get(&job.id).await.unwrap().unwrap();
    assert_eq!(record.status, EmailStatus::Pending);
    assert_eq!(record.last_error.as_deref(), Some("retryable: scripted"));
    assert_eq!(h.metrics.total(Metric::RetryScheduled), 1.0);
    // Attempt 1 waits at most the base (10 s): visible again after it.
    h.clock.advance(Duration::from_millis(10_001));
    let back = h.queue.receive(10, Duration::from_secs(180)).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].receive_count, 2);
}

#[tokio::test]
async fn the_retry_budget_ends_in_failed_permanent_with_one_admin_alert() {
    let h = Harness::new();
    let job = order_job("o1", "retry-jane@example.com");
    h.queue.enqueue(&job, Duration::ZERO).await.unwrap();
    for attempt in 1..=3u32 {
        h.clock.advance(Duration::from_secs(120));
        let (seen, response) = h.round().await;
        assert_eq!(seen, 1, "attempt {attempt}");
        assert_eq!(response.batch_item_failures.len(), usize::from(attempt < 3));
    }
    assert_eq!(h.mailer.calls(), 3);
    let record = h.store.get(&job.id).await.unwrap().unwrap();
    assert_eq!(record.status, EmailStatus::FailedPermanent);
    assert_eq!(record.attempts, 3);
    assert!(
        record
            .reason
            .unwrap()
            .starts_with("retry budget of 3 attempts exhausted")
    );
    assert_eq!(h.metrics.total(Metric::EmailFailedPermanent), 1.0);
    // The only message left is the alert; it is not critical and is sent to the admin.
    let left = h.queue.receive(10, Duration::from_secs(180)).await.unwrap();
    assert_eq!(left.len(), 1);
    let alert = left[0].job().unwrap();
    assert_eq!(alert.email.template_name(), "admin_alert");
    assert_eq!(alert.id, "admin-alert#order-confirmation#o1");
    assert_eq!(alert.to, ADMIN);
    assert!(!alert.critical);
    assert_eq!(alert.correlation_id, job.correlation_id);
    let response = h.handle(&left).await;
    assert!(response.batch_item_failures.is_empty());
    let sent = h.mailer.inner.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.to, ADMIN);
    assert!(sent[0].1.text.contains("order-confirmation#o1"));
}

#[tokio::test]
async fn permanent_failures_stop_at_once_and_alert_only_for_critical_jobs() {
    let h = Harness::new();
    let critical = order_job("o1", "perm-jane@example.com");
    let notice = sign_in_job("u1", "perm-jane@example.com");
    let msgs = h.deliver(&[critical.clone(), notice.clone()]).await;
    let response = h.handle(&msgs).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(h.mailer.calls(), 2);
    for job in [&critical, &notice] {
        let r = h.store.get(&job.id).await.unwrap().unwrap();
        assert_eq!(r.status, EmailStatus::FailedPermanent);
        assert_eq!(r.attempts, 1);
        assert_eq!(r.reason.as_deref(), Some("rejected: scripted"));
    }
    let queued = h.queue.receive(10, Duration::from_secs(1)).await.unwrap();
    let ids: Vec<_> = queued.iter().map(|m| m.job().unwrap().id).collect();
    assert_eq!(ids, ["admin-alert#order-confirmation#o1"]);
}

#[tokio::test]
async fn unrenderable_jobs_fail_permanently_without_calling_ses() {
    let h = Harness::new();
    let job = order_job("o1", "jane@example.com");
    let mut body = serde_json::to_value(&job).unwrap();
    body["data"]["amount_cents"] = serde_json::json!("19.99");
    h.queue.send_raw(&body.to_string(), Duration::ZERO);
    let msgs = h.queue.receive(10, Duration::from_secs(180)).await.unwrap();
    assert!(h.handle(&msgs).await.batch_item_failures.is_empty());
    assert_eq!(h.mailer.calls(), 0);
    let r = h.store.get(&job.id).await.unwrap().unwrap();
    assert_eq!(r.status, EmailStatus::FailedPermanent);
    assert!(r.reason.unwrap().contains("amount_cents"));
}

#[tokio::test]
async fn an_ses_pause_holds_the_batch_without_spending_attempts() {
    let mut s = settings();
    s.concurrency = 1;
    let h = Harness::with(s, ScriptedMailer::new(), None);
    let jobs = [
        order_job("o1", "paused-a@example.com"),
        order_job("o2", "b@example.com"),
        order_job("o3", "c@example.com"),
    ];
    let msgs = h.deliver(&jobs).await;
    let response = h.handle(&msgs).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "originals are replaced by fresh copies"
    );
    assert_eq!(h.mailer.calls(), 1, "the rest are held without calling SES");
    assert_eq!(h.metrics.total(Metric::SesAccountPaused), 3.0);
    delete_done(&*h.queue, &msgs, &response).await;
    assert_eq!(h.queue.len(), 3);
    assert!(
        h.queue
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    h.clock.advance(Duration::from_secs(900));
    let back = h.queue.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(back.len(), 3);
    assert!(
        back.iter().all(|m| m.receive_count == 1),
        "receive counts restart"
    );
    let r = h.store.get(&jobs[0].id).await.unwrap().unwrap();
    assert_eq!(r.status, EmailStatus::Pending);
}

#[tokio::test]
async fn malformed_bodies_come_back_and_are_never_deleted() {
    let h = Harness::new();
    let id = h.queue.send_raw("{not json", Duration::ZERO);
    let no_template = h
        .queue
        .send_raw(r#"{"id":"x","to":"a@b.c"}"#, Duration::ZERO);
    let msgs = h.queue.receive(10, Duration::from_secs(180)).await.unwrap();
    let response = h.handle(&msgs).await;
    let mut failed = failed_ids(&response);
    failed.sort();
    let mut expected = vec![id, no_template];
    expected.sort();
    assert_eq!(failed, expected);
    assert_eq!(h.mailer.calls(), 0);
}

#[tokio::test]
async fn an_ambiguous_send_is_not_repeated_for_non_critical_mail() {
    let h = Harness::new();
    let job = sign_in_job("u1", "ambiguous-jane@example.com");
    let msgs = h.deliver(std::slice::from_ref(&job)).await;
    assert!(h.handle(&msgs).await.batch_item_failures.is_empty());
    let r = h.store.get(&job.id).await.unwrap().unwrap();
    assert_eq!(r.status, EmailStatus::Ambiguous);
    // A redelivery does not send it again.
    assert!(h.handle(&msgs).await.batch_item_failures.is_empty());
    assert_eq!(h.mailer.calls(), 1);
}

#[tokio::test]
async fn an_ambiguous_send_of_critical_mail_is_retried_within_the_budget() {
    let h = Harness::new();
    let job = order_job("o1", "ambiguous-jane@example.com");
    let msgs = h.deliver(std::slice::from_ref(&job)).await;
    assert_eq!(h.handle(&msgs).await.batch_item_failures.len(), 1);
    let r = h.store.get(&job.id).await.unwrap().unwrap();
    assert_eq!(r.status, EmailStatus::Pending);
    assert_eq!(r.last_error.as_deref(), Some("ambiguous: scripted"));
    assert_eq!(h.metrics.total(Metric::RetryScheduled), 1.0);
}

#[tokio::test]
async fn records_not_started_before_the_deadline_margin_are_handed_back_untouched() {
    let clock = ManualClock::at("2026-07-01T12:00:00Z");
    let mut mailer = ScriptedMailer::new();
    // Each send takes 7 s of (manual) time; deadline 30 s, margin 3 s, a record needs 8 s.
    mailer.clock = Some((clock.clone(), Duration::from_secs(7)));
    let mut s = settings();
    s.concurrency = 1;
    let h = Harness::with(s, mailer, None);
    let jobs: Vec<_> = (1..=5)
        .map(|i| order_job(&format!("o{i}"), "jane@example.com"))
        .collect();
    let msgs = h.deliver(&jobs).await;
    let response = h.handle(&msgs).await;
    assert_eq!(h.mailer.calls(), 3);
    let failed = failed_ids(&response);
    assert_eq!(failed.len(), 2);
    let mut sent = 0;
    for (m, job) in msgs.iter().zip(&jobs) {
        let record = h.store.get(&job.id).await.unwrap();
        if failed.contains(&m.message_id) {
            assert_eq!(record, None, "a handed-back record was not started");
        } else {
            assert_eq!(record.unwrap().status, EmailStatus::Sent);
            sent += 1;
        }
    }
    assert_eq!(sent, 3);
}

#[tokio::test]
async fn redrive_moves_unfinished_jobs_back_and_skips_sent_ones() {
    let h = Harness::new();
    let sent = order_job("o1", "jane@example.com");
    let msgs = h.deliver(std::slice::from_ref(&sent)).await;
    h.handle(&msgs).await;
    let dlq = shared::queue::MemoryQueue::new(h.clock.shared());
    let target = shared::queue::MemoryQueue::new(h.clock.shared());
    dlq.enqueue(&sent, Duration::ZERO).await.unwrap();
    dlq.enqueue(&order_job("o2", "jane@example.com"), Duration::ZERO)
        .await
        .unwrap();
    dlq.send_raw("garbage", Duration::ZERO);
    let summary = email_retry::redrive::redrive(&dlq, &target, &*h.store)
        .await
        .unwrap();
    assert_eq!(
        summary,
        email_retry::redrive::RedriveSummary {
            moved: 1,
            already_finished: 1,
            malformed_kept: 1
        }
    );
    assert_eq!(dlq.len(), 1);
    let moved = target.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].job().unwrap().id, "order-confirmation#o2");
    assert_eq!(h.mailer.calls(), 1);
}
