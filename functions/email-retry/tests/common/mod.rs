//! Test harness: a worker on in-memory adapters (or DynamoDB on moto), jobs and batches.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use email_retry::record::{EmailStore, MemoryEmailStore};
use email_retry::worker::as_lambda_record;
use email_retry::{Settings, Worker};
use shared::clock::ManualClock;
use shared::deadline::Deadline;
use shared::email_job::{Email, EmailJob, OrderConfirmation, SignInNotice};
use shared::mailer::{Mailer, MemoryMailer, OutgoingEmail, SendError, SendFailure, SentEmail};
use shared::metrics::{MemorySink, Metrics};
use shared::queue::{EmailQueue, MemoryQueue, ReceivedMessage};
use shared::retry::Backoff;
use shared::telemetry::CorrelationId;

pub const SENDER: &str = "noreply@example.com";
pub const ADMIN: &str = "admin@example.com";

pub fn settings() -> Settings {
    Settings {
        sender: SENDER.into(),
        admin_email: ADMIN.into(),
        time_zone: chrono_tz::America::New_York,
        retry_budget: 3,
        backoff: Backoff::new(Duration::from_secs(10), Duration::from_secs(60)),
        paused_delay: Duration::from_secs(900),
        concurrency: 4,
        record_budget: Duration::from_secs(8),
        lease_cap: Duration::from_secs(60),
    }
}

/// A mailer whose answer depends on the recipient's local part: `retry-*` throttled,
/// `perm-*` rejected, `paused-*` account paused, `ambiguous-*` timed out after sending;
/// every call is counted; `advance` moves the manual clock per call.
#[derive(Debug)]
pub struct ScriptedMailer {
    pub inner: MemoryMailer,
    pub calls: AtomicU64,
    pub clock: Option<(ManualClock, Duration)>,
    pub latency: Duration,
}

impl ScriptedMailer {
    pub fn new() -> Self {
        Self {
            inner: MemoryMailer::new(["example.com"]),
            calls: AtomicU64::new(0),
            clock: None,
            latency: Duration::ZERO,
        }
    }
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Mailer for ScriptedMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<SentEmail, SendError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if let Some((clock, by)) = &self.clock {
            clock.advance(*by);
        }
        let fail = |kind| Err(SendError::new(kind, "scripted"));
        match email.to.split('-').next().unwrap_or_default() {
            "retry" => fail(SendFailure::Retryable),
            "perm" => fail(SendFailure::Permanent),
            "paused" => fail(SendFailure::AccountPaused),
            "ambiguous" => fail(SendFailure::Ambiguous),
            _ => self.inner.send(email).await,
        }
    }
}

pub struct Harness {
    pub clock: ManualClock,
    pub store: Arc<dyn EmailStore>,
    pub mailer: Arc<ScriptedMailer>,
    pub queue: Arc<MemoryQueue>,
    pub metrics: MemorySink,
    pub worker: Worker,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(settings(), ScriptedMailer::new(), None)
    }

    pub fn with(
        settings: Settings,
        mailer: ScriptedMailer,
        store: Option<Arc<dyn EmailStore>>,
    ) -> Self {
        let clock = match &mailer.clock {
            Some((c, _)) => c.clone(),
            None => ManualClock::new(Utc::now()),
        };
        let store = store.unwrap_or_else(|| Arc::new(MemoryEmailStore::new(clock.shared())));
        let mailer = Arc::new(mailer);
        let queue = Arc::new(MemoryQueue::new(clock.shared()));
        let (metrics, sink) = Metrics::in_memory("email-retry");
        let worker = Worker::new(
            store.clone(),
            mailer.clone(),
            queue.clone(),
            metrics,
            settings,
            clock.shared(),
            Some(7),
        );
        Self {
            clock,
            store,
            mailer,
            queue,
            metrics: sink,
            worker,
        }
    }

    pub fn deadline(&self) -> Deadline {
        Deadline::after(
            Duration::from_secs(30),
            Duration::from_secs(3),
            self.clock.shared(),
        )
    }

    /// Queues `jobs`, receives them all and returns the received messages.
    pub async fn deliver(&self, jobs: &[EmailJob]) -> Vec<ReceivedMessage> {
        for job in jobs {
            self.queue.enqueue(job, Duration::ZERO).await.unwrap();
        }
        self.queue
            .receive(100, Duration::from_secs(180))
            .await
            .unwrap()
    }

    pub async fn handle(&self, messages: &[ReceivedMessage]) -> SqsBatchResponse {
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(as_lambda_record).collect();
        self.worker.handle(event, &self.deadline()).await
    }

    /// Receives everything visible, handles it, deletes what succeeded (as Lambda does).
    pub async fn round(&self) -> (usize, SqsBatchResponse) {
        let messages = self
            .queue
            .receive(10, Duration::from_secs(180))
            .await
            .unwrap();
        let response = self.handle(&messages).await;
        delete_done(&*self.queue, &messages, &response).await;
        (messages.len(), response)
    }
}

/// Deletes the messages not reported as failures (what the Lambda poller does).
pub async fn delete_done(
    queue: &dyn EmailQueue,
    messages: &[ReceivedMessage],
    response: &SqsBatchResponse,
) {
    for m in messages {
        if !failed_ids(response).contains(&m.message_id) {
            queue.delete(&m.receipt).await.unwrap();
        }
    }
}

pub fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

pub fn order_job(order: &str, to: &str) -> EmailJob {
    EmailJob::new(
        format!("order-confirmation#{order}"),
        Email::OrderConfirmation(OrderConfirmation {
            order_id: order.into(),
            amount_cents: 1999,
            currency: "usd".into(),
            customer_name: "Jane".into(),
        }),
        to,
        CorrelationId::from_upstream(&format!("evt_{order}")),
        Utc::now(),
    )
}

pub fn sign_in_job(user: &str, to: &str) -> EmailJob {
    EmailJob::new(
        format!("sign-in#{user}#203.0.113.9#2026070114"),
        Email::SignInNotice(SignInNotice {
            name: "Jane".into(),
            ip: "203.0.113.9".into(),
            signed_in_at: "2026-07-01T14:00:00Z".parse().unwrap(),
            time_zone: None,
        }),
        to,
        CorrelationId::from_upstream(&format!("req_{user}")),
        Utc::now(),
    )
}

pub mod moto;
