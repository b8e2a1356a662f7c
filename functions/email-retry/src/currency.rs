//! Whether a queued job is still worth sending: not past its `not_after`, and for a reminder,
//! its appointment still approved at the same start and version, and its claim saying the
//! run handed it to the queue (see `shared::reminder_claim`).

use shared::claims::{ClaimKey, ClaimStatus};
use shared::email_job::{Email, EmailJob};
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

/// Checks `job` against the clock, the appointment and the reminder claim.
pub async fn check(app: &App, job: &EmailJob) -> Result<Currency, StoreError> {
    if job.not_after.is_some_and(|t| app.clock.now() >= t) {
        return Ok(Currency::Expired("not_after passed".into()));
    }
    let Email::Reminder(reminder) = &job.email else {
        return Ok(Currency::Current);
    };
    let version = reminder.version.and_then(|v| u32::try_from(v).ok());
    let current = app
        .appointments
        .get(&reminder.appointment_id)
        .await?
        .is_some_and(|a| a.still_matches(reminder.starts_at, version));
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
