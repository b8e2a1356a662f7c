//! One authentic event, from its envelope to its answer: mode guard → claim → apply →
//! complete. The webhook handler and reconciliation both run events through [`process`], so
//! a reconciled event and a live delivery of it share one claim and one set of effects.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use shared::claims::{Claim, ClaimKey, ClaimOutcome, ClaimRequest};
use shared::deadline::Deadline;
use shared::error::{Classify, ErrorClass};
use shared::metrics::Metric;

use crate::app::App;
use crate::billing::{MAX_STORED_BODY, UnparsedEvent};
use crate::effects::{self, EffectContext, Outcome};
use crate::event::{self, Envelope, StripeEvent};

/// Claim namespace of Stripe events.
pub const EVENT_NAMESPACE: &str = "stripe-event";

/// How processing an event ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// Finished for good (answer `200` with this outcome name).
    Done(&'static str),
    /// Another delivery holds the claim until its lease ends (answer `409`).
    InProgress(Duration),
    /// A retryable failure; the claim is free again (answer `500`, Stripe retries).
    Retry(&'static str),
}

/// Counts a retry by the failure's class, logs it, and answers "retry".
fn retry(
    app: &App,
    class: ErrorClass,
    error: &dyn std::fmt::Display,
    detail: &'static str,
) -> Processed {
    app.metrics
        .count(Metric::RetryScheduled, 1.0, Some(class.as_str()));
    tracing::warn!(error = %error, class = class.as_str(), detail, "Stripe will retry");
    Processed::Retry(detail)
}

/// Processes an authentic `envelope` whose raw body is `body`.
pub async fn process(
    app: &App,
    envelope: &Envelope,
    body: &[u8],
    deadline: &Deadline,
) -> Processed {
    if !app.settings.mode.accepts(envelope.livemode) {
        app.metrics.incr(Metric::StripeEventWrongMode);
        tracing::warn!(
            livemode = envelope.livemode,
            "event of the other Stripe mode; not applied"
        );
        return Processed::Done("other_mode");
    }
    let lease_until = deadline.lease_until(app.settings.lease_cap);
    let claim = match claim(app, envelope, lease_until).await {
        Ok(claim) => claim,
        Err(answer) => return answer,
    };
    let parsed = match event::extract(envelope) {
        Ok(parsed) => parsed,
        Err(error) => {
            let answer = store_unparsed(app, Some(envelope), body, &error.0).await;
            // No effect happened: free the claim so a replay after a fix is processed.
            release(app, &claim, "unparsed").await;
            return answer;
        }
    };
    if parsed == StripeEvent::Unhandled {
        app.metrics.incr(Metric::StripeEventIgnored);
        return complete(app, &claim, envelope, Outcome::NoEffect, Some("ignored")).await;
    }
    match apply(app, envelope, &parsed, lease_until, deadline).await {
        Ok(outcome) => complete(app, &claim, envelope, outcome, None).await,
        Err(answer) => {
            release(app, &claim, "effects failed").await;
            answer
        }
    }
}

/// Claims `stripe-event#<id>`; a duplicate or a held lease is the answer itself.
async fn claim(
    app: &App,
    envelope: &Envelope,
    lease_until: DateTime<Utc>,
) -> Result<Claim, Processed> {
    let key = ClaimKey::new(EVENT_NAMESPACE, &[&envelope.id]);
    let request = ClaimRequest::new(key, lease_until, app.settings.retain);
    match app.ports.claims.claim(&request).await {
        Ok(ClaimOutcome::Acquired(claim)) => Ok(claim),
        Ok(ClaimOutcome::Completed(_) | ClaimOutcome::FailedPermanent(_)) => {
            app.metrics.incr(Metric::DuplicateSuppressed);
            Err(Processed::Done("duplicate"))
        }
        Ok(ClaimOutcome::InProgress(record)) => {
            app.metrics.incr(Metric::ClaimLost);
            let wait = (record.lease_until - app.clock.now())
                .to_std()
                .unwrap_or(Duration::from_secs(1));
            Err(Processed::InProgress(wait))
        }
        Err(e) => Err(retry(
            app,
            e.class(),
            &e,
            "could not record the event, retry later",
        )),
    }
}

/// Runs the effects within the budget.
async fn apply(
    app: &App,
    envelope: &Envelope,
    parsed: &StripeEvent,
    lease_until: DateTime<Utc>,
    deadline: &Deadline,
) -> Result<Outcome, Processed> {
    let ctx = EffectContext {
        ports: app.ports.clone(),
        metrics: app.metrics.clone(),
        clock: app.clock.clone(),
        lease_until,
        retain: app.settings.retain,
        admin_email: app.settings.admin_email.clone(),
    };
    let budget = deadline.remaining().min(app.settings.budget);
    match tokio::time::timeout(budget, effects::apply(&ctx, envelope, parsed)).await {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(e)) => Err(retry(app, e.class(), &e, "processing failed, retry later")),
        Err(_) => Err(retry(
            app,
            ErrorClass::Transient,
            &format_args!("effects ran out of their {} ms", budget.as_millis()),
            "processing took too long, retry later",
        )),
    }
}

/// Completes the claim once every effect is stored.
async fn complete(
    app: &App,
    claim: &Claim,
    envelope: &Envelope,
    outcome: Outcome,
    note: Option<&'static str>,
) -> Processed {
    // A stored unparsed copy of this event is marked replayed alongside (its effects are
    // stored by now; without such a copy the conditional write just does nothing).
    let (completed, marked) = tokio::join!(
        app.ports.claims.complete(claim, note),
        app.ports
            .billing
            .mark_replayed(&envelope.id, app.clock.now())
    );
    if let Err(e) = marked {
        tracing::warn!(error = %e, "could not mark a stored unparsed event replayed");
    }
    match completed {
        Ok(()) => {}
        Err(e) if note.is_some() => {
            // Nothing was applied: a redelivery just ignores it again.
            tracing::warn!(error = %e, "could not complete an ignored event");
        }
        Err(e) => {
            // Effects are stored and idempotent; a retry finds them done.
            release(app, claim, "complete failed").await;
            return retry(
                app,
                e.class(),
                &e,
                "could not record completion, retry later",
            );
        }
    }
    Processed::Done(match (note, outcome) {
        (Some(note), _) => note,
        (None, Outcome::Done) => "processed",
        (None, Outcome::NoEffect) => "no_effect",
    })
}

async fn release(app: &App, claim: &Claim, why: &'static str) {
    if let Err(e) = app.ports.claims.release(claim).await {
        tracing::warn!(error = %e, why, "could not release the event claim; its lease will expire");
    }
}

/// Stores an authentic event that did not parse: done (`200`), or retry if it cannot be stored.
pub async fn store_unparsed(
    app: &App,
    envelope: Option<&Envelope>,
    body: &[u8],
    error: &str,
) -> Processed {
    let sha = hex::encode(Sha256::digest(body));
    let event_id = envelope
        .map(|e| e.id.clone())
        .or_else(|| event::sniff_id(body))
        .unwrap_or_else(|| format!("sha256:{sha}"));
    let record = UnparsedEvent {
        event_id: event_id.clone(),
        event_type: envelope.map(|e| e.event_type.clone()),
        error: error.chars().take(500).collect(),
        body: (body.len() <= MAX_STORED_BODY).then(|| body.to_vec()),
        body_sha256: sha,
        received_at: app.clock.now(),
        replayed_at: None,
    };
    match app.ports.billing.store_unparsed(&record).await {
        Ok(()) => {
            app.metrics.incr(Metric::StripeEventUnparsed);
            tracing::error!(event_id = %shared::telemetry::log_hash(&event_id), "authentic Stripe event did not parse; stored for replay");
            Processed::Done("stored_unparsed")
        }
        Err(e) => retry(app, e.class(), &e, "could not store the event, retry later"),
    }
}
