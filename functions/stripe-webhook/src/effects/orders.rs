//! Order effects: payments, unknown roles, payment failures, refunds and disputes. Each one
//! adds a fact to the order's ledger with a compare-and-set on the order's version (so
//! concurrent deliveries never lose an update), then queues its emails once.

use shared::email_job::{
    BillingAlert, DepositConfirmation, Email, EmailJob, OrderConfirmation, RefundNotice,
};
use shared::metrics::Metric;
use shared::telemetry::CorrelationId;

use super::{EffectContext, EffectError, cents, queue_once, record_failure};
use crate::billing::{Applied, Order, Payment};
use crate::event::{
    DisputeChange, Envelope, PaymentFailed, PaymentRole, PaymentSucceeded, RefundChange,
    UnknownRole,
};
use crate::ledger::{Anomaly, DisputeLine, PaymentLine, RefundLine};

/// Compare-and-set attempts on one order before Stripe is asked to retry.
const CAS_ATTEMPTS: u32 = 8;

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

/// Applies `change` to the stored order with a compare-and-set on its version, reading again
/// when another delivery got there first. Returns the order after it and whether this call
/// changed it (`change` returns `None` when its fact is already recorded).
async fn update_order(
    ctx: &EffectContext,
    envelope: &Envelope,
    order_id: &str,
    change: impl Fn(&Order) -> Option<Order>,
) -> Result<(Order, bool), EffectError> {
    for _ in 0..CAS_ATTEMPTS {
        let order = load_order(ctx, envelope, order_id).await?;
        let Some(next) = change(&order) else {
            return Ok((order, false));
        };
        if ctx.ports.billing.save_order(order.version, &next).await? == Applied::Changed {
            return Ok((next, true));
        }
    }
    Err(EffectError::OrderContention)
}

/// The order a refund or dispute concerns: its metadata, else the recorded payment.
async fn order_of(
    ctx: &EffectContext,
    envelope: &Envelope,
    order_id: Option<&str>,
    payment_intent: Option<&str>,
) -> Result<String, EffectError> {
    if let Some(id) = order_id {
        return Ok(id.to_owned());
    }
    if let Some(pi) = payment_intent
        && let Some(payment) = ctx.ports.billing.payment(pi).await?
    {
        return Ok(payment.order_id);
    }
    // The payment may not be processed yet: record, and let Stripe retry.
    record_failure(
        ctx,
        envelope,
        "order_not_found",
        payment_intent.unwrap_or("-"),
    )
    .await?;
    Err(EffectError::OrderNotFound)
}

/// An alert for the administrator: an error log and one email per `key`.
async fn alert(
    ctx: &EffectContext,
    envelope: &Envelope,
    key: &str,
    order_id: &str,
    kind: &str,
    detail: String,
) -> Result<(), EffectError> {
    tracing::error!(event_id = %envelope.id, alert = key, kind, "billing alert");
    let email = Email::BillingAlert(BillingAlert {
        kind: kind.to_owned(),
        order_id: order_id.to_owned(),
        event_id: envelope.id.clone(),
        detail,
    });
    let job = EmailJob::new(
        format!("billing-alert#{key}"),
        email,
        &ctx.admin_email,
        CorrelationId::from_upstream(&envelope.id),
        ctx.clock.now(),
    );
    queue_once(ctx, &job).await
}

pub(super) async fn payment_succeeded(
    ctx: &EffectContext,
    envelope: &Envelope,
    p: &PaymentSucceeded,
) -> Result<(), EffectError> {
    let payment = Payment {
        payment_intent: p.payment_intent.clone(),
        order_id: p.order_id.clone(),
        amount_cents: p.amount_cents,
        currency: p.currency.clone(),
        kind: p.role.as_str().to_owned(),
        event_id: envelope.id.clone(),
    };
    let line = PaymentLine {
        amount_cents: p.amount_cents,
        currency: p.currency.clone(),
        role: p.role.as_str().to_owned(),
    };
    // The payment record and the order are separate items and both writes are idempotent (a
    // retry finds either done): one wait for both.
    let (recorded, updated) = tokio::join!(
        ctx.ports.billing.record_payment(&payment),
        update_order(ctx, envelope, &p.order_id, |o| {
            o.with_payment(&p.payment_intent, line.clone())
        })
    );
    recorded?;
    let (order, changed) = updated?;
    for anomaly in order.anomalies() {
        let mine = match &anomaly {
            Anomaly::CurrencyMismatch { payment_intent, .. } => *payment_intent == p.payment_intent,
            Anomaly::Overpaid { .. } => true,
        };
        if !mine {
            continue;
        }
        if changed {
            ctx.metrics.incr(Metric::StripeMoneyAnomaly);
        }
        let key = format!("money#{}#{}", order.id, anomaly.key());
        let detail = anomaly.describe(&order);
        alert(ctx, envelope, &key, &order.id, "money anomaly", detail).await?;
    }
    if p.role == PaymentRole::Deposit && p.currency == order.currency {
        queue_once(ctx, &deposit_confirmation(ctx, envelope, &order, p)).await?;
    }
    if order.fully_paid() {
        queue_once(ctx, &order_confirmation(ctx, envelope, &order)).await?;
    }
    Ok(())
}

fn deposit_confirmation(
    ctx: &EffectContext,
    envelope: &Envelope,
    order: &Order,
    p: &PaymentSucceeded,
) -> EmailJob {
    EmailJob::new(
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
    )
}

fn order_confirmation(ctx: &EffectContext, envelope: &Envelope, order: &Order) -> EmailJob {
    EmailJob::new(
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
    )
}

/// A payment whose role we do not know: stored with the event, counted, alerted; the order
/// is not touched (a person decides what it pays).
pub(super) async fn unknown_role(
    ctx: &EffectContext,
    envelope: &Envelope,
    u: &UnknownRole,
) -> Result<(), EffectError> {
    let subject = format!("{}:{}:{}", u.order_id, u.payment_intent, u.role);
    record_failure(ctx, envelope, "unknown_payment_role", &subject).await?;
    ctx.metrics.incr(Metric::StripeUnknownPaymentRole);
    let key = format!("unknown-role#{}", u.payment_intent);
    let detail = format!(
        "payment {} for order {} has payment_type/payment_kind {:?}; the order was not changed",
        u.payment_intent, u.order_id, u.role
    );
    alert(
        ctx,
        envelope,
        &key,
        &u.order_id,
        "unknown payment role",
        detail,
    )
    .await
}

pub(super) async fn payment_failed(
    ctx: &EffectContext,
    envelope: &Envelope,
    p: &PaymentFailed,
) -> Result<(), EffectError> {
    update_order(ctx, envelope, &p.order_id, |o| {
        o.with_failure(&p.payment_intent, &p.reason)
    })
    .await?;
    Ok(())
}

pub(super) async fn refund(
    ctx: &EffectContext,
    envelope: &Envelope,
    r: &RefundChange,
) -> Result<(), EffectError> {
    let order_id = order_of(
        ctx,
        envelope,
        r.order_id.as_deref(),
        r.payment_intent.as_deref(),
    )
    .await?;
    let line = RefundLine {
        payment_intent: r.payment_intent.clone(),
        refunded_cents: r.refunded_cents,
        currency: r.currency.clone(),
    };
    let (order, _) = update_order(ctx, envelope, &order_id, |o| {
        o.with_refund(&r.charge, line.clone())
    })
    .await?;
    // One email per refund: the cumulative amount names it (it only grows).
    let job = EmailJob::new(
        format!("refund-notice#{}#{}", r.charge, r.refunded_cents),
        Email::RefundNotice(RefundNotice {
            order_id: order.id.clone(),
            refunded_cents: cents(r.refunded_cents),
            charge_cents: cents(r.charge_cents),
            currency: r.currency.clone(),
            customer_name: order.customer_name.clone(),
        }),
        &order.customer_email,
        CorrelationId::from_upstream(&envelope.id),
        ctx.clock.now(),
    );
    queue_once(ctx, &job).await
}

pub(super) async fn dispute(
    ctx: &EffectContext,
    envelope: &Envelope,
    d: &DisputeChange,
) -> Result<(), EffectError> {
    let order_id = order_of(
        ctx,
        envelope,
        d.order_id.as_deref(),
        d.payment_intent.as_deref(),
    )
    .await?;
    let line = DisputeLine {
        status: d.status.clone(),
        closed: d.closed,
    };
    let (order, changed) = update_order(ctx, envelope, &order_id, |o| {
        o.with_dispute(&d.dispute, line.clone())
    })
    .await?;
    if changed {
        ctx.metrics.incr(Metric::StripeDispute);
    }
    let phase = if d.closed { "closed" } else { "opened" };
    let key = format!("dispute#{}#{phase}", d.dispute);
    let detail = format!(
        "dispute {} on order {} {phase}: {} {} ({}), status {}",
        d.dispute, order.id, d.amount_cents, d.currency, d.reason, d.status
    );
    alert(ctx, envelope, &key, &order.id, "dispute", detail).await
}
