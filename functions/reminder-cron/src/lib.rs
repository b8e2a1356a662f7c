//! `reminder-cron`: every appointment's 24 h and 1 h reminder, exactly once.
//!
//! Each run (EventBridge Scheduler, every 5 minutes) queries approved appointments starting
//! within 24 hours from the sparse by-start-day index, decides which reminders are due
//! ([`due`]), and for each one claims `reminder#<appointment>#<kind>#<starts_at>`, sends, and
//! completes ([`run`]). A failed send goes to the email queue; a query or claim error fails
//! the run so the scheduler retries and an alarm fires.

pub mod appointments;
pub mod due;
pub mod run;
pub mod schedule_event;

use std::time::Duration;

use chrono_tz::Tz;
use shared::config::{ConfigError, Env, Secret, take};

pub use crate::run::{Deps, RunError, Settings, Summary};

/// Configuration read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Appointments table.
    pub appointments_table: String,
    /// Its by-start-day index.
    pub appointments_index: String,
    /// Claims table.
    pub claims_table: String,
    /// Email queue URL.
    pub email_queue_url: String,
    /// Run settings.
    pub settings: Settings,
    /// Margin kept before the Lambda deadline.
    pub deadline_margin: Duration,
    /// Key of `shared::telemetry::log_hash` (secret), installed at cold start.
    pub log_hash_key: Secret<String>,
}

impl Config {
    /// Reads every variable, reporting all problems together.
    pub fn from_env(mut env: Env) -> Result<Self, ConfigError> {
        let appointments_table = env.required("APPOINTMENTS_TABLE");
        let claims_table = env.required("CLAIMS_TABLE");
        let email_queue_url = env.required("EMAIL_QUEUE_URL");
        let sender = env.required("SENDER_EMAIL");
        let log_hash_key = env.log_hash_key();
        let zone: Option<Tz> = env.parsed(
            "BUSINESS_TIME_ZONE",
            "an IANA time zone such as America/New_York",
        );
        let concurrency: Option<usize> = env.parsed_or("REMINDER_CONCURRENCY", 8, "a whole number");
        let min_hours: Option<u64> =
            env.parsed_or("REMINDER_DAY_BEFORE_MIN_HOURS", 12, "whole hours");
        let margin_ms: Option<u64> = env.parsed_or("DEADLINE_MARGIN_MS", 5000, "milliseconds");
        let index = env
            .optional("APPOINTMENTS_INDEX")
            .unwrap_or_else(|| "by-start-day".into());
        env.finish()?;
        Ok(Self {
            appointments_table: take(appointments_table, "APPOINTMENTS_TABLE")?,
            appointments_index: index,
            claims_table: take(claims_table, "CLAIMS_TABLE")?,
            email_queue_url: take(email_queue_url, "EMAIL_QUEUE_URL")?,
            settings: Settings {
                rules: due::DueRules {
                    min_remaining_for_day_before: Duration::from_secs(
                        take(min_hours, "REMINDER_DAY_BEFORE_MIN_HOURS")? * 3600,
                    ),
                    ..due::DueRules::default()
                },
                concurrency: take(concurrency, "REMINDER_CONCURRENCY")?,
                sender: take(sender, "SENDER_EMAIL")?,
                default_time_zone: take(zone, "BUSINESS_TIME_ZONE")?,
                retain_claims_for: Duration::from_secs(30 * 24 * 3600),
                lease_cap: Duration::from_secs(60),
            },
            deadline_margin: Duration::from_millis(take(margin_ms, "DEADLINE_MARGIN_MS")?),
            log_hash_key: take(log_hash_key, "LOG_HASH_KEY")?,
        })
    }
}

/// Handles one invocation: logs the trigger, runs, logs and returns the summary.
pub async fn handle(
    deps: &Deps,
    settings: &Settings,
    event: &serde_json::Value,
    deadline: &shared::deadline::Deadline,
) -> Result<Summary, RunError> {
    let trigger = schedule_event::parse(event);
    let result = run::run(deps, settings, deadline).await;
    match &result {
        Ok(summary) => tracing::info!(
            scheduled_time = ?trigger.scheduled_time, trigger_id = ?trigger.id,
            summary = ?summary, "reminder run finished"
        ),
        Err(e) => tracing::error!(
            scheduled_time = ?trigger.scheduled_time, trigger_id = ?trigger.id,
            error = %e, "reminder run failed"
        ),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reports_every_problem() {
        let err = Config::from_env(Env::from_pairs([
            ("BUSINESS_TIME_ZONE", "Mars/Olympus"),
            ("REMINDER_CONCURRENCY", "lots"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        for name in [
            "APPOINTMENTS_TABLE",
            "CLAIMS_TABLE",
            "EMAIL_QUEUE_URL",
            "SENDER_EMAIL",
            "BUSINESS_TIME_ZONE",
            "REMINDER_CONCURRENCY",
            "LOG_HASH_KEY",
        ] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
    }
}
