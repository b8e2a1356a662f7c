//! The billing store port: orders, payments, subscriptions, the Stripe customer → user map,
//! stored unparsed events and recorded failures, all in `BillingTable` under pk prefixes:
//! `order#<id>`, `payment#<payment_intent>`, `subscription#<id>`, `customer#<cus>`,
//! `stripe-event-unparsed#<event>`, `stripe-event-failed#<event>`, and the reconciliation
//! checkpoint `stripe-reconcile#checkpoint`.
//!
//! Every write that changes state is conditional (on the version read, or on the event's
//! `created` time), so replays and out-of-order deliveries cannot move state backwards.

mod dynamo;
mod memory;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use self::dynamo::DynamoBillingStore;
pub use self::memory::MemoryBillingStore;
pub use crate::ledger::Ledger;
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
    /// Part paid (not only a deposit), balance due.
    PartiallyPaid,
    /// Paid in full.
    Paid,
    /// A payment attempt failed and nothing is paid (may still be paid later).
    Failed,
    /// Part of what was paid was refunded.
    PartiallyRefunded,
    /// Everything paid was refunded.
    Refunded,
}

impl OrderStatus {
    /// Stored representation.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::DepositPaid => "deposit_paid",
            Self::PartiallyPaid => "partially_paid",
            Self::Paid => "paid",
            Self::Failed => "failed",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Refunded => "refunded",
        }
    }

    /// Parses the stored representation.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "deposit_paid" => Some(Self::DepositPaid),
            "partially_paid" => Some(Self::PartiallyPaid),
            "paid" => Some(Self::Paid),
            "failed" => Some(Self::Failed),
            "partially_refunded" => Some(Self::PartiallyRefunded),
            "refunded" => Some(Self::Refunded),
            _ => None,
        }
    }
}

/// An order (created by the shop; the webhook only moves its payment state). The status and
/// figures are derived from the [`Ledger`] (see [`crate::ledger`]).
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
    /// Paid so far in the order's currency.
    pub paid_cents: i64,
    /// Still due.
    pub balance_cents: i64,
    /// Refunded so far.
    pub refunded_cents: i64,
    /// A dispute is open.
    pub disputed: bool,
    /// Code of a recorded payment failure.
    pub failure_reason: Option<String>,
    /// Payments, refunds, disputes and failures, each recorded once.
    pub ledger: Ledger,
    /// Bumped by every change; writes are conditional on it.
    pub version: u64,
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
            refunded_cents: 0,
            disputed: false,
            failure_reason: None,
            ledger: Ledger::default(),
            version: 0,
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
    /// `full`, `deposit`, `balance` or `unspecified`.
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
    /// Tie-break for events of the same second (created < updated < deleted < read from the
    /// Stripe API, [`AUTHORITATIVE_RANK`]).
    pub event_rank: u8,
}

/// Rank of a subscription state read from the Stripe API: it wins over every event of the
/// same second, since Stripe created those before we read.
pub const AUTHORITATIVE_RANK: u8 = 3;

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

    /// Replaces the payment fields (status, figures, ledger, version) of `next.id` only if
    /// its stored version is still `expected_version`.
    async fn save_order(&self, expected_version: u64, next: &Order) -> Result<Applied, StoreError>;

    /// Records a payment unless its payment intent is already recorded.
    async fn record_payment(&self, payment: &Payment) -> Result<Applied, StoreError>;

    /// Reads a payment.
    async fn payment(&self, payment_intent: &str) -> Result<Option<Payment>, StoreError>;

    /// Writes `sub` unless the stored state is newer (by `event_created`, then `event_rank`)
    /// or already `canceled` (a canceled subscription is never revived).
    async fn upsert_subscription(&self, sub: &Subscription) -> Result<Applied, StoreError>;

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

    /// `created` of the newest Stripe event reconciliation has finished with.
    async fn reconcile_checkpoint(&self) -> Result<Option<i64>, StoreError>;

    /// Moves the reconciliation checkpoint forward to `created` (never back).
    async fn advance_checkpoint(&self, created: i64) -> Result<Applied, StoreError>;
}

/// Largest body stored inline in an unparsed-event item (DynamoDB items hold 400 KB).
pub const MAX_STORED_BODY: usize = 300 * 1024;

/// Whether stored subscription state `(created, rank, status)` lets `incoming` replace it.
pub(crate) fn subscription_may_replace(stored: &Subscription, created: i64, rank: u8) -> bool {
    stored.status != "canceled"
        && (stored.event_created < created
            || (stored.event_created == created && stored.event_rank < rank))
}
