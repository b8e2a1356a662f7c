//! The email contract: what producers queue and the email worker delivers.
//!
//! [`Email`] has one variant per template, each with its typed data, so a producer cannot
//! forget a field and the renderer ([`crate::render`]) picks the template by the variant.
//! On the wire a job is the JSON the queue has always carried:
//! `{"id","template","to","data","critical","correlation_id","created_at"[,"not_after"]}`,
//! with `template` naming the variant (`order_confirmation`, `reminder_24h`, ...) and `data`
//! its fields; jobs queued before the typed contract decode unchanged.
//!
//! Adding an email: a variant here with its data struct (and its arm in
//! [`Email::template_name`], [`Email::is_critical`] and `Email::from_wire`), its two template
//! files in `shared/templates/`, and its arm in `crate::render`. The compiler points at every
//! one of those matches.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::telemetry::CorrelationId;

/// "You signed in" notice (`sign_in_notice`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInNotice {
    /// The user's name.
    pub name: String,
    /// The client address shown to the user.
    pub ip: String,
    /// When the sign-in happened.
    pub signed_in_at: DateTime<Utc>,
    /// IANA zone to show the time in (else the business zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// Order paid in full (`order_confirmation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmation {
    /// The order.
    pub order_id: String,
    /// What was paid, in minor units.
    pub amount_cents: u64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Addressee.
    pub customer_name: String,
}

/// Deposit paid, balance due (`deposit_confirmation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositConfirmation {
    /// The order.
    pub order_id: String,
    /// The deposit paid, in minor units.
    pub deposit_cents: u64,
    /// What is left to pay.
    pub balance_cents: u64,
    /// The order total.
    pub total_cents: u64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Addressee.
    pub customer_name: String,
}

/// A subscription payment failed (`payment_failed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFailed {
    /// The Stripe invoice.
    pub invoice_id: String,
    /// Stripe's attempt number (a number, or a string of digits in older jobs).
    #[serde(deserialize_with = "number_or_digits")]
    pub attempt: u32,
    /// Amount due, in minor units.
    pub amount_cents: u64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Addressee (may be empty).
    #[serde(default)]
    pub customer_name: String,
}

/// An appointment reminder (`reminder_<lead>`, e.g. `reminder_24h`, `reminder_1h`).
///
/// The lead is part of the template name on the wire, not of `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    /// How long before the start this reminder is due.
    #[serde(skip)]
    pub lead: Lead,
    /// The appointment.
    pub appointment_id: String,
    /// Addressee.
    pub customer_name: String,
    /// What was booked.
    pub service: String,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// IANA zone to show the time in (else the business zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Link to join, if any (must be http(s)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_link: Option<String>,
    /// The appointment's version when the reminder was made (bumped on reschedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// An email to the administrator about an email that failed for good (`admin_alert`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAlert {
    /// The job that failed.
    pub job_id: String,
    /// Its template name.
    pub template: String,
    /// Why it failed (log-safe).
    pub reason: String,
}

/// A reminder's lead time, in whole minutes (`24h`, `1h`, `30m` on the wire).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lead(u32);

impl Lead {
    /// A lead of `minutes`.
    pub const fn minutes(minutes: u32) -> Self {
        Self(minutes)
    }

    /// A lead of `hours`.
    pub const fn hours(hours: u32) -> Self {
        Self(hours * 60)
    }

    /// As a duration.
    pub fn duration(self) -> Duration {
        Duration::from_secs(u64::from(self.0) * 60)
    }

    /// Parses `24h` / `90m`.
    pub fn parse(text: &str) -> Option<Self> {
        let (number, unit) = text.split_at(text.len().checked_sub(1)?);
        let n: u32 = number.parse().ok().filter(|n| *n > 0)?;
        match unit {
            "h" => n.checked_mul(60).map(Self),
            "m" => Some(Self(n)),
            _ => None,
        }
    }
}

impl fmt::Display for Lead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(60) {
            write!(f, "{}h", self.0 / 60)
        } else {
            write!(f, "{}m", self.0)
        }
    }
}

/// Which email, with its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Email {
    /// "You signed in" notice.
    SignInNotice(SignInNotice),
    /// Order paid in full.
    OrderConfirmation(OrderConfirmation),
    /// Deposit paid, balance due.
    DepositConfirmation(DepositConfirmation),
    /// A subscription payment failed.
    PaymentFailed(PaymentFailed),
    /// An appointment reminder.
    Reminder(Reminder),
    /// An email failed for good (to the administrator).
    AdminAlert(AdminAlert),
}

impl Email {
    /// The template's wire name (`order_confirmation`, `reminder_24h`, ...).
    pub fn template_name(&self) -> Cow<'static, str> {
        match self {
            Self::SignInNotice(_) => "sign_in_notice".into(),
            Self::OrderConfirmation(_) => "order_confirmation".into(),
            Self::DepositConfirmation(_) => "deposit_confirmation".into(),
            Self::PaymentFailed(_) => "payment_failed".into(),
            Self::Reminder(r) => format!("{REMINDER_PREFIX}{}", r.lead).into(),
            Self::AdminAlert(_) => "admin_alert".into(),
        }
    }

    /// Whether a permanent failure of this email must alert the administrator.
    pub fn is_critical(&self) -> bool {
        match self {
            Self::OrderConfirmation(_)
            | Self::DepositConfirmation(_)
            | Self::PaymentFailed(_)
            | Self::Reminder(_) => true,
            Self::SignInNotice(_) | Self::AdminAlert(_) => false,
        }
    }

    fn data(&self) -> serde_json::Result<Value> {
        match self {
            Self::SignInNotice(d) => serde_json::to_value(d),
            Self::OrderConfirmation(d) => serde_json::to_value(d),
            Self::DepositConfirmation(d) => serde_json::to_value(d),
            Self::PaymentFailed(d) => serde_json::to_value(d),
            Self::Reminder(d) => serde_json::to_value(d),
            Self::AdminAlert(d) => serde_json::to_value(d),
        }
    }

    /// The email a wire `template` name and its `data` describe; `None` for a template this
    /// version does not know.
    fn from_wire(template: &str, data: Value) -> Option<Result<Self, String>> {
        fn typed<T: DeserializeOwned>(data: Value) -> Result<T, String> {
            serde_path_to_error::deserialize(data).map_err(|e| {
                let what = without_values(&e.inner().to_string());
                match e.path().to_string().as_str() {
                    "." => what,
                    path => format!("field `{path}`: {what}"),
                }
            })
        }
        Some(match template {
            "sign_in_notice" => typed(data).map(Self::SignInNotice),
            "order_confirmation" => typed(data).map(Self::OrderConfirmation),
            "deposit_confirmation" => typed(data).map(Self::DepositConfirmation),
            "payment_failed" => typed(data).map(Self::PaymentFailed),
            "admin_alert" => typed(data).map(Self::AdminAlert),
            other => {
                let lead = other.strip_prefix(REMINDER_PREFIX).and_then(Lead::parse)?;
                typed(data).map(|r| Self::Reminder(Reminder { lead, ..r }))
            }
        })
    }
}

const REMINDER_PREFIX: &str = "reminder_";

/// One email to deliver exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailJob {
    /// Deterministic id naming the thing the email is about (`order-confirmation#<order>`).
    pub id: String,
    /// The email and its data.
    pub email: Email,
    /// Recipient address.
    pub to: String,
    /// Whether a permanent failure alerts the administrator.
    pub critical: bool,
    /// Carried from the originating request or event to the SES message.
    pub correlation_id: CorrelationId,
    /// When the job was created.
    pub created_at: DateTime<Utc>,
    /// Never delivered after this instant (e.g. a reminder's appointment start).
    pub not_after: Option<DateTime<Utc>>,
}

impl EmailJob {
    /// A job for `email`; `critical` follows the email.
    ///
    /// `id` must name the thing the email is about (e.g. `order-confirmation#<order>`), so a
    /// second producer of the same email produces the same id and is deduplicated.
    pub fn new(
        id: impl Into<String>,
        email: Email,
        to: impl Into<String>,
        correlation_id: CorrelationId,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.into(),
            critical: email.is_critical(),
            email,
            to: to.into(),
            correlation_id,
            created_at,
            not_after: None,
        }
    }

    /// The same job, never delivered after `at`.
    pub fn not_after(mut self, at: DateTime<Utc>) -> Self {
        self.not_after = Some(at);
        self
    }

    /// The job's envelope (what is known even when its data is unusable).
    pub fn header(&self) -> JobHeader {
        JobHeader {
            id: self.id.clone(),
            template: self.email.template_name().into_owned(),
            critical: self.critical,
            correlation_id: self.correlation_id.clone(),
        }
    }

    /// Decodes a queued job. A body that is not a job, or names a template this version does
    /// not know (a newer producer's: it waits in the DLQ for the deploy), is an error for the
    /// dead-letter queue; a job whose data does not fit its template is
    /// [`DecodeError::InvalidData`], with its envelope so it can be failed for good.
    pub fn decode(body: &str) -> Result<Self, DecodeError> {
        Self::from_wire(serde_json::from_str(body).map_err(DecodeError::Malformed)?)
    }

    fn from_wire(wire: Wire) -> Result<Self, DecodeError> {
        match Email::from_wire(&wire.template, wire.data) {
            None => Err(DecodeError::UnknownTemplate(wire.template)),
            Some(Ok(email)) => Ok(Self {
                id: wire.id,
                email,
                to: wire.to,
                critical: wire.critical,
                correlation_id: wire.correlation_id,
                created_at: wire.created_at,
                not_after: wire.not_after,
            }),
            Some(Err(reason)) => Err(DecodeError::InvalidData {
                header: JobHeader {
                    id: wire.id,
                    template: wire.template,
                    critical: wire.critical,
                    correlation_id: wire.correlation_id,
                },
                reason,
            }),
        }
    }
}

/// What identifies a job, readable even when its data is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobHeader {
    /// The job id.
    pub id: String,
    /// Its template's wire name.
    pub template: String,
    /// Whether a permanent failure alerts the administrator.
    pub critical: bool,
    /// Its correlation id.
    pub correlation_id: CorrelationId,
}

/// Why a queued body is not a deliverable job.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not a job at all (no id, not JSON, ...): it belongs in the dead-letter queue.
    #[error("malformed email job: {0}")]
    Malformed(serde_json::Error),
    /// A template this version does not know: it belongs in the dead-letter queue.
    #[error("unknown email template `{0}`")]
    UnknownTemplate(String),
    /// A job whose data does not fit its template: a permanent failure of that job.
    #[error("{}: invalid data: {reason}", header.template)]
    InvalidData {
        /// The job's envelope.
        header: JobHeader,
        /// What is wrong (names fields, never their values).
        reason: String,
    },
}

/// The JSON form of a job.
#[derive(Serialize, Deserialize)]
struct Wire {
    id: String,
    template: String,
    to: String,
    data: Value,
    critical: bool,
    correlation_id: CorrelationId,
    created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    not_after: Option<DateTime<Utc>>,
}

impl Serialize for EmailJob {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let data = self.email.data().map_err(serde::ser::Error::custom)?;
        Wire {
            id: self.id.clone(),
            template: self.email.template_name().into_owned(),
            to: self.to.clone(),
            data,
            critical: self.critical,
            correlation_id: self.correlation_id.clone(),
            created_at: self.created_at,
            not_after: self.not_after,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for EmailJob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_wire(Wire::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// serde's messages quote the offending value (`invalid type: string "x", expected u64`);
/// job data may be personal, so only the kind of problem and the expectation are kept.
fn without_values(message: &str) -> String {
    match message.split_once(':') {
        Some((kind, rest)) if kind.starts_with("invalid") => match rest.rsplit_once("expected ") {
            Some((_, expected)) => format!("{kind}, expected {expected}"),
            None => kind.to_owned(),
        },
        _ => message.to_owned(),
    }
}

fn number_or_digits<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u32),
        Text(String),
    }
    match Either::deserialize(deserializer)? {
        Either::Number(n) => Ok(n),
        Either::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("expected a number")),
    }
}

#[cfg(test)]
mod tests;
