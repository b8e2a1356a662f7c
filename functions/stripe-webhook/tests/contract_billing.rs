//! Billing store contract: the same suite against the in-memory store and DynamoDB (moto),
//! plus the 50-concurrent-deliveries scenario on real adapters (DynamoDB claims and billing,
//! SQS queue on moto). A missing moto fails these tests, naming the service.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::*;
use shared::claims::DynamoClaimStore;
use shared::queue::SqsQueue;
use shared::testing::fixtures::{moto as aws, table};
use stripe_webhook::billing::{
    AUTHORITATIVE_RANK, Applied, BillingStore, CustomerLink, DynamoBillingStore, EventFailure,
    MemoryBillingStore, Order, OrderStatus, Payment, Subscription, UnparsedEvent,
};
use stripe_webhook::ledger::{PaymentLine, RefundLine};

async fn dynamo() -> Arc<dyn BillingStore> {
    let config = aws().await;
    let name = table(&config, "BillingTable").await;
    Arc::new(DynamoBillingStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        name,
    ))
}

fn memory() -> Arc<dyn BillingStore> {
    Arc::new(MemoryBillingStore::new())
}

fn sub(created: i64, rank: u8, status: &str) -> Subscription {
    Subscription {
        id: "sub_c".into(),
        user_id: "usr_c".into(),
        customer: "cus_c".into(),
        status: status.into(),
        current_period_start: Some(created),
        current_period_end: None,
        cancel_at_period_end: rank == 1,
        event_created: created,
        event_rank: rank,
    }
}

async fn orders_move_only_from_the_version_read(store: Arc<dyn BillingStore>) {
    let order = Order::pending("ord_c", 10_000, "usd", "c@example.com", "Cee");
    assert_eq!(store.create_order(&order).await.unwrap(), Applied::Changed);
    assert_eq!(
        store.create_order(&order).await.unwrap(),
        Applied::Unchanged
    );
    assert_eq!(store.order("ord_c").await.unwrap(), Some(order.clone()));
    let line = |amount, role: &str| PaymentLine {
        amount_cents: amount,
        currency: "usd".into(),
        role: role.into(),
    };
    let deposit = order.with_payment("pi_d", line(3_000, "deposit")).unwrap();
    assert_eq!(
        (deposit.status, deposit.version),
        (OrderStatus::DepositPaid, 1)
    );
    assert_eq!(
        store.save_order(0, &deposit).await.unwrap(),
        Applied::Changed
    );
    // A second writer that read version 0 loses.
    let other = order.with_payment("pi_x", line(10_000, "full")).unwrap();
    assert_eq!(
        store.save_order(0, &other).await.unwrap(),
        Applied::Unchanged
    );
    assert_eq!(store.order("ord_c").await.unwrap(), Some(deposit.clone()));
    let paid = deposit
        .with_payment("pi_b", line(7_000, "balance"))
        .unwrap()
        .with_refund(
            "ch_1",
            RefundLine {
                payment_intent: Some("pi_b".into()),
                refunded_cents: 1_000,
                currency: "usd".into(),
            },
        )
        .unwrap();
    assert_eq!(store.save_order(1, &paid).await.unwrap(), Applied::Changed);
    let stored = store.order("ord_c").await.unwrap().unwrap();
    assert_eq!(stored, paid);
    assert_eq!(
        (
            stored.status,
            stored.paid_cents,
            stored.refunded_cents,
            stored.version
        ),
        (OrderStatus::PartiallyRefunded, 10_000, 1_000, 3)
    );
    let mut ghost = order.clone();
    ghost.id = "ord_none".into();
    assert_eq!(
        store.save_order(0, &ghost).await.unwrap(),
        Applied::Unchanged
    );
    assert_eq!(store.order("ord_none").await.unwrap(), None);
}

async fn the_reconcile_checkpoint_only_moves_forward(store: Arc<dyn BillingStore>) {
    assert_eq!(store.reconcile_checkpoint().await.unwrap(), None);
    assert_eq!(
        store.advance_checkpoint(T0).await.unwrap(),
        Applied::Changed
    );
    assert_eq!(
        store.advance_checkpoint(T0 - 5).await.unwrap(),
        Applied::Unchanged
    );
    assert_eq!(
        store.advance_checkpoint(T0).await.unwrap(),
        Applied::Unchanged
    );
    assert_eq!(store.reconcile_checkpoint().await.unwrap(), Some(T0));
    assert_eq!(
        store.advance_checkpoint(T0 + 9).await.unwrap(),
        Applied::Changed
    );
    assert_eq!(store.reconcile_checkpoint().await.unwrap(), Some(T0 + 9));
}

async fn payments_are_recorded_once(store: Arc<dyn BillingStore>) {
    let p = Payment {
        payment_intent: "pi_c".into(),
        order_id: "ord_c".into(),
        amount_cents: 500,
        currency: "usd".into(),
        kind: "full".into(),
        event_id: "evt_1".into(),
    };
    assert_eq!(store.record_payment(&p).await.unwrap(), Applied::Changed);
    let second = Payment {
        event_id: "evt_2".into(),
        ..p.clone()
    };
    assert_eq!(
        store.record_payment(&second).await.unwrap(),
        Applied::Unchanged
    );
    assert_eq!(store.payment("pi_c").await.unwrap(), Some(p));
}

async fn subscriptions_keep_the_newest_state_and_never_revive(store: Arc<dyn BillingStore>) {
    assert_eq!(
        store
            .upsert_subscription(&sub(20, 1, "active"))
            .await
            .unwrap(),
        Applied::Changed
    );
    assert_eq!(
        store
            .upsert_subscription(&sub(10, 0, "incomplete"))
            .await
            .unwrap(),
        Applied::Unchanged
    );
    assert_eq!(
        store
            .upsert_subscription(&sub(20, 0, "incomplete"))
            .await
            .unwrap(),
        Applied::Unchanged
    );
    assert_eq!(
        store
            .upsert_subscription(&sub(20, 1, "past_due"))
            .await
            .unwrap(),
        Applied::Unchanged
    );
    // State read from the Stripe API outranks every event of its second.
    assert_eq!(
        store
            .upsert_subscription(&sub(20, AUTHORITATIVE_RANK, "past_due"))
            .await
            .unwrap(),
        Applied::Changed
    );
    assert_eq!(
        store
            .upsert_subscription(&sub(20, 2, "canceled"))
            .await
            .unwrap(),
        Applied::Unchanged
    );
    assert_eq!(
        store.subscription("sub_c").await.unwrap().unwrap().status,
        "past_due"
    );
    assert_eq!(
        store
            .upsert_subscription(&sub(30, 2, "canceled"))
            .await
            .unwrap(),
        Applied::Changed
    );
    assert_eq!(
        store
            .upsert_subscription(&sub(40, 1, "active"))
            .await
            .unwrap(),
        Applied::Unchanged
    );
    assert_eq!(
        store
            .upsert_subscription(&sub(50, AUTHORITATIVE_RANK, "active"))
            .await
            .unwrap(),
        Applied::Unchanged
    );
    assert_eq!(
        store.subscription("sub_c").await.unwrap(),
        Some(sub(30, 2, "canceled"))
    );
    assert_eq!(store.subscription("sub_none").await.unwrap(), None);
}

async fn customers_unparsed_and_failures_round_trip(store: Arc<dyn BillingStore>) {
    assert_eq!(store.customer("cus_c").await.unwrap(), None);
    let link = CustomerLink {
        customer: "cus_c".into(),
        user_id: "usr_c".into(),
    };
    store.link_customer(&link).await.unwrap();
    store.link_customer(&link).await.unwrap();
    assert_eq!(store.customer("cus_c").await.unwrap(), Some(link));

    let at = |s: i64| DateTime::<Utc>::from_timestamp(s, 0).unwrap();
    let unparsed = UnparsedEvent {
        event_id: "evt_u".into(),
        event_type: Some("invoice.paid".into()),
        error: "missing attempt_count".into(),
        body: Some(vec![0, 159, 146, 150, b'{']),
        body_sha256: "ab".into(),
        received_at: at(T0),
        replayed_at: None,
    };
    store.store_unparsed(&unparsed).await.unwrap();
    store
        .store_unparsed(&UnparsedEvent {
            received_at: at(T0 + 5),
            ..unparsed.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        store.unparsed("evt_u").await.unwrap(),
        Some(unparsed.clone())
    );
    store.mark_replayed("evt_u", at(T0 + 60)).await.unwrap();
    store.mark_replayed("evt_u", at(T0 + 90)).await.unwrap();
    store.mark_replayed("evt_none", at(T0 + 90)).await.unwrap();
    assert_eq!(
        store.unparsed("evt_u").await.unwrap().unwrap().replayed_at,
        Some(at(T0 + 60))
    );
    assert_eq!(store.unparsed("evt_none").await.unwrap(), None);

    let failure = EventFailure {
        event_id: "evt_f".into(),
        event_type: "customer.subscription.created".into(),
        reason: "unknown_customer".into(),
        subject: "cus_x".into(),
        attempts: 1,
        last_at: at(T0),
    };
    store.record_failure(&failure).await.unwrap();
    store
        .record_failure(&EventFailure {
            last_at: at(T0 + 1),
            ..failure.clone()
        })
        .await
        .unwrap();
    let stored = store.failure("evt_f").await.unwrap().unwrap();
    assert_eq!((stored.attempts, stored.last_at), (2, at(T0 + 1)));
}

macro_rules! contract {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn memory_store() {
                super::$name(memory()).await;
            }
            #[tokio::test]
            async fn dynamodb_store() {
                super::$name(dynamo().await).await;
            }
        }
    };
}

contract!(orders_move_only_from_the_version_read);
contract!(the_reconcile_checkpoint_only_moves_forward);
contract!(payments_are_recorded_once);
contract!(subscriptions_keep_the_newest_state_and_never_revive);
contract!(customers_unparsed_and_failures_round_trip);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_deliveries_on_moto() {
    let config = aws().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let claims_table = table(&config, "ClaimsTable").await;
    let billing_table = table(&config, "BillingTable").await;
    let queue = shared::testing::fixtures::queue(&config, "EmailDeadLetterQueue").await;
    let clock = clock_at(T0 + 10);
    let h = Harness::build(
        clock.clone(),
        Arc::new(DynamoClaimStore::new(
            dynamo.clone(),
            claims_table,
            clock.shared(),
        )),
        Arc::new(DynamoBillingStore::new(dynamo, billing_table)),
        Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&config), queue.url)),
    );
    common::scenarios::fifty_concurrent_deliveries(h).await;
}

/// The money permutation suite on moto: DynamoDB claims and billing with 10% injected faults,
/// the SQS queue. `cargo nextest run -p stripe-webhook -E 'test(money_permutation)'
/// --no-capture` prints the figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_money_permutation_with_ten_percent_store_faults_on_moto() {
    use shared::error::ErrorClass;
    use shared::faults::{Fault, FaultPlan, Faulty};
    let config = aws().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let claims_table = table(&config, "ClaimsTable").await;
    let billing_table = table(&config, "BillingTable").await;
    let queue = shared::testing::fixtures::queue(&config, "EmailDeadLetterQueue").await;
    let clock = clock_at(T0 + 10);
    let claims = Arc::new(Faulty::new(
        DynamoClaimStore::new(dynamo.clone(), claims_table, clock.shared()),
        FaultPlan::random(0.10, 22, Fault::Fail(ErrorClass::Transient)),
    ));
    let truth: Arc<dyn BillingStore> = Arc::new(DynamoBillingStore::new(dynamo, billing_table));
    let billing = Arc::new(FaultyBilling {
        inner: truth.clone(),
        plan: FaultPlan::random(0.10, 23, Fault::Fail(ErrorClass::Transient)),
    });
    let mut h = Harness::build(
        clock.clone(),
        claims.clone(),
        billing.clone(),
        Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&config), queue.url)),
    );
    h.truth = truth;
    let (orders, deliveries, emails) =
        common::scenarios::every_money_permutation(Arc::new(h), "moto").await;
    let faults = claims.plan().injected() + billing.plan.injected();
    println!(
        "money permutations (moto): orders {orders}, deliveries {deliveries}, faults injected {faults}, emails {emails}"
    );
    assert!(faults > 0, "faults must have bitten");
}
