//! `email-retry`: the SQS worker that delivers queued email jobs exactly once where it can,
//! with jittered backoff through the message visibility, a retry budget that ends in
//! `FAILED_PERMANENT` plus an admin alert for critical jobs, an SES-pause hold that does not
//! spend the budget, `EXPIRED` for jobs no longer current, and a DLQ for what cannot be read.
//! See `README.md` for the states. [`App`] is the one composition root: `main.rs`, the local
//! stack and the tests build the worker through it.

pub mod config;
pub mod currency;
pub mod record;
pub mod redrive;
pub mod tuning;
pub mod worker;

use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use shared::appointments::{AppointmentStore, DynamoAppointments};
use shared::claims::{ClaimStore, DynamoClaimStore};
use shared::clock::SharedClock;
use shared::deadline::Deadline;
use shared::mailer::{Mailer, SesMailer};
use shared::metrics::Metrics;
use shared::queue::{EmailQueue, SqsQueue};

pub use self::config::{Config, Settings};
use self::record::{DynamoEmailStore, EmailStore};
pub use self::worker::Disposition;

/// The worker's ports, already built.
#[derive(Debug, Clone)]
pub struct Ports {
    /// Email records (the send claim and its outcome).
    pub store: Arc<dyn EmailStore>,
    /// Mailer.
    pub mailer: Arc<dyn Mailer>,
    /// The email queue (admin alerts, paused jobs).
    pub queue: Arc<dyn EmailQueue>,
    /// Appointments (is a queued reminder still current?).
    pub appointments: Arc<dyn AppointmentStore>,
    /// Claims (has reminder-cron handed the reminder over, or sent it?).
    pub claims: Arc<dyn ClaimStore>,
}

/// The worker, wired: its ports, clock, metrics and settings, built once per cold start.
#[derive(Debug)]
pub struct App {
    /// Email records.
    pub store: Arc<dyn EmailStore>,
    /// Mailer.
    pub mailer: Arc<dyn Mailer>,
    /// The email queue.
    pub queue: Arc<dyn EmailQueue>,
    /// Appointments.
    pub appointments: Arc<dyn AppointmentStore>,
    /// Claims.
    pub claims: Arc<dyn ClaimStore>,
    /// Clock.
    pub clock: SharedClock,
    /// Metrics.
    pub metrics: Metrics,
    /// Settings.
    pub settings: Settings,
    rng: Mutex<StdRng>,
}

impl App {
    /// Every real adapter (DynamoDB, SQS, SES with the SDK's retries off) from `config`.
    pub fn from_aws(config: Config, aws: &aws_config::SdkConfig) -> Self {
        let clock = shared::clock::system();
        let dynamo = aws_sdk_dynamodb::Client::new(aws);
        let ports = Ports {
            store: Arc::new(DynamoEmailStore::new(
                dynamo.clone(),
                config.emails_table,
                clock.clone(),
            )),
            mailer: Arc::new(SesMailer::from_aws(aws)),
            queue: Arc::new(SqsQueue::new(
                aws_sdk_sqs::Client::new(aws),
                config.queue_url,
            )),
            appointments: Arc::new(DynamoAppointments::new(
                dynamo.clone(),
                config.appointments_table,
                "by-start-day",
            )),
            claims: Arc::new(DynamoClaimStore::new(
                dynamo,
                config.claims_table,
                clock.clone(),
            )),
        };
        Self::build(
            ports,
            clock,
            Metrics::stdout("email-retry"),
            config.settings,
        )
    }

    /// The worker on already-built ports (in-memory or fault-wrapped in tests and the local
    /// stack); the backoff jitter is seeded at random (see [`App::with_seed`]).
    pub fn build(ports: Ports, clock: SharedClock, metrics: Metrics, settings: Settings) -> Self {
        Self {
            store: ports.store,
            mailer: ports.mailer,
            queue: ports.queue,
            appointments: ports.appointments,
            claims: ports.claims,
            clock,
            metrics,
            settings,
            rng: Mutex::new(StdRng::seed_from_u64(rand::rng().next_u64())),
        }
    }

    /// The same worker with reproducible backoff jitter.
    pub fn with_seed(self, seed: u64) -> Self {
        Self {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            ..self
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

    pub(crate) fn rng(&self) -> MutexGuard<'_, StdRng> {
        self.rng.lock().unwrap_or_else(|p| p.into_inner())
    }
}
