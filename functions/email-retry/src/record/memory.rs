//! Email records in memory, with the DynamoDB store's semantics.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared::claims::OwnerToken;
use shared::clock::SharedClock;
use shared::deadline::to_delta;

use super::{
    Begin, EmailRecord, EmailStatus, EmailStore, Lease, RETAIN_FOR, StoreError, blocks_begin,
    refused,
};

#[derive(Debug)]
struct Stored {
    record: EmailRecord,
    owner: OwnerToken,
}

/// Records in a map behind a mutex.
#[derive(Debug)]
pub struct MemoryEmailStore {
    records: Mutex<HashMap<String, Stored>>,
    clock: SharedClock,
}

impl MemoryEmailStore {
    /// An empty store reading `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            records: Mutex::new(HashMap::new()),
            clock,
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<String, Stored>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every record.
    pub fn snapshot(&self) -> Vec<EmailRecord> {
        self.records().values().map(|s| s.record.clone()).collect()
    }

    fn finish(
        &self,
        lease: &Lease,
        change: impl FnOnce(&mut EmailRecord),
    ) -> Result<(), StoreError> {
        let expires_at = self.clock.now() + to_delta(RETAIN_FOR);
        let mut records = self.records();
        match records.get_mut(&lease.job_id) {
            Some(s) if s.owner == lease.owner && s.record.status == EmailStatus::Sending => {
                change(&mut s.record);
                s.record.expires_at = expires_at;
                Ok(())
            }
            _ => Err(StoreError::Conflict(format!(
                "email {} is not ours",
                lease.job_id
            ))),
        }
    }
}

#[async_trait]
impl EmailStore for MemoryEmailStore {
    async fn begin(&self, job_id: &str, lease_until: DateTime<Utc>) -> Result<Begin, StoreError> {
        let now = self.clock.now();
        let mut records = self.records();
        let previous = records.get(job_id).map(|s| s.record.clone());
        if let Some(existing) = &previous
            && blocks_begin(existing, now)
        {
            return Ok(refused(existing.clone()));
        }
        let owner = OwnerToken::random();
        let attempts = previous.as_ref().map_or(0, |r| r.attempts) + 1;
        let record = EmailRecord {
            job_id: job_id.to_owned(),
            status: EmailStatus::Sending,
            attempts,
            lease_until,
            expires_at: now + to_delta(RETAIN_FOR),
            ..previous.unwrap_or(EmailRecord {
                job_id: job_id.to_owned(),
                status: EmailStatus::Sending,
                attempts,
                lease_until,
                last_error: None,
                ses_message_id: None,
                sent_at: None,
                reason: None,
                expires_at: now,
            })
        };
        records.insert(
            job_id.to_owned(),
            Stored {
                record,
                owner: owner.clone(),
            },
        );
        Ok(Begin::Acquired(Lease {
            job_id: job_id.to_owned(),
            owner,
            attempts,
        }))
    }

    async fn sent(&self, lease: &Lease, ses_message_id: &str) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.finish(lease, |r| {
            r.status = EmailStatus::Sent;
            r.ses_message_id = Some(ses_message_id.to_owned());
            r.sent_at = Some(now);
        })
    }

    async fn retry_later(&self, lease: &Lease, error: &str) -> Result<(), StoreError> {
        self.finish(lease, |r| {
            r.status = EmailStatus::Pending;
            r.last_error = Some(error.to_owned());
        })
    }

    async fn ambiguous(&self, lease: &Lease, detail: &str) -> Result<(), StoreError> {
        self.finish(lease, |r| {
            r.status = EmailStatus::Ambiguous;
            r.reason = Some(detail.to_owned());
        })
    }

    async fn expired(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        self.finish(lease, |r| {
            r.status = EmailStatus::Expired;
            r.reason = Some(reason.to_owned());
        })
    }

    async fn failed(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        self.finish(lease, |r| {
            r.status = EmailStatus::FailedPermanent;
            r.reason = Some(reason.to_owned());
        })
    }

    async fn get(&self, job_id: &str) -> Result<Option<EmailRecord>, StoreError> {
        Ok(self.records().get(job_id).map(|s| s.record.clone()))
    }

    async fn list(&self, status: EmailStatus) -> Result<Vec<EmailRecord>, StoreError> {
        let mut out: Vec<_> = self
            .snapshot()
            .into_iter()
            .filter(|r| r.status == status)
            .collect();
        out.sort_by(|a, b| a.job_id.cmp(&b.job_id));
        Ok(out)
    }
}
