//! Reconciliation and the Stripe API adapter against a local Stripe stand-in (a real HTTP
//! server; async-stripe pointed at it through its base URL).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::stripe_standin::StripeStandIn;
use common::*;
use serde_json::json;
use shared::claims::MemoryClaimStore;
use shared::faults::{Fault, FaultPlan};
use shared::queue::MemoryQueue;
use stripe_webhook::billing::{CustomerLink, MemoryBillingStore, Order, OrderStatus};
use stripe_webhook::reconcile;
use stripe_webhook::stripe_api::{MemoryStripe, StripeHttpApi};

async fn on_standin(standin: &StripeStandIn) -> Harness {
    on_standin_with_latency(standin, Duration::ZERO).await
}

/// The harness on the stand-in, every billing call taking `latency` (so runs overlap).
async fn on_standin_with_latency(standin: &StripeStandIn, latency: Duration) -> Harness {
    let clock = clock_at(T0 + 10);
    let api = Arc::new(StripeHttpApi::new("sk_test_standin", Some(&standin.url)).unwrap());
    let truth = Arc::new(MemoryBillingStore::new());
    let mut h = Harness::build_with_stripe(
        clock.clone(),
        Arc::new(MemoryClaimStore::new(clock.shared())),
        Arc::new(FaultyBilling {
            inner: truth.clone(),
            plan: FaultPlan::always(Fault::Latency(latency)),
        }),
        Arc::new(MemoryQueue::new(clock.shared())),
        api,
        Arc::new(MemoryStripe::new()),
    );
    h.truth = truth;
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconciliation_racing_live_deliveries_applies_each_event_once() {
    let standin = StripeStandIn::start().await;
    let h = Arc::new(on_standin_with_latency(&standin, Duration::from_millis(3)).await);
    let mut bodies = Vec::new();
    for i in 0..8 {
        let order = format!("ord_rc{i}");
        h.truth
            .create_order(&Order::pending(
                &order,
                10_001,
                "usd",
                "r@example.com",
                "Arr",
            ))
            .await
            .unwrap();
        for body in scenarios::money_events(&order).into_iter().take(2) {
            standin.add_event(&body);
            bodies.push(body);
        }
    }
    // Half the events were delivered before; the rest race the run.
    let (before, racing) = bodies.split_at(bodies.len() / 2);
    for body in before {
        assert_eq!(h.deliver_signed(body).await, 200);
    }
    let run = {
        let h = h.clone();
        tokio::spawn(async move { reconcile::run(&h.app, Some(T0 - 3600)).await })
    };
    // Stripe's live deliveries arrive while the run is listing and processing.
    tokio::time::sleep(Duration::from_millis(40)).await;
    let deliveries = scenarios::deliver_all_until_2xx(&h, racing.to_vec()).await;
    let report = run.await.unwrap().unwrap();
    println!("live deliveries during the run: {deliveries}");
    println!("reconciliation report: {report:?}");
    assert_eq!(report.listed, 16);
    assert_eq!(
        report.applied + report.already_done + report.in_progress + report.failed,
        16
    );
    assert!(report.already_done >= 8, "{report:?}");
    // A second run, with every live delivery finished: nothing left to apply.
    let again = reconcile::run(&h.app, None).await.unwrap();
    assert_eq!(
        (again.applied, again.already_done),
        (0, again.listed),
        "{again:?}"
    );
    for i in 0..8 {
        let o = h.truth.order(&format!("ord_rc{i}")).await.unwrap().unwrap();
        assert_eq!((o.status, o.paid_cents), (OrderStatus::Paid, 10_001));
    }
    let jobs = h.jobs().await;
    let mut ids: Vec<_> = jobs.iter().map(|j| j.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((jobs.len(), ids.len()), (16, 16), "each email once");
}

#[tokio::test]
async fn a_first_run_applies_missed_events_and_stores_its_checkpoint() {
    let standin = StripeStandIn::start().await;
    let h = on_standin(&standin).await;
    h.truth
        .create_order(&Order::pending(
            "ord_m",
            10_001,
            "usd",
            "m@example.com",
            "Em",
        ))
        .await
        .unwrap();
    let events = scenarios::money_events("ord_m");
    for body in &events {
        standin.add_event(body);
    }
    // Older than the checkpoint a later run starts from: not listed again.
    standin.add_event(&stripe_event(
        "evt_old",
        "invoice.created",
        T0 - 90_000,
        json!({"id": "in_1"}),
    ));
    let report = reconcile::run(&h.app, None).await.unwrap();
    assert_eq!(
        (
            report.listed,
            report.applied,
            report.already_done,
            report.failed
        ),
        (5, 5, 0, 0),
        "{report:?}"
    );
    assert_eq!(report.checkpoint, Some(T0 - 20));
    let o = h.truth.order("ord_m").await.unwrap().unwrap();
    assert_eq!(
        (o.status, o.refunded_cents),
        (OrderStatus::PartiallyRefunded, 5_000)
    );
    let next = reconcile::run(&h.app, None).await.unwrap();
    assert_eq!(
        (next.since, next.listed, next.already_done),
        (T0 - 20, 1, 1)
    );
}

#[tokio::test]
async fn invoices_read_the_subscription_over_http_and_an_unreachable_stripe_is_a_retry() {
    let standin = StripeStandIn::start().await;
    let h = on_standin(&standin).await;
    standin.put_customer(json!({"id": "cus_http", "metadata": {"user_id": "usr_http"}}));
    standin.put_subscription(
        json!({"id": "sub_http", "customer": "cus_http", "status": "past_due",
        "items": {"data": [{"current_period_start": 1, "current_period_end": 2}]}}),
    );
    let invoice = stripe_event(
        "evt_http_inv",
        "invoice.paid",
        T0 - 5,
        json!({"id": "in_h", "customer": "cus_http", "subscription": "sub_http",
               "attempt_count": 1, "amount_paid": 100, "currency": "usd"}),
    );
    assert_eq!(h.deliver_signed(&invoice).await, 200);
    let s = h.truth.subscription("sub_http").await.unwrap().unwrap();
    assert_eq!(
        (s.status.as_str(), s.user_id.as_str(), s.current_period_end),
        ("past_due", "usr_http", Some(2))
    );
    assert_eq!(
        h.truth.customer("cus_http").await.unwrap(),
        Some(CustomerLink {
            customer: "cus_http".into(),
            user_id: "usr_http".into()
        })
    );
    // Unknown to Stripe: nothing stored, done.
    let unknown = invoice
        .replace("sub_http", "sub_gone")
        .replace("evt_http_inv", "evt_gone");
    assert_eq!(h.deliver_signed(&unknown).await, 200);
    assert!(h.truth.subscription("sub_gone").await.unwrap().is_none());

    // Stripe unreachable: 500, and the claim is released (the retry is not a 409).
    let clock = clock_at(T0 + 10);
    let down = Arc::new(StripeHttpApi::new("sk_test_x", Some("http://127.0.0.1:9/")).unwrap());
    let h = Harness::build_with_stripe(
        clock.clone(),
        Arc::new(MemoryClaimStore::new(clock.shared())),
        Arc::new(MemoryBillingStore::new()),
        Arc::new(MemoryQueue::new(clock.shared())),
        down,
        Arc::new(MemoryStripe::new()),
    );
    assert_eq!(h.deliver_signed(&invoice).await, 500);
    assert_eq!(h.deliver_signed(&invoice).await, 500);
    assert!(h.truth.subscription("sub_http").await.unwrap().is_none());
}
