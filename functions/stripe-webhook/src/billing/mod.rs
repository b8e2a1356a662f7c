//! The billing store port: orders, payments, subscriptions, the Stripe customer → user map,
//! stored unparsed events and recorded failures, all in `BillingTable` under pk prefixes:
//! `order#<id>`, `payment#<payment_intent>`, `subscription#<id>`, `customer#<cus>`,
//! `stripe-event-unparsed#<event>`, `stripe-event-failed#<event>`.
//!
//! Every write that changes state is conditional (on the state read, or on the event's
//! `created` time), so replays and out-of-order deliveries cannot move state backwards.

mod dynamo;
mod memory;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use self::dynamo::DynamoBillingStore;
pub use self::memory::MemoryBillingStore;
pub use shared::store_error::StoreError;

/// Whether a conditional write changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The write went through.
    Changed,
    /// The guard refused it (already done, or newer state stored).
    Unchanged,
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Waiting for payment.
    Pending,
    /// Deposit paid, balance due.
    DepositPaid,
    /// Paid in full.
    Paid,
    /// Last payment attempt failed (may still be paid later).
    Failed,
}

impl OrderStatus {
    /// Stored representation.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::DepositPaid => "deposit_paid",
            Self::Paid => "paid",
            Self::Failed => "failed",
        }
    }

    /// Parses the stored representation.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "deposit_paid" => Some(Self::DepositPaid),
            "paid" => Some(Self::Paid),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// An order (created by the shop; the webhook only moves its payment state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Order id.
    pub id: String,
    /// Payment state.
    pub status: OrderStatus,
    /// Order total, minor unit.
    pub total_cents: i64,
    /// ISO currency, lower case.
    pub currency: String,
    /// Where confirmations go.
    pub customer_email: String,
    /// Name used in emails.
    pub customer_name: String,
    /// Paid so far.
    pub paid_cents: i64,
    /// Still due.
    pub balance_cents: i64,
    /// Payment intent that paid the deposit.
    pub deposit_payment_intent: Option<String>,
    /// Payment intent that completed the payment.
    pub paid_payment_intent: Option<String>,
    /// Code of the last payment failure.
    pub failure_reason: Option<String>,
}

impl Order {
    /// A new pending order.
    pub fn pending(
        id: impl Into<String>,
        total_cents: i64,
        currency: impl Into<String>,
        customer_email: impl Into<String>,
        customer_name: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            status: OrderStatus::Pending,
            total_cents,
            currency: currency.into(),
            customer_email: customer_email.into(),
            customer_name: customer_name.into(),
            paid_cents: 0,
            balance_cents: total_cents,
            deposit_payment_intent: None,
            paid_payment_intent: None,
            failure_reason: None,
        }
    }
}

/// A payment, recorded once per payment intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// `pi_...` (the key).
    pub payment_intent: String,
    /// The order paid.
    pub order_id: String,
    /// Amount, minor unit.
    pub amount_cents: i64,
    /// ISO currency.
    pub currency: String,
    /// `full`, `deposit` or `balance`.
    pub kind: String,
    /// The event that recorded it first.
    pub event_id: String,
}

/// A subscription as last seen, with the event time that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// `sub_...`.
    pub id: String,
    /// Our user.
    pub user_id: String,
    /// `cus_...`.
    pub customer: String,
    /// Stripe status.
    pub status: String,
    /// Period start (Unix seconds).
    pub current_period_start: Option<i64>,
    /// Period end (Unix seconds).
    pub current_period_end: Option<i64>,
    /// Ends at the period end.
    pub cancel_at_period_end: bool,
    /// `created` of the event that wrote this state.
    pub event_created: i64,
    /// Tie-break for events of the same second (created < updated < deleted).
    pub event_rank: u8,
}

/// A Stripe customer mapped to our user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerLink {
    /// `cus_...`.
    pub customer: String,
    /// Our user id.
    pub user_id: String,
}

/// An authentic event we could not parse, kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnparsedEvent {
    /// Event id (or `sha256:<hex>` of the body when even the id was unreadable).
    pub event_id: String,
    /// The event type, when readable.
    pub event_type: Option<String>,
    /// The parse error.
    pub error: String,
    /// The raw body (absent when too large for one item; see `body_sha256`).
    pub body: Option<Vec<u8>>,
    /// SHA-256 of the body, hex.
    pub body_sha256: String,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// Set once a later delivery of the same event was processed.
    pub replayed_at: Option<DateTime<Utc>>,
}

/// A failure recorded for an operator (unknown customer, missing order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFailure {
    /// Event id.
    pub event_id: String,
    /// Event type.
    pub event_type: String,
    /// Short machine-readable reason (`unknown_customer`, `order_not_found`).
    pub reason: String,
    /// The object concerned (customer or order id).
    pub subject: String,
    /// Deliveries that failed this way.
    pub attempts: u32,
    /// Last failure.
    pub last_at: DateTime<Utc>,
}

/// The billing store port.
#[async_trait]
pub trait BillingStore: Send + Sync + fmt::Debug {
    /// Reads an order.
    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError>;

    /// Creates an order unless one with the same id exists (shop side, tests, local stack).
    async fn create_order(&self, order: &Order) -> Result<Applied, StoreError>;

    /// Replaces the payment fields of `next.id` only if its status is still `from`.
    async fn transition_order(
        &self,
        from: OrderStatus,
        next: &Order,
    ) -> Result<Applied, StoreError>;

    /// Records a payment unless its payment intent is already recorded.
    async fn record_payment(&self, payment: &Payment) -> Result<Applied, StoreError>;

    /// Reads a payment.
    async fn payment(&self, payment_intent: &str) -> Result<Option<Payment>, StoreError>;

    /// Writes `sub` unless the stored state is newer (by `event_created`, then `event_rank`)
    /// or already `canceled` (a canceled subscription is never revived).
    async fn upsert_subscription(&self, sub: &Subscription) -> Result<Applied, StoreError>;

    /// Sets an existing subscription's status from an invoice event created at
    /// `event_created`, unless newer state is stored or it is `canceled`.
    async fn set_subscription_status(
        &self,
        id: &str,
        status: &str,
        event_created: i64,
    ) -> Result<Applied, StoreError>;

    /// Reads a subscription.
    async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError>;

    /// The user a Stripe customer belongs to.
    async fn customer(&self, customer: &str) -> Result<Option<CustomerLink>, StoreError>;

    /// Stores (or confirms) a customer → user mapping.
    async fn link_customer(&self, link: &CustomerLink) -> Result<(), StoreError>;

    /// Stores an unparsed event (idempotent: a second store keeps the first arrival time).
    async fn store_unparsed(&self, event: &UnparsedEvent) -> Result<(), StoreError>;

    /// Reads a stored unparsed event.
    async fn unparsed(&self, event_id: &str) -> Result<Option<UnparsedEvent>, StoreError>;

    /// Marks a stored unparsed event as replayed (no-op when none is stored).
    async fn mark_replayed(&self, event_id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Records (or counts again) a failure of an event.
    async fn record_failure(&self, failure: &EventFailure) -> Result<(), StoreError>;

    /// Reads a recorded failure.
    async fn failure(&self, event_id: &str) -> Result<Option<EventFailure>, StoreError>;
}

/// Largest body stored inline in an unparsed-event item (DynamoDB items hold 400 KB).
pub const MAX_STORED_BODY: usize = 300 * 1024;

/// Whether stored subscription state `(created, rank, status)` lets `incoming` replace it.
pub(crate) fn subscription_may_replace(stored: &Subscription, created: i64, rank: u8) -> bool {
    stored.status != "canceled"
        && (stored.event_created < created
            || (stored.event_created == created && stored.event_rank < rank))
}
