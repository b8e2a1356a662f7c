//! The claim primitive: one conditional write that decides who does a piece of work.
//!
//! Serves webhook idempotency, reminder claims, email-send dedup and request dedup. A claim
//! is won when no record exists, the record has expired, or it is `IN_PROGRESS` with a passed
//! lease. Complete / release / fail only succeed for the current owner.

mod dynamo;
mod memory;
#[cfg(test)]
mod model;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::RngCore;

pub use self::dynamo::DynamoClaimStore;
pub use self::memory::MemoryClaimStore;
pub use crate::store_error::StoreError;

/// The key of a claim: an explicit namespace and the thing claimed, e.g. `stripe-event#evt_1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClaimKey(String);

impl ClaimKey {
    /// `namespace#part1#part2...`.
    pub fn new(namespace: &str, parts: &[&str]) -> Self {
        let mut key = namespace.to_owned();
        for part in parts {
            key.push('#');
            key.push_str(part);
        }
        Self(key)
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds a key read back from storage.
    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }
}

impl fmt::Display for ClaimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A random token naming one attempt; only its holder may finish the claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OwnerToken(String);

impl OwnerToken {
    /// A fresh random token (128 bits).
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    /// The token as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_stored(raw: String) -> Self {
        Self(raw)
    }
}

/// Where a claimed piece of work stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimStatus {
    /// Someone is doing it (until their lease passes).
    InProgress,
    /// Done; duplicates are suppressed.
    Completed,
    /// Given up for good; duplicates are suppressed.
    FailedPermanent,
}

impl ClaimStatus {
    /// Stored representation.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::FailedPermanent => "FAILED_PERMANENT",
        }
    }

    /// Parses the stored representation.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "IN_PROGRESS" => Some(Self::InProgress),
            "COMPLETED" => Some(Self::Completed),
            "FAILED_PERMANENT" => Some(Self::FailedPermanent),
            _ => None,
        }
    }
}

/// A claim record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRecord {
    /// What is claimed.
    pub key: ClaimKey,
    /// Where it stands.
    pub status: ClaimStatus,
    /// Who holds (or last held) it.
    pub owner: OwnerToken,
    /// Until when an `IN_PROGRESS` owner keeps it.
    pub lease_until: DateTime<Utc>,
    /// Optional fingerprint of the payload (to spot a different payload under one key).
    pub fingerprint: Option<String>,
    /// Optional stored result (e.g. an id produced by the work) or failure reason.
    pub result: Option<String>,
    /// When the record stops counting (also the DynamoDB TTL attribute).
    pub expires_at: DateTime<Utc>,
}

/// What to claim and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    /// What is claimed.
    pub key: ClaimKey,
    /// End of this attempt's lease (from the Lambda deadline, capped).
    pub lease_until: DateTime<Utc>,
    /// How long the record is kept (duplicates are suppressed for this long).
    pub retain_for: Duration,
    /// Optional payload fingerprint.
    pub fingerprint: Option<String>,
}

impl ClaimRequest {
    /// A request with no fingerprint.
    pub fn new(key: ClaimKey, lease_until: DateTime<Utc>, retain_for: Duration) -> Self {
        Self {
            key,
            lease_until,
            retain_for,
            fingerprint: None,
        }
    }
}

/// Proof of holding a claim, needed to finish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// What is claimed.
    pub key: ClaimKey,
    /// This attempt's token.
    pub owner: OwnerToken,
    /// How long a completed record is kept.
    pub retain_for: Duration,
}

/// The answer to a claim attempt; the losing side learns the current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// We hold it: do the work, then complete, release or fail it.
    Acquired(Claim),
    /// Already done (suppress the duplicate).
    Completed(ClaimRecord),
    /// Another attempt holds a live lease (answer "retry later").
    InProgress(ClaimRecord),
    /// Given up for good earlier.
    FailedPermanent(ClaimRecord),
}

impl ClaimOutcome {
    pub(crate) fn from_existing(record: ClaimRecord) -> Self {
        match record.status {
            ClaimStatus::InProgress => Self::InProgress(record),
            ClaimStatus::Completed => Self::Completed(record),
            ClaimStatus::FailedPermanent => Self::FailedPermanent(record),
        }
    }
}

/// The claim store port.
#[async_trait]
pub trait ClaimStore: Send + Sync + fmt::Debug {
    /// Tries to take the claim in one conditional write.
    async fn claim(&self, request: &ClaimRequest) -> Result<ClaimOutcome, StoreError>;

    /// Marks the work done (only for the current owner), storing an optional result.
    async fn complete(&self, claim: &Claim, result: Option<&str>) -> Result<(), StoreError>;

    /// Gives the claim back so a retry can take it at once (only for the current owner).
    async fn release(&self, claim: &Claim) -> Result<(), StoreError>;

    /// Records a permanent failure with a reason (only for the current owner).
    async fn fail_permanently(&self, claim: &Claim, reason: &str) -> Result<(), StoreError>;

    /// Moves the lease end to `lease_until` (only for the current in-progress owner): work
    /// that runs longer than planned keeps its claim instead of letting another attempt in.
    async fn extend(&self, claim: &Claim, lease_until: DateTime<Utc>) -> Result<(), StoreError>;

    /// Reads a record as stored (expired or not).
    async fn get(&self, key: &ClaimKey) -> Result<Option<ClaimRecord>, StoreError>;
}

#[async_trait]
impl<T: ClaimStore + ?Sized> ClaimStore for std::sync::Arc<T> {
    async fn claim(&self, request: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        (**self).claim(request).await
    }
    async fn complete(&self, claim: &Claim, result: Option<&str>) -> Result<(), StoreError> {
        (**self).complete(claim, result).await
    }
    async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        (**self).release(claim).await
    }
    async fn fail_permanently(&self, claim: &Claim, reason: &str) -> Result<(), StoreError> {
        (**self).fail_permanently(claim, reason).await
    }
    async fn extend(&self, claim: &Claim, lease_until: DateTime<Utc>) -> Result<(), StoreError> {
        (**self).extend(claim, lease_until).await
    }
    async fn get(&self, key: &ClaimKey) -> Result<Option<ClaimRecord>, StoreError> {
        (**self).get(key).await
    }
}

/// Whether `record` blocks a new claim at `now`.
pub(crate) fn blocks_claim(record: &ClaimRecord, now: DateTime<Utc>) -> bool {
    if record.expires_at <= now {
        return false;
    }
    match record.status {
        ClaimStatus::InProgress => record.lease_until > now,
        ClaimStatus::Completed | ClaimStatus::FailedPermanent => true,
    }
}
