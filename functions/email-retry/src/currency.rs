//! Whether a queued job is still worth sending: not past its `not_after`, and for a reminder,
//! its appointment still approved at the same start and version, and its claim saying the
//! run handed it to the queue (see `shared::reminder_claim`).

use chrono::{DateTime, Utc};
use shared::claims::{ClaimKey, ClaimStatus};
use shared::email_job::{EmailJob, EmailTemplate};
use shared::reminder_claim::Settled;
use shared::store_error::StoreError;

use crate::App;

/// The verdict on one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Currency {
    /// Send it.
    Current,
    /// Do not send it, ever (the reason is recorded with `EXPIRED`).
    Expired(String),
    /// reminder-cron sent it directly (the SES message id): drop the queued copy.
    AlreadySent(String),
    /// The run has not recorded the hand-over yet (or released it): wait.
    Unsettled,
}

/// The appointment a queued reminder was written for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderOf {
    /// Appointment id.
    pub appointment_id: String,
    /// Its start when the reminder was queued.
    pub starts_at: DateTime<Utc>,
    /// Its version then (absent on jobs queued before versions were carried).
    pub version: Option<u32>,
}

/// The appointment of a reminder job; `None` for other jobs.
pub fn reminder_of(job: &EmailJob) -> Option<ReminderOf> {
    if !matches!(
        job.template,
        EmailTemplate::Reminder24h | EmailTemplate::Reminder1h
    ) {
        return None;
    }
    let text = |k: &str| job.data.get(k).and_then(serde_json::Value::as_str);
    Some(ReminderOf {
        appointment_id: text("appointment_id")?.to_owned(),
        starts_at: DateTime::parse_from_rfc3339(text("starts_at")?)
            .ok()?
            .with_timezone(&Utc),
        version: job
            .data
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .and_then(|v| u32::try_from(v).ok()),
    })
}

/// When the job stops being worth sending: a reminder's appointment start.
pub fn not_after(job: &EmailJob) -> Option<DateTime<Utc>> {
    reminder_of(job).map(|r| r.starts_at)
}

/// Checks `job` against the clock, the appointment and the reminder claim.
pub async fn check(app: &App, job: &EmailJob) -> Result<Currency, StoreError> {
    if not_after(job).is_some_and(|t| app.clock.now() >= t) {
        return Ok(Currency::Expired("not_after passed".into()));
    }
    let Some(reminder) = reminder_of(job) else {
        return Ok(Currency::Current);
    };
    let current = app
        .appointments
        .get(&reminder.appointment_id)
        .await?
        .is_some_and(|a| a.still_matches(reminder.starts_at, reminder.version));
    if !current {
        return Ok(Currency::Expired(
            "appointment cancelled or moved since the reminder was queued".into(),
        ));
    }
    let claim = app
        .claims
        .get(&ClaimKey::from_stored(job.id.clone()))
        .await?;
    Ok(match claim {
        Some(r) if r.status == ClaimStatus::Completed => {
            match r.result.as_deref().and_then(Settled::parse) {
                Some(Settled::Sent(message_id)) => Currency::AlreadySent(message_id),
                _ => Currency::Current,
            }
        }
        Some(r) if r.status == ClaimStatus::FailedPermanent => {
            Currency::Expired("reminder failed permanently in reminder-cron".into())
        }
        _ => Currency::Unsettled,
    })
}
