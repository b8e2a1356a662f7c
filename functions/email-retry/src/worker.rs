//! Delivers one SQS batch of email jobs: claim, render, send, record, and decide what comes
//! back (partial-batch response) and when (visibility backoff).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use shared::clock::SharedClock;
use shared::deadline::Deadline;
use shared::email_job::{AdminAlert, DecodeError, Email, EmailJob, JobHeader};
use shared::error::Classify;
use shared::mailer::{Mailer, SendFailure};
use shared::metrics::{Metric, Metrics};
use shared::queue::{EmailQueue, Receipt, ReceivedMessage};
use shared::render::render;
use shared::telemetry::log_hash;
use tracing::{error, info, warn};

use crate::config::Settings;
use crate::record::{Begin, EmailStore, Lease};

/// What happens to one record of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Finished (sent, suppressed duplicate, failed for good, or re-queued): Lambda deletes it.
    Done,
    /// Reported in `batchItemFailures`: it comes back after its visibility timeout.
    ComeBack,
}

/// The worker and its ports, built once per cold start.
#[derive(Debug)]
pub struct Worker {
    store: Arc<dyn EmailStore>,
    mailer: Arc<dyn Mailer>,
    queue: Arc<dyn EmailQueue>,
    metrics: Metrics,
    settings: Settings,
    clock: SharedClock,
    rng: Mutex<StdRng>,
}

/// State shared by the records of one batch.
#[derive(Debug, Default)]
struct BatchState {
    /// SES said the account is paused: hold the rest without calling it.
    paused: AtomicBool,
}

impl Worker {
    /// A worker on these ports; `seed` makes the backoff jitter reproducible.
    pub fn new(
        store: Arc<dyn EmailStore>,
        mailer: Arc<dyn Mailer>,
        queue: Arc<dyn EmailQueue>,
        metrics: Metrics,
        settings: Settings,
        clock: SharedClock,
        seed: Option<u64>,
    ) -> Self {
        let seed = seed.unwrap_or_else(|| rand::rng().next_u64());
        Self {
            store,
            mailer,
            queue,
            metrics,
            settings,
            clock,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// The worker's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Handles one batch; returns only the real message ids of records that must come back.
    pub async fn handle(&self, event: SqsEvent, deadline: &Deadline) -> SqsBatchResponse {
        let state = BatchState::default();
        let results: Vec<(Option<String>, Disposition)> = futures::stream::iter(event.records)
            .map(|record| {
                let state = &state;
                async move {
                    let id = record.message_id.clone().filter(|id| !id.is_empty());
                    let disposition = self.process(&record, deadline, state).await;
                    (id, disposition)
                }
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        let mut response = SqsBatchResponse::default();
        for (id, disposition) in results {
            match (id, disposition) {
                (Some(id), Disposition::ComeBack) => {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id;
                    response.batch_item_failures.push(failure);
                }
                (None, Disposition::ComeBack) => {
                    error!("a record without a message id cannot be reported for retry");
                }
                (_, Disposition::Done) => {}
            }
        }
        response
    }

    async fn process(
        &self,
        record: &SqsMessage,
        deadline: &Deadline,
        state: &BatchState,
    ) -> Disposition {
        let message_id = record.message_id.as_deref().unwrap_or_default();
        if !deadline.has_time_for(self.settings.record_budget) {
            info!(
                message_id,
                "deadline margin reached: record handed back unstarted"
            );
            return Disposition::ComeBack;
        }
        let receipt = Receipt(record.receipt_handle.clone().unwrap_or_default());
        let attempt = receive_count(record);
        let decoded = match record.body.as_deref().map(EmailJob::decode) {
            Some(Ok(job)) => Ok(job),
            // A job whose data cannot be used is failed for good (with an alert when
            // critical), like one that cannot be rendered: retrying cannot fix it.
            Some(Err(DecodeError::InvalidData { header, reason })) => Err((header, reason)),
            Some(Err(e)) => {
                warn!(message_id, attempt, error = %e, "malformed email job: left for the DLQ");
                if attempt >= self.settings.retry_budget {
                    self.metrics.incr(Metric::DeadLettered);
                }
                // Backing off like any failure brings it to the DLQ redrive in bounded time.
                self.back_off(&receipt, attempt).await;
                return Disposition::ComeBack;
            }
            None => {
                warn!(
                    message_id,
                    attempt, "email job without a body: left for the DLQ"
                );
                return Disposition::ComeBack;
            }
        };
        let header = match &decoded {
            Ok(job) => job.header(),
            Err((header, _)) => header.clone(),
        };
        let span = tracing::info_span!(
            "email",
            message_id,
            job = %log_hash(&header.id),
            template = %header.template,
            correlation_id = %header.correlation_id,
            attempt
        );
        let _enter = span.enter();
        if let (true, Ok(job)) = (state.paused.load(Ordering::SeqCst), &decoded) {
            return self.hold_while_paused(job, &receipt).await;
        }
        let lease_until = deadline.lease_until(self.settings.lease_cap);
        match self.store.begin(&header.id, lease_until).await {
            Err(e) => {
                warn!(error = %e, "email record unavailable: message comes back");
                self.metrics
                    .count(Metric::RetryScheduled, 1.0, Some(e.class().as_str()));
                self.back_off(&receipt, attempt).await;
                Disposition::ComeBack
            }
            Ok(Begin::Finished(existing)) => {
                info!(
                    status = existing.status.as_str(),
                    "job already finished: duplicate acknowledged"
                );
                self.metrics.incr(Metric::DuplicateSuppressed);
                Disposition::Done
            }
            Ok(Begin::Busy(existing)) => {
                info!("another delivery holds the send lease: message comes back");
                self.metrics.incr(Metric::ClaimLost);
                let wait = (existing.lease_until - self.clock.now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    + Duration::from_secs(1);
                self.set_visibility(&receipt, wait).await;
                Disposition::ComeBack
            }
            Ok(Begin::Acquired(lease)) => match &decoded {
                Ok(job) => self.deliver(job, &lease, &receipt, attempt, state).await,
                Err((_, reason)) => {
                    self.give_up(&header, &lease, &format!("invalid data: {reason}"))
                        .await
                }
            },
        }
    }

    async fn deliver(
        &self,
        job: &EmailJob,
        lease: &Lease,
        receipt: &Receipt,
        attempt: u32,
        state: &BatchState,
    ) -> Disposition {
        let email = match render(
            job,
            &self.settings.sender,
            self.settings.time_zone,
            self.clock.now(),
        ) {
            Ok(email) => email,
            Err(e) => {
                return self
                    .give_up(&job.header(), lease, &format!("render: {e}"))
                    .await;
            }
        };
        let failure = match self.mailer.send(&email).await {
            Ok(sent) => {
                self.metrics.incr(Metric::EmailSent);
                info!(ses_message_id = %sent.message_id, "email sent");
                if let Err(e) = self.record_sent(lease, &sent.message_id).await {
                    // The email went out: deleting the message keeps it from being sent twice.
                    error!(error = %e, "email sent but its record could not be written");
                }
                return Disposition::Done;
            }
            Err(e) => e,
        };
        match failure.kind {
            SendFailure::Permanent => {
                self.give_up(
                    &job.header(),
                    lease,
                    &format!("rejected: {}", failure.detail),
                )
                .await
            }
            SendFailure::AccountPaused => {
                state.paused.store(true, Ordering::SeqCst);
                error!(detail = %failure.detail, "SES sending is paused for the account");
                self.release(lease, "ses account paused").await;
                self.hold_while_paused(job, receipt).await
            }
            SendFailure::Ambiguous if !job.critical => {
                // At most once for non-critical mail: do not risk a second copy.
                warn!(detail = %failure.detail, "ambiguous send recorded; not resent");
                if let Err(e) = self
                    .store
                    .ambiguous(lease, &format!("ambiguous: {}", failure.detail))
                    .await
                {
                    warn!(error = %e, "ambiguous send could not be recorded");
                }
                Disposition::Done
            }
            SendFailure::Ambiguous | SendFailure::Retryable => {
                let what = if failure.kind == SendFailure::Ambiguous {
                    "ambiguous"
                } else {
                    "retryable"
                };
                let error = format!("{what}: {}", failure.detail);
                if attempt >= self.settings.retry_budget {
                    let reason =
                        format!("retry budget of {attempt} attempts exhausted; last error {error}");
                    return self.give_up(&job.header(), lease, &reason).await;
                }
                self.metrics.count(Metric::RetryScheduled, 1.0, Some(what));
                self.release(lease, &error).await;
                self.back_off(receipt, attempt).await;
                Disposition::ComeBack
            }
        }
    }

    /// Writes `SENT`, retrying briefly: a lost write would let the lease lapse.
    async fn record_sent(
        &self,
        lease: &Lease,
        message_id: &str,
    ) -> Result<(), crate::record::StoreError> {
        let backoff =
            shared::retry::Backoff::new(Duration::from_millis(50), Duration::from_millis(400));
        let mut rng = StdRng::seed_from_u64(self.next_seed());
        shared::retry::retry(3, backoff, &mut rng, |_| self.store.sent(lease, message_id)).await
    }

    async fn release(&self, lease: &Lease, error: &str) {
        if let Err(e) = self.store.retry_later(lease, error).await {
            warn!(error = %e, "lease not released; it lapses at its deadline");
        }
    }

    /// `FAILED_PERMANENT`, with an admin alert first for critical jobs.
    async fn give_up(&self, job: &JobHeader, lease: &Lease, reason: &str) -> Disposition {
        if job.critical && job.template != "admin_alert" {
            let alert = EmailJob::new(
                format!("admin-alert#{}", job.id),
                Email::AdminAlert(AdminAlert {
                    job_id: job.id.clone(),
                    template: job.template.clone(),
                    reason: reason.to_owned(),
                }),
                self.settings.admin_email.clone(),
                job.correlation_id.clone(),
                Utc::now(),
            );
            if let Err(e) = self.queue.enqueue(&alert, Duration::ZERO).await {
                error!(error = %e, "admin alert not queued: the job comes back");
                self.release(lease, "admin alert not queued").await;
                return Disposition::ComeBack;
            }
        }
        if let Err(e) = self.store.failed(lease, reason).await {
            error!(error = %e, "permanent failure not recorded: the job comes back");
            return Disposition::ComeBack;
        }
        warn!(reason, "email failed permanently");
        self.metrics.incr(Metric::EmailFailedPermanent);
        Disposition::Done
    }

    /// Puts a fresh copy back with a long delay (the receive count restarts, so the pause does
    /// not spend the retry budget) and lets the original be deleted.
    async fn hold_while_paused(&self, job: &EmailJob, receipt: &Receipt) -> Disposition {
        self.metrics.incr(Metric::SesAccountPaused);
        match self.queue.enqueue(job, self.settings.paused_delay).await {
            Ok(_) => Disposition::Done,
            Err(e) => {
                warn!(error = %e, "paused job not re-queued: message held by visibility");
                self.set_visibility(receipt, self.settings.paused_delay)
                    .await;
                Disposition::ComeBack
            }
        }
    }

    /// Hides the message for a full-jitter backoff after `attempt` (1-based).
    async fn back_off(&self, receipt: &Receipt, attempt: u32) {
        let wait = backoff_for(&self.settings, attempt, &mut *self.rng());
        self.set_visibility(receipt, wait).await;
    }

    async fn set_visibility(&self, receipt: &Receipt, wait: Duration) {
        if let Err(e) = self.queue.change_visibility(receipt, wait).await {
            warn!(error = %e, "visibility not changed; the queue default applies");
        }
    }

    fn rng(&self) -> std::sync::MutexGuard<'_, StdRng> {
        self.rng.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next_seed(&self) -> u64 {
        self.rng().next_u64()
    }
}

/// The visibility delay after failed attempt `attempt` (1-based): full jitter in
/// `[0, min(cap, base * 2^(attempt-1))]`.
pub fn backoff_for(settings: &Settings, attempt: u32, rng: &mut impl rand::Rng) -> Duration {
    settings.backoff.full_jitter(attempt.saturating_sub(1), rng)
}

/// `ApproximateReceiveCount`, 1 when absent or unreadable.
pub fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// An SQS record as Lambda would deliver a message received with [`EmailQueue::receive`]
/// (for the local stack and tests that drive the handler from a real queue).
pub fn as_lambda_record(message: &ReceivedMessage) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(message.message_id.clone());
    record.receipt_handle = Some(message.receipt.0.clone());
    record.body = Some(message.body.clone());
    record.attributes.insert(
        "ApproximateReceiveCount".into(),
        message.receive_count.to_string(),
    );
    record.event_source = Some("aws:sqs".into());
    record
}
