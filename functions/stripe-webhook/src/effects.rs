//! Applies one parsed event. Every effect is idempotent on its own key and guarded against
//! out-of-order delivery, so the handler may run it again after any partial failure.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::claims::{ClaimKey, ClaimOutcome, ClaimRequest, ClaimStore};
use shared::clock::SharedClock;
use shared::email_job::{self, DepositConfirmation, Email, EmailJob, OrderConfirmation};
use shared::error::{Classify, ErrorClass};
use shared::metrics::{Metric, Metrics};
use shared::queue::EmailQueue;
use shared::store_error::StoreError;
use shared::telemetry::CorrelationId;

use crate::billing::{
    Applied, BillingStore, CustomerLink, EventFailure, Order, OrderStatus, Payment, Subscription,
};
use crate::directory::{CustomerDirectory, DirectoryError};
use crate::event::{
    Envelope, InvoiceChange, InvoiceEventKind, PaymentFailed, PaymentKind, PaymentSucceeded,
    StripeEvent, SubscriptionChange,
};

/// Claim namespace guarding "this email job was queued".
pub const EMAIL_QUEUED_NAMESPACE: &str = "email-queued";
/// Attempts at completing an email-queued claim after the job went out.
const COMPLETE_ATTEMPTS: u32 = 5;

/// The ports an effect uses.
#[derive(Debug, Clone)]
pub struct Ports {
    /// Claims (event and email-queued claims).
    pub claims: Arc<dyn ClaimStore>,
    /// Orders, payments, subscriptions, customers.
    pub billing: Arc<dyn BillingStore>,
    /// The email queue.
    pub queue: Arc<dyn EmailQueue>,
    /// Stripe customer → user, when the table does not know.
    pub directory: Arc<dyn CustomerDirectory>,
}

/// What one effect run needs besides the ports.
#[derive(Debug, Clone)]
pub struct EffectContext {
    /// The ports.
    pub ports: Ports,
    /// Counters.
    pub metrics: Metrics,
    /// Time source.
    pub clock: SharedClock,
    /// Lease end for claims taken while applying (follows the Lambda deadline).
    pub lease_until: DateTime<Utc>,
    /// How long email-queued claims are kept.
    pub retain: Duration,
}

/// Why an effect could not be applied; every variant is retried by Stripe (answer 500).
#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    /// A billing or claim store call failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The email queue refused the job.
    #[error("queue: {0}")]
    Queue(StoreError),
    /// The Stripe customer lookup failed.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// Neither the table nor Stripe maps the customer to a user (failure recorded, alerted).
    #[error("unknown Stripe customer")]
    UnknownCustomer,
    /// The event names an order we do not have (failure recorded).
    #[error("order not found")]
    OrderNotFound,
    /// An invoice names a subscription whose own event has not been applied yet.
    #[error("subscription not stored yet")]
    SubscriptionNotStored,
    /// Another delivery is queuing the same email right now.
    #[error("email job being queued by another delivery")]
    EmailInFlight,
}

impl Classify for EffectError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Store(e) | Self::Queue(e) => e.class(),
            Self::Directory(e) => e.class(),
            Self::UnknownCustomer
            | Self::OrderNotFound
            | Self::SubscriptionNotStored
            | Self::EmailInFlight => ErrorClass::Transient,
        }
    }
}

/// What applying the event did (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Effects stored (or found already stored).
    Done,
    /// Nothing to do for this event.
    NoEffect,
}

/// Applies `event` (parsed from `envelope`).
pub async fn apply(
    ctx: &EffectContext,
    envelope: &Envelope,
    event: &StripeEvent,
) -> Result<Outcome, EffectError> {
    match event {
        StripeEvent::PaymentSucceeded(p) => payment_succeeded(ctx, envelope, p).await?,
        StripeEvent::PaymentFailed(p) => payment_failed(ctx, envelope, p).await?,
        StripeEvent::Subscription(s) => subscription(ctx, envelope, s).await?,
        StripeEvent::Invoice(i) => invoice(ctx, envelope, i).await?,
        StripeEvent::NoEffect(_) | StripeEvent::Unhandled => return Ok(Outcome::NoEffect),
    }
    Ok(Outcome::Done)
}

async fn record_failure(
    ctx: &EffectContext,
    envelope: &Envelope,
    reason: &str,
    subject: &str,
) -> Result<(), EffectError> {
    ctx.ports
        .billing
        .record_failure(&EventFailure {
            event_id: envelope.id.clone(),
            event_type: envelope.event_type.clone(),
            reason: reason.to_owned(),
            subject: subject.to_owned(),
            attempts: 1,
            last_at: ctx.clock.now(),
        })
        .await?;
    Ok(())
}

async fn load_order(
    ctx: &EffectContext,
    envelope: &Envelope,
    order_id: &str,
) -> Result<Order, EffectError> {
    match ctx.ports.billing.order(order_id).await? {
        Some(order) => Ok(order),
        None => {
            record_failure(ctx, envelope, "order_not_found", order_id).await?;
            tracing::warn!(event_id = %envelope.id, order_id, "order not found; Stripe will retry");
            Err(EffectError::OrderNotFound)
        }
    }
}

/// The order after `payment`, or `None` when it is already applied (or superseded).
pub fn next_order_state(order: &Order, payment: &PaymentSucceeded) -> Option<Order> {
    let pi = &payment.payment_intent;
    let mut next = order.clone();
    next.failure_reason = None;
    match (order.status, payment.kind) {
        (OrderStatus::Paid, _) | (OrderStatus::DepositPaid, PaymentKind::Deposit) => None,
        (OrderStatus::DepositPaid, _) if order.deposit_payment_intent.as_ref() == Some(pi) => None,
        (OrderStatus::Pending | OrderStatus::Failed, PaymentKind::Deposit) => {
            next.status = OrderStatus::DepositPaid;
            next.paid_cents = payment.amount_cents;
            next.balance_cents = (order.total_cents - payment.amount_cents).max(0);
            next.deposit_payment_intent = Some(pi.clone());
            Some(next)
        }
        (status, PaymentKind::Full | PaymentKind::Balance) => {
            let before = if status == OrderStatus::DepositPaid {
                order.paid_cents
            } else {
                0
            };
            next.status = OrderStatus::Paid;
            next.paid_cents = before + payment.amount_cents;
            next.balance_cents = (order.total_cents - next.paid_cents).max(0);
            next.paid_payment_intent = Some(pi.clone());
            Some(next)
        }
    }
}

fn payment_kind_name(kind: PaymentKind) -> &'static str {
    match kind {
        PaymentKind::Full => "full",
        PaymentKind::Deposit => "deposit",
        PaymentKind::Balance => "balance",
    }
}

async fn payment_succeeded(
    ctx: &EffectContext,
    envelope: &Envelope,
    p: &PaymentSucceeded,
) -> Result<(), EffectError> {
    let billing = &ctx.ports.billing;
    let mut order = load_order(ctx, envelope, &p.order_id).await?;
    billing
        .record_payment(&Payment {
            payment_intent: p.payment_intent.clone(),
            order_id: p.order_id.clone(),
            amount_cents: p.amount_cents,
            currency: p.currency.clone(),
            kind: payment_kind_name(p.kind).to_owned(),
            event_id: envelope.id.clone(),
        })
        .await?;
    // Compare-and-set on the status read; a concurrent change makes us read again.
    for _ in 0..4 {
        let Some(next) = next_order_state(&order, p) else {
            break;
        };
        match billing.transition_order(order.status, &next).await? {
            Applied::Changed => {
                order = next;
                break;
            }
            Applied::Unchanged => order = load_order(ctx, envelope, &p.order_id).await?,
        }
    }
    let pi = Some(&p.payment_intent);
    let job = if order.deposit_payment_intent.as_ref() == pi && p.kind == PaymentKind::Deposit {
        Some(EmailJob::new(
            format!("deposit-confirmation#{}", order.id),
            Email::DepositConfirmation(DepositConfirmation {
                order_id: order.id.clone(),
                deposit_cents: cents(p.amount_cents),
                balance_cents: cents(order.total_cents - p.amount_cents),
                total_cents: cents(order.total_cents),
                currency: order.currency.clone(),
                customer_name: order.customer_name.clone(),
            }),
            &order.customer_email,
            CorrelationId::from_upstream(&envelope.id),
            ctx.clock.now(),
        ))
    } else if order.paid_payment_intent.as_ref() == pi {
        Some(EmailJob::new(
            format!("order-confirmation#{}", order.id),
            Email::OrderConfirmation(OrderConfirmation {
                order_id: order.id.clone(),
                amount_cents: cents(order.paid_cents),
                currency: order.currency.clone(),
                customer_name: order.customer_name.clone(),
            }),
            &order.customer_email,
            CorrelationId::from_upstream(&envelope.id),
            ctx.clock.now(),
        ))
    } else {
        None
    };
    if let Some(job) = job {
        queue_once(ctx, &job).await?;
    }
    Ok(())
}

async fn payment_failed(
    ctx: &EffectContext,
    envelope: &Envelope,
    p: &PaymentFailed,
) -> Result<(), EffectError> {
    let mut order = load_order(ctx, envelope, &p.order_id).await?;
    for _ in 0..4 {
        if !matches!(order.status, OrderStatus::Pending | OrderStatus::Failed) {
            break; // already (deposit) paid: a late failure does not undo it
        }
        let mut next = order.clone();
        next.status = OrderStatus::Failed;
        next.failure_reason = Some(p.reason.clone());
        match ctx
            .ports
            .billing
            .transition_order(order.status, &next)
            .await?
        {
            Applied::Changed => break,
            Applied::Unchanged => order = load_order(ctx, envelope, &p.order_id).await?,
        }
    }
    Ok(())
}

/// The user of a Stripe customer: the table, else Stripe (then cached in the table).
async fn resolve_user(
    ctx: &EffectContext,
    envelope: &Envelope,
    customer: &str,
) -> Result<String, EffectError> {
    if let Some(link) = ctx.ports.billing.customer(customer).await? {
        return Ok(link.user_id);
    }
    if let Some(user_id) = ctx.ports.directory.user_id(customer).await? {
        ctx.ports
            .billing
            .link_customer(&CustomerLink {
                customer: customer.to_owned(),
                user_id: user_id.clone(),
            })
            .await?;
        return Ok(user_id);
    }
    record_failure(ctx, envelope, "unknown_customer", customer).await?;
    ctx.metrics
        .incr(shared::metrics::Metric::StripeUnknownCustomer);
    tracing::error!(event_id = %envelope.id, customer, "Stripe customer maps to no user; Stripe will retry");
    Err(EffectError::UnknownCustomer)
}

async fn subscription(
    ctx: &EffectContext,
    envelope: &Envelope,
    s: &SubscriptionChange,
) -> Result<(), EffectError> {
    let user_id = resolve_user(ctx, envelope, &s.customer).await?;
    let applied = ctx
        .ports
        .billing
        .upsert_subscription(&Subscription {
            id: s.subscription_id.clone(),
            user_id,
            customer: s.customer.clone(),
            status: s.status.clone(),
            current_period_start: s.current_period_start,
            current_period_end: s.current_period_end,
            cancel_at_period_end: s.cancel_at_period_end,
            event_created: envelope.created,
            event_rank: s.kind.rank(),
        })
        .await?;
    if applied == Applied::Unchanged {
        tracing::info!(event_id = %envelope.id, "newer subscription state already stored");
    }
    Ok(())
}

async fn invoice(
    ctx: &EffectContext,
    envelope: &Envelope,
    i: &InvoiceChange,
) -> Result<(), EffectError> {
    let status = match i.kind {
        InvoiceEventKind::Paid => "active",
        InvoiceEventKind::PaymentFailed => "past_due",
    };
    if i.kind == InvoiceEventKind::PaymentFailed {
        payment_failed_email(ctx, envelope, i).await?;
    }
    if let Some(sub) = &i.subscription_id {
        let billing = &ctx.ports.billing;
        let applied = billing
            .set_subscription_status(sub, status, envelope.created)
            .await?;
        if applied == Applied::Unchanged && billing.subscription(sub).await?.is_none() {
            // The subscription event has not been applied yet (out of order): let Stripe
            // retry this one, so its newer status is not lost.
            tracing::info!(event_id = %envelope.id, "invoice before its subscription; Stripe will retry");
            return Err(EffectError::SubscriptionNotStored);
        }
    }
    Ok(())
}

/// Minor units for an email (amounts are validated non-negative when parsed; a negative
/// difference is nothing left to pay).
fn cents(amount: i64) -> u64 {
    u64::try_from(amount).unwrap_or(0)
}

async fn payment_failed_email(
    ctx: &EffectContext,
    envelope: &Envelope,
    i: &InvoiceChange,
) -> Result<(), EffectError> {
    let Some(to) = &i.customer_email else {
        record_failure(ctx, envelope, "no_billing_email", &i.invoice_id).await?;
        tracing::warn!(event_id = %envelope.id, "invoice has no billing email; no payment-failed email");
        return Ok(());
    };
    let job = EmailJob::new(
        format!("payment-failed#{}#{}", i.invoice_id, i.attempt_count),
        Email::PaymentFailed(email_job::PaymentFailed {
            invoice_id: i.invoice_id.clone(),
            attempt: i.attempt_count,
            amount_cents: cents(i.amount_cents),
            currency: i.currency.clone(),
            customer_name: i.customer_name.clone().unwrap_or_default(),
        }),
        to,
        CorrelationId::from_upstream(&envelope.id),
        ctx.clock.now(),
    );
    queue_once(ctx, &job).await
}

/// Queues `job` once: claim `email-queued#<job id>`, enqueue, complete. A completed claim
/// means it is already queued. If completing fails after the enqueue, the claim is left to
/// its lease (not released), so only a redelivery after the lease can queue it again — and
/// the email worker dedupes by job id.
pub async fn queue_once(ctx: &EffectContext, job: &EmailJob) -> Result<(), EffectError> {
    let key = ClaimKey::new(EMAIL_QUEUED_NAMESPACE, &[&job.id]);
    let request = ClaimRequest::new(key, ctx.lease_until, ctx.retain);
    let claim = match ctx.ports.claims.claim(&request).await? {
        ClaimOutcome::Acquired(claim) => claim,
        ClaimOutcome::Completed(_) | ClaimOutcome::FailedPermanent(_) => {
            ctx.metrics.incr(Metric::DuplicateSuppressed);
            return Ok(());
        }
        ClaimOutcome::InProgress(_) => return Err(EffectError::EmailInFlight),
    };
    if let Err(e) = ctx.ports.queue.enqueue(job, Duration::ZERO).await {
        if let Err(release) = ctx.ports.claims.release(&claim).await {
            tracing::warn!(error = %release, "could not release email claim; lease will expire");
        }
        return Err(EffectError::Queue(e));
    }
    let mut last = None;
    for attempt in 0..COMPLETE_ATTEMPTS {
        match ctx.ports.claims.complete(&claim, None).await {
            Ok(()) => return Ok(()),
            Err(e) if e.class().is_retryable() && !matches!(e, StoreError::Conflict(_)) => {
                tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
                last = Some(e);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.map_or(EffectError::EmailInFlight, EffectError::Store))
}
