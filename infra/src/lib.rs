//! The local stack and operations CLI (`bundle`): all four functions in one process, calling
//! the same handler code as the Lambda binaries, on in-memory adapters (default) or on the
//! real ones (`--backend services`: DynamoDB/SQS/SES at `AWS_ENDPOINT_URL`, Redis at
//! `REDIS_URL`).

pub mod activity;
pub mod announce;
pub mod apigw;
pub mod cli;
pub mod client;
pub mod demo;
pub mod dev;
pub mod ops;
pub mod page;
pub mod ports;
pub mod provision;
pub mod scheduler;
pub mod server;
pub mod settings;
pub mod stack;
pub mod stripe_samples;
pub mod worker_loop;
