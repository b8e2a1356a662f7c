//! Moves dead-lettered email jobs back to the email queue. A job whose record is already
//! finished (`SENT`, `AMBIGUOUS`, `EXPIRED`, `FAILED_PERMANENT`) is removed from the DLQ instead of
//! re-queued, so a redrive never sends an email twice; malformed bodies stay in the DLQ.

use std::time::Duration;

use shared::queue::EmailQueue;

use crate::record::{EmailStore, StoreError};

/// What a redrive did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedriveSummary {
    /// Jobs put back on the email queue.
    pub moved: usize,
    /// Jobs already finished: deleted from the DLQ, not re-queued.
    pub already_finished: usize,
    /// Bodies that are not email jobs: left in the DLQ for a person.
    pub malformed_kept: usize,
}

/// How long the redrive hides a DLQ message it is handling (malformed ones stay hidden this
/// long, so one run sees each message once).
const HOLD: Duration = Duration::from_secs(300);

/// Drains `dlq` into `target`, skipping finished jobs.
pub async fn redrive(
    dlq: &dyn EmailQueue,
    target: &dyn EmailQueue,
    store: &dyn EmailStore,
) -> Result<RedriveSummary, StoreError> {
    let mut summary = RedriveSummary::default();
    loop {
        let batch = dlq.receive(10, HOLD).await?;
        if batch.is_empty() {
            return Ok(summary);
        }
        for message in batch {
            let Ok(job) = message.job() else {
                tracing::warn!(message_id = %message.message_id, "malformed DLQ message kept");
                summary.malformed_kept += 1;
                continue;
            };
            let finished = store
                .get(&job.id)
                .await?
                .is_some_and(|r| r.status.is_final());
            if finished {
                summary.already_finished += 1;
            } else {
                target.enqueue(&job, Duration::ZERO).await?;
                summary.moved += 1;
            }
            dlq.delete(&message.receipt).await?;
        }
    }
}
