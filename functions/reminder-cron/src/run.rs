//! One reminder run: find due reminders, claim each, send, complete; hand failures to the
//! email queue; never read an error as "nothing to do".
//!
//! Who delivers a reminder is decided by its claim alone (see `shared::reminder_claim`): the
//! run sends and completes it `sent:`, or queues it and completes it `queued:`; the email
//! worker sends a queued reminder only once the claim says `queued:`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use shared::appointments::{Appointment, stored_instant};
use shared::claims::{Claim, ClaimKey, ClaimOutcome, ClaimRequest, ClaimStatus, ClaimStore};
use shared::deadline::{Deadline, to_delta};
use shared::email_job::{Email, EmailJob, Reminder};
use shared::error::{Classify, ErrorClass};
use shared::mailer::SendFailure;
use shared::metrics::Metric;
use shared::reminder_claim::Settled;
use shared::retry::retry;
use shared::store_error::StoreError;
use shared::telemetry::{CorrelationId, log_hash};

use crate::App;
use crate::due::{ReminderKind, Verdict};
use crate::tuning::{
    COMPLETION_ATTEMPTS, COMPLETION_BACKOFF, LEASE, LEASE_EXTENSION, RELEASE_ATTEMPTS,
    REMINDER_BUDGET,
};

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
    /// Reminders whose window just closed (reported once).
    pub skipped_too_late: u32,
    /// Send failed; handed to the email queue for retry.
    pub queued_for_retry: u32,
    /// Unsendable (cannot be rendered): failed permanently, metered, admin alerted.
    pub failed_permanent: u32,
    /// Not started because claim + send + completion no longer fit before the deadline
    /// margin (the next run takes them).
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

/// Runs once at the app's clock time.
pub async fn run(app: &App, deadline: &Deadline) -> Result<Summary, RunError> {
    let now = app.clock.now();
    let rules = &app.settings.rules;
    let appointments = app
        .appointments
        .approved_starting_between(now, now + to_delta(rules.horizon()))
        .await
        .map_err(RunError::Query)?;

    let mut summary = Summary::default();
    let mut due = Vec::new();
    for appointment in appointments {
        for kind in &rules.kinds {
            match rules.verdict(*kind, appointment.starts_at, now) {
                Verdict::Due => due.push((appointment.clone(), *kind)),
                Verdict::JustTooLate => summary.skipped_too_late += 1,
                Verdict::NotDue => {}
            }
        }
    }
    summary.due = u32::try_from(due.len()).unwrap_or(u32::MAX);

    let outcomes: Vec<_> = futures::stream::iter(due)
        .map(|(appointment, kind)| remind(app, deadline, appointment, kind))
        .buffer_unordered(app.settings.concurrency.max(1))
        .collect()
        .await;
    for outcome in outcomes {
        count(&mut summary, outcome);
    }
    if summary.errors > 0 {
        Err(RunError::Partial { summary })
    } else {
        Ok(summary)
    }
}

fn count(summary: &mut Summary, outcome: Outcome) {
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

/// The claim key `reminder#<appointment>#<lead tag>#<starts_at>#v<version>`: a reschedule
/// (new start or new version, even back to the original time) gets fresh reminders.
pub fn claim_key(appointment: &Appointment, kind: ReminderKind) -> ClaimKey {
    ClaimKey::new(
        "reminder",
        &[
            &appointment.id,
            &kind.tag(),
            &stored_instant(appointment.starts_at),
            &format!("v{}", appointment.version),
        ],
    )
}

/// The email job of one reminder; its id is the claim key, it is not sent after the start.
pub fn job(
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
        version: Some(u64::from(appointment.version)),
    };
    EmailJob::new(
        key.as_str(),
        Email::Reminder(reminder),
        &appointment.customer_email,
        CorrelationId::from_upstream(key.as_str()),
        now,
    )
    .not_after(appointment.starts_at)
}

async fn remind(
    app: &App,
    deadline: &Deadline,
    appointment: Appointment,
    kind: ReminderKind,
) -> Outcome {
    if !deadline.has_time_for(REMINDER_BUDGET) {
        return Outcome::Deferred;
    }
    let key = claim_key(&appointment, kind);
    let lease_until = app.clock.now() + to_delta(LEASE);
    let request = ClaimRequest::new(key.clone(), lease_until, app.settings.retain_claims_for);
    let claim = match app.claims.claim(&request).await {
        Ok(ClaimOutcome::Acquired(claim)) => claim,
        Ok(_) => {
            app.metrics.incr(Metric::DuplicateSuppressed);
            return Outcome::AlreadySent;
        }
        Err(e) => {
            tracing::error!(claim = %key, error = %e, "claim failed");
            return Outcome::Error;
        }
    };
    let now = app.clock.now();
    let job = job(&appointment, kind, &key, now);
    let settings = &app.settings;
    let email =
        match shared::render::render(&job, &settings.sender, settings.default_time_zone, now) {
            Ok(email) => email,
            Err(e) => {
                let reason = e.to_string();
                return unrenderable(app, deadline, &claim, &job, &reason).await;
            }
        };
    match app.mailer.send(&email).await {
        Ok(sent) => {
            app.metrics.incr(Metric::ReminderSent);
            settle(
                app,
                deadline,
                &claim,
                Settled::Sent(sent.message_id),
                Outcome::Sent,
            )
            .await
        }
        Err(e) => {
            if e.kind == SendFailure::Ambiguous {
                app.metrics.incr(Metric::SendAmbiguous);
            }
            tracing::warn!(claim = %key, failure = ?e.kind, "reminder send failed; queueing for retry");
            hand_to_queue(app, deadline, &claim, &job).await
        }
    }
}

/// A reminder that cannot be rendered (bad address, unknown zone, bad link) will never be:
/// the admin is alerted, then the claim records `FAILED_PERMANENT` and the metric counts it.
async fn unrenderable(
    app: &App,
    deadline: &Deadline,
    claim: &Claim,
    job: &EmailJob,
    reason: &str,
) -> Outcome {
    tracing::error!(
        claim = %claim.key, error = reason, to = %log_hash(&job.to),
        "reminder cannot be rendered"
    );
    let alert = job.header().admin_alert(
        &format!("reminder cannot be rendered: {reason}"),
        &app.settings.admin_email,
        app.clock.now(),
    );
    if let Err(e) = app.queue.enqueue(&alert, Duration::ZERO).await {
        tracing::error!(claim = %claim.key, error = %e, "admin alert not queued; releasing the claim");
        release(app, claim).await;
        return Outcome::Error;
    }
    let failed = record_until_deadline(app, deadline, claim, || {
        app.claims.fail_permanently(claim, "unrenderable")
    })
    .await;
    match failed {
        Ok(()) => {
            app.metrics.incr(Metric::EmailFailedPermanent);
            Outcome::FailedPermanent
        }
        Err(e) => {
            tracing::error!(claim = %claim.key, error = %e, "permanent failure not recorded");
            Outcome::Error
        }
    }
}

/// Completes the claim with `settled`, retried until the deadline: losing it would let a later
/// run deliver the reminder again.
async fn settle(
    app: &App,
    deadline: &Deadline,
    claim: &Claim,
    settled: Settled,
    outcome: Outcome,
) -> Outcome {
    let result = settled.to_result();
    match record_until_deadline(app, deadline, claim, || {
        complete(&*app.claims, claim, &result)
    })
    .await
    {
        Ok(()) => outcome,
        Err(e) => {
            tracing::error!(claim = %claim.key, error = %e, "could not record a reminder outcome");
            Outcome::Error
        }
    }
}

/// Runs `op` in rounds of [`COMPLETION_ATTEMPTS`] until it succeeds, the claim turns out not
/// to be ours, or the deadline margin is reached; before each round the lease is pushed
/// [`LEASE_EXTENSION`] ahead so no other run takes the reminder over meanwhile.
async fn record_until_deadline<F, Fut>(
    app: &App,
    deadline: &Deadline,
    claim: &Claim,
    mut op: F,
) -> Result<(), StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    let mut rng = StdRng::from_os_rng();
    let mut round = 0u32;
    loop {
        if round > 0 {
            extend(app, claim).await;
        }
        match retry(COMPLETION_ATTEMPTS, COMPLETION_BACKOFF, &mut rng, |_| op()).await {
            Ok(()) => return Ok(()),
            Err(e @ StoreError::Conflict(_)) => return Err(e),
            Err(e) if !e.class().is_retryable() || deadline.is_reached() => return Err(e),
            Err(e) => tracing::warn!(claim = %claim.key, error = %e, round, "recording retried"),
        }
        round += 1;
    }
}

async fn extend(app: &App, claim: &Claim) {
    let until = app.clock.now() + to_delta(LEASE_EXTENSION);
    if let Err(e) = app.claims.extend(claim, until).await {
        tracing::warn!(claim = %claim.key, error = %e, "lease not extended");
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

/// Gives the claim back (a few attempts; otherwise its lease lapses).
async fn release(app: &App, claim: &Claim) {
    let mut rng = StdRng::from_os_rng();
    if let Err(e) = retry(RELEASE_ATTEMPTS, COMPLETION_BACKOFF, &mut rng, |_| {
        app.claims.release(claim)
    })
    .await
    {
        tracing::warn!(claim = %claim.key, error = %e, "claim not released; its lease lapses");
    }
}

/// A failed send becomes an email job; the claim records the hand-over, and the worker waits
/// for that record before sending. If the queue answers with an error the job may still have
/// landed: the claim is released and a later run sends directly, which the worker then sees
/// (`sent:`) and drops the job.
async fn hand_to_queue(app: &App, deadline: &Deadline, claim: &Claim, job: &EmailJob) -> Outcome {
    match app.queue.enqueue(job, app.settings.handover_delay).await {
        Ok(message_id) => {
            app.metrics.count(
                Metric::RetryScheduled,
                1.0,
                Some(ErrorClass::Transient.as_str()),
            );
            settle(
                app,
                deadline,
                claim,
                Settled::Queued(message_id),
                Outcome::Queued,
            )
            .await
        }
        Err(e) => {
            tracing::error!(claim = %claim.key, error = %e, "queue unavailable; releasing the claim");
            release(app, claim).await;
            Outcome::Error
        }
    }
}
