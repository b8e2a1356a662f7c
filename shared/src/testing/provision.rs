//! Creates the template's DynamoDB tables and SQS queues on a local endpoint (moto), so local
//! resources are defined once, in `template.yaml`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_norway::Value;

use super::template::{Template, TemplateError};

/// A provisioning failure.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The template does not describe the resource as expected.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The AWS call failed.
    #[error("{resource}: {source}")]
    Aws {
        /// Logical id.
        resource: String,
        /// Cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn aws_err(resource: &str, e: impl std::error::Error + Send + Sync + 'static) -> ProvisionError {
    ProvisionError::Aws {
        resource: resource.to_owned(),
        source: aws_sdk_dynamodb::error::DisplayErrorContext(e)
            .to_string()
            .into(),
    }
}

fn shape(msg: String) -> ProvisionError {
    ProvisionError::Template(TemplateError::Shape(msg))
}

fn key_schema(list: &Value, id: &str) -> Result<Vec<KeySchemaElement>, ProvisionError> {
    list.as_sequence()
        .ok_or_else(|| shape(format!("{id}: KeySchema must be a list")))?
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(k["AttributeName"].as_str().unwrap_or_default())
                .key_type(KeyType::from(k["KeyType"].as_str().unwrap_or_default()))
                .build()
                .map_err(|e| aws_err(id, e))
        })
        .collect()
}

fn projection(value: &Value) -> Projection {
    let kind = value["ProjectionType"].as_str().unwrap_or("ALL");
    let mut p = Projection::builder().projection_type(ProjectionType::from(kind));
    if let Some(attrs) = value["NonKeyAttributes"].as_sequence() {
        for a in attrs.iter().filter_map(Value::as_str) {
            p = p.non_key_attributes(a);
        }
    }
    p.build()
}

/// Creates table `logical_id` from the template under `name`; returns the name.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    template: &Template,
    logical_id: &str,
    name: &str,
) -> Result<String, ProvisionError> {
    let props = template.properties(logical_id)?;
    let mut create = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&props["KeySchema"], logical_id)?));
    for def in props["AttributeDefinitions"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(def["AttributeName"].as_str().unwrap_or_default())
                .attribute_type(ScalarAttributeType::from(
                    def["AttributeType"].as_str().unwrap_or("S"),
                ))
                .build()
                .map_err(|e| aws_err(logical_id, e))?,
        );
    }
    for gsi in props["GlobalSecondaryIndexes"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        create = create.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(gsi["IndexName"].as_str().unwrap_or_default())
                .set_key_schema(Some(key_schema(&gsi["KeySchema"], logical_id)?))
                .projection(projection(&gsi["Projection"]))
                .build()
                .map_err(|e| aws_err(logical_id, e))?,
        );
    }
    match create.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(aws_err(logical_id, e)),
    }
    let ttl = &props["TimeToLiveSpecification"];
    if let Some(attr) = ttl["AttributeName"].as_str() {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attr)
                    .enabled(true)
                    .build()
                    .map_err(|e| aws_err(logical_id, e))?,
            )
            .send()
            .await
            .map_err(|e| aws_err(logical_id, e))?;
    }
    Ok(name.to_owned())
}

/// A created queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedQueue {
    /// Queue URL.
    pub url: String,
    /// Queue ARN.
    pub arn: String,
}

/// Creates queue `logical_id` from the template under `name`. `dead_letter_arns` maps logical
/// ids of already created queues to their ARNs, for the `RedrivePolicy`.
pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    template: &Template,
    logical_id: &str,
    name: &str,
    dead_letter_arns: &HashMap<String, String>,
) -> Result<CreatedQueue, ProvisionError> {
    let props = template.properties(logical_id)?;
    let mut create = client.create_queue().queue_name(name);
    for (prop, attr) in [
        ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
        (
            "MessageRetentionPeriod",
            QueueAttributeName::MessageRetentionPeriod,
        ),
        ("DelaySeconds", QueueAttributeName::DelaySeconds),
        (
            "ReceiveMessageWaitTimeSeconds",
            QueueAttributeName::ReceiveMessageWaitTimeSeconds,
        ),
    ] {
        if let Some(v) = template.scalar(&props[prop]) {
            create = create.attributes(attr, v);
        }
    }
    let redrive = &props["RedrivePolicy"];
    if !redrive.is_null() {
        let target = Template::referenced_resource(&redrive["deadLetterTargetArn"])
            .ok_or_else(|| shape(format!("{logical_id}: deadLetterTargetArn must be !GetAtt")))?;
        let arn = dead_letter_arns
            .get(&target)
            .ok_or_else(|| shape(format!("{logical_id}: create {target} first")))?;
        let max = template
            .scalar(&redrive["maxReceiveCount"])
            .ok_or_else(|| shape(format!("{logical_id}: maxReceiveCount missing")))?;
        let policy = serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max });
        create = create.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let url = create
        .send()
        .await
        .map_err(|e| aws_err(logical_id, e))?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let attrs = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| aws_err(logical_id, e))?;
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default();
    Ok(CreatedQueue { url, arn })
}

/// Every table and queue of the template, created with `prefix` + logical id as names.
/// Returns `(logical id, table name or queue URL)` pairs. Queues without a redrive policy
/// (dead-letter queues) are created first.
pub async fn create_all(
    config: &aws_config::SdkConfig,
    template: &Template,
    prefix: &str,
) -> Result<Vec<(String, String)>, ProvisionError> {
    let dynamo = aws_sdk_dynamodb::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut created = Vec::new();
    for id in template.resources_of("AWS::DynamoDB::Table") {
        let name = create_table(&dynamo, template, &id, &format!("{prefix}{id}")).await?;
        created.push((id, name));
    }
    let mut queues = template.resources_of("AWS::SQS::Queue");
    queues.sort_by_key(|id| {
        template
            .properties(id)
            .map(|p| !p["RedrivePolicy"].is_null())
            .unwrap_or(true)
    });
    let mut arns = HashMap::new();
    for id in queues {
        let q = create_queue(&sqs, template, &id, &format!("{prefix}{id}"), &arns).await?;
        arns.insert(id.clone(), q.arn);
        created.push((id, q.url));
    }
    Ok(created)
}

/// Stores `value` as secret `name` (created, or given a new current version when it exists);
/// returns the secret's ARN.
pub async fn put_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<String, ProvisionError> {
    match client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
    {
        Ok(created) => return Ok(created.arn.unwrap_or_default()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception()) => {}
        Err(e) => return Err(aws_err(name, e)),
    }
    client
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await
        .map(|put| put.arn.unwrap_or_default())
        .map_err(|e| aws_err(name, e))
}
