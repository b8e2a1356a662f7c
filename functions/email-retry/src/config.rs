//! Configuration read once at cold start; every problem is reported together.

use std::time::Duration;

use chrono_tz::Tz;
use shared::config::{ConfigError, Env, Secret, take};
use shared::retry::Backoff;

use crate::tuning;

/// How the worker behaves (also built directly by tests and the local stack).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Verified SES sender.
    pub sender: String,
    /// Where admin alerts go.
    pub admin_email: String,
    /// Zone for times in emails whose job names none.
    pub time_zone: Tz,
    /// Send attempts (SQS receives) before a job is failed permanently.
    pub retry_budget: u32,
    /// Receives after which SQS dead-letters a message (`retry_budget` + spare receives that
    /// only record the permanent failure).
    pub max_receives: u32,
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
    /// Margin kept before the Lambda deadline.
    pub deadline_margin: Duration,
}

impl Settings {
    /// The production settings for `sender`, `admin_email` and `time_zone` (every other value
    /// from [`tuning`]).
    pub fn new(sender: impl Into<String>, admin_email: impl Into<String>, time_zone: Tz) -> Self {
        Self {
            sender: sender.into(),
            admin_email: admin_email.into(),
            time_zone,
            retry_budget: tuning::RETRY_BUDGET,
            max_receives: tuning::RETRY_BUDGET + tuning::SPARE_RECEIVES,
            backoff: Backoff::new(tuning::BACKOFF_BASE, tuning::BACKOFF_CAP),
            paused_delay: tuning::PAUSED_DELAY,
            concurrency: tuning::CONCURRENCY,
            record_budget: tuning::RECORD_BUDGET,
            lease_cap: tuning::LEASE_CAP,
            deadline_margin: tuning::DEADLINE_MARGIN,
        }
    }

    /// The same settings with another retry budget (the spare receives follow it).
    pub fn with_retry_budget(mut self, budget: u32) -> Self {
        self.retry_budget = budget;
        self.max_receives = budget + tuning::SPARE_RECEIVES;
        self
    }

    /// The guaranteed and the longest retry window: the sum of the waits between the first
    /// and the last send attempt (each wait is jittered within `[ceiling/2, ceiling]`).
    pub fn retry_window(&self) -> (Duration, Duration) {
        let longest: Duration = (0..self.retry_budget.saturating_sub(1))
            .map(|n| self.backoff.ceiling(n))
            .sum();
        let shortest = (0..self.retry_budget.saturating_sub(1))
            .map(|n| self.backoff.ceiling(n) / 2)
            .sum();
        (shortest, longest)
    }
}

/// Everything the function reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// DynamoDB EmailsTable.
    pub emails_table: String,
    /// AppointmentsTable (a queued reminder is checked against its appointment).
    pub appointments_table: String,
    /// ClaimsTable (a queued reminder is sent only once its claim records the hand-over).
    pub claims_table: String,
    /// The email queue (admin alerts and paused messages are re-queued there).
    pub queue_url: String,
    /// Worker behaviour.
    pub settings: Settings,
    /// Key of `shared::telemetry::log_hash` (secret), installed at cold start.
    pub log_hash_key: Secret<String>,
}

impl Config {
    /// Reads every variable, reporting all problems together.
    pub fn from_env(mut env: Env) -> Result<Self, ConfigError> {
        let emails_table = env.required("EMAILS_TABLE");
        let appointments_table = env.required("APPOINTMENTS_TABLE");
        let claims_table = env.required("CLAIMS_TABLE");
        let queue_url = env.required("EMAIL_QUEUE_URL");
        let sender = env.required("SENDER_EMAIL");
        let admin_email = env.required("ADMIN_EMAIL");
        let log_hash_key = env.log_hash_key();
        let time_zone = env.parsed::<Tz>("BUSINESS_TIME_ZONE", "an IANA time zone name");
        let budget = env.parsed_or(
            "EMAIL_RETRY_BUDGET",
            tuning::RETRY_BUDGET,
            "an integer from 1 to 10",
        );
        let base = env.parsed_or(
            "EMAIL_BACKOFF_BASE_SECONDS",
            tuning::BACKOFF_BASE.as_secs(),
            "seconds",
        );
        let cap = env.parsed_or(
            "EMAIL_BACKOFF_CAP_SECONDS",
            tuning::BACKOFF_CAP.as_secs(),
            "seconds",
        );
        let paused = env.parsed_or(
            "EMAIL_PAUSED_DELAY_SECONDS",
            tuning::PAUSED_DELAY.as_secs(),
            "seconds (at most 900)",
        );
        let concurrency = env.parsed_or(
            "EMAIL_CONCURRENCY",
            tuning::CONCURRENCY,
            "an integer from 1 to 10",
        );
        let default_margin = u64::try_from(tuning::DEADLINE_MARGIN.as_millis()).unwrap_or(3000);
        let margin = env.parsed_or("DEADLINE_MARGIN_MS", default_margin, "milliseconds");
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
        let mut settings = Settings::new(
            take(sender, "SENDER_EMAIL")?,
            take(admin_email, "ADMIN_EMAIL")?,
            take(time_zone, "BUSINESS_TIME_ZONE")?,
        )
        .with_retry_budget(take(budget, "EMAIL_RETRY_BUDGET")?);
        settings.backoff = Backoff::new(
            Duration::from_secs(take(base, "EMAIL_BACKOFF_BASE_SECONDS")?),
            Duration::from_secs(take(cap, "EMAIL_BACKOFF_CAP_SECONDS")?),
        );
        settings.paused_delay = Duration::from_secs(take(paused, "EMAIL_PAUSED_DELAY_SECONDS")?);
        settings.concurrency = take(concurrency, "EMAIL_CONCURRENCY")?;
        settings.deadline_margin = Duration::from_millis(take(margin, "DEADLINE_MARGIN_MS")?);
        Ok(Self {
            emails_table: take(emails_table, "EMAILS_TABLE")?,
            appointments_table: take(appointments_table, "APPOINTMENTS_TABLE")?,
            claims_table: take(claims_table, "CLAIMS_TABLE")?,
            queue_url: take(queue_url, "EMAIL_QUEUE_URL")?,
            settings,
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
            "APPOINTMENTS_TABLE",
            "CLAIMS_TABLE",
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
            ("APPOINTMENTS_TABLE", "a"),
            ("CLAIMS_TABLE", "c"),
            ("EMAIL_QUEUE_URL", "q"),
            ("SENDER_EMAIL", "noreply@example.com"),
            ("ADMIN_EMAIL", "admin@example.com"),
            ("BUSINESS_TIME_ZONE", "America/New_York"),
            ("LOG_HASH_KEY", "0123456789abcdef0123456789abcdef"),
        ]))
        .unwrap();
        assert_eq!(c.settings.retry_budget, tuning::RETRY_BUDGET);
        assert_eq!(
            c.settings.max_receives,
            tuning::RETRY_BUDGET + tuning::SPARE_RECEIVES
        );
        assert_eq!(c.settings.time_zone, chrono_tz::America::New_York);
        assert_eq!(c.settings.paused_delay, Duration::from_secs(900));
        assert_eq!(c.settings.deadline_margin, Duration::from_secs(3));
    }

    /// The retry window covers a 10-minute SES incident even at its shortest (README states
    /// it): 60 s base, 900 s cap, 6 attempts wait 15 to 30 minutes in total.
    #[test]
    fn retry_window_covers_a_ten_minute_incident() {
        let s = Settings::new("a@example.com", "b@example.com", chrono_tz::UTC);
        let (shortest, longest) = s.retry_window();
        assert_eq!(shortest, Duration::from_secs(900));
        assert_eq!(longest, Duration::from_secs(1800));
        assert!(shortest >= Duration::from_secs(600));
    }
}
