//! Concurrency, fault injection, ordering and failure scenarios on in-memory adapters.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use common::*;
use serde_json::json;
use shared::claims::{ClaimKey, ClaimRequest, MemoryClaimStore};
use shared::error::ErrorClass;
use shared::faults::{Fault, FaultPlan};
use shared::metrics::Metric;
use shared::queue::MemoryQueue;
use stripe_webhook::billing::{MemoryBillingStore, Order, OrderStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_deliveries_in_memory() {
    // 2 ms per billing call, so the deliveries really overlap (in-memory calls never yield).
    let clock = clock_at(T0 + 10);
    let inner = Arc::new(MemoryBillingStore::new());
    let billing = Arc::new(FaultyBilling {
        inner: inner.clone(),
        plan: FaultPlan::always(Fault::Latency(Duration::from_millis(2))),
    });
    let mut h = Harness::build(
        clock.clone(),
        Arc::new(MemoryClaimStore::new(clock.shared())),
        billing,
        Arc::new(MemoryQueue::new(clock.shared())),
    );
    h.truth = inner;
    common::scenarios::fifty_concurrent_deliveries(h).await;
}

/// The 100 distinct events of the fault scenario and the final state they must produce.
fn hundred_events() -> Vec<String> {
    let mut events = Vec::new();
    for i in 0..40 {
        events.push(checkout_paid(
            &format!("evt_full_{i}"),
            &format!("ord_f{i}"),
            &format!("pi_f{i}"),
            5_000,
            "full",
        ));
    }
    for i in 0..20 {
        // The payment intent of the same payment: no second effect, no second email.
        events.push(stripe_event(
            &format!("evt_pi_{i}"),
            "payment_intent.succeeded",
            T0 - 4,
            json!({"id": format!("pi_f{i}"), "amount_received": 5_000, "currency": "usd",
                   "metadata": {"order_id": format!("ord_f{i}")}}),
        ));
    }
    for i in 0..20 {
        events.push(checkout_paid(
            &format!("evt_dep_{i}"),
            &format!("ord_d{i}"),
            &format!("pi_d{i}"),
            2_500,
            "deposit",
        ));
    }
    for i in 0..10 {
        events.push(stripe_event(
            &format!("evt_inv_{i}"),
            "invoice.payment_failed",
            T0 - 3,
            json!({"id": format!("in_{i}"), "customer": "cus_known", "attempt_count": 1, "amount_due": 700,
                   "currency": "usd", "customer_email": "jane@example.com", "subscription": format!("sub_{i}")}),
        ));
    }
    for i in 0..10 {
        events.push(stripe_event(
            &format!("evt_sub_{i}"),
            "customer.subscription.created",
            T0 - 30,
            json!({"id": format!("sub_{i}"), "customer": "cus_known", "status": "active"}),
        ));
    }
    assert_eq!(events.len(), 100);
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_events_three_times_with_ten_percent_store_faults() {
    let h = Arc::new(Harness::memory_with_faults(0.10, 2026));
    // Seed without faults (the wrapper passes create/link through).
    for i in 0..40 {
        h.billing
            .create_order(&Order::pending(
                format!("ord_f{i}"),
                5_000,
                "usd",
                "f@example.com",
                "Eff",
            ))
            .await
            .unwrap();
    }
    for i in 0..20 {
        h.billing
            .create_order(&Order::pending(
                format!("ord_d{i}"),
                10_000,
                "usd",
                "d@example.com",
                "Dee",
            ))
            .await
            .unwrap();
    }
    h.billing
        .link_customer(&stripe_webhook::billing::CustomerLink {
            customer: "cus_known".into(),
            user_id: "usr_1".into(),
        })
        .await
        .unwrap();
    for i in 0..10 {
        // What Stripe's API says after the failed invoice.
        h.stripe.put_subscription(
            json!({"id": format!("sub_{i}"), "customer": "cus_known", "status": "past_due"}),
        );
    }
    let events = hundred_events();
    let mut pending: Vec<String> = events
        .iter()
        .flat_map(|e| [e.clone(), e.clone(), e.clone()])
        .collect();
    let mut rounds = 0;
    let mut first_round = BTreeMap::<u16, u32>::new();
    while !pending.is_empty() {
        rounds += 1;
        assert!(rounds < 60, "{} deliveries never succeeded", pending.len());
        let mut tasks = tokio::task::JoinSet::new();
        for body in pending.drain(..) {
            let h = h.clone();
            tasks.spawn(async move { (h.deliver_signed(&body).await, body) });
        }
        while let Some(done) = tasks.join_next().await {
            let (status, body) = done.unwrap();
            assert!(matches!(status, 200 | 409 | 500), "status {status}");
            if rounds == 1 {
                *first_round.entry(status).or_default() += 1;
            }
            if status != 200 {
                pending.push(body);
            }
        }
        // Stripe waits before retrying; leases from crashed attempts run out meanwhile.
        h.clock.advance(Duration::from_secs(60));
    }
    println!("fault scenario: first round {first_round:?}, rounds until all 2xx: {rounds}");
    assert!(
        first_round.get(&500).copied().unwrap_or(0) > 0,
        "faults must have bitten: {first_round:?}"
    );

    for i in 0..40 {
        let o = h.truth.order(&format!("ord_f{i}")).await.unwrap().unwrap();
        assert_eq!(
            (o.status, o.paid_cents, o.balance_cents),
            (OrderStatus::Paid, 5_000, 0),
            "ord_f{i}"
        );
    }
    for i in 0..20 {
        let o = h.truth.order(&format!("ord_d{i}")).await.unwrap().unwrap();
        assert_eq!(
            (o.status, o.paid_cents, o.balance_cents),
            (OrderStatus::DepositPaid, 2_500, 7_500),
            "ord_d{i}"
        );
    }
    for i in 0..10 {
        let s = h
            .truth
            .subscription(&format!("sub_{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.user_id, "usr_1");
        // invoice.payment_failed (T0-3) reads Stripe's state, which outranks created (T0-30),
        // whatever the order.
        assert_eq!(s.status, "past_due", "sub_{i}");
    }
    let jobs = h.jobs().await;
    let mut counts = BTreeMap::<String, u32>::new();
    for job in &jobs {
        *counts.entry(job.id.clone()).or_default() += 1;
    }
    let mut expected: Vec<String> = (0..40)
        .map(|i| format!("order-confirmation#ord_f{i}"))
        .collect();
    expected.extend((0..20).map(|i| format!("deposit-confirmation#ord_d{i}")));
    expected.extend((0..10).map(|i| format!("payment-failed#in_{i}#1")));
    expected.sort();
    assert_eq!(counts.keys().cloned().collect::<Vec<_>>(), expected);
    assert!(
        counts.values().all(|c| *c == 1),
        "duplicated jobs: {:?}",
        counts.iter().filter(|(_, c)| **c > 1).collect::<Vec<_>>()
    );
    assert_eq!(jobs.len(), 70);
    // Every event is completed: one more delivery of each changes nothing (a 500 here can
    // only be an injected claim-store fault).
    for body in &events {
        assert!(matches!(h.deliver_signed(body).await, 200 | 500));
    }
    assert!(h.jobs().await.is_empty());
    assert_eq!(
        h.truth.order("ord_f0").await.unwrap().unwrap().paid_cents,
        5_000
    );
}

#[tokio::test]
async fn every_order_of_subscription_events_ends_in_the_newest_state() {
    let lifecycle = [
        subscription_event(
            "evt_s_created",
            "customer.subscription.created",
            T0 - 30,
            "incomplete",
        ),
        subscription_event(
            "evt_s_updated",
            "customer.subscription.updated",
            T0 - 20,
            "active",
        ),
        subscription_event(
            "evt_s_deleted",
            "customer.subscription.deleted",
            T0 - 10,
            "canceled",
        ),
    ];
    let no_delete = [
        subscription_event(
            "evt_u_created",
            "customer.subscription.created",
            T0 - 30,
            "incomplete",
        ),
        subscription_event(
            "evt_u_updated1",
            "customer.subscription.updated",
            T0 - 20,
            "past_due",
        ),
        subscription_event(
            "evt_u_updated2",
            "customer.subscription.updated",
            T0 - 10,
            "active",
        ),
    ];
    // Same second: the order cannot decide; Stripe's API says "active".
    let same_second = [
        subscription_event(
            "evt_t_created",
            "customer.subscription.created",
            T0 - 5,
            "incomplete",
        ),
        subscription_event(
            "evt_t_updated",
            "customer.subscription.updated",
            T0 - 5,
            "active",
        ),
    ];
    for (events, status, created) in [
        (&lifecycle[..], "canceled", T0 - 10),
        (&no_delete[..], "active", T0 - 10),
        (&same_second[..], "active", T0 - 5),
    ] {
        let perms = common::scenarios::permutations(events);
        assert_eq!(perms.len(), if events.len() == 3 { 6 } else { 2 });
        for order in perms {
            let h = Harness::memory();
            h.billing
                .link_customer(&stripe_webhook::billing::CustomerLink {
                    customer: "cus_known".into(),
                    user_id: "usr_1".into(),
                })
                .await
                .unwrap();
            h.stripe
                .put_subscription(json!({"id": "sub_1", "customer": "cus_known",
                "status": status, "items": {"data": [{"current_period_start": created}]}}));
            for body in &order {
                assert_eq!(h.deliver_signed(body).await, 200);
            }
            let sub = h.billing.subscription("sub_1").await.unwrap().unwrap();
            assert_eq!(
                (sub.status.as_str(), sub.event_created),
                (status, created),
                "order {order:?}"
            );
            assert_eq!(sub.current_period_start, Some(created));
        }
    }
}

#[tokio::test]
async fn unknown_customer_is_looked_up_recorded_alerted_and_retried() {
    let h = Harness::memory();
    let body = stripe_event(
        "evt_new_cus",
        "customer.subscription.created",
        T0 - 30,
        json!({"id": "sub_9", "customer": "cus_new", "status": "active"}),
    );
    assert_eq!(h.deliver_signed(&body).await, 500);
    assert_eq!(h.deliver_signed(&body).await, 500);
    let failure = h.billing.failure("evt_new_cus").await.unwrap().unwrap();
    assert_eq!(
        (
            failure.reason.as_str(),
            failure.subject.as_str(),
            failure.attempts
        ),
        ("unknown_customer", "cus_new", 2)
    );
    assert_eq!(h.sink.total(Metric::StripeUnknownCustomer), 2.0);
    assert!(h.billing.subscription("sub_9").await.unwrap().is_none());
    // The customer gets metadata.user_id on Stripe; the next retry maps and caches it.
    h.stripe.insert_customer("cus_new", "usr_9");
    assert_eq!(h.deliver_signed(&body).await, 200);
    assert_eq!(
        h.billing
            .subscription("sub_9")
            .await
            .unwrap()
            .unwrap()
            .user_id,
        "usr_9"
    );
    assert_eq!(
        h.billing
            .customer("cus_new")
            .await
            .unwrap()
            .unwrap()
            .user_id,
        "usr_9"
    );
    assert_eq!(h.deliver_signed(&body).await, 200);
    assert_eq!(h.sink.total(Metric::StripeUnknownCustomer), 2.0);
}

#[tokio::test]
async fn unparsed_event_is_stored_and_a_later_delivery_replays_it() {
    let h = Harness::memory();
    h.seed_fixture_state().await;
    // A paid session without the amount this version needs: authentic, stored raw, 200.
    let bad = stripe_event(
        "evt_replay",
        "checkout.session.completed",
        T0 - 5,
        json!({"payment_status": "paid", "currency": "usd", "payment_intent": "pi_r",
               "metadata": {"order_id": "ord_1001"}}),
    );
    assert_eq!(h.deliver_signed(&bad).await, 200);
    let stored = h.billing.unparsed("evt_replay").await.unwrap().unwrap();
    assert_eq!(stored.body.as_deref(), Some(bad.as_bytes()));
    assert!(stored.error.contains("amount_total"), "{}", stored.error);
    assert_eq!(stored.replayed_at, None);
    assert_eq!(
        h.billing.order("ord_1001").await.unwrap().unwrap().status,
        OrderStatus::Pending
    );
    // After the fix, Stripe resends the same event id (here: a body the parser accepts).
    let fixed = checkout_paid("evt_replay", "ord_1001", "pi_r", 12_000, "full");
    assert_eq!(h.deliver_signed(&fixed).await, 200);
    assert_eq!(
        h.billing.order("ord_1001").await.unwrap().unwrap().status,
        OrderStatus::Paid
    );
    assert!(
        h.billing
            .unparsed("evt_replay")
            .await
            .unwrap()
            .unwrap()
            .replayed_at
            .is_some()
    );
    assert_eq!(h.jobs().await.len(), 1);
}

#[tokio::test]
async fn a_failed_effect_releases_the_claim_and_the_retry_applies_once() {
    let clock = clock_at(T0 + 10);
    let inner = Arc::new(MemoryBillingStore::new());
    let billing = Arc::new(FaultyBilling {
        inner: inner.clone(),
        // Call 1 = payment record, 2 = order read, 3 = order write: fail the write.
        plan: FaultPlan::on_calls([3], Fault::Fail(ErrorClass::Transient)),
    });
    let mut h = Harness::build(
        clock.clone(),
        Arc::new(MemoryClaimStore::new(clock.shared())),
        billing,
        Arc::new(MemoryQueue::new(clock.shared())),
    );
    h.truth = inner;
    h.seed_fixture_state().await;
    let body = checkout_paid("evt_fail_once", "ord_1001", "pi_1", 12_000, "full");
    assert_eq!(h.deliver_signed(&body).await, 500);
    assert_eq!(
        h.billing.order("ord_1001").await.unwrap().unwrap().status,
        OrderStatus::Pending
    );
    assert!(h.jobs().await.is_empty());
    assert_eq!(h.sink.total(Metric::RetryScheduled), 1.0);
    // Released: Stripe's retry goes straight through (no lease to wait out).
    assert_eq!(h.deliver_signed(&body).await, 200);
    assert_eq!(
        h.billing.order("ord_1001").await.unwrap().unwrap().status,
        OrderStatus::Paid
    );
    assert_eq!(h.jobs().await.len(), 1);
}

#[tokio::test]
async fn a_delivery_while_another_holds_the_lease_gets_409_with_retry_after() {
    let h = Harness::memory();
    let body = checkout_paid("evt_busy", "ord_1001", "pi_1", 12_000, "full");
    let lease_until = h.app.clock.now() + TimeDelta::seconds(20);
    let key = ClaimKey::new("stripe-event", &["evt_busy"]);
    h.claims
        .claim(&ClaimRequest::new(
            key,
            lease_until,
            Duration::from_secs(3600),
        ))
        .await
        .unwrap();
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
    assert_eq!(status_of(&r), 409);
    assert_eq!(r.headers()["retry-after"], "20");
    assert_eq!(h.sink.total(Metric::ClaimLost), 1.0);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_store_is_cut_by_the_budget_and_released() {
    let clock = clock_at(T0 + 10);
    let inner = Arc::new(MemoryBillingStore::new());
    let billing = Arc::new(FaultyBilling {
        inner: inner.clone(),
        plan: FaultPlan::on_calls([1], Fault::Hang),
    });
    let claims = Arc::new(MemoryClaimStore::new(clock.shared()));
    let mut h = Harness::build(
        clock.clone(),
        claims,
        billing,
        Arc::new(MemoryQueue::new(clock.shared())),
    );
    h.truth = inner;
    h.seed_fixture_state().await;
    let body = checkout_paid("evt_hang", "ord_1001", "pi_1", 12_000, "full");
    let started = tokio::time::Instant::now();
    assert_eq!(h.deliver_signed(&body).await, 500);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(6),
        "{took:?}"
    );
    // Released: the retry is processed at once.
    assert_eq!(h.deliver_signed(&body).await, 200);
    assert_eq!(
        h.billing.order("ord_1001").await.unwrap().unwrap().status,
        OrderStatus::Paid
    );
}

#[tokio::test]
async fn deposit_then_balance_pays_the_order_and_sends_both_emails_once() {
    let h = Harness::memory();
    h.seed_fixture_state().await;
    let deposit = checkout_paid("evt_dep", "ord_1002", "pi_dep", 3_000, "deposit");
    let balance = checkout_paid("evt_bal", "ord_1002", "pi_bal", 7_000, "balance");
    for body in [&deposit, &balance, &deposit, &balance] {
        assert_eq!(h.deliver_signed(body).await, 200);
    }
    let o = h.billing.order("ord_1002").await.unwrap().unwrap();
    assert_eq!(
        (o.status, o.paid_cents, o.balance_cents),
        (OrderStatus::Paid, 10_000, 0)
    );
    let mut ids: Vec<_> = h.jobs().await.into_iter().map(|j| j.id).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "deposit-confirmation#ord_1002",
            "order-confirmation#ord_1002"
        ]
    );
    // A late failure of the deposit intent does not undo anything.
    let late_failure = stripe_event(
        "evt_late_fail",
        "payment_intent.payment_failed",
        T0 - 100,
        json!({"id": "pi_dep", "metadata": {"order_id": "ord_1002"}}),
    );
    assert_eq!(h.deliver_signed(&late_failure).await, 200);
    assert_eq!(
        h.billing.order("ord_1002").await.unwrap().unwrap().status,
        OrderStatus::Paid
    );
}

#[tokio::test]
async fn an_order_the_table_does_not_have_is_recorded_and_retried() {
    let h = Harness::memory();
    let body = checkout_paid("evt_no_order", "ord_missing", "pi_m", 100, "full");
    assert_eq!(h.deliver_signed(&body).await, 500);
    let f = h.billing.failure("evt_no_order").await.unwrap().unwrap();
    assert_eq!(
        (f.reason.as_str(), f.subject.as_str()),
        ("order_not_found", "ord_missing")
    );
    h.billing
        .create_order(&Order::pending(
            "ord_missing",
            100,
            "usd",
            "m@example.com",
            "Em",
        ))
        .await
        .unwrap();
    assert_eq!(h.deliver_signed(&body).await, 200);
    assert_eq!(h.jobs().await.len(), 1);
}
