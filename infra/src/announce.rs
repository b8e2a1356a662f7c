//! A mailer wrapper that prints a one-line summary of every sent email and logs it for the
//! `/_local` page. The template is read back from the subject the renderer wrote.

use std::sync::Arc;

use async_trait::async_trait;
use shared::mailer::{Mailer, OutgoingEmail, SendError, SentEmail};

use crate::activity::{Activity, SentLine};

/// Wraps the real mailer (memory `.eml` outbox or SES).
#[derive(Debug)]
pub struct Announce {
    inner: Arc<dyn Mailer>,
    activity: Arc<Activity>,
    print: bool,
}

impl Announce {
    /// Wraps `inner`; prints summaries when `print`.
    pub fn new(inner: Arc<dyn Mailer>, activity: Arc<Activity>, print: bool) -> Self {
        Self {
            inner,
            activity,
            print,
        }
    }
}

/// The template a subject was rendered from (see `shared::render`).
pub fn template_of_subject(subject: &str) -> &'static str {
    if subject.starts_with("New sign-in") {
        "sign_in_notice"
    } else if subject.starts_with("Deposit received") {
        "deposit_confirmation"
    } else if subject.starts_with("Order ") && subject.ends_with(" confirmed") {
        "order_confirmation"
    } else if subject.starts_with("Payment failed") {
        "payment_failed"
    } else if subject.starts_with("Reminder:") {
        "reminder_24h"
    } else if subject.starts_with("Starting soon:") {
        "reminder_1h"
    } else if subject.starts_with("[alert]") {
        "admin_alert"
    } else {
        "unknown"
    }
}

#[async_trait]
impl Mailer for Announce {
    async fn send(&self, email: &OutgoingEmail) -> Result<SentEmail, SendError> {
        let result = self.inner.send(email).await;
        match &result {
            Ok(sent) => {
                let template = template_of_subject(&email.subject);
                if self.print {
                    println!(
                        "email  {:<22} to {:<24} {:?}  [{}]",
                        template, email.to, email.subject, sent.message_id
                    );
                }
                self.activity.sent(SentLine {
                    at: chrono::Utc::now(),
                    to: email.to.clone(),
                    subject: email.subject.clone(),
                    template,
                    message_id: sent.message_id.clone(),
                });
            }
            Err(e) if self.print => {
                println!("email  send to {} failed: {e}", email.to);
            }
            Err(_) => {}
        }
        result
    }
}
