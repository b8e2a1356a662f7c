//! Email record store contract: the same suite on the in-memory store and DynamoDB (moto).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::moto;
use email_retry::record::{
    Begin, DynamoEmailStore, EmailStatus, EmailStore, Lease, MemoryEmailStore, StoreError,
};
use shared::clock::ManualClock;

struct Subject {
    store: Arc<dyn EmailStore>,
    clock: ManualClock,
}

fn memory() -> Subject {
    let clock = ManualClock::new(Utc::now());
    Subject {
        store: Arc::new(MemoryEmailStore::new(clock.shared())),
        clock,
    }
}

async fn dynamo() -> Subject {
    let config = moto::aws().await;
    let table = moto::emails_table(&config).await;
    let clock = ManualClock::new(Utc::now());
    let store = DynamoEmailStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        table,
        clock.shared(),
    );
    Subject {
        store: Arc::new(store),
        clock,
    }
}

fn job_id() -> String {
    format!("order-confirmation#{}", shared::testing::unique_name("o"))
}

fn lease_for(s: &Subject, secs: i64) -> chrono::DateTime<Utc> {
    s.clock.shared().now() + TimeDelta::seconds(secs)
}

async fn acquire(s: &Subject, id: &str) -> Lease {
    match s.store.begin(id, lease_for(s, 30)).await.unwrap() {
        Begin::Acquired(l) => l,
        other => panic!("expected to acquire, got {other:?}"),
    }
}

async fn suite(s: Subject) {
    // A fresh job is acquired; a second begin sees it busy until the lease passes.
    let id = job_id();
    let first = acquire(&s, &id).await;
    assert_eq!(first.attempts, 1);
    match s.store.begin(&id, lease_for(&s, 30)).await.unwrap() {
        Begin::Busy(r) => {
            assert_eq!(r.status, EmailStatus::Sending);
            assert_eq!(r.attempts, 1);
        }
        other => panic!("expected busy, got {other:?}"),
    }
    s.clock.advance(Duration::from_secs(31));
    let second = acquire(&s, &id).await;
    assert_eq!(second.attempts, 2);
    // The stale owner can no longer finish it.
    assert!(matches!(
        s.store.sent(&first, "ses-stale").await,
        Err(StoreError::Conflict(_))
    ));
    // Retry later: PENDING with the error, and can be begun again at once.
    s.store
        .retry_later(&second, "retryable: throttled")
        .await
        .unwrap();
    let r = s.store.get(&id).await.unwrap().unwrap();
    assert_eq!((r.status, r.attempts), (EmailStatus::Pending, 2));
    assert_eq!(r.last_error.as_deref(), Some("retryable: throttled"));
    let third = acquire(&s, &id).await;
    assert_eq!(third.attempts, 3);
    s.store.sent(&third, "ses-123").await.unwrap();
    let r = s.store.get(&id).await.unwrap().unwrap();
    assert_eq!(r.status, EmailStatus::Sent);
    assert_eq!(r.ses_message_id.as_deref(), Some("ses-123"));
    assert_eq!(
        r.sent_at.map(|t| t.timestamp()),
        Some(s.clock.shared().now().timestamp())
    );
    assert_eq!(r.job_id, id);
    // SENT is final: begin reports it, even long after any lease.
    s.clock.advance(Duration::from_secs(3600));
    match s.store.begin(&id, lease_for(&s, 30)).await.unwrap() {
        Begin::Finished(r) => assert_eq!(r.status, EmailStatus::Sent),
        other => panic!("expected finished, got {other:?}"),
    }
    // A finished record cannot be overwritten by its former owner.
    assert!(matches!(
        s.store.failed(&third, "late").await,
        Err(StoreError::Conflict(_))
    ));

    // FAILED_PERMANENT, AMBIGUOUS and EXPIRED are final too, and listed by status.
    let mut ids = std::collections::BTreeMap::new();
    for status in [
        EmailStatus::FailedPermanent,
        EmailStatus::Ambiguous,
        EmailStatus::Expired,
    ] {
        let id = job_id();
        let lease = acquire(&s, &id).await;
        match status {
            EmailStatus::FailedPermanent => s.store.failed(&lease, "rejected: bad address"),
            EmailStatus::Ambiguous => s.store.ambiguous(&lease, "ambiguous: timeout"),
            _ => s.store.expired(&lease, "not_after passed"),
        }
        .await
        .unwrap();
        match s.store.begin(&id, lease_for(&s, 30)).await.unwrap() {
            Begin::Finished(r) => {
                assert_eq!(r.status, status);
                assert!(r.reason.is_some());
            }
            other => panic!("expected finished, got {other:?}"),
        }
        ids.insert(status.as_str(), id);
    }
    let ambiguous = s.store.list(EmailStatus::Ambiguous).await.unwrap();
    assert_eq!(ambiguous.len(), 1, "{ambiguous:?}");
    assert_eq!(ambiguous[0].job_id, ids["AMBIGUOUS"]);
    assert_eq!(ambiguous[0].reason.as_deref(), Some("ambiguous: timeout"));
    let expired = s.store.list(EmailStatus::Expired).await.unwrap();
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0].job_id, ids["EXPIRED"]);
    assert_eq!(s.store.get("never-seen").await.unwrap(), None);
}

async fn concurrent_begins(s: Subject) {
    let id = job_id();
    let store = s.store.clone();
    let lease_until = lease_for(&s, 30);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move { store.begin(&id, lease_until).await.unwrap() })
        })
        .collect();
    let outcomes = futures::future::join_all(tasks).await;
    let acquired = outcomes
        .iter()
        .filter(|o| matches!(o.as_ref().unwrap(), Begin::Acquired(_)))
        .count();
    assert_eq!(acquired, 1);
}

#[tokio::test]
async fn memory_store_contract() {
    suite(memory()).await;
}

#[tokio::test]
async fn dynamodb_store_contract() {
    suite(dynamo().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_begins_race_to_one_winner() {
    concurrent_begins(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_begins_race_to_one_winner() {
    concurrent_begins(dynamo().await).await;
}
