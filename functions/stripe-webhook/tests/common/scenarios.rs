//! Scenarios run on any harness (in-memory, fault-injected, or moto).

use std::collections::HashMap;
use std::sync::Arc;

use shared::metrics::Metric;
use stripe_webhook::billing::{Order, OrderStatus};

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
