//! Money integrity, the mode guard, refunds, disputes and authoritative subscription state,
//! on in-memory adapters (the permutation suite also runs on moto in `contract_billing.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::*;
use serde_json::json;
use shared::claims::MemoryClaimStore;
use shared::email_job::{Email, EmailJob};
use shared::error::ErrorClass;
use shared::faults::{Fault, FaultPlan, Faulty};
use shared::metrics::Metric;
use shared::queue::MemoryQueue;
use stripe_webhook::StripeMode;
use stripe_webhook::billing::{BillingStore, CustomerLink, MemoryBillingStore, Order, OrderStatus};

/// `cargo nextest run -p stripe-webhook -E 'test(every_money_permutation)' --no-capture`
/// prints the figures quoted in the README.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_money_permutation_with_ten_percent_store_faults_in_memory() {
    let clock = clock_at(T0 + 10);
    let claims = Arc::new(Faulty::new(
        MemoryClaimStore::new(clock.shared()),
        FaultPlan::random(0.10, 12, Fault::Fail(ErrorClass::Transient)),
    ));
    let truth: Arc<dyn BillingStore> = Arc::new(MemoryBillingStore::new());
    let billing = Arc::new(FaultyBilling {
        inner: truth.clone(),
        plan: FaultPlan::random(0.10, 13, Fault::Fail(ErrorClass::Transient)),
    });
    let mut h = Harness::build(
        clock.clone(),
        claims.clone(),
        billing.clone(),
        Arc::new(MemoryQueue::new(clock.shared())),
    );
    h.truth = truth;
    let (orders, deliveries, emails) = scenarios::every_money_permutation(Arc::new(h), "mem").await;
    let faults = claims.plan().injected() + billing.plan.injected();
    println!(
        "money permutations (memory): orders {orders}, deliveries {deliveries}, faults injected {faults}, emails {emails}"
    );
    assert_eq!(orders, 24);
    assert!(faults > 0, "faults must have bitten");
}

/// The ids of the billing alerts among `jobs`, sorted.
fn alerts(jobs: &[EmailJob]) -> Vec<String> {
    let mut ids: Vec<String> = jobs
        .iter()
        .filter(|j| matches!(j.email, Email::BillingAlert(_)))
        .map(|j| j.id.clone())
        .collect();
    ids.sort();
    ids
}

async fn order_with(h: &Harness, id: &str, total: i64) {
    h.truth
        .create_order(&Order::pending(id, total, "usd", "o@example.com", "Oh"))
        .await
        .unwrap();
}

fn intent_succeeded(
    event: &str,
    order: &str,
    pi: &str,
    amount: i64,
    currency: &str,
    role: &str,
) -> String {
    stripe_event(
        event,
        "payment_intent.succeeded",
        T0 - 5,
        json!({"id": pi, "amount": amount, "currency": currency,
               "metadata": {"order_id": order, "payment_type": role}}),
    )
}

#[tokio::test]
async fn a_payment_in_another_currency_is_recorded_alerted_and_never_counted() {
    let h = Harness::memory();
    order_with(&h, "ord_cur", 10_000).await;
    let body = intent_succeeded(
        "evt_eur",
        "ord_cur",
        "pi_eur",
        10_000,
        "eur",
        "full_payment",
    );
    assert_eq!(h.deliver_signed(&body).await, 200);
    assert_eq!(h.deliver_signed(&body).await, 200);
    let o = h.truth.order("ord_cur").await.unwrap().unwrap();
    assert_eq!(
        (o.status, o.paid_cents, o.balance_cents),
        (OrderStatus::Pending, 0, 10_000)
    );
    assert_eq!(o.ledger.payments["pi_eur"].currency, "eur");
    assert_eq!(o.anomalies().len(), 1);
    assert_eq!(h.sink.total(Metric::StripeMoneyAnomaly), 1.0);
    let jobs = h.jobs().await;
    assert_eq!(
        alerts(&jobs),
        ["billing-alert#money#ord_cur#currency-mismatch#pi_eur"]
    );
    assert_eq!(jobs.len(), 1, "no confirmation: {jobs:?}");
    assert_eq!(jobs[0].to, "admin@example.com");
}

#[tokio::test]
async fn an_overpayment_pays_the_order_and_is_alerted() {
    let h = Harness::memory();
    order_with(&h, "ord_over", 10_000).await;
    let body = intent_succeeded(
        "evt_over",
        "ord_over",
        "pi_over",
        12_000,
        "usd",
        "full_payment",
    );
    assert_eq!(h.deliver_signed(&body).await, 200);
    let o = h.truth.order("ord_over").await.unwrap().unwrap();
    assert_eq!(
        (o.status, o.paid_cents, o.balance_cents),
        (OrderStatus::Paid, 12_000, 0)
    );
    assert_eq!(h.sink.total(Metric::StripeMoneyAnomaly), 1.0);
    let jobs = h.jobs().await;
    let confirmation: Vec<_> = jobs
        .iter()
        .filter(|j| j.id == "order-confirmation#ord_over")
        .collect();
    assert_eq!(confirmation.len(), 1);
    let Email::OrderConfirmation(d) = &confirmation[0].email else {
        panic!()
    };
    assert_eq!(d.amount_cents, 12_000);
    assert_eq!(alerts(&jobs), ["billing-alert#money#ord_over#overpaid"]);
}

#[tokio::test]
async fn an_unknown_payment_type_is_stored_counted_and_leaves_the_order_alone() {
    let h = Harness::memory();
    order_with(&h, "ord_tip", 10_000).await;
    let body = intent_succeeded("evt_tip", "ord_tip", "pi_tip", 10_000, "usd", "tip");
    assert_eq!(h.deliver_signed(&body).await, 200);
    assert_eq!(h.deliver_signed(&body).await, 200);
    let o = h.truth.order("ord_tip").await.unwrap().unwrap();
    assert_eq!(
        (o.status, o.version, o.paid_cents),
        (OrderStatus::Pending, 0, 0)
    );
    let f = h.truth.failure("evt_tip").await.unwrap().unwrap();
    assert_eq!(
        (f.reason.as_str(), f.subject.as_str(), f.attempts),
        ("unknown_payment_role", "ord_tip:pi_tip:tip", 1)
    );
    assert_eq!(h.sink.total(Metric::StripeUnknownPaymentRole), 1.0);
    let jobs = h.jobs().await;
    assert_eq!(alerts(&jobs), ["billing-alert#unknown-role#pi_tip"]);
    assert_eq!(jobs.len(), 1);
}

#[tokio::test]
async fn a_test_mode_event_is_acknowledged_and_never_applied_in_live_mode() {
    let mut h = Harness::memory();
    h.app.settings.mode = StripeMode::Live;
    order_with(&h, "ord_live", 10_000).await;
    let body = intent_succeeded(
        "evt_testmode",
        "ord_live",
        "pi_t",
        10_000,
        "usd",
        "full_payment",
    );
    let r = h
        .deliver(request(
            &body,
            Some(&stripe_webhook::signature::sign_header(
                SECRET,
                T0 + 10,
                body.as_bytes(),
            )),
        ))
        .await;
    assert_eq!(status_of(&r), 200);
    assert!(body_text(&r).contains("other_mode"), "{}", body_text(&r));
    let o = h.truth.order("ord_live").await.unwrap().unwrap();
    assert_eq!((o.status, o.version), (OrderStatus::Pending, 0));
    assert_eq!(h.sink.total(Metric::StripeEventWrongMode), 1.0);
    assert!(h.jobs().await.is_empty());
    let live = body.replace("\"livemode\":false", "\"livemode\":true");
    assert_eq!(h.deliver_signed(&live).await, 200);
    assert_eq!(
        h.truth.order("ord_live").await.unwrap().unwrap().status,
        OrderStatus::Paid
    );
}

fn refund(event: &str, charge: &str, pi: &str, refunded: i64, order: Option<&str>) -> String {
    let metadata = order.map_or(json!({}), |o| json!({"order_id": o}));
    stripe_event(
        event,
        "charge.refunded",
        T0 - 2,
        json!({"id": charge, "payment_intent": pi, "amount": 10_000, "amount_refunded": refunded,
               "currency": "usd", "metadata": metadata}),
    )
}

#[tokio::test]
async fn partial_then_full_refunds_in_either_order_end_refunded() {
    for reversed in [false, true] {
        let h = Harness::memory();
        order_with(&h, "ord_r", 10_000).await;
        let pay = intent_succeeded("evt_pay", "ord_r", "pi_r", 10_000, "usd", "full_payment");
        assert_eq!(h.deliver_signed(&pay).await, 200);
        // No order id on the charge: found through the recorded payment.
        let mut refunds = [
            refund("evt_ref1", "ch_r", "pi_r", 3_000, None),
            refund("evt_ref2", "ch_r", "pi_r", 10_000, None),
        ];
        if reversed {
            refunds.reverse();
        }
        for body in refunds.iter().chain(refunds.iter()) {
            assert_eq!(h.deliver_signed(body).await, 200);
        }
        let o = h.truth.order("ord_r").await.unwrap().unwrap();
        assert_eq!(
            (o.status, o.refunded_cents),
            (OrderStatus::Refunded, 10_000),
            "reversed {reversed}"
        );
        let mut notices: Vec<String> = h
            .jobs()
            .await
            .into_iter()
            .filter(|j| matches!(j.email, Email::RefundNotice(_)))
            .map(|j| j.id)
            .collect();
        notices.sort();
        assert_eq!(
            notices,
            ["refund-notice#ch_r#10000", "refund-notice#ch_r#3000"],
            "one per refund"
        );
    }
    let h = Harness::memory();
    order_with(&h, "ord_p", 10_000).await;
    assert_eq!(
        h.deliver_signed(&intent_succeeded(
            "evt_p",
            "ord_p",
            "pi_p",
            10_000,
            "usd",
            "full_payment"
        ))
        .await,
        200
    );
    assert_eq!(
        h.deliver_signed(&refund("evt_p1", "ch_p", "pi_p", 2_500, None))
            .await,
        200
    );
    let o = h.truth.order("ord_p").await.unwrap().unwrap();
    assert_eq!(
        (o.status, o.refunded_cents, o.paid_cents),
        (OrderStatus::PartiallyRefunded, 2_500, 10_000)
    );
    // A refund of a payment we never saw, without an order id: recorded, retried.
    assert_eq!(
        h.deliver_signed(&refund("evt_px", "ch_x", "pi_unknown", 100, None))
            .await,
        500
    );
    assert_eq!(
        h.truth.failure("evt_px").await.unwrap().unwrap().reason,
        "order_not_found"
    );
}

fn dispute(event: &str, kind: &str, status: &str) -> String {
    stripe_event(
        event,
        kind,
        T0 - 1,
        json!({"id": "dp_1", "charge": "ch_d", "payment_intent": "pi_d", "amount": 10_000,
               "currency": "usd", "status": status, "reason": "fraudulent"}),
    )
}

#[tokio::test]
async fn disputes_flag_the_order_and_a_late_created_never_reopens_a_closed_one() {
    for closed_first in [false, true] {
        let h = Harness::memory();
        order_with(&h, "ord_d", 10_000).await;
        let pay = intent_succeeded("evt_dpay", "ord_d", "pi_d", 10_000, "usd", "full_payment");
        assert_eq!(h.deliver_signed(&pay).await, 200);
        let created = dispute("evt_dc", "charge.dispute.created", "needs_response");
        let closed = dispute("evt_dz", "charge.dispute.closed", "won");
        if closed_first {
            assert_eq!(h.deliver_signed(&closed).await, 200);
            assert_eq!(h.deliver_signed(&created).await, 200);
        } else {
            assert_eq!(h.deliver_signed(&created).await, 200);
            assert!(h.truth.order("ord_d").await.unwrap().unwrap().disputed);
            assert_eq!(h.deliver_signed(&closed).await, 200);
        }
        let o = h.truth.order("ord_d").await.unwrap().unwrap();
        assert!(!o.disputed);
        assert_eq!(o.status, OrderStatus::Paid);
        assert_eq!(o.ledger.disputes["dp_1"].status, "won");
        assert_eq!(
            h.sink.total(Metric::StripeDispute),
            if closed_first { 1.0 } else { 2.0 }
        );
        let jobs = h.jobs().await;
        assert_eq!(
            alerts(&jobs),
            [
                "billing-alert#dispute#dp_1#closed",
                "billing-alert#dispute#dp_1#opened"
            ]
        );
    }
}

async fn linked(h: &Harness) {
    h.truth
        .link_customer(&CustomerLink {
            customer: "cus_known".into(),
            user_id: "usr_1".into(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn same_second_subscription_updates_store_what_stripe_says() {
    for first_wins in [false, true] {
        let h = Harness::memory();
        linked(&h).await;
        h.stripe
            .put_subscription(json!({"id": "sub_1", "customer": "cus_known",
            "status": "past_due", "cancel_at_period_end": true,
            "items": {"data": [{"current_period_start": 100, "current_period_end": 200}]}}));
        let a = subscription_event("evt_a", "customer.subscription.updated", T0 - 5, "active");
        let b = subscription_event("evt_b", "customer.subscription.updated", T0 - 5, "past_due");
        let order = if first_wins { [&a, &b] } else { [&b, &a] };
        for body in order {
            assert_eq!(h.deliver_signed(body).await, 200);
        }
        let s = h.truth.subscription("sub_1").await.unwrap().unwrap();
        assert_eq!(
            (
                s.status.as_str(),
                s.cancel_at_period_end,
                s.current_period_end
            ),
            ("past_due", true, Some(200))
        );
    }
}

#[tokio::test]
async fn invoice_events_read_stripe_and_never_hide_a_later_subscription_update() {
    for invoice_first in [false, true] {
        let h = Harness::memory();
        linked(&h).await;
        // An older invoice is paid, but Stripe keeps the subscription past_due.
        h.stripe.put_subscription(json!({"id": "sub_1", "customer": "cus_known",
            "status": "past_due", "items": {"data": [{"current_period_start": 10, "current_period_end": 20}]}}));
        let invoice = stripe_event(
            "evt_inv_paid",
            "invoice.paid",
            T0 - 20,
            json!({"id": "in_old", "customer": "cus_known", "subscription": "sub_1",
                   "attempt_count": 1, "amount_paid": 900, "currency": "usd"}),
        );
        let update = subscription_event(
            "evt_upd",
            "customer.subscription.updated",
            T0 - 20,
            "past_due",
        );
        let order = if invoice_first {
            [&invoice, &update]
        } else {
            [&update, &invoice]
        };
        for body in order {
            assert_eq!(h.deliver_signed(body).await, 200);
        }
        let s = h.truth.subscription("sub_1").await.unwrap().unwrap();
        assert_eq!(s.status, "past_due", "invoice first: {invoice_first}");
        // A later subscription event (Stripe's next change) still applies.
        let later = subscription_event(
            "evt_later",
            "customer.subscription.updated",
            T0 - 10,
            "active",
        );
        assert_eq!(h.deliver_signed(&later).await, 200);
        let s = h.truth.subscription("sub_1").await.unwrap().unwrap();
        assert_eq!((s.status.as_str(), s.event_created), ("active", T0 - 10));
    }
}
