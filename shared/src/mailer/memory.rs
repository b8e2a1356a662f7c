//! A mailer that keeps what it sends (and can write `.eml` files for people to open).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Mailer, OutgoingEmail, SendError, SendFailure, SentEmail};

/// Records sent emails; refuses senders it was not told are verified, like SES.
#[derive(Debug)]
pub struct MemoryMailer {
    verified: HashSet<String>,
    sent: Mutex<Vec<(SentEmail, OutgoingEmail)>>,
    outbox: Option<PathBuf>,
}

impl MemoryMailer {
    /// A mailer that accepts mail from `verified` addresses or domains.
    pub fn new(verified: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            verified: verified.into_iter().map(Into::into).collect(),
            sent: Mutex::new(Vec::new()),
            outbox: None,
        }
    }

    /// Also writes each email as an `.eml` file under `dir`.
    pub fn with_outbox(mut self, dir: impl Into<PathBuf>) -> Self {
        self.outbox = Some(dir.into());
        self
    }

    /// Every email sent so far, in order.
    pub fn sent(&self) -> Vec<(SentEmail, OutgoingEmail)> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn is_verified(&self, from: &str) -> bool {
        let domain = from.rsplit_once('@').map(|(_, d)| d);
        self.verified.contains(from) || domain.is_some_and(|d| self.verified.contains(d))
    }

    fn write_eml(&self, id: &str, email: &OutgoingEmail) -> std::io::Result<()> {
        let Some(dir) = &self.outbox else {
            return Ok(());
        };
        std::fs::create_dir_all(dir)?;
        let boundary = format!("b-{id}");
        let eml = format!(
            "Message-ID: <{id}@local>\r\nFrom: {}\r\nTo: {}\r\nSubject: {}\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
             --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n\
             --{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{}\r\n--{boundary}--\r\n",
            email.from, email.to, email.subject, email.text, email.html
        );
        std::fs::write(dir.join(format!("{id}.eml")), eml)
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<SentEmail, SendError> {
        if !self.is_verified(&email.from) {
            return Err(SendError::new(
                SendFailure::Permanent,
                "MessageRejected: sender identity is not verified",
            ));
        }
        if !email.to.contains('@') {
            return Err(SendError::new(
                SendFailure::Permanent,
                "BadRequestException: invalid recipient",
            ));
        }
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let message_id = format!("local-{:06}", sent.len() + 1);
        self.write_eml(&message_id, email)
            .map_err(|e| SendError::new(SendFailure::Retryable, format!("outbox: {}", e.kind())))?;
        let receipt = SentEmail { message_id };
        sent.push((receipt.clone(), email.clone()));
        Ok(receipt)
    }
}
