//! Configuration read once at cold start; every problem is reported together.

use std::time::Duration;

use chrono_tz::Tz;
use shared::config::{ConfigError, Env, Secret, take};
use shared::retry::Backoff;

/// How the worker behaves (also built directly by tests and the local stack).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Verified SES sender.
    pub sender: String,
    /// Where admin alerts go.
    pub admin_email: String,
    /// Zone for times in emails whose job names none.
    pub time_zone: Tz,
    /// Attempts (SQS receives) before a job is failed permanently.
    pub retry_budget: u32,
    /// Backoff between attempts (through the message visibility).
    pub backoff: Backoff,
    /// How long messages are held while SES sending is paused for the account.
    pub paused_delay: Duration,
    /// Records processed at once within a batch.
    pub concurrency: usize,
    /// Time a record needs (begin + send + record); not started with less left.
    pub record_budget: Duration,
    /// Longest send lease.
    pub lease_cap: Duration,
}

/// Everything the function reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// DynamoDB EmailsTable.
    pub emails_table: String,
    /// The email queue (admin alerts and paused messages are re-queued there).
    pub queue_url: String,
    /// Margin kept before the Lambda deadline.
    pub deadline_margin: Duration,
    /// Worker behaviour.
    pub settings: Settings,
    /// Key of `shared::telemetry::log_hash` (secret), installed at cold start.
    pub log_hash_key: Secret<String>,
}

impl Config {
    /// Reads every variable, reporting all problems together.
    pub fn from_env(mut env: Env) -> Result<Self, ConfigError> {
        let emails_table = env.required("EMAILS_TABLE");
        let queue_url = env.required("EMAIL_QUEUE_URL");
        let sender = env.required("SENDER_EMAIL");
        let admin_email = env.required("ADMIN_EMAIL");
        let log_hash_key = env.log_hash_key();
        let time_zone = env.parsed::<Tz>("BUSINESS_TIME_ZONE", "an IANA time zone name");
        let budget = env.parsed_or("EMAIL_RETRY_BUDGET", 3u32, "an integer from 1 to 10");
        let base = env.parsed_or("EMAIL_BACKOFF_BASE_SECONDS", 20u64, "seconds");
        let cap = env.parsed_or("EMAIL_BACKOFF_CAP_SECONDS", 600u64, "seconds");
        let paused = env.parsed_or(
            "EMAIL_PAUSED_DELAY_SECONDS",
            900u64,
            "seconds (at most 900)",
        );
        let concurrency = env.parsed_or("EMAIL_CONCURRENCY", 5usize, "an integer from 1 to 10");
        let margin = env.parsed_or("DEADLINE_MARGIN_MS", 3000u64, "milliseconds");
        if budget.is_some_and(|b| !(1..=10).contains(&b)) {
            env.invalid("EMAIL_RETRY_BUDGET", "an integer from 1 to 10");
        }
        if paused.is_some_and(|p| p > 900) {
            env.invalid(
                "EMAIL_PAUSED_DELAY_SECONDS",
                "seconds (at most 900, the SQS delay limit)",
            );
        }
        if concurrency.is_some_and(|c| !(1..=10).contains(&c)) {
            env.invalid("EMAIL_CONCURRENCY", "an integer from 1 to 10");
        }
        env.finish()?;
        Ok(Self {
            emails_table: take(emails_table, "EMAILS_TABLE")?,
            queue_url: take(queue_url, "EMAIL_QUEUE_URL")?,
            deadline_margin: Duration::from_millis(take(margin, "DEADLINE_MARGIN_MS")?),
            settings: Settings {
                sender: take(sender, "SENDER_EMAIL")?,
                admin_email: take(admin_email, "ADMIN_EMAIL")?,
                time_zone: take(time_zone, "BUSINESS_TIME_ZONE")?,
                retry_budget: take(budget, "EMAIL_RETRY_BUDGET")?,
                backoff: Backoff::new(
                    Duration::from_secs(take(base, "EMAIL_BACKOFF_BASE_SECONDS")?),
                    Duration::from_secs(take(cap, "EMAIL_BACKOFF_CAP_SECONDS")?),
                ),
                paused_delay: Duration::from_secs(take(paused, "EMAIL_PAUSED_DELAY_SECONDS")?),
                concurrency: take(concurrency, "EMAIL_CONCURRENCY")?,
                record_budget: Duration::from_secs(8),
                lease_cap: Duration::from_secs(60),
            },
            log_hash_key: take(log_hash_key, "LOG_HASH_KEY")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Config::from_env(Env::from_pairs([
            ("BUSINESS_TIME_ZONE", "Mars/Base"),
            ("EMAIL_RETRY_BUDGET", "0"),
            ("EMAIL_PAUSED_DELAY_SECONDS", "3600"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        for name in [
            "EMAILS_TABLE",
            "EMAIL_QUEUE_URL",
            "SENDER_EMAIL",
            "ADMIN_EMAIL",
            "BUSINESS_TIME_ZONE",
            "EMAIL_RETRY_BUDGET",
            "EMAIL_PAUSED_DELAY_SECONDS",
            "LOG_HASH_KEY",
        ] {
            assert!(text.contains(name), "{name} not in {text}");
        }
    }

    #[test]
    fn defaults_apply() {
        let c = Config::from_env(Env::from_pairs([
            ("EMAILS_TABLE", "t"),
            ("EMAIL_QUEUE_URL", "q"),
            ("SENDER_EMAIL", "noreply@example.com"),
            ("ADMIN_EMAIL", "admin@example.com"),
            ("BUSINESS_TIME_ZONE", "America/New_York"),
            ("LOG_HASH_KEY", "0123456789abcdef0123456789abcdef"),
        ]))
        .unwrap();
        assert_eq!(c.settings.retry_budget, 3);
        assert_eq!(c.settings.time_zone, chrono_tz::America::New_York);
        assert_eq!(c.settings.paused_delay, Duration::from_secs(900));
        assert_eq!(c.deadline_margin, Duration::from_secs(3));
    }
}
