//! In-memory claim store with the same semantics as the DynamoDB one.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    Claim, ClaimKey, ClaimOutcome, ClaimRecord, ClaimRequest, ClaimStatus, ClaimStore, OwnerToken,
    StoreError, blocks_claim,
};
use crate::clock::SharedClock;
use crate::deadline::to_delta;

/// Claims in a map behind a mutex; reads the same clock rules as the DynamoDB condition.
#[derive(Debug)]
pub struct MemoryClaimStore {
    records: Mutex<HashMap<ClaimKey, ClaimRecord>>,
    clock: SharedClock,
}

impl MemoryClaimStore {
    /// An empty store reading `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            records: Mutex::new(HashMap::new()),
            clock,
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<ClaimKey, ClaimRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every record (for the local stack's status page).
    pub fn snapshot(&self) -> Vec<ClaimRecord> {
        self.records().values().cloned().collect()
    }

    /// Applies `change` to the record owned by `claim`, else a conflict.
    fn update_owned(
        &self,
        claim: &Claim,
        change: impl FnOnce(&mut ClaimRecord),
    ) -> Result<(), StoreError> {
        let mut records = self.records();
        match records.get_mut(&claim.key) {
            Some(r) if r.owner == claim.owner && r.status == ClaimStatus::InProgress => {
                change(r);
                Ok(())
            }
            _ => Err(StoreError::Conflict(format!("{} is not ours", claim.key))),
        }
    }
}

#[async_trait]
impl ClaimStore for MemoryClaimStore {
    async fn claim(&self, request: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        let now = self.clock.now();
        let mut records = self.records();
        if let Some(existing) = records.get(&request.key)
            && blocks_claim(existing, now)
        {
            return Ok(ClaimOutcome::from_existing(existing.clone()));
        }
        let owner = OwnerToken::random();
        records.insert(
            request.key.clone(),
            ClaimRecord {
                key: request.key.clone(),
                status: ClaimStatus::InProgress,
                owner: owner.clone(),
                lease_until: request.lease_until,
                fingerprint: request.fingerprint.clone(),
                result: None,
                expires_at: now + to_delta(request.retain_for),
            },
        );
        Ok(ClaimOutcome::Acquired(Claim {
            key: request.key.clone(),
            owner,
            retain_for: request.retain_for,
        }))
    }

    async fn complete(&self, claim: &Claim, result: Option<&str>) -> Result<(), StoreError> {
        let expires_at = self.clock.now() + to_delta(claim.retain_for);
        self.update_owned(claim, |r| {
            r.status = ClaimStatus::Completed;
            r.result = result.map(str::to_owned);
            r.expires_at = expires_at;
        })
    }

    async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        self.update_owned(claim, |_| ())?;
        self.records().remove(&claim.key);
        Ok(())
    }

    async fn fail_permanently(&self, claim: &Claim, reason: &str) -> Result<(), StoreError> {
        let expires_at = self.clock.now() + to_delta(claim.retain_for);
        self.update_owned(claim, |r| {
            r.status = ClaimStatus::FailedPermanent;
            r.result = Some(reason.to_owned());
            r.expires_at = expires_at;
        })
    }

    async fn extend(&self, claim: &Claim, lease_until: DateTime<Utc>) -> Result<(), StoreError> {
        self.update_owned(claim, |r| r.lease_until = lease_until)
    }

    async fn get(&self, key: &ClaimKey) -> Result<Option<ClaimRecord>, StoreError> {
        Ok(self.records().get(key).cloned())
    }
}
