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
