//! The sign-in notice: one email job per user + client IP + hour, queued on SQS before the
//! response (work left running after a Lambda returns is frozen). Deduplicated through the
//! claim primitive; if the queue is down the claim is released (a later sign-in retries),
//! the failure is logged and counted, and the sign-in itself still succeeds.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use shared::claims::{ClaimKey, ClaimOutcome, ClaimRequest, ClaimStore};
use shared::deadline::to_delta;
use shared::email_job::{Email, EmailJob, SignInNotice};
use shared::error::Classify;
use shared::metrics::{Metric, Metrics};
use shared::queue::EmailQueue;
use shared::telemetry::CorrelationId;

use crate::client_ip::ClientIp;
use crate::users::User;

/// How long one attempt holds the notice claim.
const LEASE: Duration = Duration::from_secs(30);
/// How long a queued notice suppresses duplicates (covers its hour with margin).
const RETAIN: Duration = Duration::from_secs(2 * 3600);

/// What happened to the notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeOutcome {
    /// Queued now (SQS message id).
    Queued(String),
    /// Already queued (or being queued) for this user, IP and hour.
    Duplicate,
    /// Could not be queued; counted as `SignInNoticeNotQueued`.
    NotQueued,
}

/// `yyyymmddhh` in UTC.
pub fn hour_bucket(at: DateTime<Utc>) -> String {
    at.format("%Y%m%d%H").to_string()
}

/// The job for a sign-in (deterministic id `sign-in#<user>#<ip>#<yyyymmddhh>`).
pub fn job(user: &User, ip: &ClientIp, at: DateTime<Utc>, correlation: CorrelationId) -> EmailJob {
    EmailJob::new(
        format!("sign-in#{}#{}#{}", user.id, ip.key(), hour_bucket(at)),
        Email::SignInNotice(SignInNotice {
            name: user.name.clone(),
            ip: ip.to_string(),
            signed_in_at: at.trunc_subsecs(0),
            time_zone: None,
        }),
        user.email.clone(),
        correlation,
        at,
    )
}

/// Claims, queues and completes the notice; never fails the sign-in.
pub async fn queue_notice(
    claims: &dyn ClaimStore,
    queue: &dyn EmailQueue,
    metrics: &Metrics,
    job: &EmailJob,
    user_id: &str,
    ip: &ClientIp,
    now: DateTime<Utc>,
) -> NoticeOutcome {
    let hour = hour_bucket(now);
    let key = ClaimKey::new("sign-in-notice", &[user_id, ip.key(), &hour]);
    let request = ClaimRequest::new(key, now + to_delta(LEASE), RETAIN);
    let claim = match claims.claim(&request).await {
        Ok(ClaimOutcome::Acquired(claim)) => claim,
        Ok(_) => {
            metrics.incr(Metric::DuplicateSuppressed);
            return NoticeOutcome::Duplicate;
        }
        Err(e) => {
            tracing::warn!(class = e.class().as_str(), error = %e, "sign-in notice not queued: claim failed");
            metrics.count(Metric::SignInNoticeNotQueued, 1.0, Some(e.class().as_str()));
            return NoticeOutcome::NotQueued;
        }
    };
    match queue.enqueue(job, Duration::ZERO).await {
        Ok(message_id) => {
            if let Err(e) = claims.complete(&claim, Some(&message_id)).await {
                // Queued anyway; the email worker deduplicates on the job id.
                tracing::warn!(class = e.class().as_str(), error = %e, "sign-in notice claim not completed");
            }
            NoticeOutcome::Queued(message_id)
        }
        Err(e) => {
            tracing::warn!(class = e.class().as_str(), error = %e, "sign-in notice not queued: queue failed");
            metrics.count(Metric::SignInNoticeNotQueued, 1.0, Some(e.class().as_str()));
            if let Err(release) = claims.release(&claim).await {
                tracing::warn!(error = %release, "sign-in notice claim not released; it lapses with its lease");
            }
            NoticeOutcome::NotQueued
        }
    }
}
