//! Reconciliation: lists the events Stripe has since the stored checkpoint (Stripe keeps 30
//! days) and runs each through the same [`pipeline`] as a live delivery, so an event already
//! completed here is a duplicate, one being delivered right now is left to that delivery, and
//! one never received is applied. The checkpoint then moves to the oldest event that is not
//! finished (or the newest listed when all are), never back.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use shared::deadline::Deadline;
use shared::store_error::StoreError;

use crate::app::App;
use crate::event;
use crate::pipeline::{self, Processed};
use crate::stripe_api::StripeApiError;

/// How far back a first run looks: Stripe's event retention.
pub const STRIPE_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Most events one run lists (a bound on its time; the next run continues).
pub const MAX_EVENTS: usize = 10_000;

/// Why a run stopped before processing.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Listing events failed.
    #[error("listing Stripe events: {0}")]
    Stripe(#[from] StripeApiError),
    /// The checkpoint could not be read or written.
    #[error("checkpoint: {0}")]
    Store(#[from] StoreError),
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Events created at or after this second were listed.
    pub since: i64,
    /// Events Stripe listed.
    pub listed: u32,
    /// Applied now (never completed here before).
    pub applied: u32,
    /// Already completed here (a live delivery or an earlier run).
    pub already_done: u32,
    /// Being processed by a live delivery right now.
    pub in_progress: u32,
    /// Failed retryably; the checkpoint stays at or before them.
    pub failed: u32,
    /// The checkpoint after the run.
    pub checkpoint: Option<i64>,
}

/// Lists every event created at or after `since` (newest first, as Stripe does), up to
/// [`MAX_EVENTS`].
async fn list(app: &App, since: i64) -> Result<Vec<Value>, StripeApiError> {
    let mut events: Vec<Value> = Vec::new();
    loop {
        let after = events
            .last()
            .and_then(|e| e.get("id"))
            .and_then(Value::as_str);
        let page = app.ports.stripe.events(since, after).await?;
        let more = page.has_more && !page.events.is_empty();
        events.extend(page.events);
        if !more || events.len() >= MAX_EVENTS {
            return Ok(events);
        }
    }
}

fn created(event: &Value) -> i64 {
    event.get("created").and_then(Value::as_i64).unwrap_or(0)
}

/// Runs one reconciliation from `since` (else the stored checkpoint, else Stripe's retention).
pub async fn run(app: &App, since: Option<i64>) -> Result<Report, ReconcileError> {
    let billing = &app.ports.billing;
    let oldest = app.clock.now().timestamp() - STRIPE_RETENTION.as_secs() as i64;
    let since = match since {
        Some(s) => s,
        None => billing.reconcile_checkpoint().await?.unwrap_or(oldest),
    };
    let mut events = list(app, since).await?;
    // Oldest first, so effects see events in the order Stripe created them.
    events.reverse();
    events.sort_by_key(created);
    let mut report = Report {
        since,
        listed: u32::try_from(events.len()).unwrap_or(u32::MAX),
        ..Report::default()
    };
    let mut unfinished: Option<i64> = None;
    for value in &events {
        let done = process_one(app, value, &mut report).await;
        if !done {
            unfinished = Some(unfinished.map_or(created(value), |u| u.min(created(value))));
        }
    }
    let next = unfinished.or_else(|| events.last().map(created));
    if let Some(next) = next {
        billing.advance_checkpoint(next).await?;
    }
    report.checkpoint = billing.reconcile_checkpoint().await?;
    Ok(report)
}

/// Processes one listed event; `true` when it is finished.
async fn process_one(app: &App, value: &Value, report: &mut Report) -> bool {
    let body = value.to_string().into_bytes();
    let margin = app.settings.margin;
    let deadline = Deadline::after(app.settings.budget + margin, margin, app.clock.clone());
    let processed = match event::parse_envelope(&body) {
        Ok(envelope) => pipeline::process(app, &envelope, &body, &deadline).await,
        Err(error) => pipeline::store_unparsed(app, None, &body, &error.0).await,
    };
    match processed {
        Processed::Done("duplicate") => report.already_done += 1,
        Processed::Done(_) => report.applied += 1,
        Processed::InProgress(_) => report.in_progress += 1,
        Processed::Retry(_) => report.failed += 1,
    }
    matches!(processed, Processed::Done(_))
}
