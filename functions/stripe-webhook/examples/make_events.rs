//! Writes `events/stripe-webhook/*.json`: API Gateway HTTP API (v2) events carrying Stripe
//! payloads signed with the documented test secret `whsec_test_secret` at 2026-01-01T00:00:00Z,
//! and `functions/stripe-webhook/tests/fixtures/expected_status.json` (file → status the handler
//! answers, given the state the README lists).
//!
//! Run from the repository root: `cargo run -p stripe-webhook --example make_events`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

/// Standard base64, as API Gateway encodes binary bodies.
fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
use serde_json::{Value, json};
use stripe_webhook::signature::sign_header;

const SECRET: &str = "whsec_test_secret";
const T: i64 = 1_767_225_600;

fn stripe_event(id: &str, event_type: &str, created: i64, object: Value) -> String {
    serde_json::to_string_pretty(&json!({
        "id": id,
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": created,
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": event_type
    }))
    .unwrap()
}

fn api_gateway(body: &str, signature: Option<&str>, base64: bool) -> Value {
    let mut headers = json!({
        "content-type": "application/json; charset=utf-8",
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "content-length": body.len().to_string(),
    });
    if let Some(sig) = signature {
        headers["stripe-signature"] = sig.into();
    }
    json!({
        "version": "2.0",
        "routeKey": "POST /stripe/webhook",
        "rawPath": "/stripe/webhook",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": "POST",
                "path": "/stripe/webhook",
                "protocol": "HTTP/1.1",
                "sourceIp": "54.187.174.169",
                "userAgent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "POST /stripe/webhook",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": T * 1000
        },
        "body": if base64 { b64(body.as_bytes()) } else { body.to_owned() },
        "isBase64Encoded": base64
    })
}

fn main() {
    let dir = Path::new("events/stripe-webhook");
    std::fs::create_dir_all(dir).unwrap();
    let mut expected = BTreeMap::new();
    let mut write = |name: &str, event: Value, status: u16| {
        let text = serde_json::to_string_pretty(&event).unwrap() + "\n";
        std::fs::write(dir.join(format!("{name}.json")), text).unwrap();
        expected.insert(format!("{name}.json"), status);
    };
    let signed = |body: &str| sign_header(SECRET, T, body.as_bytes());

    let checkout = stripe_event(
        "evt_checkout_full",
        "checkout.session.completed",
        T - 5,
        json!({
            "id": "cs_test_full", "object": "checkout.session", "mode": "payment",
            "payment_status": "paid", "status": "complete", "amount_total": 12000, "currency": "usd",
            "payment_intent": "pi_full_1001", "client_reference_id": "ord_1001",
            "customer_details": {"email": "jane@example.com", "name": "Jane Doe"},
            "metadata": {"order_id": "ord_1001", "payment_kind": "full"}
        }),
    );
    write(
        "checkout_session_completed",
        api_gateway(&checkout, Some(&signed(&checkout)), false),
        200,
    );

    let deposit = stripe_event(
        "evt_checkout_deposit",
        "checkout.session.completed",
        T - 5,
        json!({
            "id": "cs_test_deposit", "object": "checkout.session", "mode": "payment",
            "payment_status": "paid", "amount_total": 3000, "currency": "usd",
            "payment_intent": "pi_deposit_1002",
            "metadata": {"order_id": "ord_1002", "payment_type": "deposit"}
        }),
    );
    write(
        "checkout_session_completed_deposit",
        api_gateway(&deposit, Some(&signed(&deposit)), false),
        200,
    );

    let pi = stripe_event(
        "evt_pi_succeeded",
        "payment_intent.succeeded",
        T - 4,
        json!({
            "id": "pi_full_1001", "object": "payment_intent", "amount": 12000, "amount_received": 12000,
            "currency": "usd", "status": "succeeded", "metadata": {"order_id": "ord_1001"}
        }),
    );
    write(
        "payment_intent_succeeded",
        api_gateway(&pi, Some(&signed(&pi)), false),
        200,
    );
    write(
        "payment_intent_succeeded_base64",
        api_gateway(&pi, Some(&signed(&pi)), true),
        200,
    );

    let failed = stripe_event(
        "evt_pi_failed",
        "payment_intent.payment_failed",
        T - 4,
        json!({
            "id": "pi_failed_1003", "object": "payment_intent", "amount": 5000, "currency": "usd",
            "status": "requires_payment_method",
            "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds",
                                   "message": "Your card has insufficient funds."},
            "metadata": {"order_id": "ord_1003"}
        }),
    );
    write(
        "payment_intent_payment_failed",
        api_gateway(&failed, Some(&signed(&failed)), false),
        200,
    );

    let sub = |status: &str| {
        json!({
            "id": "sub_1", "object": "subscription", "customer": "cus_known", "status": status,
            "cancel_at_period_end": false,
            "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item",
                "current_period_start": T - 86_400, "current_period_end": T + 29 * 86_400,
                "price": {"id": "price_1", "object": "price"}}]}
        })
    };
    for (name, event_type, created, status) in [
        (
            "customer_subscription_created",
            "customer.subscription.created",
            T - 30,
            "incomplete",
        ),
        (
            "customer_subscription_updated",
            "customer.subscription.updated",
            T - 20,
            "active",
        ),
        (
            "customer_subscription_deleted",
            "customer.subscription.deleted",
            T - 10,
            "canceled",
        ),
    ] {
        let body = stripe_event(&format!("evt_{name}"), event_type, created, sub(status));
        write(name, api_gateway(&body, Some(&signed(&body)), false), 200);
    }
    let mut unknown_customer = sub("active");
    unknown_customer["customer"] = "cus_nobody".into();
    let body = stripe_event(
        "evt_sub_unknown_customer",
        "customer.subscription.created",
        T - 30,
        unknown_customer,
    );
    write(
        "customer_subscription_unknown_customer",
        api_gateway(&body, Some(&signed(&body)), false),
        500,
    );

    let invoice = |status_field: &str, amount: i64| {
        json!({
            "id": "in_1", "object": "invoice", "customer": "cus_known", "attempt_count": 2,
            status_field: amount, "currency": "usd", "customer_email": "jane@example.com",
            "customer_name": "Jane Doe", "status": "open",
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_1"}}
        })
    };
    let body = stripe_event(
        "evt_invoice_paid",
        "invoice.paid",
        T - 3,
        invoice("amount_paid", 1500),
    );
    write(
        "invoice_paid",
        api_gateway(&body, Some(&signed(&body)), false),
        200,
    );
    let body = stripe_event(
        "evt_invoice_failed",
        "invoice.payment_failed",
        T - 3,
        invoice("amount_due", 1500),
    );
    write(
        "invoice_payment_failed",
        api_gateway(&body, Some(&signed(&body)), false),
        200,
    );

    let balance = stripe_event(
        "evt_pi_final_payment",
        "payment_intent.succeeded",
        T - 3,
        json!({
            "id": "pi_final_1002", "object": "payment_intent", "amount": 7000, "amount_received": 7000,
            "currency": "usd", "status": "succeeded",
            "metadata": {"order_id": "ord_1002", "payment_type": "final_payment"}
        }),
    );
    write(
        "payment_intent_succeeded_final_payment",
        api_gateway(&balance, Some(&signed(&balance)), false),
        200,
    );
    let tip = stripe_event(
        "evt_pi_unknown_role",
        "payment_intent.succeeded",
        T - 3,
        json!({
            "id": "pi_tip_1003", "object": "payment_intent", "amount": 500, "amount_received": 500,
            "currency": "usd", "status": "succeeded",
            "metadata": {"order_id": "ord_1003", "payment_type": "tip"}
        }),
    );
    write(
        "payment_intent_succeeded_unknown_role",
        api_gateway(&tip, Some(&signed(&tip)), false),
        200,
    );
    let live = checkout
        .replace("\"livemode\": false", "\"livemode\": true")
        .replace("evt_checkout_full", "evt_checkout_livemode");
    write(
        "checkout_session_completed_livemode",
        api_gateway(&live, Some(&signed(&live)), false),
        200,
    );
    let refund = stripe_event(
        "evt_charge_refunded",
        "charge.refunded",
        T - 2,
        json!({
            "id": "ch_full_1001", "object": "charge", "amount": 12000, "amount_refunded": 2000,
            "currency": "usd", "payment_intent": "pi_full_1001", "refunded": false,
            "metadata": {"order_id": "ord_1001"}
        }),
    );
    write(
        "charge_refunded",
        api_gateway(&refund, Some(&signed(&refund)), false),
        200,
    );
    for (name, event_type, status) in [
        (
            "charge_dispute_created",
            "charge.dispute.created",
            "needs_response",
        ),
        ("charge_dispute_closed", "charge.dispute.closed", "lost"),
    ] {
        let body = stripe_event(
            &format!("evt_{name}"),
            event_type,
            T - 1,
            json!({
                "id": "dp_1001", "object": "dispute", "amount": 12000, "currency": "usd",
                "charge": "ch_full_1001", "payment_intent": "pi_full_1001",
                "reason": "fraudulent", "status": status, "metadata": {"order_id": "ord_1001"}
            }),
        );
        write(name, api_gateway(&body, Some(&signed(&body)), false), 200);
    }

    let body = stripe_event(
        "evt_unknown_type",
        "charge.captured",
        T - 2,
        json!({"id": "ch_1", "object": "charge"}),
    );
    write(
        "unknown_type",
        api_gateway(&body, Some(&signed(&body)), false),
        200,
    );

    let body = stripe_event(
        "evt_unparsable",
        "invoice.paid",
        T - 2,
        json!({"id": "in_2", "object": "invoice", "currency": "usd", "amount_paid": "lots"}),
    );
    write(
        "unparsable_invoice",
        api_gateway(&body, Some(&signed(&body)), false),
        200,
    );

    // Refused deliveries.
    write("unsigned", api_gateway(&checkout, None, false), 400);
    let tampered = checkout.replace("12000", "1200");
    write(
        "tampered",
        api_gateway(&tampered, Some(&signed(&checkout)), false),
        400,
    );
    let foreign = sign_header("whsec_someone_else", T, checkout.as_bytes());
    write(
        "wrong_secret",
        api_gateway(&checkout, Some(&foreign), false),
        400,
    );
    let stale = sign_header(SECRET, T - 3600, checkout.as_bytes());
    write(
        "stale_timestamp",
        api_gateway(&checkout, Some(&stale), false),
        400,
    );

    let manifest = serde_json::to_string_pretty(&expected).unwrap() + "\n";
    let fixtures = Path::new("functions/stripe-webhook/tests/fixtures");
    std::fs::write(fixtures.join("expected_status.json"), manifest).unwrap();
    println!("wrote {} events to {}", expected.len(), dir.display());
}
