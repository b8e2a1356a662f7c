//! Setup helpers for tests against the local services. They panic on purpose: a missing
//! service or a failed setup must fail the test loudly, naming the service and how to start it.

#![allow(clippy::panic)]

use std::collections::HashMap;

use super::provision::{CreatedQueue, create_queue, create_table};
use super::template::Template;
use super::{services, unique_name};

fn template() -> Template {
    Template::load().unwrap_or_else(|e| panic!("{e}"))
}

/// SDK config for moto (fails the test with instructions when moto is not reachable).
pub async fn moto() -> aws_config::SdkConfig {
    services::aws_config()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The Redis URL (fails the test with instructions when Redis is not reachable).
pub fn redis() -> String {
    services::redis_url().unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh, uniquely named table created from the template's `logical_id`.
pub async fn table(config: &aws_config::SdkConfig, logical_id: &str) -> String {
    let client = aws_sdk_dynamodb::Client::new(config);
    create_table(&client, &template(), logical_id, &unique_name(logical_id))
        .await
        .unwrap_or_else(|e| panic!("create {logical_id}: {e}"))
}

/// A fresh queue from the template's `logical_id` (one without a redrive policy).
pub async fn queue(config: &aws_config::SdkConfig, logical_id: &str) -> CreatedQueue {
    let client = aws_sdk_sqs::Client::new(config);
    create_queue(
        &client,
        &template(),
        logical_id,
        &unique_name(logical_id),
        &HashMap::new(),
    )
    .await
    .unwrap_or_else(|e| panic!("create {logical_id}: {e}"))
}

/// A fresh email queue and its dead-letter queue, with the template's redrive policy.
/// Returns `(queue, dead-letter queue)`.
pub async fn email_queue_with_dlq(config: &aws_config::SdkConfig) -> (CreatedQueue, CreatedQueue) {
    let dlq = queue(config, "EmailDeadLetterQueue").await;
    let arns = HashMap::from([("EmailDeadLetterQueue".to_owned(), dlq.arn.clone())]);
    let client = aws_sdk_sqs::Client::new(config);
    let queue = create_queue(
        &client,
        &template(),
        "EmailQueue",
        &unique_name("EmailQueue"),
        &arns,
    )
    .await
    .unwrap_or_else(|e| panic!("create EmailQueue: {e}"));
    (queue, dlq)
}

/// Verifies `identity` (an address or a domain) in SES so moto accepts it as a sender.
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
