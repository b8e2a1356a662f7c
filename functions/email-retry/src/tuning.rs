//! Every tuning constant of email-retry, written once. The model of the email worker
//! reads its parameters from here too, so the two cannot drift.

use std::time::Duration;

/// Send attempts (SQS receives that may call SES) before a job is failed permanently.
pub const RETRY_BUDGET: u32 = 6;
/// Receives after the budget that only record `FAILED_PERMANENT` + alert (never send): an
/// infrastructure failure on the last send attempt still ends recorded, not silently in the
/// DLQ. template.yaml's `maxReceiveCount` is `RETRY_BUDGET + SPARE_RECEIVES`.
pub const SPARE_RECEIVES: u32 = 2;
/// First backoff ceiling (attempt 1 waits in `[BASE/2, BASE]`).
pub const BACKOFF_BASE: Duration = Duration::from_secs(60);
/// Largest backoff ceiling.
pub const BACKOFF_CAP: Duration = Duration::from_secs(900);
/// How long messages are held while SES sending is paused for the account (SQS delay limit).
pub const PAUSED_DELAY: Duration = Duration::from_secs(900);
/// Records processed at once within a batch.
pub const CONCURRENCY: usize = 5;
/// Time a record needs (begin + checks + send + record); not started with less left.
pub const RECORD_BUDGET: Duration = Duration::from_secs(8);
/// Longest send lease.
pub const LEASE_CAP: Duration = Duration::from_secs(60);
/// Margin kept before the Lambda deadline (default of `DEADLINE_MARGIN_MS`).
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(3);
/// Attempts to write `SENT` after SES accepted a message.
pub const RECORD_SENT_ATTEMPTS: u32 = 3;
