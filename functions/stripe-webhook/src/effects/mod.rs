//! Applies one parsed event. Every effect is idempotent on its own key and guarded against
//! out-of-order delivery, so the handler may run it again after any partial failure.
//! [`orders`] holds payments, refunds and disputes; [`subscriptions`] subscriptions and
//! invoices; this module the context, the errors, recorded failures and "queue once".

mod orders;
mod subscriptions;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::claims::{ClaimKey, ClaimOutcome, ClaimRequest, ClaimStore};
use shared::clock::SharedClock;
use shared::email_job::EmailJob;
use shared::error::{Classify, ErrorClass};
use shared::metrics::{Metric, Metrics};
use shared::queue::EmailQueue;
use shared::store_error::StoreError;

use crate::billing::{BillingStore, EventFailure};
use crate::event::{Envelope, StripeEvent};
use crate::stripe_api::{StripeApi, StripeApiError};

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
    /// The Stripe API (customer → user, current subscription state, event list).
    pub stripe: Arc<dyn StripeApi>,
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
    /// Where money and dispute alerts go.
    pub admin_email: String,
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
    /// A Stripe API call failed.
    #[error(transparent)]
    Stripe(#[from] StripeApiError),
    /// Stripe answered with an object we cannot read.
    #[error("unreadable Stripe object: {0}")]
    StripeObject(String),
    /// Neither the table nor Stripe maps the customer to a user (failure recorded, alerted).
    #[error("unknown Stripe customer")]
    UnknownCustomer,
    /// The event names an order we do not have (failure recorded).
    #[error("order not found")]
    OrderNotFound,
    /// Concurrent deliveries kept changing the order; Stripe retries.
    #[error("order changed concurrently")]
    OrderContention,
    /// Another delivery is queuing the same email right now.
    #[error("email job being queued by another delivery")]
    EmailInFlight,
}

impl Classify for EffectError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Store(e) | Self::Queue(e) => e.class(),
            Self::Stripe(e) => e.class(),
            Self::StripeObject(_)
            | Self::UnknownCustomer
            | Self::OrderNotFound
            | Self::OrderContention
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
        StripeEvent::PaymentSucceeded(p) => orders::payment_succeeded(ctx, envelope, p).await?,
        StripeEvent::UnknownRole(u) => orders::unknown_role(ctx, envelope, u).await?,
        StripeEvent::PaymentFailed(p) => orders::payment_failed(ctx, envelope, p).await?,
        StripeEvent::Refund(r) => orders::refund(ctx, envelope, r).await?,
        StripeEvent::Dispute(d) => orders::dispute(ctx, envelope, d).await?,
        StripeEvent::Subscription(s) => subscriptions::subscription(ctx, envelope, s).await?,
        StripeEvent::Invoice(i) => subscriptions::invoice(ctx, envelope, i).await?,
        StripeEvent::NoEffect(_) | StripeEvent::Unhandled => return Ok(Outcome::NoEffect),
    }
    Ok(Outcome::Done)
}

/// Records (or counts again) a failure of this event for an operator.
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

/// Minor units for an email (amounts are validated non-negative when parsed; a negative
/// difference is nothing left to pay).
fn cents(amount: i64) -> u64 {
    u64::try_from(amount).unwrap_or(0)
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
