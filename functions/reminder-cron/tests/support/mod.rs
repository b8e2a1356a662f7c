//! Builders shared by the reminder tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reminder_cron::appointments::{Appointment, AppointmentStore, MemoryAppointments, Status};
use reminder_cron::{App, Ports, Settings};
use shared::claims::{ClaimStore, MemoryClaimStore};
use shared::clock::ManualClock;
use shared::deadline::Deadline;
use shared::mailer::{Mailer, MemoryMailer};
use shared::metrics::{MemorySink, Metrics};
use shared::queue::{EmailQueue, MemoryQueue};

pub const SENDER: &str = "reminders@clinic.example.com";
pub const ADMIN: &str = "admin@clinic.example.com";

/// The production settings, with `concurrency` and hand-over jobs visible at once.
pub fn settings(concurrency: usize) -> Settings {
    let mut s = Settings::new(SENDER, ADMIN, chrono_tz::America::New_York);
    s.concurrency = concurrency;
    s.handover_delay = Duration::ZERO;
    s
}

/// `app` with another concurrency.
pub fn with_concurrency(app: &App, concurrency: usize) -> App {
    let mut app = app.clone();
    app.settings.concurrency = concurrency;
    app
}

pub fn appointment(id: &str, starts_at: DateTime<Utc>) -> Appointment {
    Appointment {
        id: id.into(),
        customer_email: format!("{id}@customer.example.com"),
        customer_name: format!("Customer {id}"),
        service: "Consultation".into(),
        starts_at,
        time_zone: "America/New_York".into(),
        duration_minutes: 60,
        status: Status::Approved,
        version: 1,
        meeting_link: Some("https://meet.example.com/abc".into()),
    }
}

/// In-memory world on a manual clock.
pub struct World {
    pub clock: ManualClock,
    pub appointments: Arc<MemoryAppointments>,
    pub claims: Arc<MemoryClaimStore>,
    pub queue: Arc<MemoryQueue>,
    pub mailer: Arc<MemoryMailer>,
    pub metrics: (Metrics, MemorySink),
}

impl World {
    pub fn new() -> Self {
        let clock = ManualClock::at("2026-06-10T12:00:00Z");
        Self {
            appointments: Arc::new(MemoryAppointments::default()),
            claims: Arc::new(MemoryClaimStore::new(clock.shared())),
            queue: Arc::new(MemoryQueue::new(clock.shared())),
            mailer: Arc::new(MemoryMailer::new(["clinic.example.com"])),
            metrics: Metrics::in_memory("reminder-cron"),
            clock,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.shared().now()
    }

    pub fn in_(&self, minutes: i64) -> DateTime<Utc> {
        self.now() + TimeDelta::minutes(minutes)
    }

    pub fn deps(&self) -> App {
        self.deps_with(
            self.appointments.clone(),
            self.claims.clone(),
            self.queue.clone(),
            self.mailer.clone(),
        )
    }

    pub fn deps_with(
        &self,
        appointments: Arc<dyn AppointmentStore>,
        claims: Arc<dyn ClaimStore>,
        queue: Arc<dyn EmailQueue>,
        mailer: Arc<dyn Mailer>,
    ) -> App {
        App::build(
            Ports {
                appointments,
                claims,
                queue,
                mailer,
            },
            self.clock.shared(),
            self.metrics.0.clone(),
            settings(8),
        )
    }

    pub fn deadline(&self) -> Deadline {
        Deadline::after(
            Duration::from_secs(120),
            Duration::from_secs(5),
            self.clock.shared(),
        )
    }

    /// Subjects of sent emails to `to`.
    pub fn sent_to(&self, to: &str) -> Vec<String> {
        self.mailer
            .sent()
            .into_iter()
            .filter(|(_, e)| e.to == to)
            .map(|(_, e)| e.subject)
            .collect()
    }
}

/// The email worker on the world's queue, mailer, appointments and claims (what delivers a
/// queued reminder in production).
pub fn worker(
    clock: &ManualClock,
    queue: Arc<dyn EmailQueue>,
    mailer: Arc<dyn Mailer>,
    appointments: Arc<dyn AppointmentStore>,
    claims: Arc<dyn ClaimStore>,
) -> email_retry::App {
    let ports = email_retry::Ports {
        store: Arc::new(email_retry::record::MemoryEmailStore::new(clock.shared())),
        mailer,
        queue,
        appointments,
        claims,
    };
    let settings = email_retry::Settings::new(SENDER, ADMIN, chrono_tz::America::New_York);
    email_retry::App::build(
        ports,
        clock.shared(),
        Metrics::in_memory("email-retry").0,
        settings,
    )
    .with_seed(1)
}

/// Drains `queue` through `worker` as Lambda would (deletes what is done), moving `clock`
/// past each backoff, until nothing is left; returns the receives made.
pub async fn drain(clock: &ManualClock, queue: &dyn EmailQueue, worker: &email_retry::App) -> u32 {
    use aws_lambda_events::event::sqs::SqsEvent;
    let (mut receives, mut idle) = (0, 0);
    for _ in 0..100 {
        let batch = queue.receive(10, Duration::from_secs(180)).await.unwrap();
        if batch.is_empty() {
            idle += 1;
            if idle == 2 {
                return receives;
            }
            clock.advance(Duration::from_secs(1000));
            continue;
        }
        idle = 0;
        receives += batch.len() as u32;
        let mut event = SqsEvent::default();
        event.records = batch
            .iter()
            .map(email_retry::worker::as_lambda_record)
            .collect();
        let deadline = Deadline::after(
            Duration::from_secs(30),
            Duration::from_secs(3),
            clock.shared(),
        );
        let response = worker.handle(event, &deadline).await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        for m in &batch {
            if !failed.contains(&m.message_id) {
                queue.delete(&m.receipt).await.unwrap();
            }
        }
    }
    panic!("the email queue never drained");
}
