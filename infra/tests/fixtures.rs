//! The `events/reminder-cron/` fixtures (the one function crate without its own fixture
//! test) fed to reminder-cron's handler through the local stack: both shapes are accepted
//! and run the same exactly-once logic. The other functions test their fixtures in their
//! own crates (`functions/*/tests/events.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use infra::demo;
use infra::settings::LocalSettings;
use infra::stack::Stack;
use shared::config::Env;
use shared::deadline::Deadline;

fn fixture(name: &str) -> serde_json::Value {
    let path = format!(
        "{}/../events/reminder-cron/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).unwrap()
}

#[tokio::test]
async fn both_schedule_event_shapes_are_accepted_and_send_each_reminder_once() {
    let settings = LocalSettings {
        announce: false,
        outbox: std::env::temp_dir().join(shared::testing::unique_name("fixtures-outbox-")),
        ..LocalSettings::local_defaults()
    };
    let outbox = settings.outbox.clone();
    let stack = Stack::build(settings, Env::from_pairs::<String, String>([]))
        .await
        .unwrap();
    demo::seed(&stack.ports, chrono::Utc::now()).await.unwrap();
    let deadline = || {
        Deadline::after(
            Duration::from_secs(30),
            Duration::from_secs(1),
            stack.ports.clock.clone(),
        )
    };
    let first = reminder_cron::handle(
        &stack.reminder_deps,
        &stack.reminder_settings,
        &fixture("scheduler.json"),
        &deadline(),
    )
    .await
    .unwrap();
    assert_eq!((first.due, first.sent, first.already_sent), (2, 2, 0));
    let second = reminder_cron::handle(
        &stack.reminder_deps,
        &stack.reminder_settings,
        &fixture("classic-scheduled-event.json"),
        &deadline(),
    )
    .await
    .unwrap();
    assert_eq!((second.due, second.sent, second.already_sent), (2, 0, 2));
    assert_eq!(stack.ports.memory_mailer.as_ref().unwrap().sent().len(), 2);
    std::fs::remove_dir_all(outbox).unwrap();
}
