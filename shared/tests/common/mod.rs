#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Builders for the real adapters used by the contract suites. A missing service fails the
//! test with the name of the service and how to start it.

#![allow(dead_code)]

use shared::testing::provision::{CreatedQueue, create_queue, create_table};
use shared::testing::template::Template;
use shared::testing::{services, unique_name};

/// SDK config for moto, or a failure naming the service.
pub async fn aws() -> aws_config::SdkConfig {
    match services::aws_config().await {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// Redis URL, or a failure naming the service.
pub fn redis_url() -> String {
    match services::redis_url() {
        Ok(u) => u,
        Err(e) => panic!("{e}"),
    }
}

/// A fresh table created from the template's `logical_id`.
pub async fn table(config: &aws_config::SdkConfig, logical_id: &str) -> String {
    let template = Template::load().expect("template.yaml");
    let client = aws_sdk_dynamodb::Client::new(config);
    create_table(&client, &template, logical_id, &unique_name(logical_id))
        .await
        .expect("create table")
}

/// A fresh queue created from the template's `logical_id` (one without a redrive policy).
pub async fn queue(config: &aws_config::SdkConfig, logical_id: &str) -> CreatedQueue {
    let template = Template::load().expect("template.yaml");
    let client = aws_sdk_sqs::Client::new(config);
    create_queue(
        &client,
        &template,
        logical_id,
        &unique_name(logical_id),
        &Default::default(),
    )
    .await
    .expect("create queue")
}
