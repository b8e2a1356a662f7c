//! Test and local-stack support (feature `testing`): reaching the local services, and creating
//! DynamoDB tables and SQS queues from `template.yaml`'s own resource definitions.

pub mod fixtures;
#[cfg(feature = "model-checking")]
pub mod model;
pub mod provision;
pub mod services;
pub mod template;

/// A name unique to this process and call, for resources that parallel tests must not share.
pub fn unique_name(prefix: &str) -> String {
    use rand::RngCore;
    format!("{prefix}-{:08x}", rand::rng().next_u32())
}
