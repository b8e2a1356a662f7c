//! `email-retry`: the SQS worker that delivers queued email jobs exactly once where it can,
//! with full-jitter backoff through the message visibility, a retry budget that ends in
//! `FAILED_PERMANENT` plus an admin alert for critical jobs, an SES-pause hold that does not
//! spend the budget, and a DLQ for what cannot be read. See `README.md` for the states.

pub mod config;
pub mod record;
pub mod redrive;
pub mod worker;

pub use self::config::{Config, Settings};
pub use self::worker::{Disposition, Worker};
