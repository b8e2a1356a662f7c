//! Email queue on Amazon SQS.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageSystemAttributeName;

use super::{EmailQueue, MAX_DELAY, MAX_VISIBILITY, Receipt, ReceivedMessage, StoreError};
use crate::aws::store_error;
use crate::email_job::EmailJob;
use crate::timeout::{Budget, within};

const DEP: &str = "sqs";

/// A queue at `queue_url`.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    budget: Budget,
}

impl SqsQueue {
    /// The queue at `queue_url`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            budget: Budget::SQS,
        }
    }

    /// Overrides the per-call time budget.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.queue_url
    }

    /// Sends a raw body (tests use it for malformed messages; the DLQ redrive for replays).
    pub async fn send_raw(&self, body: &str, delay: Duration) -> Result<String, StoreError> {
        let send = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(secs_i32(delay.min(MAX_DELAY)));
        let out = within(self.budget, send.send())
            .await?
            .map_err(|e| store_error(DEP, e))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}

fn secs_i32(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

#[async_trait]
impl EmailQueue for SqsQueue {
    async fn enqueue(&self, job: &EmailJob, delay: Duration) -> Result<String, StoreError> {
        let body = serde_json::to_string(job).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.send_raw(&body, delay).await
    }

    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, StoreError> {
        let receive = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .visibility_timeout(secs_i32(visibility.min(MAX_VISIBILITY)))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .wait_time_seconds(0);
        let out = within(self.budget, receive.send())
            .await?
            .map_err(|e| store_error(DEP, e))?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                Some(ReceivedMessage {
                    message_id: m.message_id()?.to_owned(),
                    receipt: Receipt(m.receipt_handle()?.to_owned()),
                    body: m.body().unwrap_or_default().to_owned(),
                    receive_count,
                })
            })
            .collect())
    }

    async fn change_visibility(
        &self,
        receipt: &Receipt,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        let change = self
            .client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(&receipt.0)
            .visibility_timeout(secs_i32(timeout.min(MAX_VISIBILITY)));
        within(self.budget, change.send())
            .await?
            .map(|_| ())
            .map_err(|e| store_error(DEP, e))
    }

    async fn delete(&self, receipt: &Receipt) -> Result<(), StoreError> {
        let delete = self
            .client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(&receipt.0);
        within(self.budget, delete.send())
            .await?
            .map(|_| ())
            .map_err(|e| store_error(DEP, e))
    }
}
