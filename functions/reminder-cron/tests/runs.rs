//! Reminder runs on in-memory adapters: due rules end to end, duplicates, failures, deadline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use reminder_cron::appointments::{AppointmentStore, MemoryAppointments, Status};
use reminder_cron::run::run;
use reminder_cron::{RunError, Summary};
use shared::error::ErrorClass;
use shared::faults::{Fault, FaultPlan, Faulty};
use shared::mailer::SendFailure;
use shared::queue::EmailQueue;
use support::{World, appointment, with_concurrency};

#[tokio::test]
async fn due_reminders_are_sent_once_across_repeated_runs() {
    let w = World::new();
    w.appointments
        .put(&appointment("a1", w.in_(30)))
        .await
        .unwrap(); // 1 h due
    w.appointments
        .put(&appointment("a2", w.in_(20 * 60)))
        .await
        .unwrap(); // 24 h due
    w.appointments
        .put(&appointment("a3", w.in_(26 * 60)))
        .await
        .unwrap(); // not yet
    let first = run(&with_concurrency(&w.deps(), 4), &w.deadline())
        .await
        .unwrap();
    assert_eq!(
        first,
        Summary {
            due: 2,
            claimed: 2,
            sent: 2,
            ..Summary::default()
        }
    );
    let again = run(&with_concurrency(&w.deps(), 4), &w.deadline())
        .await
        .unwrap();
    assert_eq!(
        again,
        Summary {
            due: 2,
            already_sent: 2,
            ..Summary::default()
        }
    );
    assert_eq!(w.sent_to("a1@customer.example.com").len(), 1);
    assert_eq!(w.sent_to("a2@customer.example.com").len(), 1);
    assert_eq!(w.sent_to("a3@customer.example.com").len(), 0);
    let subject = &w.sent_to("a1@customer.example.com")[0];
    let day_subject = &w.sent_to("a2@customer.example.com")[0];
    assert_ne!(subject, day_subject, "24 h and 1 h subjects differ");
}

#[tokio::test]
async fn the_email_shows_local_time_zone_and_link() {
    let w = World::new();
    // 2026-06-10T12:30Z is 08:30 EDT in New York.
    w.appointments
        .put(&appointment("tz", w.in_(30)))
        .await
        .unwrap();
    run(&with_concurrency(&w.deps(), 1), &w.deadline())
        .await
        .unwrap();
    let (_, email) = w.mailer.sent().pop().unwrap();
    assert!(email.text.contains("8:30"), "{}", email.text);
    assert!(
        email.text.contains("America/New_York") || email.text.contains("EDT"),
        "{}",
        email.text
    );
    assert!(
        email.text.contains("https://meet.example.com/abc"),
        "{}",
        email.text
    );
    assert!(email.html.contains("Join the meeting"));
    assert!(email.text.contains("Consultation"));
}

#[tokio::test]
async fn concurrent_runs_send_each_reminder_once() {
    let w = World::new();
    for i in 0..200 {
        w.appointments
            .put(&appointment(&format!("c{i}"), w.in_(10 + i % 40)))
            .await
            .unwrap();
    }
    let deps = w.deps();
    let runs: Vec<_> = (0..5)
        .map(|_| {
            let deps = deps.clone();
            let deadline = w.deadline();
            tokio::spawn(async move { run(&with_concurrency(&deps, 8), &deadline).await.unwrap() })
        })
        .collect();
    let mut sent = 0;
    let mut already = 0;
    for r in runs {
        let s = r.await.unwrap();
        sent += s.sent;
        already += s.already_sent;
    }
    assert_eq!(sent, 200);
    assert_eq!(already, 4 * 200);
    assert_eq!(w.mailer.sent().len(), 200);
}

#[tokio::test]
async fn a_failed_query_fails_the_run_and_sends_nothing() {
    let w = World::new();
    let store = Arc::new(MemoryAppointments::default());
    store.put(&appointment("q", w.in_(30))).await.unwrap();
    let failing = Arc::new(Faulty::new(
        store,
        FaultPlan::always(Fault::Fail(ErrorClass::DependencyDown)),
    ));
    let deps = w.deps_with(failing, w.claims.clone(), w.queue.clone(), w.mailer.clone());
    let err = run(&with_concurrency(&deps, 4), &w.deadline())
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Query(_)), "{err}");
    assert!(w.mailer.sent().is_empty());
}

#[tokio::test]
async fn a_failed_send_goes_to_the_queue_once() {
    let w = World::new();
    w.appointments
        .put(&appointment("f", w.in_(30)))
        .await
        .unwrap();
    let mailer = Arc::new(Faulty::new(
        w.mailer.clone(),
        FaultPlan::always(Fault::FailSend(SendFailure::Retryable)),
    ));
    let deps = w.deps_with(
        w.appointments.clone(),
        w.claims.clone(),
        w.queue.clone(),
        mailer,
    );
    let s = run(&with_concurrency(&deps, 4), &w.deadline())
        .await
        .unwrap();
    assert_eq!(
        s,
        Summary {
            due: 1,
            claimed: 1,
            queued_for_retry: 1,
            ..Summary::default()
        }
    );
    let again = run(&with_concurrency(&deps, 4), &w.deadline())
        .await
        .unwrap();
    assert_eq!(again.already_sent, 1, "the hand-over counts as done");
    let queued = w.queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(queued.len(), 1);
    let job = queued[0].job().unwrap();
    assert!(job.id.starts_with("reminder#f#1h#"), "{}", job.id);
    assert!(job.critical);
}

#[tokio::test]
async fn queue_down_releases_the_claim_for_the_next_run() {
    let w = World::new();
    w.appointments
        .put(&appointment("qd", w.in_(30)))
        .await
        .unwrap();
    let mailer = Arc::new(Faulty::new(
        w.mailer.clone(),
        FaultPlan::on_calls([1], Fault::FailSend(SendFailure::Retryable)),
    ));
    let queue = Arc::new(Faulty::new(
        w.queue.clone(),
        FaultPlan::always(Fault::Fail(ErrorClass::DependencyDown)),
    ));
    let deps = w.deps_with(
        w.appointments.clone(),
        w.claims.clone(),
        queue,
        mailer.clone(),
    );
    let err = run(&with_concurrency(&deps, 1), &w.deadline())
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Partial { ref summary } if summary.errors == 1));
    let s = run(&with_concurrency(&deps, 1), &w.deadline())
        .await
        .unwrap();
    assert_eq!(s.sent, 1, "released claim is taken by the next run");
    assert_eq!(w.mailer.sent().len(), 1);
}

#[tokio::test]
async fn claim_errors_fail_the_run_and_are_retried() {
    let w = World::new();
    for i in 0..20 {
        w.appointments
            .put(&appointment(&format!("e{i}"), w.in_(30)))
            .await
            .unwrap();
    }
    let claims = Arc::new(Faulty::new(
        w.claims.clone(),
        // Calls alternate claim / complete: 3 and 4 are the claims of e1 and e2.
        FaultPlan::on_calls([3, 4], Fault::Fail(ErrorClass::Transient)),
    ));
    let deps = w.deps_with(
        w.appointments.clone(),
        claims,
        w.queue.clone(),
        w.mailer.clone(),
    );
    let err = run(&with_concurrency(&deps, 1), &w.deadline())
        .await
        .unwrap_err();
    let RunError::Partial { summary } = err else {
        panic!("partial failure expected")
    };
    assert_eq!((summary.sent, summary.errors), (18, 2));
    let s = run(&with_concurrency(&deps, 1), &w.deadline())
        .await
        .unwrap();
    assert_eq!((s.sent, s.already_sent), (2, 18));
    assert_eq!(w.mailer.sent().len(), 20);
}

#[tokio::test]
async fn reschedule_and_cancel_between_runs() {
    let w = World::new();
    let mut moved = appointment("moved", w.in_(20 * 60));
    let mut cancelled = appointment("gone", w.in_(20 * 60));
    w.appointments.put(&moved).await.unwrap();
    w.appointments.put(&cancelled).await.unwrap();
    run(&with_concurrency(&w.deps(), 2), &w.deadline())
        .await
        .unwrap();
    assert_eq!(
        w.mailer.sent().len(),
        2,
        "24 h reminders for the original times"
    );

    cancelled.status = Status::Other("cancelled".into());
    w.appointments.put(&cancelled).await.unwrap();
    moved.starts_at = w.in_(22 * 60);
    moved.version += 1;
    w.appointments.put(&moved).await.unwrap();
    w.clock.advance(Duration::from_secs(19 * 3600 + 30 * 60)); // original 1 h windows open
    let s = run(&with_concurrency(&w.deps(), 2), &w.deadline())
        .await
        .unwrap();
    assert_eq!(s.sent, 0, "nothing for the old times or the cancelled one");

    w.clock.advance(Duration::from_secs(2 * 3600)); // the new time's 1 h window
    let s = run(&with_concurrency(&w.deps(), 2), &w.deadline())
        .await
        .unwrap();
    assert_eq!(s.sent, 1);
    assert_eq!(
        w.sent_to("gone@customer.example.com").len(),
        1,
        "only the first 24 h one"
    );
    assert_eq!(
        w.sent_to("moved@customer.example.com").len(),
        2,
        "old 24 h + new 1 h"
    );
}

#[tokio::test]
async fn too_late_day_before_reminders_are_reported_once() {
    let w = World::new();
    w.appointments
        .put(&appointment("late", w.in_(11 * 60 + 58)))
        .await
        .unwrap();
    let s = run(&with_concurrency(&w.deps(), 2), &w.deadline())
        .await
        .unwrap();
    assert_eq!(
        s,
        Summary {
            skipped_too_late: 1,
            ..Summary::default()
        }
    );
    w.clock.advance(Duration::from_secs(300));
    let s = run(&with_concurrency(&w.deps(), 2), &w.deadline())
        .await
        .unwrap();
    assert_eq!(s.skipped_too_late, 0);
    assert!(w.mailer.sent().is_empty());
}

#[tokio::test]
async fn no_new_claims_after_the_deadline_margin() {
    let w = World::new();
    for i in 0..5 {
        w.appointments
            .put(&appointment(&format!("d{i}"), w.in_(30)))
            .await
            .unwrap();
    }
    let deadline = shared::deadline::Deadline::after(
        Duration::from_secs(5),
        Duration::from_secs(5),
        w.clock.shared(),
    );
    let s = run(&with_concurrency(&w.deps(), 2), &deadline)
        .await
        .unwrap();
    assert_eq!(
        s,
        Summary {
            due: 5,
            deferred: 5,
            ..Summary::default()
        }
    );
    assert!(w.mailer.sent().is_empty());
}

#[tokio::test]
async fn a_lost_completion_is_retried_not_resent() {
    let w = World::new();
    w.appointments
        .put(&appointment("lost", w.in_(30)))
        .await
        .unwrap();
    let claims = Arc::new(Faulty::new(
        w.claims.clone(),
        // Call 2 is the completion: it goes through but its answer is lost.
        FaultPlan::on_calls([2], Fault::FailAfter(ErrorClass::Transient)),
    ));
    let deps = w.deps_with(
        w.appointments.clone(),
        claims,
        w.queue.clone(),
        w.mailer.clone(),
    );
    let s = run(&with_concurrency(&deps, 1), &w.deadline())
        .await
        .unwrap();
    assert_eq!((s.sent, s.errors), (1, 0));
    w.clock.advance(Duration::from_secs(600)); // past any lease
    let again = run(&with_concurrency(&deps, 1), &w.deadline())
        .await
        .unwrap();
    assert_eq!(again.already_sent, 1);
    assert_eq!(w.mailer.sent().len(), 1);
}

/// The sample events in `events/reminder-cron/` run the handler (scheduled time logged, work
/// decided by the clock).
#[tokio::test]
async fn sample_events_run_the_handler() {
    let w = World::new();
    w.appointments
        .put(&appointment("ev", w.in_(30)))
        .await
        .unwrap();
    let dir = format!("{}/../../events/reminder-cron", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    for (i, path) in names.iter().enumerate() {
        let event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let trigger = reminder_cron::schedule_event::parse(&event);
        assert!(trigger.scheduled_time.is_some(), "{path:?}");
        let s = with_concurrency(&w.deps(), 2)
            .handle(&event, &w.deadline())
            .await
            .unwrap();
        let expected = if i == 0 {
            Summary {
                due: 1,
                claimed: 1,
                sent: 1,
                ..Summary::default()
            }
        } else {
            Summary {
                due: 1,
                already_sent: 1,
                ..Summary::default()
            }
        };
        assert_eq!(s, expected, "{path:?}");
    }
}
