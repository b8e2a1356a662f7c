//! The reminder schedule: invokes reminder-cron every `interval` (as EventBridge Scheduler
//! would) until the process ends; `run-reminders` triggers a run on demand.

use std::sync::Arc;
use std::time::Duration;

use crate::stack::Stack;

/// Runs reminders every `interval`, the first run one interval after start.
pub async fn run(stack: Arc<Stack>, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        // The outcome is printed and logged for the page by the run itself.
        let _ = stack.run_reminders("scheduled").await;
    }
}
