//! Small helpers to read and write DynamoDB attribute maps.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use crate::store_error::StoreError;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// A string attribute.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Reads a required string attribute.
pub fn get_s(item: &Item, name: &str) -> Result<String, StoreError> {
    opt_s(item, name).ok_or_else(|| StoreError::Corrupt(format!("missing string {name}")))
}

/// Reads an optional string attribute.
pub fn opt_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// Reads a required integer attribute.
pub fn get_i64(item: &Item, name: &str) -> Result<i64, StoreError> {
    opt_i64(item, name).ok_or_else(|| StoreError::Corrupt(format!("missing number {name}")))
}

/// Reads an optional integer attribute.
pub fn opt_i64(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

/// Reads an epoch-milliseconds attribute as an instant.
pub fn get_millis(item: &Item, name: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(get_i64(item, name)?)
        .ok_or_else(|| StoreError::Corrupt(format!("{name} out of range")))
}

/// Reads an epoch-seconds attribute as an instant.
pub fn get_secs(item: &Item, name: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp(get_i64(item, name)?, 0)
        .ok_or_else(|| StoreError::Corrupt(format!("{name} out of range")))
}
