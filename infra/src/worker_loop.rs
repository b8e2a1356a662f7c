//! The email worker loop: receives SQS-shaped batches (from the in-process queue or from
//! SQS), honouring delays and visibility, calls email-retry's handler and applies its
//! partial-batch response as Lambda's SQS integration does: successes are deleted, reported
//! failures stay for their visibility timeout (which the worker sets for backoff).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use email_retry::worker::as_lambda_record;
use shared::clock::SharedClock;
use shared::deadline::Deadline;
use shared::queue::EmailQueue;

use crate::activity::Activity;
use crate::stack::Stack;

/// Messages per batch (the event source mapping's batch size).
pub const BATCH_SIZE: u32 = 10;
/// Visibility while a batch is processed (the function's timeout).
pub const VISIBILITY: Duration = Duration::from_secs(30);
/// Pause between empty receives.
pub const IDLE_POLL: Duration = Duration::from_millis(500);

/// Receives and handles one batch; returns how many records it had.
pub async fn process_batch(
    worker: &email_retry::App,
    queue: &dyn EmailQueue,
    activity: &Activity,
    clock: &SharedClock,
) -> Result<usize, String> {
    let received = queue
        .receive(BATCH_SIZE, VISIBILITY)
        .await
        .map_err(|e| format!("receive failed: {e}"))?;
    if received.is_empty() {
        return Ok(0);
    }
    for message in &received {
        if let Ok(job) = message.job() {
            activity.job_seen(&job.id);
        }
    }
    let mut event = SqsEvent::default();
    event.records = received.iter().map(as_lambda_record).collect();
    let deadline = Deadline::after(VISIBILITY, Duration::from_secs(3), clock.clone());
    let response = worker.handle(event, &deadline).await;
    let failed: HashSet<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    for message in &received {
        if failed.contains(message.message_id.as_str()) {
            continue;
        }
        if let Err(e) = queue.delete(&message.receipt).await {
            tracing::warn!(error = %e, "could not delete a handled message; it will come back");
        }
    }
    Ok(received.len())
}

/// Polls forever: a full batch is followed at once by the next receive.
pub async fn run(stack: Arc<Stack>) {
    loop {
        match stack.email_batch().await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => eprintln!("worker {e} (retrying)"),
        }
        tokio::time::sleep(IDLE_POLL).await;
    }
}
