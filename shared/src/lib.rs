//! Shared core of the bundle: ports and adapters (claims, email queue, mailer, rate limiter),
//! and the plumbing every function needs (config, errors, timeouts, deadlines, retries,
//! circuit breaker, clock, telemetry, metrics).
//!
//! Domain code talks to the port traits; each port has an in-memory adapter (embedded
//! default, fast tests) and a real one (DynamoDB, SQS, SES v2, Redis), proven equivalent by
//! the contract tests in `shared/tests/`.

pub mod appointments;
pub mod aws;
pub mod breaker;
pub mod claims;
pub mod clock;
pub mod config;
pub mod deadline;
pub mod dynamo_item;
pub mod email_job;
pub mod error;
pub mod faults;
pub mod http;
pub mod lambda;
pub mod log_controls;
pub mod mailer;
pub mod metrics;
pub mod queue;
pub mod ratelimit;
pub mod reminder_claim;
pub mod render;
pub mod retry;
pub mod secrets;
pub mod store_error;
pub mod telemetry;
pub mod timeout;

#[cfg(feature = "testing")]
pub mod testing;
