//! The email job: what producers queue and the email worker delivers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::telemetry::CorrelationId;

/// Which email to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailTemplate {
    /// "You signed in" notice.
    SignInNotice,
    /// Order paid in full.
    OrderConfirmation,
    /// Deposit paid, balance due.
    DepositConfirmation,
    /// A payment failed.
    PaymentFailed,
    /// Appointment tomorrow.
    Reminder24h,
    /// Appointment in an hour.
    Reminder1h,
    /// An email to the administrator about a failure.
    AdminAlert,
}

/// One email to deliver exactly once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailJob {
    /// Deterministic id naming the thing the email is about (`order-confirmation#<order>`).
    pub id: String,
    /// Template to render.
    pub template: EmailTemplate,
    /// Recipient address.
    pub to: String,
    /// Data the template reads.
    pub data: serde_json::Value,
    /// Whether a permanent failure alerts the administrator.
    pub critical: bool,
    /// Carried from the originating request or event to the SES message.
    pub correlation_id: CorrelationId,
    /// When the job was created.
    pub created_at: DateTime<Utc>,
}
