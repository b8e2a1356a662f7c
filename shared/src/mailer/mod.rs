//! The mailer port: send one rendered email, with failures classified for the retry policy.

mod memory;
mod ses;

use std::fmt;

use async_trait::async_trait;

pub use self::memory::MemoryMailer;
pub use self::ses::{SesMailer, classify_send_error};
use crate::error::{Classify, ErrorClass};

/// A rendered email ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// Sender address (a verified SES identity).
    pub from: String,
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
    /// The template it was rendered from (`order_confirmation`, `reminder_1h`, ...).
    pub template: String,
}

/// What SES said about a sent email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    /// SES message id.
    pub message_id: String,
}

/// How a send failed, which decides what the pipeline does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendFailure {
    /// Throttling, 5xx, connection refused: retry with backoff.
    Retryable,
    /// Rejected message, unverified sender, bad address: stop at once.
    Permanent,
    /// The SES account's sending is paused or suspended: hold every message, do not burn
    /// retry budgets, alarm.
    AccountPaused,
    /// The request may have reached SES (timeout after sending): the email may or may not
    /// have gone out.
    Ambiguous,
}

/// A failed send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("send failed ({kind:?}): {detail}")]
pub struct SendError {
    /// The kind of failure.
    pub kind: SendFailure,
    /// A log-safe detail (error code or kind, never the message content).
    pub detail: String,
}

impl SendError {
    /// A failure of `kind`.
    pub fn new(kind: SendFailure, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

impl Classify for SendError {
    fn class(&self) -> ErrorClass {
        match self.kind {
            SendFailure::Retryable | SendFailure::Ambiguous => ErrorClass::Transient,
            SendFailure::AccountPaused => ErrorClass::DependencyDown,
            SendFailure::Permanent => ErrorClass::Permanent,
        }
    }
}

/// The mailer port.
#[async_trait]
pub trait Mailer: Send + Sync + fmt::Debug {
    /// Sends one email.
    async fn send(&self, email: &OutgoingEmail) -> Result<SentEmail, SendError>;
}

#[async_trait]
impl<T: Mailer + ?Sized> Mailer for std::sync::Arc<T> {
    async fn send(&self, email: &OutgoingEmail) -> Result<SentEmail, SendError> {
        (**self).send(email).await
    }
}
