//! The HTTP side: size limit, signature, claim, effects, complete — and one answer for each
//! outcome. Every expected failure is an `Ok` response (problem+json for errors).

use std::time::Duration;

use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use shared::claims::{ClaimKey, ClaimOutcome, ClaimRequest};
use shared::clock::SharedClock;
use shared::deadline::Deadline;
use shared::error::{Classify, ErrorClass, Problem};
use shared::metrics::{Metric, Metrics};

use crate::billing::{MAX_STORED_BODY, UnparsedEvent};
use crate::effects::{self, EffectContext, Ports};
use crate::event::{self, Envelope, StripeEvent};
use crate::signature::Verifier;

/// Claim namespace of Stripe events.
pub const EVENT_NAMESPACE: &str = "stripe-event";

/// Limits and timings of the handler.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest body accepted, measured on the decoded bytes.
    pub max_body: usize,
    /// Total time for claim + effects of one delivery.
    pub budget: Duration,
    /// Longest lease on an event claim (the Lambda deadline usually ends it sooner).
    pub lease_cap: Duration,
    /// How long completed claims suppress duplicates (Stripe retries for 3 days).
    pub retain: Duration,
    /// Kept free before the Lambda deadline to release a claim and answer.
    pub margin: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_body: 1024 * 1024,
            budget: Duration::from_secs(5),
            lease_cap: Duration::from_secs(30),
            retain: Duration::from_secs(8 * 24 * 3600),
            margin: Duration::from_millis(1500),
        }
    }
}

/// Everything the handler needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct App {
    /// Signature check.
    pub verifier: Verifier,
    /// The ports.
    pub ports: Ports,
    /// Counters.
    pub metrics: Metrics,
    /// Time source.
    pub clock: SharedClock,
    /// Limits and timings.
    pub settings: Settings,
}

fn ok(outcome: &str) -> Response<Body> {
    shared::http::json(
        200,
        &json!({ "received": true, "outcome": outcome }),
        "application/json",
    )
}

/// A `500` asking Stripe to deliver again (it retries for up to 3 days).
fn retry_later(detail: &str) -> Response<Body> {
    shared::http::problem(
        &Problem::new(ErrorClass::Transient, detail).with_status(500, "Processing failed, retry"),
    )
}

fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

impl App {
    fn deadline(&self, request: &Request) -> Deadline {
        match request.lambda_context_ref().map(|c| c.deadline) {
            Some(ms) if ms > 0 => {
                Deadline::from_epoch_millis(ms, self.settings.margin, self.clock.clone())
            }
            _ => Deadline::after(
                self.settings.budget + self.settings.margin,
                self.settings.margin,
                self.clock.clone(),
            ),
        }
    }
}

/// Handles one API Gateway request.
pub async fn handle(app: &App, request: Request) -> Response<Body> {
    if request.method() != Method::POST {
        return shared::http::problem(
            &Problem::validation("use POST").with_status(405, "Method not allowed"),
        );
    }
    let deadline = app.deadline(&request);
    let body = body_bytes(request.body());
    if body.len() > app.settings.max_body {
        return shared::http::problem(
            &Problem::validation("the body is larger than 1 MiB")
                .with_status(413, "Payload too large"),
        );
    }
    let header = request
        .headers()
        .get("stripe-signature")
        .map(|v| v.as_bytes());
    if let Err(reason) = app
        .verifier
        .verify_rotating(header, body, app.clock.now())
        .await
    {
        tracing::warn!(%reason, body_len = body.len(), "refused Stripe signature");
        return shared::http::problem(
            &Problem::new(
                ErrorClass::Validation,
                "missing or invalid Stripe-Signature",
            )
            .with_status(400, "Invalid signature"),
        );
    }
    // Authentic from here on.
    let envelope = match event::parse_envelope(body) {
        Ok(e) => e,
        Err(error) => return store_unparsed(app, None, body, &error.0).await,
    };
    let span = tracing::info_span!("stripe_event", event_id = %envelope.id, event_type = %envelope.event_type);
    let _entered = span.enter();
    process(app, &envelope, body, &deadline).await
}

async fn process(
    app: &App,
    envelope: &Envelope,
    body: &[u8],
    deadline: &Deadline,
) -> Response<Body> {
    let key = ClaimKey::new(EVENT_NAMESPACE, &[&envelope.id]);
    let lease_until = deadline.lease_until(app.settings.lease_cap);
    let request = ClaimRequest::new(key, lease_until, app.settings.retain);
    let claim = match app.ports.claims.claim(&request).await {
        Ok(ClaimOutcome::Acquired(claim)) => claim,
        Ok(ClaimOutcome::Completed(_) | ClaimOutcome::FailedPermanent(_)) => {
            app.metrics.incr(Metric::DuplicateSuppressed);
            return ok("duplicate");
        }
        Ok(ClaimOutcome::InProgress(record)) => {
            app.metrics.incr(Metric::ClaimLost);
            let wait = (record.lease_until - app.clock.now())
                .to_std()
                .unwrap_or(Duration::from_secs(1));
            return shared::http::problem(
                &Problem::new(ErrorClass::Transient, "this event is being processed")
                    .with_status(409, "In progress")
                    .retry_after(wait),
            );
        }
        Err(e) => {
            app.metrics
                .count(Metric::RetryScheduled, 1.0, Some(e.class().as_str()));
            tracing::warn!(error = %e, "could not claim the event");
            return retry_later("could not record the event, retry later");
        }
    };
    let release = |why: &'static str| {
        let claim = claim.clone();
        async move {
            if let Err(e) = app.ports.claims.release(&claim).await {
                tracing::warn!(error = %e, why, "could not release the event claim; its lease will expire");
            }
        }
    };

    let parsed = match event::extract(envelope) {
        Ok(StripeEvent::Unhandled) => {
            app.metrics.incr(Metric::StripeEventIgnored);
            return match app.ports.claims.complete(&claim, Some("ignored")).await {
                Ok(()) => ok("ignored"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not complete an ignored event");
                    ok("ignored")
                }
            };
        }
        Ok(parsed) => parsed,
        Err(error) => {
            let response = store_unparsed(app, Some(envelope), body, &error.0).await;
            // No effect happened: free the claim so a replay after a fix is processed.
            release("unparsed").await;
            return response;
        }
    };

    let ctx = EffectContext {
        ports: app.ports.clone(),
        metrics: app.metrics.clone(),
        clock: app.clock.clone(),
        lease_until,
        retain: app.settings.retain,
    };
    let budget = deadline.remaining().min(app.settings.budget);
    match tokio::time::timeout(budget, effects::apply(&ctx, envelope, &parsed)).await {
        Ok(Ok(outcome)) => match app.ports.claims.complete(&claim, None).await {
            Ok(()) => {
                if let Err(e) = app
                    .ports
                    .billing
                    .mark_replayed(&envelope.id, app.clock.now())
                    .await
                {
                    tracing::warn!(error = %e, "could not mark a stored unparsed event replayed");
                }
                ok(match outcome {
                    effects::Outcome::Done => "processed",
                    effects::Outcome::NoEffect => "no_effect",
                })
            }
            Err(e) => {
                // Effects are stored and idempotent; a retry finds them done.
                app.metrics
                    .count(Metric::RetryScheduled, 1.0, Some(e.class().as_str()));
                tracing::warn!(error = %e, "effects stored but the claim could not be completed");
                release("complete failed").await;
                retry_later("could not record completion, retry later")
            }
        },
        Ok(Err(e)) => {
            app.metrics
                .count(Metric::RetryScheduled, 1.0, Some(e.class().as_str()));
            tracing::warn!(error = %e, class = e.class().as_str(), "effect failed; Stripe will retry");
            release("effect failed").await;
            retry_later("processing failed, retry later")
        }
        Err(_) => {
            app.metrics.count(
                Metric::RetryScheduled,
                1.0,
                Some(ErrorClass::Transient.as_str()),
            );
            tracing::warn!(
                budget_ms = budget.as_millis() as u64,
                "effects ran out of time"
            );
            release("timeout").await;
            retry_later("processing took too long, retry later")
        }
    }
}

/// Stores an authentic event that did not parse, answers `200` (or `500` if it cannot be stored).
async fn store_unparsed(
    app: &App,
    envelope: Option<&Envelope>,
    body: &[u8],
    error: &str,
) -> Response<Body> {
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
            ok("stored_unparsed")
        }
        Err(e) => {
            app.metrics
                .count(Metric::RetryScheduled, 1.0, Some(e.class().as_str()));
            tracing::warn!(error = %e, "could not store an unparsed event");
            retry_later("could not store the event, retry later")
        }
    }
}
