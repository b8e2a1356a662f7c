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
use email_retry::{App, Ports, Settings};
use shared::appointments::MemoryAppointments;
use shared::claims::MemoryClaimStore;
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

/// The production settings with a budget of 3 and short backoff (10 s base, 60 s cap).
pub fn settings() -> Settings {
    let mut s = Settings::new(SENDER, ADMIN, chrono_tz::America::New_York).with_retry_budget(3);
    s.backoff = Backoff::new(Duration::from_secs(10), Duration::from_secs(60));
    s.concurrency = 4;
    s
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
    pub appointments: Arc<MemoryAppointments>,
    pub claims: Arc<MemoryClaimStore>,
    pub worker: App,
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
        let appointments = Arc::new(MemoryAppointments::default());
        let claims = Arc::new(MemoryClaimStore::new(clock.shared()));
        let ports = Ports {
            store: store.clone(),
            mailer: mailer.clone(),
            queue: queue.clone(),
            appointments: appointments.clone(),
            claims: claims.clone(),
        };
        let worker = App::build(ports, clock.shared(), metrics, settings).with_seed(7);
        Self {
            clock,
            store,
            mailer,
            queue,
            metrics: sink,
            appointments,
            claims,
            worker,
        }
    }

    /// Makes a queued reminder current: its appointment approved at `starts_at` (version 1)
    /// and its claim completed by reminder-cron with the hand-over to the queue.
    pub async fn reminder_handed_over(&self, job_id: &str, appointment_id: &str, starts_at: &str) {
        let queued = shared::reminder_claim::Settled::Queued("sqs-1".into());
        self.reminder_claimed(job_id, appointment_id, starts_at, Some(queued))
            .await;
    }

    /// The appointment approved at `starts_at` (version 1) and the reminder's claim taken by
    /// reminder-cron, completed with `settled` (left in progress when `None`).
    pub async fn reminder_claimed(
        &self,
        job_id: &str,
        appointment_id: &str,
        starts_at: &str,
        settled: Option<shared::reminder_claim::Settled>,
    ) {
        use shared::appointments::{Appointment, AppointmentStore, Status};
        use shared::claims::{ClaimKey, ClaimOutcome, ClaimRequest, ClaimStore};
        let starts_at = chrono::DateTime::parse_from_rfc3339(starts_at)
            .unwrap()
            .with_timezone(&Utc);
        self.appointments
            .put(&Appointment {
                id: appointment_id.into(),
                customer_email: "sam@example.com".into(),
                customer_name: "Sam Lee".into(),
                service: "Consultation".into(),
                starts_at,
                time_zone: "America/New_York".into(),
                duration_minutes: 60,
                status: Status::Approved,
                version: 1,
                meeting_link: None,
            })
            .await
            .unwrap();
        let request = ClaimRequest::new(
            ClaimKey::from_stored(job_id.to_owned()),
            self.clock.shared().now() + chrono::TimeDelta::seconds(60),
            Duration::from_secs(86_400),
        );
        let ClaimOutcome::Acquired(claim) = self.claims.claim(&request).await.unwrap() else {
            panic!("reminder claim taken")
        };
        if let Some(settled) = settled {
            let result = settled.to_result();
            self.claims.complete(&claim, Some(&result)).await.unwrap();
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
