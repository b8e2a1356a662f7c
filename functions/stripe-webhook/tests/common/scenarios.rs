//! Scenarios run on any harness (in-memory, fault-injected, or moto).

use std::collections::HashMap;
use std::sync::Arc;

use shared::metrics::Metric;
use stripe_webhook::billing::{Order, OrderStatus};

use serde_json::json;
use shared::email_job::Email;

use super::*;

/// 50 concurrent deliveries of one event: every answer 2xx or retryable; effects and the
/// email job exactly once.
pub async fn fifty_concurrent_deliveries(h: Harness) {
    let order = format!("ord_c_{}", shared::testing::unique_name("o"));
    h.billing
        .create_order(&Order::pending(
            &order,
            9_900,
            "usd",
            "c@example.com",
            "Cee",
        ))
        .await
        .unwrap();
    let body = checkout_paid(
        "evt_concurrent",
        &order,
        &format!("pi_{order}"),
        9_900,
        "full",
    );
    let h = Arc::new(h);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (h, body) = (h.clone(), body.clone());
        tasks.spawn(async move { h.deliver_signed(&body).await });
    }
    let mut statuses = HashMap::<u16, u32>::new();
    while let Some(status) = tasks.join_next().await {
        *statuses.entry(status.unwrap()).or_default() += 1;
    }
    for status in statuses.keys() {
        assert!(matches!(status, 200 | 409 | 500), "{statuses:?}");
    }
    println!("50 concurrent deliveries: {statuses:?}");
    // Stripe redelivers every non-2xx until it succeeds; a lease left by a failed attempt runs
    // out while it waits.
    let retries = 50 - statuses.get(&200).copied().unwrap_or(0);
    for _ in 0..retries {
        let mut tries = 0;
        loop {
            let status = h.deliver_signed(&body).await;
            assert!(matches!(status, 200 | 409 | 500), "{status}");
            if status == 200 {
                break;
            }
            tries += 1;
            assert!(tries < 20, "never succeeded");
            h.clock.advance(std::time::Duration::from_secs(60));
        }
    }
    let stored = h.billing.order(&order).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Paid);
    assert_eq!((stored.paid_cents, stored.balance_cents), (9_900, 0));
    let jobs = h.jobs().await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].id, format!("order-confirmation#{order}"));
    let payment = h
        .billing
        .payment(&format!("pi_{order}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payment.event_id, "evt_concurrent");
    assert!(
        h.sink.total(Metric::DuplicateSuppressed) + h.sink.total(Metric::ClaimLost) >= 49.0,
        "{statuses:?}"
    );
}

/// The four money events of one order of 100.01 usd: a deposit of 50.01 (the replaced
/// system's `payment_type`), the balance of 50.00 (checkout session, order from
/// `client_reference_id`), a failed attempt, and a full refund of the balance's charge.
pub fn money_events(order: &str) -> [String; 4] {
    [
        stripe_event(
            &format!("evt_{order}_dep"),
            "payment_intent.succeeded",
            T0 - 40,
            json!({"id": format!("pi_{order}_d"), "amount": 5_001, "amount_received": 5_001,
                   "currency": "usd", "metadata": {"order_id": order, "payment_type": "deposit"}}),
        ),
        stripe_event(
            &format!("evt_{order}_bal"),
            "checkout.session.completed",
            T0 - 30,
            json!({"id": format!("cs_{order}_b"), "payment_status": "paid", "amount_total": 5_000,
                   "currency": "usd", "payment_intent": format!("pi_{order}_b"),
                   "client_reference_id": order, "metadata": {"payment_type": "final_payment"}}),
        ),
        stripe_event(
            &format!("evt_{order}_fail"),
            "payment_intent.payment_failed",
            T0 - 50,
            json!({"id": format!("pi_{order}_f"), "currency": "usd",
                   "last_payment_error": {"code": "card_declined", "decline_code": "card_declined"},
                   "metadata": {"order_id": order}}),
        ),
        stripe_event(
            &format!("evt_{order}_refund"),
            "charge.refunded",
            T0 - 20,
            json!({"id": format!("ch_{order}_b"), "amount": 5_000, "amount_refunded": 5_000,
                   "currency": "usd", "payment_intent": format!("pi_{order}_b"), "refunded": true,
                   "metadata": {"order_id": order}}),
        ),
    ]
}

/// Delivers every body concurrently, then redelivers the non-2xx ones in rounds (Stripe
/// waits between retries, so abandoned leases run out) until all got a 2xx; returns the
/// deliveries made.
pub async fn deliver_all_until_2xx(h: &Arc<Harness>, mut pending: Vec<String>) -> u32 {
    let mut deliveries = 0;
    for _round in 0..100 {
        let mut tasks = tokio::task::JoinSet::new();
        for body in pending.drain(..) {
            let h = h.clone();
            tasks.spawn(async move { (h.deliver_signed(&body).await, body) });
        }
        while let Some(done) = tasks.join_next().await {
            let (status, body) = done.unwrap();
            deliveries += 1;
            assert!(matches!(status, 200 | 409 | 500), "status {status}");
            if status != 200 {
                pending.push(body);
            }
        }
        if pending.is_empty() {
            return deliveries;
        }
        h.clock.advance(std::time::Duration::from_secs(60));
    }
    panic!("{} deliveries never got a 2xx", pending.len());
}

/// Every permutation of deposit / balance / failure / refund, one order each, all orders at
/// once; each event delivered 1-3 times concurrently and redelivered until 2xx. Every order
/// must end in one state with each email queued once. Returns (orders, deliveries, emails).
pub async fn every_money_permutation(h: Arc<Harness>, tag: &str) -> (usize, u32, usize) {
    let perms = permutations(&[0usize, 1, 2, 3]);
    let mut orders = Vec::new();
    for (i, _) in perms.iter().enumerate() {
        let order = format!("ord_{tag}_{i}");
        h.truth
            .create_order(&Order::pending(
                &order,
                10_001,
                "usd",
                "p@example.com",
                "Pat",
            ))
            .await
            .unwrap();
        orders.push(order);
    }
    // Step by step: at step k every order gets the k-th event of its permutation, 1-3
    // copies of it concurrently, all orders at once.
    let mut deliveries = 0;
    for step in 0..4 {
        let mut pending = Vec::new();
        for (i, perm) in perms.iter().enumerate() {
            let body = money_events(&orders[i])[perm[step]].clone();
            pending.extend(std::iter::repeat_n(body, 1 + (i + step) % 3));
        }
        deliveries += deliver_all_until_2xx(&h, pending).await;
    }
    let mut states = std::collections::BTreeSet::new();
    for order in &orders {
        let o = h.truth.order(order).await.unwrap().unwrap();
        assert_eq!(
            (o.status, o.paid_cents, o.balance_cents, o.refunded_cents),
            (OrderStatus::PartiallyRefunded, 10_001, 0, 5_000),
            "{order}"
        );
        assert_eq!(o.failure_reason.as_deref(), Some("card_declined"));
        assert_eq!((o.ledger.payments.len(), o.ledger.refunds.len()), (2, 1));
        // The same state up to the order's own ids.
        states.insert(format!("{:?}", (o.status, &o.ledger, o.version)).replace(order, "ORD"));
    }
    assert_eq!(states.len(), 1, "every permutation ends in the same state");
    let jobs = h.jobs().await;
    let mut counts = HashMap::<String, u32>::new();
    for job in &jobs {
        *counts.entry(job.id.clone()).or_default() += 1;
        match &job.email {
            Email::OrderConfirmation(d) => assert_eq!(d.amount_cents, 10_001, "the amount paid"),
            Email::DepositConfirmation(d) => {
                assert_eq!((d.deposit_cents, d.balance_cents), (5_001, 5_000));
            }
            Email::RefundNotice(d) => {
                assert_eq!((d.refunded_cents, d.charge_cents), (5_000, 5_000))
            }
            other => panic!("unexpected email {other:?}"),
        }
    }
    for order in &orders {
        for id in [
            format!("deposit-confirmation#{order}"),
            format!("order-confirmation#{order}"),
            format!("refund-notice#ch_{order}_b#5000"),
        ] {
            assert_eq!(counts.get(&id), Some(&1), "{id}: {counts:?}");
        }
    }
    assert_eq!(jobs.len(), orders.len() * 3, "{counts:?}");
    (orders.len(), deliveries, jobs.len())
}

/// Every ordering of `items`.
pub fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first.clone());
            out.push(p);
        }
    }
    out
}
