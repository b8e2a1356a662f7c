//! `reminder-cron`: every appointment's reminders (24 h and 1 h before), exactly once.
//!
//! Each run (EventBridge Scheduler, every 5 minutes) queries approved appointments starting
//! within the longest lead from the sparse by-start-day index, decides which reminders are due
//! ([`due`]), and for each one claims `reminder#<appointment>#<lead>#<starts_at>#v<version>`,
//! sends, and completes ([`run`]). A failed send goes to the email queue; a query or claim
//! error fails the run so the scheduler retries and an alarm fires. [`App`] is the one
//! composition root: `main.rs`, the local stack and the tests build the function through it.

pub mod due;
pub mod run;
pub mod schedule_event;
pub mod tuning;

pub use shared::appointments;

use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use shared::appointments::{AppointmentStore, DynamoAppointments};
use shared::claims::{ClaimStore, DynamoClaimStore};
use shared::clock::SharedClock;
use shared::config::{ConfigError, Env, Secret, take};
use shared::deadline::Deadline;
use shared::mailer::{Mailer, SesMailer};
use shared::metrics::Metrics;
use shared::queue::{EmailQueue, SqsQueue};

use crate::due::{DueRules, ReminderKind};
pub use crate::run::{RunError, Summary};

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Due rules (the reminder kinds and the schedule interval).
    pub rules: DueRules,
    /// Reminders processed at once.
    pub concurrency: usize,
    /// Sender address.
    pub sender: String,
    /// Where alerts about reminders that cannot be sent go.
    pub admin_email: String,
    /// Zone for appointments without one.
    pub default_time_zone: Tz,
    /// How long claim records are kept.
    pub retain_claims_for: Duration,
    /// Delay of a failed send's job on the email queue.
    pub handover_delay: Duration,
    /// Margin kept before the Lambda deadline.
    pub deadline_margin: Duration,
}

impl Settings {
    /// The production settings for `sender`, `admin_email` and `zone` (every other value from
    /// [`tuning`]).
    pub fn new(sender: impl Into<String>, admin_email: impl Into<String>, zone: Tz) -> Self {
        Self {
            rules: DueRules::default(),
            concurrency: tuning::CONCURRENCY,
            sender: sender.into(),
            admin_email: admin_email.into(),
            default_time_zone: zone,
            retain_claims_for: tuning::RETAIN_CLAIMS_FOR,
            handover_delay: tuning::HANDOVER_DELAY,
            deadline_margin: tuning::DEADLINE_MARGIN,
        }
    }
}

/// Default margin kept before the Lambda deadline, in milliseconds (`DEADLINE_MARGIN_MS`).
pub const DEFAULT_DEADLINE_MARGIN_MS: u64 = 5000;
/// Longest lease one reminder claim holds.
pub const LEASE_CAP: Duration = Duration::from_secs(60);

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
        let admin = env.required("ADMIN_EMAIL");
        let log_hash_key = env.log_hash_key();
        let zone: Option<Tz> = env.parsed(
            "BUSINESS_TIME_ZONE",
            "an IANA time zone such as America/New_York",
        );
        let concurrency: Option<usize> = env.parsed_or(
            "REMINDER_CONCURRENCY",
            tuning::CONCURRENCY,
            "a whole number",
        );
        let min_hours: Option<u64> =
            env.parsed_or("REMINDER_DAY_BEFORE_MIN_HOURS", 12, "whole hours");
        let default_margin = u64::try_from(tuning::DEADLINE_MARGIN.as_millis()).unwrap_or(5000);
        let margin_ms: Option<u64> =
            env.parsed_or("DEADLINE_MARGIN_MS", default_margin, "milliseconds");
        let index = env
            .optional("APPOINTMENTS_INDEX")
            .unwrap_or_else(|| "by-start-day".into());
        env.finish()?;
        let mut settings = Settings::new(
            take(sender, "SENDER_EMAIL")?,
            take(admin, "ADMIN_EMAIL")?,
            take(zone, "BUSINESS_TIME_ZONE")?,
        );
        settings.concurrency = take(concurrency, "REMINDER_CONCURRENCY")?;
        settings.deadline_margin = Duration::from_millis(take(margin_ms, "DEADLINE_MARGIN_MS")?);
        let day_before = ReminderKind {
            min_remaining: Duration::from_secs(
                take(min_hours, "REMINDER_DAY_BEFORE_MIN_HOURS")? * 3600,
            ),
            ..ReminderKind::DAY_BEFORE
        };
        settings.rules.kinds = vec![day_before, ReminderKind::HOUR_BEFORE];
        Ok(Self {
            appointments_table: take(appointments_table, "APPOINTMENTS_TABLE")?,
            appointments_index: index,
            claims_table: take(claims_table, "CLAIMS_TABLE")?,
            email_queue_url: take(email_queue_url, "EMAIL_QUEUE_URL")?,
            settings,
            log_hash_key: take(log_hash_key, "LOG_HASH_KEY")?,
        })
    }
}

/// The ports a run uses, already built.
#[derive(Debug, Clone)]
pub struct Ports {
    /// Appointments.
    pub appointments: Arc<dyn AppointmentStore>,
    /// Claims.
    pub claims: Arc<dyn ClaimStore>,
    /// Email queue (retries of failed sends, admin alerts).
    pub queue: Arc<dyn EmailQueue>,
    /// Mailer.
    pub mailer: Arc<dyn Mailer>,
}

/// The function, wired: its ports, clock, metrics and settings.
#[derive(Debug, Clone)]
pub struct App {
    /// Appointments.
    pub appointments: Arc<dyn AppointmentStore>,
    /// Claims.
    pub claims: Arc<dyn ClaimStore>,
    /// Email queue (retries of failed sends, admin alerts).
    pub queue: Arc<dyn EmailQueue>,
    /// Mailer.
    pub mailer: Arc<dyn Mailer>,
    /// Clock.
    pub clock: SharedClock,
    /// Metrics.
    pub metrics: Metrics,
    /// Settings.
    pub settings: Settings,
}

impl App {
    /// Every real adapter (DynamoDB, SQS, SES with the SDK's retries off) from `config`.
    pub fn from_aws(config: Config, aws: &aws_config::SdkConfig) -> Self {
        let clock = shared::clock::system();
        let dynamo = aws_sdk_dynamodb::Client::new(aws);
        let ports = Ports {
            appointments: Arc::new(DynamoAppointments::new(
                dynamo.clone(),
                &config.appointments_table,
                &config.appointments_index,
            )),
            claims: Arc::new(DynamoClaimStore::new(
                dynamo,
                &config.claims_table,
                clock.clone(),
            )),
            queue: Arc::new(SqsQueue::new(
                aws_sdk_sqs::Client::new(aws),
                &config.email_queue_url,
            )),
            mailer: Arc::new(SesMailer::from_aws(aws)),
        };
        Self::build(
            ports,
            clock,
            Metrics::stdout("reminder-cron"),
            config.settings,
        )
    }

    /// The function on already-built ports (in-memory or fault-wrapped in tests and the local
    /// stack).
    pub fn build(ports: Ports, clock: SharedClock, metrics: Metrics, settings: Settings) -> Self {
        Self {
            appointments: ports.appointments,
            claims: ports.claims,
            queue: ports.queue,
            mailer: ports.mailer,
            clock,
            metrics,
            settings,
        }
    }

    /// The deadline of an invocation whose Lambda deadline is `epoch_millis`, minus the margin.
    pub fn deadline(&self, epoch_millis: u64) -> Deadline {
        Deadline::from_epoch_millis(
            epoch_millis,
            self.settings.deadline_margin,
            self.clock.clone(),
        )
    }

    /// Handles one invocation: logs the trigger, runs, logs and returns the summary.
    pub async fn handle(
        &self,
        event: &serde_json::Value,
        deadline: &Deadline,
    ) -> Result<Summary, RunError> {
        let trigger = schedule_event::parse(event);
        let result = run::run(self, deadline).await;
        match &result {
            Ok(summary) if summary.failed_permanent > 0 => tracing::error!(
                scheduled_time = ?trigger.scheduled_time, trigger_id = ?trigger.id,
                summary = ?summary, "reminder run finished with reminders that cannot be sent"
            ),
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
            "ADMIN_EMAIL",
            "BUSINESS_TIME_ZONE",
            "REMINDER_CONCURRENCY",
            "LOG_HASH_KEY",
        ] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
    }
}
