//! A mailer wrapper that prints a one-line summary of every sent email and logs it for the
//! `/_local` page.

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

#[async_trait]
impl Mailer for Announce {
    async fn send(&self, email: &OutgoingEmail) -> Result<SentEmail, SendError> {
        let result = self.inner.send(email).await;
        match &result {
            Ok(sent) => {
                if self.print {
                    println!(
                        "email  {:<22} to {:<24} {:?}  [{}]",
                        email.template, email.to, email.subject, sent.message_id
                    );
                }
                self.activity.sent(SentLine {
                    at: chrono::Utc::now(),
                    to: email.to.clone(),
                    subject: email.subject.clone(),
                    template: email.template.clone(),
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
