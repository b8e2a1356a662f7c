//! The email queue port: send with delay, receive, change visibility, delete.

mod memory;
mod sqs;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

pub use self::memory::MemoryQueue;
pub use self::sqs::SqsQueue;
use crate::email_job::EmailJob;
pub use crate::store_error::StoreError;

/// Proof of one receipt of a message; needed to delete it or change its visibility.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Receipt(pub String);

/// A message as received: the raw body is kept so a malformed one can still be reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The queue's id for the message (stable across receipts).
    pub message_id: String,
    /// This receipt.
    pub receipt: Receipt,
    /// The body as sent.
    pub body: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

impl ReceivedMessage {
    /// Parses the body as an [`EmailJob`].
    pub fn job(&self) -> Result<EmailJob, serde_json::Error> {
        serde_json::from_str(&self.body)
    }
}

/// The email queue port.
#[async_trait]
pub trait EmailQueue: Send + Sync + fmt::Debug {
    /// Queues a job, visible after `delay` (at most 15 minutes on SQS). Returns the message id.
    async fn enqueue(&self, job: &EmailJob, delay: Duration) -> Result<String, StoreError>;

    /// Receives up to `max` visible messages, hiding them for `visibility`.
    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, StoreError>;

    /// Hides a received message for `timeout` from now (0 makes it visible at once).
    async fn change_visibility(
        &self,
        receipt: &Receipt,
        timeout: Duration,
    ) -> Result<(), StoreError>;

    /// Deletes a received message.
    async fn delete(&self, receipt: &Receipt) -> Result<(), StoreError>;
}

/// Longest delay SQS accepts on a message.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

/// Longest visibility timeout SQS accepts.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

#[async_trait]
impl<T: EmailQueue + ?Sized> EmailQueue for std::sync::Arc<T> {
    async fn enqueue(&self, job: &EmailJob, delay: Duration) -> Result<String, StoreError> {
        (**self).enqueue(job, delay).await
    }
    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, StoreError> {
        (**self).receive(max, visibility).await
    }
    async fn change_visibility(
        &self,
        receipt: &Receipt,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        (**self).change_visibility(receipt, timeout).await
    }
    async fn delete(&self, receipt: &Receipt) -> Result<(), StoreError> {
        (**self).delete(receipt).await
    }
}
