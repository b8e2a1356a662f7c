//! One reminder run: find due reminders, claim each, send, complete; hand failures to the
//! email queue; never read an error as "nothing to do".

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::StreamExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use shared::claims::{Claim, ClaimKey, ClaimOutcome, ClaimRequest, ClaimStatus, ClaimStore};
use shared::clock::SharedClock;
use shared::deadline::{Deadline, to_delta};
use shared::email_job::{Email, EmailJob, Reminder};
use shared::error::ErrorClass;
use shared::mailer::Mailer;
use shared::metrics::{Metric, Metrics};
use shared::queue::EmailQueue;
use shared::retry::{Backoff, retry};
use shared::store_error::StoreError;
use shared::telemetry::{CorrelationId, log_hash};

use crate::appointments::{Appointment, AppointmentStore, stored_instant};
use crate::due::{DueRules, ReminderKind, Verdict};

/// The ports a run uses.
#[derive(Debug, Clone)]
pub struct Deps {
    /// Appointments.
    pub appointments: Arc<dyn AppointmentStore>,
    /// Claims.
    pub claims: Arc<dyn ClaimStore>,
    /// Email queue (retries of failed sends).
    pub queue: Arc<dyn EmailQueue>,
    /// Mailer.
    pub mailer: Arc<dyn Mailer>,
    /// Clock.
    pub clock: SharedClock,
    /// Metrics.
    pub metrics: Metrics,
}

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Due rules.
    pub rules: DueRules,
    /// Reminders processed at once.
    pub concurrency: usize,
    /// Sender address.
    pub sender: String,
    /// Zone for appointments without one.
    pub default_time_zone: Tz,
    /// How long claim records are kept.
    pub retain_claims_for: Duration,
    /// Longest lease one reminder holds.
    pub lease_cap: Duration,
}

/// What a run did (returned to the scheduler, logged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Reminders due in this run.
    pub due: u32,
    /// Claims this run won.
    pub claimed: u32,
    /// Sent by this run.
    pub sent: u32,
    /// Already sent, queued or being sent by another run.
    pub already_sent: u32,
    /// 24 h reminders whose window just closed (reported once).
    pub skipped_too_late: u32,
    /// Send failed; handed to the email queue for retry.
    pub queued_for_retry: u32,
    /// Unsendable (bad data); recorded as failed permanently.
    pub failed_permanent: u32,
    /// Not started because the deadline margin was reached (the next run takes them).
    pub deferred: u32,
    /// Store or queue errors (the run fails).
    pub errors: u32,
}

/// A run that hit errors: the scheduler retries it and an alarm fires.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The appointments query failed: nothing was decided.
    #[error("appointments query failed: {0}")]
    Query(#[source] StoreError),
    /// Some reminders could not be claimed or recorded; they will be retried.
    #[error("{} reminder(s) failed; summary: {summary:?}", summary.errors)]
    Partial {
        /// What the run did.
        summary: Summary,
    },
}

/// The runtime's `errorType`: `StoreUnavailable` when the appointments query failed,
/// `ReminderRunFailed` when some reminders failed (docs/RUNBOOK.md, "Error types"). The
/// messages carry counts and store errors, never addresses or names.
impl From<RunError> for shared::lambda::Failure {
    fn from(e: RunError) -> Self {
        let error_type = match e {
            RunError::Query(_) => "StoreUnavailable",
            RunError::Partial { .. } => "ReminderRunFailed",
        };
        Self::new(error_type, e.to_string())
    }
}

enum Outcome {
    Sent,
    AlreadySent,
    Queued,
    FailedPermanent,
    Deferred,
    Error,
}

/// Runs once at the deps' clock time.
pub async fn run(
    deps: &Deps,
    settings: &Settings,
    deadline: &Deadline,
) -> Result<Summary, RunError> {
    let now = deps.clock.now();
    let horizon = now + to_delta(ReminderKind::DayBefore.lead());
    let appointments = deps
        .appointments
        .approved_starting_between(now, horizon)
        .await
        .map_err(RunError::Query)?;

    let mut summary = Summary::default();
    let mut due = Vec::new();
    for appointment in appointments {
        for kind in ReminderKind::ALL {
            match settings.rules.verdict(kind, appointment.starts_at, now) {
                Verdict::Due => due.push((appointment.clone(), kind)),
                Verdict::JustTooLate => summary.skipped_too_late += 1,
                Verdict::NotDue => {}
            }
        }
    }
    summary.due = u32::try_from(due.len()).unwrap_or(u32::MAX);

    let outcomes: Vec<_> = futures::stream::iter(due)
        .map(|(appointment, kind)| remind(deps, settings, deadline, appointment, kind))
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    for outcome in outcomes {
        match outcome {
            Outcome::Sent => {
                summary.claimed += 1;
                summary.sent += 1;
            }
            Outcome::AlreadySent => summary.already_sent += 1,
            Outcome::Queued => {
                summary.claimed += 1;
                summary.queued_for_retry += 1;
            }
            Outcome::FailedPermanent => {
                summary.claimed += 1;
                summary.failed_permanent += 1;
            }
            Outcome::Deferred => summary.deferred += 1,
            Outcome::Error => summary.errors += 1,
        }
    }
    if summary.errors > 0 {
        Err(RunError::Partial { summary })
    } else {
        Ok(summary)
    }
}

/// The claim key: a reschedule (new start) gets fresh reminders.
pub fn claim_key(appointment: &Appointment, kind: ReminderKind) -> ClaimKey {
    ClaimKey::new(
        "reminder",
        &[
            &appointment.id,
            kind.as_str(),
            &stored_instant(appointment.starts_at),
        ],
    )
}

fn job(
    appointment: &Appointment,
    kind: ReminderKind,
    key: &ClaimKey,
    now: DateTime<Utc>,
) -> EmailJob {
    let reminder = Reminder {
        lead: kind.email_lead(),
        appointment_id: appointment.id.clone(),
        customer_name: appointment.customer_name.clone(),
        service: appointment.service.clone(),
        starts_at: appointment.starts_at,
        time_zone: Some(appointment.time_zone.clone()).filter(|z| !z.is_empty()),
        meeting_link: appointment.meeting_link.clone(),
        version: None,
    };
    EmailJob::new(
        key.as_str(),
        Email::Reminder(reminder),
        &appointment.customer_email,
        CorrelationId::from_upstream(key.as_str()),
        now,
    )
}

/// Recording an outcome after the email went out is retried until the deadline: losing it
/// would let a later run send the reminder again.
async fn record<F, Fut>(deadline: &Deadline, mut op: F) -> Result<(), StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    let mut rng = StdRng::from_os_rng();
    let backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(500));
    let mut last = None;
    for _ in 0..3 {
        match retry(5, backoff, &mut rng, |_| op()).await {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
        if deadline.is_reached() {
            break;
        }
    }
    Err(last.unwrap_or_else(|| StoreError::Conflict("not attempted".into())))
}

async fn remind(
    deps: &Deps,
    settings: &Settings,
    deadline: &Deadline,
    appointment: Appointment,
    kind: ReminderKind,
) -> Outcome {
    if deadline.is_reached() {
        return Outcome::Deferred;
    }
    let key = claim_key(&appointment, kind);
    let request = ClaimRequest::new(
        key.clone(),
        deadline.lease_until(settings.lease_cap),
        settings.retain_claims_for,
    );
    let claim = match deps.claims.claim(&request).await {
        Ok(ClaimOutcome::Acquired(claim)) => claim,
        Ok(_) => {
            deps.metrics.incr(Metric::DuplicateSuppressed);
            return Outcome::AlreadySent;
        }
        Err(e) => {
            tracing::error!(claim = %key, error = %e, "claim failed");
            return Outcome::Error;
        }
    };
    let now = deps.clock.now();
    let job = job(&appointment, kind, &key, now);
    let email = match shared::render::render(
        &job,
        &settings.sender,
        settings.default_time_zone,
        now,
    ) {
        Ok(email) => email,
        Err(e) => {
            tracing::error!(claim = %key, error = %e, to = %log_hash(&job.to), "reminder cannot be rendered");
            return finish(deadline, Outcome::FailedPermanent, || {
                deps.claims.fail_permanently(&claim, "unrenderable")
            })
            .await;
        }
    };
    match deps.mailer.send(&email).await {
        Ok(sent) => {
            deps.metrics.incr(Metric::ReminderSent);
            let result = format!("sent:{}", sent.message_id);
            finish(deadline, Outcome::Sent, || {
                complete(&*deps.claims, &claim, &result)
            })
            .await
        }
        Err(e) => {
            tracing::warn!(claim = %key, failure = ?e.kind, "reminder send failed; queueing for retry");
            hand_to_queue(deps, deadline, &claim, &job).await
        }
    }
}

/// Completes idempotently: if an earlier attempt's response was lost, the record already says
/// completed by us, which is success.
async fn complete(claims: &dyn ClaimStore, claim: &Claim, result: &str) -> Result<(), StoreError> {
    match claims.complete(claim, Some(result)).await {
        Err(StoreError::Conflict(why)) => match claims.get(&claim.key).await? {
            Some(r) if r.owner == claim.owner && r.status == ClaimStatus::Completed => Ok(()),
            _ => Err(StoreError::Conflict(why)),
        },
        other => other,
    }
}

async fn finish<F, Fut>(deadline: &Deadline, outcome: Outcome, op: F) -> Outcome
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    match record(deadline, op).await {
        Ok(()) => outcome,
        Err(e) => {
            tracing::error!(error = %e, "could not record a reminder outcome");
            Outcome::Error
        }
    }
}

/// A failed send becomes an email job; the claim records the hand-over so the customer still
/// gets the reminder once (the email worker dedupes by job id).
async fn hand_to_queue(deps: &Deps, deadline: &Deadline, claim: &Claim, job: &EmailJob) -> Outcome {
    match deps.queue.enqueue(job, Duration::ZERO).await {
        Ok(message_id) => {
            deps.metrics.count(
                Metric::RetryScheduled,
                1.0,
                Some(ErrorClass::Transient.as_str()),
            );
            let result = format!("queued:{message_id}");
            finish(deadline, Outcome::Queued, || {
                complete(&*deps.claims, claim, &result)
            })
            .await
        }
        Err(e) => {
            tracing::error!(claim = %claim.key, error = %e, "queue unavailable; releasing the claim");
            let _ = record(deadline, || deps.claims.release(claim)).await;
            Outcome::Error
        }
    }
}
