//! Real resources on moto, created from template.yaml under unique names. A missing service
//! fails the test with the name of the service and how to start it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use shared::testing::provision::{CreatedQueue, create_queue, create_table};
use shared::testing::template::Template;
use shared::testing::{services, unique_name};

pub async fn aws() -> aws_config::SdkConfig {
    match services::aws_config().await {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

pub async fn emails_table(config: &aws_config::SdkConfig) -> String {
    let template = Template::load().expect("template.yaml");
    let client = aws_sdk_dynamodb::Client::new(config);
    create_table(
        &client,
        &template,
        "EmailsTable",
        &unique_name("EmailsTable"),
    )
    .await
    .expect("create EmailsTable")
}

/// The email queue with its dead-letter queue and redrive policy, as in the template.
pub async fn queues(config: &aws_config::SdkConfig) -> (CreatedQueue, CreatedQueue) {
    let template = Template::load().expect("template.yaml");
    let client = aws_sdk_sqs::Client::new(config);
    let dlq = create_queue(
        &client,
        &template,
        "EmailDeadLetterQueue",
        &unique_name("EmailDlq"),
        &HashMap::new(),
    )
    .await
    .expect("create DLQ");
    let arns = HashMap::from([("EmailDeadLetterQueue".to_owned(), dlq.arn.clone())]);
    let queue = create_queue(
        &client,
        &template,
        "EmailQueue",
        &unique_name("EmailQueue"),
        &arns,
    )
    .await
    .expect("create EmailQueue");
    (queue, dlq)
}

/// Verifies `identity` (an address or domain) in SES so moto accepts it as a sender.
pub async fn verify_sender(config: &aws_config::SdkConfig, identity: &str) {
    let ses = aws_sdk_sesv2::Client::new(config);
    match ses
        .create_email_identity()
        .email_identity(identity)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_already_exists_exception()) => {}
        Err(e) => panic!(
            "create SES identity: {}",
            aws_sdk_sesv2::error::DisplayErrorContext(e)
        ),
    }
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
