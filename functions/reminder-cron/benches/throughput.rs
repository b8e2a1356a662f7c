//! Throughput of a reminder run: bounded concurrency vs one at a time, with a simulated 10 ms
//! latency on every claim-store and mailer call (the shape of real DynamoDB and SES calls).
//!
//! `cargo bench -p reminder-cron --bench throughput` (set `REMINDERS`, default 5000). Prints the
//! wall time one at a time and at concurrency 8 (the default) and 64, and the ratios, all
//! measured in the same process run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use reminder_cron::appointments::{Appointment, AppointmentStore, MemoryAppointments, Status};
use reminder_cron::run::run;
use reminder_cron::{App, Ports, Settings};
use shared::claims::MemoryClaimStore;
use shared::clock::ManualClock;
use shared::deadline::Deadline;
use shared::faults::{Fault, FaultPlan, Faulty};
use shared::mailer::MemoryMailer;
use shared::metrics::Metrics;
use shared::queue::MemoryQueue;

const LATENCY: Duration = Duration::from_millis(10);

async fn timed_run(reminders: usize, concurrency: usize) -> Duration {
    let clock = ManualClock::at("2026-06-10T12:00:00Z");
    let now = clock.shared().now();
    let appointments = Arc::new(MemoryAppointments::default());
    for i in 0..reminders {
        let a = Appointment {
            id: format!("b{i}"),
            customer_email: format!("b{i}@customer.example.com"),
            customer_name: "Customer".into(),
            service: "Consultation".into(),
            starts_at: now + TimeDelta::minutes(5 + (i % 50) as i64),
            time_zone: "America/New_York".into(),
            duration_minutes: 30,
            status: Status::Approved,
            version: 1,
            meeting_link: None,
        };
        appointments.put(&a).await.unwrap();
    }
    let ports = Ports {
        appointments,
        claims: Arc::new(Faulty::new(
            MemoryClaimStore::new(clock.shared()),
            FaultPlan::always(Fault::Latency(LATENCY)),
        )),
        queue: Arc::new(MemoryQueue::new(clock.shared())),
        mailer: Arc::new(Faulty::new(
            MemoryMailer::new(["clinic.example.com"]),
            FaultPlan::always(Fault::Latency(LATENCY)),
        )),
    };
    let mut settings = Settings::new(
        "reminders@clinic.example.com",
        "admin@clinic.example.com",
        chrono_tz::America::New_York,
    );
    settings.concurrency = concurrency;
    let app = App::build(
        ports,
        clock.shared(),
        Metrics::in_memory("bench").0,
        settings,
    );
    let deadline = Deadline::after(Duration::from_secs(3600), Duration::ZERO, clock.shared());
    let started = Instant::now();
    let summary = run(&app, &deadline).await.unwrap();
    assert_eq!(summary.sent as usize, reminders);
    started.elapsed()
}

fn main() {
    let reminders: usize = std::env::var("REMINDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("reminders={reminders} latency={LATENCY:?} per claim/send/complete call");
    let sequential = rt.block_on(timed_run(reminders, 1));
    println!("one at a time:  {sequential:?}");
    for concurrency in [8, 64] {
        let t = rt.block_on(timed_run(reminders, concurrency));
        let ratio = sequential.as_secs_f64() / t.as_secs_f64();
        println!("concurrency {concurrency:>2}: {t:?} ({ratio:.1}x faster)");
    }
}
