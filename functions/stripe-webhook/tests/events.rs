//! The committed `events/stripe-webhook/` fixtures, malformed input, and a signature produced
//! by Stripe's own library, all through the handler.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;
use shared::config::Secret;
use shared::metrics::Metric;
use stripe_webhook::billing::OrderStatus;
use stripe_webhook::signature::{SignatureError, Verifier};

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/stripe-webhook")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(events_dir().join(name)).unwrap()
}

#[tokio::test]
async fn every_fixture_gets_its_documented_status() {
    let expected: BTreeMap<String, u16> = serde_json::from_str(&fixture("expected.json")).unwrap();
    assert!(expected.len() >= 17, "{expected:?}");
    for (name, status) in &expected {
        let h = Harness::memory();
        h.seed_fixture_state().await;
        let request = lambda_http::request::from_str(&fixture(name)).unwrap();
        let response = h.deliver(request).await;
        assert_eq!(
            status_of(&response),
            *status,
            "{name}: {}",
            body_text(&response)
        );
        if *status >= 400 {
            let text = body_text(&response);
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            assert!(!text.contains("evt_"), "{name}: body echoed: {text}");
        }
    }
}

#[tokio::test]
async fn fixtures_have_the_documented_effects() {
    let h = Harness::memory();
    h.seed_fixture_state().await;
    let deliver = |name: &'static str| {
        let h = &h;
        async move {
            let r = h
                .deliver(lambda_http::request::from_str(&fixture(name)).unwrap())
                .await;
            assert_eq!(status_of(&r), 200, "{name}: {}", body_text(&r));
        }
    };
    deliver("checkout_session_completed.json").await;
    deliver("payment_intent_succeeded.json").await;
    deliver("payment_intent_succeeded_base64.json").await; // same event id: a duplicate
    deliver("checkout_session_completed_deposit.json").await;
    deliver("payment_intent_payment_failed.json").await;
    deliver("customer_subscription_deleted.json").await;
    deliver("customer_subscription_created.json").await; // older: must not revive
    deliver("invoice_payment_failed.json").await;
    deliver("unparsable_invoice.json").await;

    let full = h.billing.order("ord_1001").await.unwrap().unwrap();
    assert_eq!(full.status, OrderStatus::Paid);
    assert_eq!((full.paid_cents, full.balance_cents), (12_000, 0));
    let deposit = h.billing.order("ord_1002").await.unwrap().unwrap();
    assert_eq!(deposit.status, OrderStatus::DepositPaid);
    assert_eq!((deposit.paid_cents, deposit.balance_cents), (3_000, 7_000));
    let failed = h.billing.order("ord_1003").await.unwrap().unwrap();
    assert_eq!(failed.status, OrderStatus::Failed);
    assert_eq!(failed.failure_reason.as_deref(), Some("insufficient_funds"));
    assert!(h.billing.payment("pi_full_1001").await.unwrap().is_some());
    let sub = h.billing.subscription("sub_1").await.unwrap().unwrap();
    assert_eq!(sub.status, "canceled");
    assert_eq!(sub.user_id, "usr_1");
    let unparsed = h.billing.unparsed("evt_unparsable").await.unwrap().unwrap();
    assert!(unparsed.body.is_some());
    assert_eq!(unparsed.event_type.as_deref(), Some("invoice.paid"));

    let mut jobs: Vec<_> = h
        .jobs()
        .await
        .into_iter()
        .map(|j| (j.email.template_name().into_owned(), j.id))
        .collect();
    jobs.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        jobs,
        vec![
            (
                "deposit_confirmation".to_owned(),
                "deposit-confirmation#ord_1002".to_owned()
            ),
            (
                "order_confirmation".to_owned(),
                "order-confirmation#ord_1001".to_owned()
            ),
            (
                "payment_failed".to_owned(),
                "payment-failed#in_1#2".to_owned()
            ),
        ]
    );
    assert_eq!(h.sink.total(Metric::StripeEventUnparsed), 1.0);
    assert_eq!(
        h.sink.total(Metric::DuplicateSuppressed),
        2.0,
        "base64 redelivery + PI's email"
    );
}

#[tokio::test]
async fn job_data_matches_the_email_contract() {
    let h = Harness::memory();
    h.seed_fixture_state().await;
    for name in [
        "checkout_session_completed_deposit.json",
        "invoice_payment_failed.json",
    ] {
        let r = h
            .deliver(lambda_http::request::from_str(&fixture(name)).unwrap())
            .await;
        assert_eq!(status_of(&r), 200);
    }
    let mut jobs = h.jobs().await;
    jobs.sort_by(|a, b| a.id.cmp(&b.id));
    let data =
        |job: &shared::email_job::EmailJob| serde_json::to_value(job).unwrap()["data"].clone();
    assert_eq!(
        data(&jobs[0]),
        serde_json::json!({"order_id": "ord_1002", "deposit_cents": 3000, "balance_cents": 7000,
                           "total_cents": 10000, "currency": "usd", "customer_name": "Jane Doe"})
    );
    assert!(jobs[0].critical);
    assert_eq!(jobs[0].to, "jane@example.com");
    assert_eq!(jobs[0].correlation_id.as_str(), "evt_checkout_deposit");
    assert_eq!(
        data(&jobs[1]),
        serde_json::json!({"invoice_id": "in_1", "attempt": 2, "amount_cents": 1500,
                           "currency": "usd", "customer_name": "Jane Doe"})
    );
}

/// `events/stripe-webhook/stripe_python_vector.json` was produced by Stripe's Python library
/// (`stripe.WebhookSignature.generate_signature_header`); we must accept it.
#[test]
fn header_from_stripes_own_library_verifies() {
    let v: serde_json::Value = serde_json::from_str(&fixture("stripe_python_vector.json")).unwrap();
    let body = v["body"].as_str().unwrap().as_bytes();
    let t = v["timestamp"].as_i64().unwrap();
    let now = chrono::DateTime::from_timestamp(t + 60, 0).unwrap();
    let secret = |k: &str| Secret::new(v[k].as_str().unwrap().to_owned());
    let verifier = Verifier::new(vec![secret("secret")], Verifier::DEFAULT_TOLERANCE);
    let header = v["header"].as_str().unwrap();
    assert_eq!(verifier.verify(Some(header.as_bytes()), body, now), Ok(t));
    assert_eq!(
        stripe_webhook::signature::sign_header(v["secret"].as_str().unwrap(), t, body),
        header
    );
    // Rotation: old + new secrets, header carrying both signatures in either order.
    let both = Verifier::new(
        vec![secret("old_secret"), secret("secret")],
        Verifier::DEFAULT_TOLERANCE,
    );
    let old_v1 = v["header_old_secret"]
        .as_str()
        .unwrap()
        .split_once(",v1=")
        .unwrap()
        .1;
    let combined = format!("{header},v1={old_v1}");
    assert_eq!(both.verify(Some(combined.as_bytes()), body, now), Ok(t));
    let only_old = Verifier::new(vec![secret("old_secret")], Verifier::DEFAULT_TOLERANCE);
    assert_eq!(
        only_old.verify(Some(header.as_bytes()), body, now),
        Err(SignatureError::Mismatch)
    );
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert_eq!(
        verifier.verify(Some(header.as_bytes()), &tampered, now),
        Err(SignatureError::Mismatch)
    );
}

#[tokio::test]
async fn malformed_input_is_a_4xx_problem_never_a_5xx() {
    let h = Harness::memory();
    let t = T0 + 10;
    let sign = |body: &str| stripe_webhook::signature::sign_header(SECRET, t, body.as_bytes());
    let good = checkout_paid("evt_m", "ord_x", "pi_x", 100, "full");
    let big = "x".repeat(1024 * 1024 + 1);
    let cases: Vec<(&str, lambda_http::Request, u16)> = vec![
        ("no header", request(&good, None), 400),
        ("empty header", request(&good, Some("")), 400),
        ("garbage header", request(&good, Some("garbage")), 400),
        ("only t", request(&good, Some(&format!("t={t}"))), 400),
        (
            "v0 only",
            request(&good, Some(&sign(&good).replace("v1=", "v0="))),
            400,
        ),
        (
            "non-hex v1",
            request(&good, Some(&format!("t={t},v1={}", "g".repeat(64)))),
            400,
        ),
        (
            "odd length v1",
            request(&good, Some(&format!("t={t},v1={}", "a".repeat(63)))),
            400,
        ),
        (
            "duplicated t",
            request(&good, Some(&format!("t={t},{}", sign(&good)))),
            400,
        ),
        (
            "negative t",
            request(&good, Some(&format!("t=-1,v1={}", "a".repeat(64)))),
            400,
        ),
        (
            "huge header",
            request(&good, Some(&"t=1,".repeat(2000))),
            400,
        ),
        (
            "future t",
            request(
                &good,
                Some(&stripe_webhook::signature::sign_header(
                    SECRET,
                    t + 301,
                    good.as_bytes(),
                )),
            ),
            400,
        ),
        (
            "past t",
            request(
                &good,
                Some(&stripe_webhook::signature::sign_header(
                    SECRET,
                    t - 301,
                    good.as_bytes(),
                )),
            ),
            400,
        ),
        (
            "one byte changed",
            request(&good.replacen("100", "101", 1), Some(&sign(&good))),
            400,
        ),
        (
            "empty body signed for other",
            request("", Some(&sign(&good))),
            400,
        ),
        ("body over 1 MiB", request(&big, Some(&sign(&big))), 413),
        (
            "base64 body over 1 MiB",
            request_with(&big, Some(&sign(&big)), true, "POST"),
            413,
        ),
        (
            "GET",
            request_with(&good, Some(&sign(&good)), false, "GET"),
            405,
        ),
        (
            "PUT",
            request_with(&good, Some(&sign(&good)), false, "PUT"),
            405,
        ),
        (
            "base64 body, signature over encoded text",
            request_with(&good, Some(&sign(&b64(good.as_bytes()))), true, "POST"),
            400,
        ),
        (
            "binary garbage",
            request_with("\u{0}\u{1}\u{2}", Some("t=1,v1=00"), false, "POST"),
            400,
        ),
        ("json array", request("[1,2,3]", None), 400),
        (
            "header of another body",
            request("{}", Some(&sign(&good))),
            400,
        ),
    ];
    assert!(cases.len() >= 20);
    for (name, req, status) in cases {
        let r = h.deliver(req).await;
        assert_eq!(status_of(&r), status, "{name}: {}", body_text(&r));
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{name}"
        );
        let text = body_text(&r);
        assert!(
            !text.contains("ord_x") && !text.contains("evt_m"),
            "{name}: body echoed"
        );
    }
    // Authentic but malformed payloads: stored raw, 200, never 5xx.
    for (i, body) in [
        "not json at all",
        "{}",
        r#"{"id":"evt_a","type":"invoice.paid"}"#,
        r#"{"id":"evt_b","type":"invoice.paid","created":"x","data":{"object":{}}}"#,
        r#"{"id":"evt_c","type":"checkout.session.completed","created":1,"data":{"object":{"payment_status":"paid","metadata":{"order_id":"o"}}}}"#,
        r#"{"id":"evt_d","type":"customer.subscription.updated","created":1,"data":{"object":{"id":"sub"}}}"#,
    ]
    .iter()
    .enumerate()
    {
        let status = h.deliver_signed(body).await;
        assert_eq!(status, 200, "authentic malformed #{i}");
    }
    assert_eq!(h.sink.total(Metric::StripeEventUnparsed), 6.0);
    assert!(h.billing.unparsed("evt_c").await.unwrap().is_some());
    assert!(h.jobs().await.is_empty());
}
