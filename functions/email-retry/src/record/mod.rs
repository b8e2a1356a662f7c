//! The email record port: one record per job id (`email#<job id>` in the EmailsTable) that
//! claims the send and remembers how it ended.
//!
//! `PENDING -> SENDING -> SENT | AMBIGUOUS | EXPIRED | FAILED_PERMANENT`. No record means the job has
//! not been tried yet (producers only queue). `begin` is the claim: one conditional write
//! that moves an absent, `PENDING` or lease-expired `SENDING` record to `SENDING` under a new
//! owner token; every later write is conditional on that owner.

mod dynamo;
mod memory;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared::claims::OwnerToken;
pub use shared::store_error::StoreError;

pub use self::dynamo::DynamoEmailStore;
pub use self::memory::MemoryEmailStore;

/// How long records are kept: longer than a message can live (queue 4 d + DLQ 14 d).
pub const RETAIN_FOR: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Where a job's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailStatus {
    /// Tried and handed back for a retry.
    Pending,
    /// An attempt holds the lease and may be calling SES.
    Sending,
    /// SES accepted it.
    Sent,
    /// A send timed out after it may have reached SES; not resent automatically.
    Ambiguous,
    /// Not sent because it was no longer current (past its `not_after`, or its appointment
    /// was cancelled or moved).
    Expired,
    /// Given up for good.
    FailedPermanent,
}

impl EmailStatus {
    /// Stored representation.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Sending => "SENDING",
            Self::Sent => "SENT",
            Self::Ambiguous => "AMBIGUOUS",
            Self::Expired => "EXPIRED",
            Self::FailedPermanent => "FAILED_PERMANENT",
        }
    }

    /// Parses the stored representation.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Sending,
            Self::Sent,
            Self::Ambiguous,
            Self::Expired,
            Self::FailedPermanent,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    /// Whether the job is finished: a redelivery is acknowledged without calling SES.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Sent | Self::Ambiguous | Self::Expired | Self::FailedPermanent
        )
    }
}

/// A job's record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailRecord {
    /// The job id (without the `email#` prefix).
    pub job_id: String,
    /// Where it stands.
    pub status: EmailStatus,
    /// Attempts that took the lease so far.
    pub attempts: u32,
    /// Until when a `SENDING` owner keeps it.
    pub lease_until: DateTime<Utc>,
    /// The last retryable error (log-safe).
    pub last_error: Option<String>,
    /// SES message id once `SENT`.
    pub ses_message_id: Option<String>,
    /// When SES accepted it.
    pub sent_at: Option<DateTime<Utc>>,
    /// Why it failed permanently or is ambiguous.
    pub reason: Option<String>,
    /// When the record may be deleted (DynamoDB TTL).
    pub expires_at: DateTime<Utc>,
}

/// Proof of holding a job's send lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The job id.
    pub job_id: String,
    /// This attempt's token.
    pub owner: OwnerToken,
    /// Attempts counted so far, this one included.
    pub attempts: u32,
}

/// The answer to `begin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// We hold the lease: send, then record the outcome.
    Acquired(Lease),
    /// Another attempt holds a live lease.
    Busy(EmailRecord),
    /// Finished earlier (`SENT`, `AMBIGUOUS` or `FAILED_PERMANENT`).
    Finished(EmailRecord),
}

/// The email record port.
#[async_trait]
pub trait EmailStore: Send + Sync + fmt::Debug {
    /// Claims the send of `job_id` until `lease_until` (one conditional write).
    async fn begin(&self, job_id: &str, lease_until: DateTime<Utc>) -> Result<Begin, StoreError>;

    /// Records the SES acceptance (owner only).
    async fn sent(&self, lease: &Lease, ses_message_id: &str) -> Result<(), StoreError>;

    /// Hands the job back as `PENDING` with the error (owner only).
    async fn retry_later(&self, lease: &Lease, error: &str) -> Result<(), StoreError>;

    /// Records an ambiguous send (owner only).
    async fn ambiguous(&self, lease: &Lease, detail: &str) -> Result<(), StoreError>;

    /// Records that the job was no longer current and was not sent (owner only).
    async fn expired(&self, lease: &Lease, reason: &str) -> Result<(), StoreError>;

    /// Records a permanent failure (owner only).
    async fn failed(&self, lease: &Lease, reason: &str) -> Result<(), StoreError>;

    /// Reads a record.
    async fn get(&self, job_id: &str) -> Result<Option<EmailRecord>, StoreError>;

    /// Every record in `status` (an ops listing, e.g. `bundle list-ambiguous`; reads the whole
    /// table, never on a delivery path).
    async fn list(&self, status: EmailStatus) -> Result<Vec<EmailRecord>, StoreError>;
}

/// The stored key of a job's record.
pub fn record_key(job_id: &str) -> String {
    format!("email#{job_id}")
}

/// Whether `record` blocks a new `begin` at `now` (same rule as the DynamoDB condition).
pub(crate) fn blocks_begin(record: &EmailRecord, now: DateTime<Utc>) -> bool {
    if record.expires_at <= now {
        return false;
    }
    match record.status {
        EmailStatus::Pending => false,
        EmailStatus::Sending => record.lease_until > now,
        EmailStatus::Sent
        | EmailStatus::Ambiguous
        | EmailStatus::Expired
        | EmailStatus::FailedPermanent => true,
    }
}

/// The outcome of a `begin` refused because of `record`.
pub(crate) fn refused(record: EmailRecord) -> Begin {
    if record.status.is_final() {
        Begin::Finished(record)
    } else {
        Begin::Busy(record)
    }
}

#[async_trait]
impl<T: EmailStore> EmailStore for shared::faults::Faulty<T> {
    async fn begin(&self, job_id: &str, lease_until: DateTime<Utc>) -> Result<Begin, StoreError> {
        self.plan()
            .run(self.inner().begin(job_id, lease_until))
            .await
    }
    async fn sent(&self, lease: &Lease, ses_message_id: &str) -> Result<(), StoreError> {
        self.plan()
            .run(self.inner().sent(lease, ses_message_id))
            .await
    }
    async fn retry_later(&self, lease: &Lease, error: &str) -> Result<(), StoreError> {
        self.plan()
            .run(self.inner().retry_later(lease, error))
            .await
    }
    async fn ambiguous(&self, lease: &Lease, detail: &str) -> Result<(), StoreError> {
        self.plan().run(self.inner().ambiguous(lease, detail)).await
    }
    async fn expired(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        self.plan().run(self.inner().expired(lease, reason)).await
    }
    async fn failed(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        self.plan().run(self.inner().failed(lease, reason)).await
    }
    async fn get(&self, job_id: &str) -> Result<Option<EmailRecord>, StoreError> {
        self.plan().run(self.inner().get(job_id)).await
    }
    async fn list(&self, status: EmailStatus) -> Result<Vec<EmailRecord>, StoreError> {
        self.plan().run(self.inner().list(status)).await
    }
}
