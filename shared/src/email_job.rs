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
    /// Appointment tomorrow (`reminder_24h` on the wire, as in the data contract).
    #[serde(rename = "reminder_24h")]
    Reminder24h,
    /// Appointment in an hour (`reminder_1h` on the wire).
    #[serde(rename = "reminder_1h")]
    Reminder1h,
    /// An email to the administrator about a failure.
    AdminAlert,
}

impl EmailTemplate {
    /// Whether a permanent failure of this email must alert the administrator.
    pub fn is_critical(self) -> bool {
        matches!(
            self,
            Self::OrderConfirmation
                | Self::DepositConfirmation
                | Self::PaymentFailed
                | Self::Reminder24h
                | Self::Reminder1h
        )
    }
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

impl EmailJob {
    /// A job for `template`; `critical` follows the template.
    ///
    /// `id` must name the thing the email is about (e.g. `order-confirmation#<order>`), so a
    /// second producer of the same email produces the same id and is deduplicated.
    pub fn new(
        id: impl Into<String>,
        template: EmailTemplate,
        to: impl Into<String>,
        data: serde_json::Value,
        correlation_id: CorrelationId,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.into(),
            template,
            to: to.into(),
            data,
            critical: template.is_critical(),
            correlation_id,
            created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_as_json_and_follow_template_criticality() {
        let job = EmailJob::new(
            "order-confirmation#o1",
            EmailTemplate::OrderConfirmation,
            "jane@example.com",
            serde_json::json!({"order_id": "o1"}),
            CorrelationId::from_upstream("evt_1"),
            DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        );
        assert!(job.critical);
        let text = serde_json::to_string(&job).unwrap();
        assert!(
            text.contains("\"template\":\"order_confirmation\""),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<EmailJob>(&text).unwrap(), job);
        assert!(!EmailTemplate::AdminAlert.is_critical());
        assert_eq!(
            serde_json::to_value(EmailTemplate::Reminder24h).unwrap(),
            serde_json::json!("reminder_24h")
        );
        assert_eq!(
            serde_json::from_value::<EmailTemplate>(serde_json::json!("reminder_1h")).unwrap(),
            EmailTemplate::Reminder1h
        );
        assert!(!EmailTemplate::SignInNotice.is_critical());
    }
}
