//! Email queue contract: the same suite against the in-memory queue and SQS (moto).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use shared::clock::ManualClock;
use shared::email_job::{Email, EmailJob, OrderConfirmation};
use shared::queue::{EmailQueue, MemoryQueue, SqsQueue};
use shared::telemetry::CorrelationId;

/// A queue under test and a way to let time pass for it.
struct Subject {
    queue: Arc<dyn EmailQueue>,
    clock: Option<ManualClock>,
}

impl Subject {
    /// Lets `d` pass: the manual clock jumps; SQS needs real time.
    async fn pass(&self, d: Duration) {
        match &self.clock {
            Some(clock) => clock.advance(d),
            None => tokio::time::sleep(d + Duration::from_millis(300)).await,
        }
    }
}

fn memory() -> Subject {
    let clock = ManualClock::new(Utc::now());
    Subject {
        queue: Arc::new(MemoryQueue::new(clock.shared())),
        clock: Some(clock),
    }
}

async fn sqs() -> Subject {
    let config = common::aws().await;
    let created = common::queue(&config, "EmailDeadLetterQueue").await;
    Subject {
        queue: Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&config),
            created.url,
        )),
        clock: None,
    }
}

fn job(n: u32) -> EmailJob {
    EmailJob::new(
        format!("order-confirmation#o{n}"),
        Email::OrderConfirmation(OrderConfirmation {
            order_id: format!("o{n}"),
            amount_cents: 1250,
            currency: "usd".into(),
            customer_name: "Jane".into(),
        }),
        "jane@example.com",
        CorrelationId::from_upstream("evt_1"),
        Utc::now(),
    )
}

const VISIBILITY: Duration = Duration::from_secs(30);

async fn round_trip_then_delete(s: Subject) {
    let sent = job(1);
    let id = s.queue.enqueue(&sent, Duration::ZERO).await.unwrap();
    let got = s.queue.receive(10, VISIBILITY).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id, id);
    assert_eq!(got[0].receive_count, 1);
    assert_eq!(got[0].job().unwrap(), sent);
    s.queue.delete(&got[0].receipt).await.unwrap();
    s.queue
        .change_visibility(&got[0].receipt, Duration::ZERO)
        .await
        .ok();
    s.pass(Duration::from_secs(1)).await;
    assert!(s.queue.receive(10, VISIBILITY).await.unwrap().is_empty());
}

async fn delay_is_respected(s: Subject) {
    s.queue
        .enqueue(&job(2), Duration::from_secs(2))
        .await
        .unwrap();
    assert!(
        s.queue.receive(10, VISIBILITY).await.unwrap().is_empty(),
        "not before the delay"
    );
    s.pass(Duration::from_secs(2)).await;
    assert_eq!(s.queue.receive(10, VISIBILITY).await.unwrap().len(), 1);
}

async fn visibility_hides_then_returns_with_higher_count(s: Subject) {
    s.queue.enqueue(&job(3), Duration::ZERO).await.unwrap();
    let first = s.queue.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        s.queue.receive(10, VISIBILITY).await.unwrap().is_empty(),
        "hidden while in flight"
    );
    s.pass(Duration::from_secs(2)).await;
    let second = s.queue.receive(10, VISIBILITY).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].message_id, first[0].message_id);
    assert_eq!(second[0].receive_count, 2);
}

async fn change_visibility_reschedules(s: Subject) {
    s.queue.enqueue(&job(4), Duration::ZERO).await.unwrap();
    let got = s.queue.receive(10, VISIBILITY).await.unwrap();
    s.queue
        .change_visibility(&got[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    let again = s.queue.receive(10, VISIBILITY).await.unwrap();
    assert_eq!(again.len(), 1, "visible again at once");
    s.queue
        .change_visibility(&again[0].receipt, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(s.queue.receive(10, VISIBILITY).await.unwrap().is_empty());
    s.pass(Duration::from_secs(2)).await;
    assert_eq!(
        s.queue.receive(10, VISIBILITY).await.unwrap()[0].receive_count,
        3
    );
}

async fn receive_respects_max(s: Subject) {
    for n in 0..5 {
        s.queue.enqueue(&job(10 + n), Duration::ZERO).await.unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10 {
        let batch = s.queue.receive(2, VISIBILITY).await.unwrap();
        assert!(batch.len() <= 2);
        seen.extend(batch.into_iter().map(|m| m.message_id));
        if seen.len() == 5 {
            break;
        }
    }
    assert_eq!(
        seen.len(),
        5,
        "every message received exactly once while hidden"
    );
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory_adapter {
            $(#[tokio::test] async fn $case() { super::$case(super::memory()).await })*
        }
        mod sqs_adapter {
            $(#[tokio::test] async fn $case() { super::$case(super::sqs().await).await })*
        }
    };
}

contract!(
    round_trip_then_delete,
    delay_is_respected,
    visibility_hides_then_returns_with_higher_count,
    change_visibility_reschedules,
    receive_respects_max,
);

/// The template's redrive policy moves a message to the DLQ after `maxReceiveCount` receives;
/// the in-memory queue does the same.
#[tokio::test]
async fn redrive_to_dead_letter_queue_after_max_receives() {
    use shared::testing::provision::create_all;
    use shared::testing::template::Template;
    let config = common::aws().await;
    let template = Template::load().unwrap();
    let max_receives: u32 = {
        let policy = &template.properties("EmailQueue").unwrap()["RedrivePolicy"];
        template
            .scalar(&policy["maxReceiveCount"])
            .unwrap()
            .parse()
            .unwrap()
    };
    let prefix = shared::testing::unique_name("redrive") + "-";
    let created = create_all(&config, &template, &prefix).await.unwrap();
    let url = |id: &str| created.iter().find(|(c, _)| c == id).unwrap().1.clone();
    let client = aws_sdk_sqs::Client::new(&config);
    let queue = SqsQueue::new(client.clone(), url("EmailQueue"));
    let dlq = SqsQueue::new(client, url("EmailDeadLetterQueue"));
    queue.enqueue(&job(99), Duration::ZERO).await.unwrap();
    for attempt in 1..=max_receives {
        let got = queue.receive(1, VISIBILITY).await.unwrap();
        assert_eq!(got[0].receive_count, attempt);
        queue
            .change_visibility(&got[0].receipt, Duration::ZERO)
            .await
            .unwrap();
    }
    assert!(
        queue.receive(1, VISIBILITY).await.unwrap().is_empty(),
        "moved on receive {} (maxReceiveCount + 1)",
        max_receives + 1
    );
    let dead = dlq.receive(10, VISIBILITY).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].job().unwrap().id, "order-confirmation#o99");

    let clock = ManualClock::new(Utc::now());
    let memory = MemoryQueue::with_redrive(clock.shared(), max_receives);
    memory.enqueue(&job(99), Duration::ZERO).await.unwrap();
    for _ in 1..=max_receives {
        let got = memory.receive(1, VISIBILITY).await.unwrap();
        memory
            .change_visibility(&got[0].receipt, Duration::ZERO)
            .await
            .unwrap();
    }
    assert!(memory.receive(1, VISIBILITY).await.unwrap().is_empty());
    assert_eq!(memory.dead_letters().len(), 1);
}
