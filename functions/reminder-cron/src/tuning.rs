//! Every tuning constant of reminder-cron, written once. The model of the reminder run
//! reads its parameters from here too, so the two cannot drift.

use std::time::Duration;

use shared::retry::Backoff;
use shared::timeout::Budget;

/// How often EventBridge Scheduler starts a run (template.yaml `rate(5 minutes)`).
pub const SCHEDULE_INTERVAL: Duration = Duration::from_secs(300);
/// Reminders processed at once by one run.
pub const CONCURRENCY: usize = 8;
/// Margin kept before the Lambda deadline (default of `DEADLINE_MARGIN_MS`).
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);
/// How long claim records are kept (duplicates are suppressed for this long).
pub const RETAIN_CLAIMS_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// Longest one claim write may take (the DynamoDB call budget).
pub const CLAIM_BUDGET: Duration = Budget::DYNAMODB.limit;
/// Longest one send may take (the SES call budget).
pub const SEND_BUDGET: Duration = Budget::SES.limit;
/// Time reserved for recording the outcome after the send (several completion attempts).
pub const COMPLETION_BUDGET: Duration = Duration::from_secs(5);
/// A reminder is started only when this much time is left before the deadline margin:
/// claim, send and completion all fit.
pub const REMINDER_BUDGET: Duration = CLAIM_BUDGET
    .saturating_add(SEND_BUDGET)
    .saturating_add(COMPLETION_BUDGET);
/// Slack on top of the reminder budget in a lease (scheduling delays, clock skew).
pub const LEASE_SLACK: Duration = Duration::from_secs(5);
/// The lease a reminder claim is taken with: longer than claim + send + completion, so no
/// other run can take the reminder over while this one may still send it.
pub const LEASE: Duration = REMINDER_BUDGET.saturating_add(LEASE_SLACK);
/// While the completion is retried after a send, the lease is pushed this far ahead of now
/// before each round (until the deadline).
pub const LEASE_EXTENSION: Duration = LEASE;
/// Attempts per completion round, and the backoff between them.
pub const COMPLETION_ATTEMPTS: u32 = 5;
/// Backoff between completion attempts.
pub const COMPLETION_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
/// Attempts to give a claim back when the queue cannot take a failed send.
pub const RELEASE_ATTEMPTS: u32 = 3;
/// Delay of a hand-over job on the email queue: the run normally records the hand-over in
/// the claim before the worker first sees the job (the worker waits for it anyway).
pub const HANDOVER_DELAY: Duration = Duration::from_secs(30);
