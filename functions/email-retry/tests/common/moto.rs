//! Real resources on moto, created from template.yaml under unique names. A missing service
//! fails the test with the name of the service and how to start it.

#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use shared::testing::provision::CreatedQueue;

pub use shared::testing::fixtures::{moto as aws, verify_sender};

pub async fn emails_table(config: &aws_config::SdkConfig) -> String {
    shared::testing::fixtures::table(config, "EmailsTable").await
}

/// The email queue with its dead-letter queue and redrive policy, as in the template.
pub async fn queues(config: &aws_config::SdkConfig) -> (CreatedQueue, CreatedQueue) {
    shared::testing::fixtures::email_queue_with_dlq(config).await
}

/// Messages in the queue, visible, in flight and delayed.
pub async fn depth(config: &aws_config::SdkConfig, url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = aws_sdk_sqs::Client::new(config)
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .expect("queue attributes");
    out.attributes()
        .map(|a| a.values().filter_map(|v| v.parse::<u64>().ok()).sum())
        .unwrap_or(0)
}
