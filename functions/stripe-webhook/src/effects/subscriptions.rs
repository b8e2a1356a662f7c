//! Subscription and invoice effects. Subscription events are ordered by their `created`
//! second; where that cannot decide (two events of the same second, or an invoice event,
//! which says nothing reliable about the subscription's status), the subscription is read
//! from the Stripe API and that state is stored, ranked above every event of its second.

use shared::email_job::{self, Email, EmailJob};
use shared::metrics::Metric;
use shared::telemetry::CorrelationId;

use super::{EffectContext, EffectError, cents, queue_once, record_failure};
use crate::billing::{AUTHORITATIVE_RANK, Applied, CustomerLink, Subscription};
use crate::event::{
    self, Envelope, InvoiceChange, InvoiceEventKind, SubscriptionChange, SubscriptionEventKind,
};

/// The user of a Stripe customer: the table, else Stripe (then cached in the table).
async fn resolve_user(
    ctx: &EffectContext,
    envelope: &Envelope,
    customer: &str,
) -> Result<String, EffectError> {
    if let Some(link) = ctx.ports.billing.customer(customer).await? {
        return Ok(link.user_id);
    }
    if let Some(user_id) = ctx.ports.stripe.customer_user_id(customer).await? {
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
    ctx.metrics.incr(Metric::StripeUnknownCustomer);
    tracing::error!(event_id = %envelope.id, customer, "Stripe customer maps to no user; Stripe will retry");
    Err(EffectError::UnknownCustomer)
}

/// Stores `s` as the state of its subscription at (`created`, `rank`).
async fn store(
    ctx: &EffectContext,
    envelope: &Envelope,
    s: &SubscriptionChange,
    rank: u8,
) -> Result<Applied, EffectError> {
    let user_id = resolve_user(ctx, envelope, &s.customer).await?;
    Ok(ctx
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
            event_rank: rank,
        })
        .await?)
}

/// Reads the subscription from Stripe and stores what Stripe says, ranked above every event
/// of `envelope.created`'s second. Unknown to Stripe: nothing to store.
async fn refresh(
    ctx: &EffectContext,
    envelope: &Envelope,
    subscription_id: &str,
) -> Result<(), EffectError> {
    let Some(object) = ctx.ports.stripe.subscription(subscription_id).await? else {
        tracing::warn!(event_id = %envelope.id, "Stripe does not know the subscription; nothing stored");
        return Ok(());
    };
    let state = event::subscription_state(&object, SubscriptionEventKind::Updated)
        .map_err(|e| EffectError::StripeObject(e.0))?;
    store(ctx, envelope, &state, AUTHORITATIVE_RANK).await?;
    Ok(())
}

pub(super) async fn subscription(
    ctx: &EffectContext,
    envelope: &Envelope,
    s: &SubscriptionChange,
) -> Result<(), EffectError> {
    let same_second = |stored: &Option<Subscription>| {
        stored
            .as_ref()
            .is_some_and(|st| st.status != "canceled" && st.event_created == envelope.created)
    };
    let billing = &ctx.ports.billing;
    if same_second(&billing.subscription(&s.subscription_id).await?) {
        return refresh(ctx, envelope, &s.subscription_id).await;
    }
    if store(ctx, envelope, s, s.kind.rank()).await? == Applied::Unchanged {
        // Refused: newer state is stored, or an event of this second landed meanwhile.
        if same_second(&billing.subscription(&s.subscription_id).await?) {
            return refresh(ctx, envelope, &s.subscription_id).await;
        }
        tracing::info!(event_id = %envelope.id, "newer subscription state already stored");
    }
    Ok(())
}

pub(super) async fn invoice(
    ctx: &EffectContext,
    envelope: &Envelope,
    i: &InvoiceChange,
) -> Result<(), EffectError> {
    if i.kind == InvoiceEventKind::PaymentFailed {
        payment_failed_email(ctx, envelope, i).await?;
    }
    match &i.subscription_id {
        Some(sub) => refresh(ctx, envelope, sub).await,
        None => Ok(()),
    }
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
