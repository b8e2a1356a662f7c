//! Sample Stripe events for `stripe-send`, shaped like Stripe's (API 2025-03-31) and aimed at
//! the demo data: the demo order, customer and a demo subscription.

use serde_json::{Value, json};

use crate::demo;

/// Event types `stripe-send` can build: every type the webhook handles.
pub fn types() -> impl Iterator<Item = &'static str> {
    stripe_webhook::event::handled_types()
}

/// The `data.object` of a sample `event_type`, or `None` for a type without a sample.
fn object(event_type: &str, created: i64) -> Option<Value> {
    let total = demo::ORDER_TOTAL_CENTS;
    Some(match event_type {
        "checkout.session.completed" => json!({
            "id": "cs_demo_1001", "object": "checkout.session", "mode": "payment",
            "amount_total": total, "currency": "usd",
            "client_reference_id": demo::ORDER_ID,
            "customer": demo::CUSTOMER,
            "customer_details": { "email": demo::USER_EMAIL, "name": demo::USER_NAME },
            "metadata": { "order_id": demo::ORDER_ID, "payment_type": "full_payment" },
            "payment_intent": "pi_demo_1001", "payment_status": "paid", "status": "complete",
        }),
        "payment_intent.succeeded" => json!({
            "id": "pi_demo_1001", "object": "payment_intent", "amount": total,
            "amount_received": total, "currency": "usd",
            "metadata": { "order_id": demo::ORDER_ID, "payment_type": "full_payment" },
            "status": "succeeded",
        }),
        "charge.refunded" => json!({
            "id": "ch_demo_1001", "object": "charge", "amount": total,
            "amount_refunded": total / 2, "currency": "usd", "payment_intent": "pi_demo_1001",
            "metadata": { "order_id": demo::ORDER_ID }, "refunded": false,
        }),
        "charge.dispute.created" | "charge.dispute.closed" => json!({
            "id": "dp_demo_1001", "object": "dispute", "amount": total, "currency": "usd",
            "charge": "ch_demo_1001", "payment_intent": "pi_demo_1001", "reason": "fraudulent",
            "status": if event_type.ends_with("closed") { "won" } else { "needs_response" },
        }),
        "payment_intent.payment_failed" => json!({
            "id": "pi_demo_failed", "object": "payment_intent", "amount": total, "currency": "usd",
            "last_payment_error": { "code": "card_declined", "decline_code": "insufficient_funds" },
            "metadata": { "order_id": demo::ORDER_ID }, "status": "requires_payment_method",
        }),
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => json!({
            "id": "sub_demo", "object": "subscription", "customer": demo::CUSTOMER,
            "status": if event_type.ends_with("deleted") { "canceled" } else { "active" },
            "cancel_at_period_end": false,
            "items": { "object": "list", "data": [{
                "id": "si_demo", "object": "subscription_item",
                "current_period_start": created, "current_period_end": created + 30 * 86_400,
                "price": { "id": "price_demo", "object": "price" },
            }]},
        }),
        "invoice.paid" | "invoice.payment_failed" => json!({
            "id": "in_demo", "object": "invoice", "amount_due": 1500, "amount_paid": 1500,
            "attempt_count": 1,
            "currency": "usd", "customer": demo::CUSTOMER,
            "customer_email": demo::USER_EMAIL, "customer_name": demo::USER_NAME,
            "parent": { "type": "subscription_details",
                        "subscription_details": { "subscription": "sub_demo" } },
            "status": "open",
        }),
        _ => return None,
    })
}

/// A full event body of `event_type` with id `id` created at `created` (epoch seconds).
pub fn event(event_type: &str, id: &str, created: i64) -> Option<String> {
    let object = object(event_type, created)?;
    let event = json!({
        "id": id, "object": "event", "api_version": "2025-03-31.basil", "created": created,
        "livemode": false, "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": event_type, "data": { "object": object },
    });
    serde_json::to_string_pretty(&event).ok()
}

/// The Stripe event body in a file: either the event itself or an API Gateway event (as in
/// `events/stripe-webhook/`) whose `body` is the Stripe event.
pub fn body_from_file(text: &str) -> Result<String, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the file is not JSON: {e}"))?;
    match (&value["body"], &value["type"]) {
        (Value::String(body), _) if value["isBase64Encoded"] == true => {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(body)
                .map_err(|e| format!("body is not base64: {e}"))?;
            String::from_utf8(bytes).map_err(|_| "the decoded body is not UTF-8".to_owned())
        }
        (Value::String(body), _) => Ok(body.clone()),
        (_, Value::String(_)) => Ok(text.to_owned()),
        _ => Err("neither a Stripe event (no `type`) nor an API Gateway event (no `body`)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handled_type_has_a_sample_the_webhook_reads() {
        for t in types() {
            let body = event(t, "evt_x", 1_767_225_600).unwrap();
            let envelope = stripe_webhook::event::parse_envelope(body.as_bytes()).unwrap();
            assert_eq!(envelope.event_type, t);
            let parsed = stripe_webhook::event::extract(&envelope).unwrap();
            assert!(
                !matches!(
                    parsed,
                    stripe_webhook::event::StripeEvent::NoEffect(_)
                        | stripe_webhook::event::StripeEvent::Unhandled
                        | stripe_webhook::event::StripeEvent::UnknownRole(_)
                ),
                "{t}: {parsed:?}"
            );
        }
        assert!(event("charge.captured", "evt_x", 0).is_none());
        let wrapped = json!({ "body": "{\"type\":\"x\"}", "isBase64Encoded": false }).to_string();
        assert_eq!(body_from_file(&wrapped).unwrap(), "{\"type\":\"x\"}");
        assert!(body_from_file("[]").is_err());
    }
}
