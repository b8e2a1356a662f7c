//! The sample events in `events/email-retry/` fed to the handler (in-memory adapters).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_lambda_events::event::sqs::SqsEvent;
use common::{Harness, failed_ids};
use email_retry::record::EmailStatus;

fn event(name: &str) -> SqsEvent {
    let path = format!(
        "{}/../../events/email-retry/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).expect("an SQS event")
}

#[tokio::test]
async fn valid_batch_sends_each_job_once() {
    let h = Harness::new();
    h.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-07-01T15:00:00Z")
            .unwrap()
            .to_utc(),
    );
    h.reminder_handed_over(
        "reminder#appt_77#24h#2026-07-02T15:00:00Z",
        "appt_77",
        "2026-07-02T15:00:00Z",
    )
    .await;
    let response = h
        .worker
        .handle(event("valid_batch.json"), &h.deadline())
        .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{response:?} {:?}",
        h.mailer.inner.sent()
    );
    let sent = h.mailer.inner.sent();
    assert_eq!(sent.len(), 3);
    let reminder = sent
        .iter()
        .find(|(_, e)| e.to == "sam@example.com")
        .unwrap();
    assert!(
        reminder
            .1
            .text
            .contains("Thursday, July 2, 2026 at 11:00 AM EDT (America/New_York)"),
        "{}",
        reminder.1.text
    );
    for id in [
        "order-confirmation#ord_1001",
        "reminder#appt_77#24h#2026-07-02T15:00:00Z",
        "sign-in#user_9#203.0.113.9#2026070114",
    ] {
        assert_eq!(
            h.store.get(id).await.unwrap().unwrap().status,
            EmailStatus::Sent
        );
    }
}

#[tokio::test]
async fn duplicate_batch_sends_one_email() {
    let h = Harness::new();
    let response = h
        .worker
        .handle(event("duplicate_batch.json"), &h.deadline())
        .await;
    assert_eq!(h.mailer.calls(), 1);
    // Records processed concurrently: any that found the send in progress come back (and are
    // then acknowledged as duplicates); none is sent again.
    assert!(failed_ids(&response).iter().all(|id| !id.is_empty()));
    let again = h
        .worker
        .handle(event("duplicate_batch.json"), &h.deadline())
        .await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(h.mailer.calls(), 1);
}

#[tokio::test]
async fn malformed_batch_returns_exactly_the_malformed_records() {
    let h = Harness::new();
    let response = h
        .worker
        .handle(event("malformed_batch.json"), &h.deadline())
        .await;
    let mut ids = failed_ids(&response);
    ids.sort();
    assert_eq!(
        ids,
        [
            "66666666-6666-4666-8666-666666666666",
            "77777777-7777-4777-8777-777777777777"
        ]
    );
    assert_eq!(h.mailer.calls(), 1);
}
