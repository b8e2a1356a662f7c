//! The HTTP side: method, size limit, signature, envelope — then the [`pipeline`] — and one
//! answer for each outcome. Every expected failure is an `Ok` response (problem+json for
//! errors).

use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use shared::deadline::Deadline;
use shared::error::{ErrorClass, Problem};

use crate::app::App;
use crate::event;
use crate::pipeline::{self, Processed};

fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// The Lambda deadline (less the margin), or the budget when run outside Lambda.
fn deadline(app: &App, request: &Request) -> Deadline {
    let margin = app.settings.margin;
    match request.lambda_context_ref().map(|c| c.deadline) {
        Some(ms) if ms > 0 => Deadline::from_epoch_millis(ms, margin, app.clock.clone()),
        _ => Deadline::after(app.settings.budget + margin, margin, app.clock.clone()),
    }
}

/// The answer Stripe gets for `processed`.
fn answer(processed: Processed) -> Response<Body> {
    match processed {
        Processed::Done(outcome) => shared::http::json(
            200,
            &json!({ "received": true, "outcome": outcome }),
            "application/json",
        ),
        Processed::InProgress(wait) => shared::http::problem(
            &Problem::new(ErrorClass::Transient, "this event is being processed")
                .with_status(409, "In progress")
                .retry_after(wait),
        ),
        // A `500` asks Stripe to deliver again (it retries for up to 3 days).
        Processed::Retry(detail) => shared::http::problem(
            &Problem::new(ErrorClass::Transient, detail)
                .with_status(500, "Processing failed, retry"),
        ),
    }
}

/// Refuses what is not a well-formed, authentic delivery.
async fn refuse(app: &App, request: &Request) -> Option<Response<Body>> {
    if request.method() != Method::POST {
        return Some(shared::http::problem(
            &Problem::validation("use POST").with_status(405, "Method not allowed"),
        ));
    }
    let body = body_bytes(request.body());
    if body.len() > app.settings.max_body {
        return Some(shared::http::problem(
            &Problem::validation("the body is larger than 1 MiB")
                .with_status(413, "Payload too large"),
        ));
    }
    let header = request
        .headers()
        .get("stripe-signature")
        .map(|v| v.as_bytes());
    let reason = app
        .verifier
        .verify_rotating(header, body, app.clock.now())
        .await
        .err()?;
    tracing::warn!(%reason, body_len = body.len(), "refused Stripe signature");
    Some(shared::http::problem(
        &Problem::new(
            ErrorClass::Validation,
            "missing or invalid Stripe-Signature",
        )
        .with_status(400, "Invalid signature"),
    ))
}

/// Handles one API Gateway request.
pub async fn handle(app: &App, request: Request) -> Response<Body> {
    if let Some(refusal) = refuse(app, &request).await {
        return refusal;
    }
    // Authentic from here on.
    let deadline = deadline(app, &request);
    let body = body_bytes(request.body());
    let envelope = match event::parse_envelope(body) {
        Ok(e) => e,
        Err(error) => return answer(pipeline::store_unparsed(app, None, body, &error.0).await),
    };
    let span = tracing::info_span!("stripe_event", event_id = %envelope.id, event_type = %envelope.event_type);
    let _entered = span.enter();
    answer(pipeline::process(app, &envelope, body, &deadline).await)
}
