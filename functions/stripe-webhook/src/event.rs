//! Tolerant parsing of Stripe events: an envelope (id, type, created, api_version, livemode,
//! data.object) and, per handled type, only the fields the effects use. Unknown fields are
//! ignored, so API-version drift does not break us; a handled event missing a field we need is
//! a [`ParseError`] (stored raw for replay by the handler).

use serde::Deserialize;
use serde_json::Value;

/// Why an authentic event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn missing(field: &str) -> ParseError {
    ParseError(format!("missing or invalid field {field}"))
}

/// The part every Stripe event shares.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// `evt_...`.
    pub id: String,
    /// e.g. `invoice.paid`.
    pub event_type: String,
    /// When Stripe created the event (Unix seconds); orders out-of-order deliveries.
    pub created: i64,
    /// API version the payload is rendered in.
    pub api_version: Option<String>,
    /// Live or test mode.
    pub livemode: bool,
    /// `data.object`, read field by field later.
    pub object: Value,
}

#[derive(Deserialize)]
struct RawEnvelope {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    created: i64,
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    livemode: bool,
    data: RawData,
}

#[derive(Deserialize)]
struct RawData {
    object: Value,
}

/// Parses the envelope; unknown fields are ignored.
pub fn parse_envelope(body: &[u8]) -> Result<Envelope, ParseError> {
    let raw: RawEnvelope =
        serde_json::from_slice(body).map_err(|e| ParseError(format!("envelope: {e}")))?;
    if raw.id.is_empty() || raw.id.len() > 255 || !raw.data.object.is_object() {
        return Err(ParseError("envelope: bad id or data.object".into()));
    }
    Ok(Envelope {
        id: raw.id,
        event_type: raw.event_type,
        created: raw.created,
        api_version: raw.api_version,
        livemode: raw.livemode,
        object: raw.data.object,
    })
}

/// Best effort: the `id` of a body whose envelope did not parse (to key the stored record).
pub fn sniff_id(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let id = v.get("id")?.as_str()?;
    (!id.is_empty() && id.len() <= 255).then(|| id.to_owned())
}

/// Which part of an order a payment pays, from `metadata.payment_type` (the replaced system's
/// names) or `metadata.payment_kind` (ours). The amount, not the role, decides whether the
/// order is paid; the role picks the email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentRole {
    /// `full_payment` / `full`.
    Full,
    /// `deposit`.
    Deposit,
    /// `final_payment` / `balance`: the rest after a deposit.
    Balance,
    /// No role in the metadata: the amount decides, like a full payment.
    Unspecified,
}

impl PaymentRole {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Deposit => "deposit",
            Self::Balance => "balance",
            Self::Unspecified => "unspecified",
        }
    }

    /// Reads a role name in either naming scheme.
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "full_payment" | "full" => Some(Self::Full),
            "deposit" => Some(Self::Deposit),
            "final_payment" | "balance" => Some(Self::Balance),
            _ => None,
        }
    }
}

/// An order payment that succeeded (`checkout.session.completed`, `payment_intent.succeeded`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSucceeded {
    /// Our order id (`metadata.order_id`, or the session's `client_reference_id`).
    pub order_id: String,
    /// The payment intent (one payment record per intent).
    pub payment_intent: String,
    /// Amount received, in the currency's minor unit.
    pub amount_cents: i64,
    /// ISO currency, lower case.
    pub currency: String,
    /// Deposit, balance, full or unspecified.
    pub role: PaymentRole,
}

/// A payment whose metadata names a role we do not know: stored, counted, alerted, the order
/// left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRole {
    /// Our order id.
    pub order_id: String,
    /// The payment intent.
    pub payment_intent: String,
    /// The role as sent (truncated).
    pub role: String,
}

/// `payment_intent.payment_failed` for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentFailed {
    /// Our order id.
    pub order_id: String,
    /// The payment intent.
    pub payment_intent: String,
    /// Stripe's decline code or error code, if any (no message text: it may echo input).
    pub reason: String,
}

/// `charge.refunded`: the charge's cumulative refunded amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundChange {
    /// `ch_...`.
    pub charge: String,
    /// The payment intent charged (finds the order through its payment record).
    pub payment_intent: Option<String>,
    /// `metadata.order_id` of the charge, when set.
    pub order_id: Option<String>,
    /// Refunded so far on this charge (cumulative, only grows), minor unit.
    pub refunded_cents: i64,
    /// What the charge paid, minor unit.
    pub charge_cents: i64,
    /// ISO currency, lower case.
    pub currency: String,
}

/// `charge.dispute.created` / `charge.dispute.closed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeChange {
    /// `dp_...`.
    pub dispute: String,
    /// The disputed payment intent.
    pub payment_intent: Option<String>,
    /// `metadata.order_id` of the dispute, when set.
    pub order_id: Option<String>,
    /// Disputed amount, minor unit.
    pub amount_cents: i64,
    /// ISO currency, lower case.
    pub currency: String,
    /// Stripe status (`needs_response`, `won`, `lost`, ...).
    pub status: String,
    /// Stripe's reason code (`fraudulent`, ...).
    pub reason: String,
    /// `charge.dispute.closed`.
    pub closed: bool,
}

/// Which subscription event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionEventKind {
    /// `customer.subscription.created`.
    Created,
    /// `customer.subscription.updated`.
    Updated,
    /// `customer.subscription.deleted`.
    Deleted,
}

impl SubscriptionEventKind {
    /// Tie-break between events created in the same second: created < updated < deleted.
    pub fn rank(self) -> u8 {
        match self {
            Self::Created => 0,
            Self::Updated => 1,
            Self::Deleted => 2,
        }
    }
}

/// A subscription as a subscription event shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionChange {
    /// Which event.
    pub kind: SubscriptionEventKind,
    /// `sub_...`.
    pub subscription_id: String,
    /// `cus_...`.
    pub customer: String,
    /// Stripe status (`active`, `past_due`, `canceled`, ...); `canceled` for deletions.
    pub status: String,
    /// Period start (items in new API versions, the subscription in old ones).
    pub current_period_start: Option<i64>,
    /// Period end.
    pub current_period_end: Option<i64>,
    /// Whether it ends at the period end.
    pub cancel_at_period_end: bool,
}

/// Which invoice event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceEventKind {
    /// `invoice.paid`.
    Paid,
    /// `invoice.payment_failed`.
    PaymentFailed,
}

/// An invoice event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceChange {
    /// Which event.
    pub kind: InvoiceEventKind,
    /// `in_...`.
    pub invoice_id: String,
    /// `cus_...`.
    pub customer: Option<String>,
    /// The subscription billed (old `subscription`, or `parent.subscription_details`).
    pub subscription_id: Option<String>,
    /// Payment attempts so far (keys the payment-failed email).
    pub attempt_count: u32,
    /// Amount due (failed) or paid, minor unit.
    pub amount_cents: i64,
    /// ISO currency, lower case.
    pub currency: String,
    /// Billing email on the invoice.
    pub customer_email: Option<String>,
    /// Billing name on the invoice.
    pub customer_name: Option<String>,
}

/// A handled event, reduced to what the effects need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeEvent {
    /// An order payment succeeded.
    PaymentSucceeded(PaymentSucceeded),
    /// An order payment succeeded with a role we do not know.
    UnknownRole(UnknownRole),
    /// An order payment failed.
    PaymentFailed(PaymentFailed),
    /// A charge was refunded (fully or partly).
    Refund(RefundChange),
    /// A dispute was opened or closed.
    Dispute(DisputeChange),
    /// A subscription changed.
    Subscription(SubscriptionChange),
    /// An invoice was paid or failed.
    Invoice(InvoiceChange),
    /// Authentic and well-formed, but nothing for us to do (reason for logs).
    NoEffect(&'static str),
    /// A type we do not handle.
    Unhandled,
}

/// Reads the fields one event type's effects use from `data.object`.
type Extractor = fn(&Value) -> Result<StripeEvent, ParseError>;

/// Every event type with an effect and its reader: the one list the parser, the README
/// check and the local stack's samples use.
pub const HANDLED: [(&str, Extractor); 11] = [
    ("checkout.session.completed", checkout_completed),
    ("payment_intent.succeeded", payment_intent_succeeded),
    ("payment_intent.payment_failed", payment_intent_failed),
    ("charge.refunded", charge_refunded),
    ("charge.dispute.created", dispute_created),
    ("charge.dispute.closed", dispute_closed),
    ("customer.subscription.created", subscription_created),
    ("customer.subscription.updated", subscription_updated),
    ("customer.subscription.deleted", subscription_deleted),
    ("invoice.paid", invoice_paid),
    ("invoice.payment_failed", invoice_payment_failed),
];

/// The handled event types, in [`HANDLED`] order.
pub fn handled_types() -> impl Iterator<Item = &'static str> {
    HANDLED.iter().map(|(name, _)| *name)
}

/// Reads the fields the effects of `envelope`'s type use.
pub fn extract(envelope: &Envelope) -> Result<StripeEvent, ParseError> {
    HANDLED
        .iter()
        .find(|(name, _)| *name == envelope.event_type)
        .map_or(Ok(StripeEvent::Unhandled), |(_, read)| {
            read(&envelope.object)
        })
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str().filter(|s| !s.is_empty())
}

/// An expandable reference: a string id, or an expanded object with an `id`.
fn id_at(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(map) => map.get("id")?.as_str().map(str::to_owned),
        _ => None,
    }
}

fn int_at(v: &Value, key: &str) -> Option<i64> {
    v.get(key)?.as_i64()
}

fn required_str(v: &Value, path: &[&str]) -> Result<String, ParseError> {
    str_at(v, path)
        .map(str::to_owned)
        .ok_or_else(|| missing(&path.join(".")))
}

fn amount(v: &Value, key: &str) -> Result<i64, ParseError> {
    int_at(v, key)
        .filter(|a| *a >= 0)
        .ok_or_else(|| missing(key))
}

fn currency(v: &Value) -> Result<String, ParseError> {
    Ok(required_str(v, &["currency"])?.to_ascii_lowercase())
}

/// The role in the metadata: `Ok(role)`, or `Err(raw)` for a name we do not know (or the two
/// keys disagreeing).
fn payment_role(o: &Value) -> Result<PaymentRole, String> {
    let theirs = str_at(o, &["metadata", "payment_type"]);
    let ours = str_at(o, &["metadata", "payment_kind"]);
    let read =
        |raw: &str| PaymentRole::parse(raw).ok_or_else(|| raw.chars().take(64).collect::<String>());
    match (theirs.map(read).transpose()?, ours.map(read).transpose()?) {
        (Some(a), Some(b)) if a != b => Err(format!("{}/{}", a.as_str(), b.as_str())),
        (Some(role), _) | (None, Some(role)) => Ok(role),
        (None, None) => Ok(PaymentRole::Unspecified),
    }
}

fn payment(
    o: &Value,
    order_id: &str,
    payment_intent: String,
    amount_cents: i64,
) -> Result<StripeEvent, ParseError> {
    let currency = currency(o)?;
    Ok(match payment_role(o) {
        Ok(role) => StripeEvent::PaymentSucceeded(PaymentSucceeded {
            order_id: order_id.to_owned(),
            payment_intent,
            amount_cents,
            currency,
            role,
        }),
        Err(role) => StripeEvent::UnknownRole(UnknownRole {
            order_id: order_id.to_owned(),
            payment_intent,
            role,
        }),
    })
}

fn checkout_completed(o: &Value) -> Result<StripeEvent, ParseError> {
    let order_id =
        str_at(o, &["metadata", "order_id"]).or_else(|| str_at(o, &["client_reference_id"]));
    let Some(order_id) = order_id else {
        return Ok(StripeEvent::NoEffect("checkout session without an order"));
    };
    match str_at(o, &["payment_status"]) {
        Some("paid") => {}
        Some(_) => return Ok(StripeEvent::NoEffect("checkout session not paid yet")),
        None => return Err(missing("payment_status")),
    }
    let payment_intent = id_at(o, "payment_intent").ok_or_else(|| missing("payment_intent"))?;
    payment(o, order_id, payment_intent, amount(o, "amount_total")?)
}

fn payment_intent_succeeded(o: &Value) -> Result<StripeEvent, ParseError> {
    let Some(order_id) = str_at(o, &["metadata", "order_id"]) else {
        return Ok(StripeEvent::NoEffect("payment intent without an order"));
    };
    let amount_cents = int_at(o, "amount_received")
        .filter(|a| *a > 0)
        .map_or_else(|| amount(o, "amount"), Ok)?;
    payment(o, order_id, required_str(o, &["id"])?, amount_cents)
}

fn payment_intent_failed(o: &Value) -> Result<StripeEvent, ParseError> {
    let Some(order_id) = str_at(o, &["metadata", "order_id"]) else {
        return Ok(StripeEvent::NoEffect("payment intent without an order"));
    };
    let reason = str_at(o, &["last_payment_error", "decline_code"])
        .or_else(|| str_at(o, &["last_payment_error", "code"]))
        .unwrap_or("payment_failed");
    Ok(StripeEvent::PaymentFailed(PaymentFailed {
        order_id: order_id.to_owned(),
        payment_intent: required_str(o, &["id"])?,
        reason: reason.chars().take(64).collect(),
    }))
}

fn charge_refunded(o: &Value) -> Result<StripeEvent, ParseError> {
    Ok(StripeEvent::Refund(RefundChange {
        charge: required_str(o, &["id"])?,
        payment_intent: id_at(o, "payment_intent"),
        order_id: str_at(o, &["metadata", "order_id"]).map(str::to_owned),
        refunded_cents: amount(o, "amount_refunded")?,
        charge_cents: amount(o, "amount")?,
        currency: currency(o)?,
    }))
}

fn dispute(o: &Value, closed: bool) -> Result<StripeEvent, ParseError> {
    Ok(StripeEvent::Dispute(DisputeChange {
        dispute: required_str(o, &["id"])?,
        payment_intent: id_at(o, "payment_intent"),
        order_id: str_at(o, &["metadata", "order_id"]).map(str::to_owned),
        amount_cents: amount(o, "amount")?,
        currency: currency(o)?,
        status: required_str(o, &["status"])?.chars().take(32).collect(),
        reason: str_at(o, &["reason"])
            .unwrap_or("unknown")
            .chars()
            .take(32)
            .collect(),
        closed,
    }))
}

fn dispute_created(o: &Value) -> Result<StripeEvent, ParseError> {
    dispute(o, false)
}

fn dispute_closed(o: &Value) -> Result<StripeEvent, ParseError> {
    dispute(o, true)
}

/// The subscription fields of a subscription object (also what the Stripe API returns).
pub fn subscription_state(
    o: &Value,
    kind: SubscriptionEventKind,
) -> Result<SubscriptionChange, ParseError> {
    let first_item = o
        .get("items")
        .and_then(|i| i.get("data"))
        .and_then(|d| d.get(0));
    let period = |key: &str| {
        first_item
            .and_then(|item| int_at(item, key))
            .or_else(|| int_at(o, key))
    };
    let status = match kind {
        SubscriptionEventKind::Deleted => "canceled".to_owned(),
        _ => required_str(o, &["status"])?,
    };
    Ok(SubscriptionChange {
        kind,
        subscription_id: required_str(o, &["id"])?,
        customer: id_at(o, "customer").ok_or_else(|| missing("customer"))?,
        status,
        current_period_start: period("current_period_start"),
        current_period_end: period("current_period_end"),
        cancel_at_period_end: o
            .get("cancel_at_period_end")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

fn subscription_created(o: &Value) -> Result<StripeEvent, ParseError> {
    subscription_state(o, SubscriptionEventKind::Created).map(StripeEvent::Subscription)
}

fn subscription_updated(o: &Value) -> Result<StripeEvent, ParseError> {
    subscription_state(o, SubscriptionEventKind::Updated).map(StripeEvent::Subscription)
}

fn subscription_deleted(o: &Value) -> Result<StripeEvent, ParseError> {
    subscription_state(o, SubscriptionEventKind::Deleted).map(StripeEvent::Subscription)
}

fn invoice_paid(o: &Value) -> Result<StripeEvent, ParseError> {
    invoice(o, InvoiceEventKind::Paid)
}

fn invoice_payment_failed(o: &Value) -> Result<StripeEvent, ParseError> {
    invoice(o, InvoiceEventKind::PaymentFailed)
}

fn invoice(o: &Value, kind: InvoiceEventKind) -> Result<StripeEvent, ParseError> {
    let subscription_id = id_at(o, "subscription").or_else(|| {
        o.get("parent")
            .and_then(|p| p.get("subscription_details"))
            .and_then(|d| id_at(d, "subscription"))
    });
    let amount_key = match kind {
        InvoiceEventKind::Paid => "amount_paid",
        InvoiceEventKind::PaymentFailed => "amount_due",
    };
    let attempt_count = int_at(o, "attempt_count")
        .and_then(|a| u32::try_from(a).ok())
        .ok_or_else(|| missing("attempt_count"))?;
    Ok(StripeEvent::Invoice(InvoiceChange {
        kind,
        invoice_id: required_str(o, &["id"])?,
        customer: id_at(o, "customer"),
        subscription_id,
        attempt_count,
        amount_cents: amount(o, amount_key)?,
        currency: currency(o)?,
        customer_email: str_at(o, &["customer_email"]).map(str::to_owned),
        customer_name: str_at(o, &["customer_name"]).map(str::to_owned),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(event_type: &str, object: Value) -> Envelope {
        let body = json!({
            "id": "evt_1", "object": "event", "type": event_type, "created": 1_767_225_600,
            "api_version": "2025-03-31.basil", "livemode": false, "pending_webhooks": 1,
            "request": {"id": null}, "data": {"object": object}, "brand_new_field": {"x": 1}
        });
        parse_envelope(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn envelope_ignores_unknown_fields_and_rejects_garbage() {
        let e = envelope("invoice.paid", json!({"id": "in_1"}));
        assert_eq!(e.id, "evt_1");
        assert_eq!(e.created, 1_767_225_600);
        assert_eq!(e.api_version.as_deref(), Some("2025-03-31.basil"));
        assert!(parse_envelope(b"{}").is_err());
        assert!(parse_envelope(b"not json").is_err());
        assert!(
            parse_envelope(
                br#"{"id":"evt_1","type":"x","created":"yesterday","data":{"object":{}}}"#
            )
            .is_err()
        );
        assert!(
            parse_envelope(br#"{"id":"evt_1","type":"x","created":1,"data":{"object":[]}}"#)
                .is_err()
        );
        assert_eq!(
            sniff_id(br#"{"id":"evt_9","type":3}"#).as_deref(),
            Some("evt_9")
        );
    }

    #[test]
    fn checkout_session_reads_order_intent_amount_and_kind() {
        let e = envelope(
            "checkout.session.completed",
            json!({"id": "cs_1", "payment_status": "paid", "amount_total": 5000, "currency": "USD",
                   "payment_intent": {"id": "pi_1", "object": "payment_intent"},
                   "client_reference_id": "ord_1", "metadata": {"payment_kind": "deposit"}}),
        );
        assert_eq!(
            extract(&e).unwrap(),
            StripeEvent::PaymentSucceeded(PaymentSucceeded {
                order_id: "ord_1".into(),
                payment_intent: "pi_1".into(),
                amount_cents: 5000,
                currency: "usd".into(),
                role: PaymentRole::Deposit,
            })
        );
        let unpaid = envelope(
            "checkout.session.completed",
            json!({"payment_status": "unpaid", "metadata": {"order_id": "o"}}),
        );
        assert!(matches!(
            extract(&unpaid).unwrap(),
            StripeEvent::NoEffect(_)
        ));
        let bad_kind = envelope(
            "checkout.session.completed",
            json!({"payment_status": "paid", "amount_total": 1, "currency": "usd", "payment_intent": "pi",
                   "metadata": {"order_id": "o", "payment_kind": "tip"}}),
        );
        assert_eq!(
            extract(&bad_kind).unwrap(),
            StripeEvent::UnknownRole(UnknownRole {
                order_id: "o".into(),
                payment_intent: "pi".into(),
                role: "tip".into(),
            })
        );
    }

    #[test]
    fn subscription_periods_come_from_items_then_the_subscription() {
        let new_api = envelope(
            "customer.subscription.updated",
            json!({"id": "sub_1", "customer": "cus_1", "status": "active",
                   "items": {"data": [{"current_period_start": 10, "current_period_end": 20}]}}),
        );
        let StripeEvent::Subscription(s) = extract(&new_api).unwrap() else {
            panic!()
        };
        assert_eq!(
            (s.current_period_start, s.current_period_end),
            (Some(10), Some(20))
        );
        let old_api = envelope(
            "customer.subscription.deleted",
            json!({"id": "sub_1", "customer": {"id": "cus_1"}, "status": "active",
                   "current_period_start": 1, "current_period_end": 2, "items": {"data": []}}),
        );
        let StripeEvent::Subscription(s) = extract(&old_api).unwrap() else {
            panic!()
        };
        assert_eq!(
            (s.current_period_start, s.current_period_end),
            (Some(1), Some(2))
        );
        assert_eq!(s.status, "canceled");
        assert_eq!(s.customer, "cus_1");
        let no_customer = envelope(
            "customer.subscription.created",
            json!({"id": "sub_1", "status": "active"}),
        );
        assert_eq!(extract(&no_customer), Err(missing("customer")));
    }

    #[test]
    fn roles_are_read_in_both_naming_schemes() {
        let role = |metadata: Value| {
            let e = envelope(
                "payment_intent.succeeded",
                json!({"id": "pi_1", "amount": 5001, "currency": "usd", "metadata": metadata}),
            );
            match extract(&e).unwrap() {
                StripeEvent::PaymentSucceeded(p) => Ok(p.role),
                StripeEvent::UnknownRole(u) => Err(u.role),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            role(json!({"order_id": "o", "payment_type": "deposit"})),
            Ok(PaymentRole::Deposit)
        );
        assert_eq!(
            role(json!({"order_id": "o", "payment_type": "full_payment"})),
            Ok(PaymentRole::Full)
        );
        assert_eq!(
            role(json!({"order_id": "o", "payment_type": "final_payment"})),
            Ok(PaymentRole::Balance)
        );
        assert_eq!(
            role(json!({"order_id": "o", "payment_kind": "balance"})),
            Ok(PaymentRole::Balance)
        );
        assert_eq!(role(json!({"order_id": "o"})), Ok(PaymentRole::Unspecified));
        assert_eq!(
            role(json!({"order_id": "o", "payment_type": "tip"})),
            Err("tip".into())
        );
        assert_eq!(
            role(json!({"order_id": "o", "payment_type": "deposit", "payment_kind": "full"})),
            Err("deposit/full".into())
        );
    }

    #[test]
    fn refunds_and_disputes_read_their_charge_and_intent() {
        let refund = envelope(
            "charge.refunded",
            json!({"id": "ch_1", "payment_intent": "pi_1", "amount": 5001, "amount_refunded": 2000,
                   "currency": "USD", "metadata": {"order_id": "ord_1"}, "refunded": false}),
        );
        assert_eq!(
            extract(&refund).unwrap(),
            StripeEvent::Refund(RefundChange {
                charge: "ch_1".into(),
                payment_intent: Some("pi_1".into()),
                order_id: Some("ord_1".into()),
                refunded_cents: 2000,
                charge_cents: 5001,
                currency: "usd".into(),
            })
        );
        let dispute = envelope(
            "charge.dispute.closed",
            json!({"id": "dp_1", "charge": "ch_1", "payment_intent": {"id": "pi_1"}, "amount": 5001,
                   "currency": "usd", "status": "lost", "reason": "fraudulent"}),
        );
        let StripeEvent::Dispute(d) = extract(&dispute).unwrap() else {
            panic!()
        };
        assert_eq!(
            (d.dispute.as_str(), d.payment_intent.as_deref(), d.closed),
            ("dp_1", Some("pi_1"), true)
        );
        assert_eq!(
            extract(&envelope("charge.refunded", json!({"id": "ch_1"}))),
            Err(missing("amount_refunded"))
        );
    }

    #[test]
    fn invoice_subscription_from_old_and_new_shapes() {
        let old = envelope(
            "invoice.payment_failed",
            json!({"id": "in_1", "customer": "cus_1", "subscription": "sub_1", "attempt_count": 2,
                   "amount_due": 900, "currency": "eur", "customer_email": "a@b.c"}),
        );
        let StripeEvent::Invoice(i) = extract(&old).unwrap() else {
            panic!()
        };
        assert_eq!(i.subscription_id.as_deref(), Some("sub_1"));
        assert_eq!((i.attempt_count, i.amount_cents), (2, 900));
        let new = envelope(
            "invoice.paid",
            json!({"id": "in_2", "customer": "cus_1", "attempt_count": 1, "amount_paid": 900, "currency": "eur",
                   "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_2"}}}),
        );
        let StripeEvent::Invoice(i) = extract(&new).unwrap() else {
            panic!()
        };
        assert_eq!(i.subscription_id.as_deref(), Some("sub_2"));
    }

    #[test]
    fn unknown_types_are_unhandled() {
        let e = envelope("charge.captured", json!({"id": "ch_1"}));
        assert_eq!(extract(&e).unwrap(), StripeEvent::Unhandled);
    }
}
