//! Test harness: the handler on in-memory (optionally fault-injected) or real adapters, a
//! manual clock, and helpers to build signed API Gateway requests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod scenarios;
pub mod stripe_standin;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::claims::{ClaimStore, MemoryClaimStore};
use shared::clock::ManualClock;
use shared::config::Secret;
use shared::email_job::EmailJob;
use shared::faults::FaultPlan;
use shared::metrics::{MemorySink, Metrics};
use shared::queue::{EmailQueue, MemoryQueue};
use shared::store_error::StoreError;
use stripe_webhook::billing::{
    Applied, BillingStore, CustomerLink, EventFailure, MemoryBillingStore, Order, Payment,
    Subscription, UnparsedEvent,
};
use stripe_webhook::effects::Ports;
use stripe_webhook::signature::{Verifier, sign_header};
use stripe_webhook::stripe_api::{MemoryStripe, StripeApi};
use stripe_webhook::{App, Settings};

/// The documented test secret (not a real one).
pub const SECRET: &str = "whsec_test_secret";
/// 2026-01-01T00:00:00Z, the time fixtures are signed at.
pub const T0: i64 = 1_767_225_600;

/// The handler and the adapters behind it.
pub struct Harness {
    pub app: App,
    pub clock: ManualClock,
    pub billing: Arc<dyn BillingStore>,
    /// The billing store without injected faults (to read the final state).
    pub truth: Arc<dyn BillingStore>,
    pub claims: Arc<dyn ClaimStore>,
    pub queue: Arc<dyn EmailQueue>,
    /// Stripe's own state (customers, subscriptions) as the API returns it.
    pub stripe: Arc<MemoryStripe>,
    pub sink: MemorySink,
}

pub fn clock_at(t: i64) -> ManualClock {
    ManualClock::new(DateTime::from_timestamp(t, 0).unwrap())
}

impl Harness {
    /// Everything in memory, clock at `T0 + 10 s`.
    pub fn memory() -> Self {
        let clock = clock_at(T0 + 10);
        Self::build(
            clock.clone(),
            Arc::new(MemoryClaimStore::new(clock.shared())),
            Arc::new(MemoryBillingStore::new()),
            Arc::new(MemoryQueue::new(clock.shared())),
        )
    }

    /// In memory, with both DynamoDB-backed ports failing calls at random with `p`.
    pub fn memory_with_faults(p: f64, seed: u64) -> Self {
        use shared::error::ErrorClass;
        use shared::faults::{Fault, Faulty};
        let clock = clock_at(T0 + 10);
        let truth: Arc<dyn BillingStore> = Arc::new(MemoryBillingStore::new());
        let mut h = Self::build(
            clock.clone(),
            Arc::new(Faulty::new(
                MemoryClaimStore::new(clock.shared()),
                FaultPlan::random(p, seed, Fault::Fail(ErrorClass::Transient)),
            )),
            Arc::new(FaultyBilling {
                inner: truth.clone(),
                plan: FaultPlan::random(p, seed + 1, Fault::Fail(ErrorClass::Transient)),
            }),
            Arc::new(MemoryQueue::new(clock.shared())),
        );
        h.truth = truth;
        h
    }

    pub fn build(
        clock: ManualClock,
        claims: Arc<dyn ClaimStore>,
        billing: Arc<dyn BillingStore>,
        queue: Arc<dyn EmailQueue>,
    ) -> Self {
        let stripe = Arc::new(MemoryStripe::new());
        Self::build_with_stripe(clock, claims, billing, queue, stripe.clone(), stripe)
    }

    /// As [`Harness::build`], with the Stripe API port given (e.g. the HTTP adapter pointed
    /// at a local stand-in); `memory` is where tests put Stripe's objects for the default.
    pub fn build_with_stripe(
        clock: ManualClock,
        claims: Arc<dyn ClaimStore>,
        billing: Arc<dyn BillingStore>,
        queue: Arc<dyn EmailQueue>,
        api: Arc<dyn StripeApi>,
        memory: Arc<MemoryStripe>,
    ) -> Self {
        let (metrics, sink) = Metrics::in_memory("stripe-webhook");
        let ports = Ports {
            claims: claims.clone(),
            billing: billing.clone(),
            queue: queue.clone(),
            stripe: api,
        };
        let verifier = Verifier::new(
            vec![Secret::new(SECRET.to_owned())],
            Verifier::DEFAULT_TOLERANCE,
        );
        let app = App::build(
            ports,
            verifier,
            Settings::default(),
            clock.shared(),
            metrics,
        );
        Self {
            app,
            clock,
            truth: billing.clone(),
            billing,
            claims,
            queue,
            stripe: memory,
            sink,
        }
    }

    /// Delivers a request.
    pub async fn deliver(&self, request: Request) -> Response<Body> {
        stripe_webhook::handle(&self.app, request).await
    }

    /// Signs `body` at the clock's time and delivers it.
    pub async fn deliver_signed(&self, body: &str) -> u16 {
        let t = self.app.clock.now().timestamp();
        let req = request(body, Some(&sign_header(SECRET, t, body.as_bytes())));
        self.deliver(req).await.status().as_u16()
    }

    /// Seeds the state the fixtures in `events/stripe-webhook/` assume (bypassing faults),
    /// and Stripe's own view of `sub_1`.
    pub async fn seed_fixture_state(&self) {
        self.stripe
            .put_subscription(json!({"id": "sub_1", "customer": "cus_known",
            "status": "active", "items": {"data": [{"current_period_start": T0 - 86_400,
            "current_period_end": T0 + 29 * 86_400}]}}));
        for (id, total) in [
            ("ord_1001", 12_000),
            ("ord_1002", 10_000),
            ("ord_1003", 5_000),
        ] {
            self.truth
                .create_order(&Order::pending(
                    id,
                    total,
                    "usd",
                    "jane@example.com",
                    "Jane Doe",
                ))
                .await
                .unwrap();
        }
        self.truth
            .link_customer(&CustomerLink {
                customer: "cus_known".into(),
                user_id: "usr_1".into(),
            })
            .await
            .unwrap();
        self.truth
            .upsert_subscription(&Subscription {
                id: "sub_1".into(),
                user_id: "usr_1".into(),
                customer: "cus_known".into(),
                status: "incomplete".into(),
                current_period_start: None,
                current_period_end: None,
                cancel_at_period_end: false,
                event_created: T0 - 3600,
                event_rank: 0,
            })
            .await
            .unwrap();
    }

    /// Every job on the queue (received once with a long visibility).
    pub async fn jobs(&self) -> Vec<EmailJob> {
        let mut jobs = Vec::new();
        loop {
            let batch = self
                .queue
                .receive(10, Duration::from_secs(3600))
                .await
                .unwrap();
            if batch.is_empty() {
                return jobs;
            }
            jobs.extend(batch.iter().map(|m| m.job().unwrap()));
        }
    }
}

/// An API Gateway HTTP API v2 request carrying `body`, through lambda_http's own parser.
pub fn request(body: &str, signature: Option<&str>) -> Request {
    request_with(body, signature, false, "POST")
}

pub fn request_with(body: &str, signature: Option<&str>, base64: bool, method: &str) -> Request {
    let mut headers = json!({"content-type": "application/json"});
    if let Some(sig) = signature {
        headers["stripe-signature"] = sig.into();
    }
    let event = json!({
        "version": "2.0", "routeKey": "POST /stripe/webhook", "rawPath": "/stripe/webhook",
        "rawQueryString": "", "headers": headers,
        "requestContext": {"accountId": "1", "apiId": "a", "domainName": "x", "domainPrefix": "x",
            "http": {"method": method, "path": "/stripe/webhook", "protocol": "HTTP/1.1",
                     "sourceIp": "54.187.174.169", "userAgent": "Stripe/1.0"},
            "requestId": "r", "routeKey": "POST /stripe/webhook", "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0},
        "body": if base64 { b64(body.as_bytes()) } else { body.to_owned() },
        "isBase64Encoded": base64
    });
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

/// Standard base64, as API Gateway encodes binary bodies.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A Stripe event body.
pub fn stripe_event(id: &str, event_type: &str, created: i64, object: Value) -> String {
    json!({
        "id": id, "object": "event", "api_version": "2025-03-31.basil", "created": created,
        "data": {"object": object}, "livemode": false, "pending_webhooks": 1, "type": event_type
    })
    .to_string()
}

pub fn checkout_paid(event_id: &str, order: &str, pi: &str, amount: i64, kind: &str) -> String {
    stripe_event(
        event_id,
        "checkout.session.completed",
        T0 - 5,
        json!({"id": format!("cs_{event_id}"), "payment_status": "paid", "amount_total": amount,
               "currency": "usd", "payment_intent": pi,
               "metadata": {"order_id": order, "payment_kind": kind}}),
    )
}

pub fn subscription_event(event_id: &str, event_type: &str, created: i64, status: &str) -> String {
    stripe_event(
        event_id,
        event_type,
        created,
        json!({"id": "sub_1", "customer": "cus_known", "status": status,
               "items": {"data": [{"current_period_start": created, "current_period_end": created + 100}]}}),
    )
}

pub fn status_of(r: &Response<Body>) -> u16 {
    r.status().as_u16()
}

pub fn body_text(r: &Response<Body>) -> String {
    match r.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

/// The billing store behind a fault plan (the port lives in this crate, so it gets its own
/// wrapper; the plan and faults are `shared::faults`).
#[derive(Debug)]
pub struct FaultyBilling {
    pub inner: Arc<dyn BillingStore>,
    pub plan: FaultPlan,
}

#[async_trait]
impl BillingStore for FaultyBilling {
    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        self.plan.run(self.inner.order(id)).await
    }
    async fn create_order(&self, order: &Order) -> Result<Applied, StoreError> {
        self.inner.create_order(order).await
    }
    async fn save_order(&self, expected: u64, next: &Order) -> Result<Applied, StoreError> {
        self.plan.run(self.inner.save_order(expected, next)).await
    }
    async fn record_payment(&self, payment: &Payment) -> Result<Applied, StoreError> {
        self.plan.run(self.inner.record_payment(payment)).await
    }
    async fn payment(&self, pi: &str) -> Result<Option<Payment>, StoreError> {
        self.inner.payment(pi).await
    }
    async fn upsert_subscription(&self, sub: &Subscription) -> Result<Applied, StoreError> {
        self.plan.run(self.inner.upsert_subscription(sub)).await
    }
    async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        self.inner.subscription(id).await
    }
    async fn customer(&self, customer: &str) -> Result<Option<CustomerLink>, StoreError> {
        self.plan.run(self.inner.customer(customer)).await
    }
    async fn link_customer(&self, link: &CustomerLink) -> Result<(), StoreError> {
        self.inner.link_customer(link).await
    }
    async fn store_unparsed(&self, event: &UnparsedEvent) -> Result<(), StoreError> {
        self.plan.run(self.inner.store_unparsed(event)).await
    }
    async fn unparsed(&self, id: &str) -> Result<Option<UnparsedEvent>, StoreError> {
        self.inner.unparsed(id).await
    }
    async fn mark_replayed(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.plan.run(self.inner.mark_replayed(id, at)).await
    }
    async fn record_failure(&self, failure: &EventFailure) -> Result<(), StoreError> {
        self.plan.run(self.inner.record_failure(failure)).await
    }
    async fn failure(&self, id: &str) -> Result<Option<EventFailure>, StoreError> {
        self.inner.failure(id).await
    }
    async fn reconcile_checkpoint(&self) -> Result<Option<i64>, StoreError> {
        self.plan.run(self.inner.reconcile_checkpoint()).await
    }
    async fn advance_checkpoint(&self, created: i64) -> Result<Applied, StoreError> {
        self.plan.run(self.inner.advance_checkpoint(created)).await
    }
}
