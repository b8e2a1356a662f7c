//! Claim store on DynamoDB conditional writes.
//!
//! Table: partition key `pk` (S); TTL attribute `expires_at` (epoch seconds). Expiry and
//! lease are checked in the condition itself, since TTL deletion can lag by up to 48 hours.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use chrono::{DateTime, Utc};

use super::{
    Claim, ClaimKey, ClaimOutcome, ClaimRecord, ClaimRequest, ClaimStatus, ClaimStore, OwnerToken,
    StoreError,
};
use crate::aws::store_error;
use crate::clock::SharedClock;
use crate::deadline::to_delta;
use crate::dynamo_item::{Item, get_millis, get_s, get_secs, n, opt_s, s};
use crate::timeout::{Budget, within};

const DEP: &str = "dynamodb";
/// Condition that lets a claim through: no record, an expired one, or a passed lease.
const CLAIMABLE: &str =
    "attribute_not_exists(pk) OR #exp <= :now_s OR (#st = :in_progress AND #lease <= :now_ms)";
/// Condition that only the current in-progress owner passes.
const OWNED: &str = "#own = :me AND #st = :in_progress";

/// Claims stored in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoClaimStore {
    client: Client,
    table: String,
    clock: SharedClock,
    budget: Budget,
}

impl DynamoClaimStore {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>, clock: SharedClock) -> Self {
        Self {
            client,
            table: table.into(),
            clock,
            budget: Budget::DYNAMODB,
        }
    }

    /// Overrides the per-call time budget.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    fn expires_at(&self, claim: &Claim) -> i64 {
        (self.clock.now() + to_delta(claim.retain_for)).timestamp()
    }

    /// Runs an owner-conditioned update; a failed condition is a conflict.
    async fn update_owned(
        &self,
        claim: &Claim,
        status: ClaimStatus,
        result: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(claim.key.as_str()))
            .condition_expression(OWNED)
            .expression_attribute_names("#own", "owner")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":me", s(claim.owner.as_str()))
            .expression_attribute_values(":in_progress", s(ClaimStatus::InProgress.as_str()))
            .expression_attribute_values(":new", s(status.as_str()))
            .expression_attribute_values(":exp", n(self.expires_at(claim)));
        update = match result {
            Some(r) => update
                .update_expression("SET #st = :new, #exp = :exp, #res = :res")
                .expression_attribute_names("#res", "result")
                .expression_attribute_values(":res", s(r)),
            None => update.update_expression("SET #st = :new, #exp = :exp"),
        };
        match within(self.budget, update.send()).await? {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(StoreError::Conflict(format!("{} is not ours", claim.key)))
            }
            Err(e) => Err(store_error(DEP, e)),
        }
    }
}

fn record_from_item(item: &Item) -> Result<ClaimRecord, StoreError> {
    let status = get_s(item, "status")?;
    Ok(ClaimRecord {
        key: ClaimKey::from_stored(get_s(item, "pk")?),
        status: ClaimStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown claim status {status}")))?,
        owner: OwnerToken::from_stored(get_s(item, "owner")?),
        lease_until: get_millis(item, "lease_until")?,
        fingerprint: opt_s(item, "fingerprint"),
        result: opt_s(item, "result"),
        expires_at: get_secs(item, "expires_at")?,
    })
}

#[async_trait]
impl ClaimStore for DynamoClaimStore {
    async fn claim(&self, request: &ClaimRequest) -> Result<ClaimOutcome, StoreError> {
        let now = self.clock.now();
        let owner = OwnerToken::random();
        let expires_at = (now + to_delta(request.retain_for)).timestamp();
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(request.key.as_str()))
            .item("status", s(ClaimStatus::InProgress.as_str()))
            .item("owner", s(owner.as_str()))
            .item("lease_until", n(request.lease_until.timestamp_millis()))
            .item("expires_at", n(expires_at))
            .condition_expression(CLAIMABLE)
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#lease", "lease_until")
            .expression_attribute_values(":now_s", n(now.timestamp()))
            .expression_attribute_values(":now_ms", n(now.timestamp_millis()))
            .expression_attribute_values(":in_progress", s(ClaimStatus::InProgress.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(fp) = &request.fingerprint {
            put = put.item("fingerprint", s(fp));
        }
        match within(self.budget, put.send()).await? {
            Ok(_) => Ok(ClaimOutcome::Acquired(Claim {
                key: request.key.clone(),
                owner,
                retain_for: request.retain_for,
            })),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let item = match e.err() {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item().cloned(),
                    _ => None,
                };
                match item {
                    Some(item) => Ok(ClaimOutcome::from_existing(record_from_item(&item)?)),
                    // Without the old item we cannot say what won; read it.
                    None => match self.get(&request.key).await? {
                        Some(record) => Ok(ClaimOutcome::from_existing(record)),
                        None => Err(StoreError::Conflict(format!(
                            "{} changed during the claim",
                            request.key
                        ))),
                    },
                }
            }
            Err(e) => Err(store_error(DEP, e)),
        }
    }

    async fn complete(&self, claim: &Claim, result: Option<&str>) -> Result<(), StoreError> {
        self.update_owned(claim, ClaimStatus::Completed, result)
            .await
    }

    async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(claim.key.as_str()))
            .condition_expression(OWNED)
            .expression_attribute_names("#own", "owner")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":me", s(claim.owner.as_str()))
            .expression_attribute_values(":in_progress", s(ClaimStatus::InProgress.as_str()));
        match within(self.budget, delete.send()).await? {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(StoreError::Conflict(format!("{} is not ours", claim.key)))
            }
            Err(e) => Err(store_error(DEP, e)),
        }
    }

    async fn fail_permanently(&self, claim: &Claim, reason: &str) -> Result<(), StoreError> {
        self.update_owned(claim, ClaimStatus::FailedPermanent, Some(reason))
            .await
    }

    async fn extend(&self, claim: &Claim, lease_until: DateTime<Utc>) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(claim.key.as_str()))
            .condition_expression(OWNED)
            .update_expression("SET #lease = :lease")
            .expression_attribute_names("#own", "owner")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#lease", "lease_until")
            .expression_attribute_values(":me", s(claim.owner.as_str()))
            .expression_attribute_values(":in_progress", s(ClaimStatus::InProgress.as_str()))
            .expression_attribute_values(":lease", n(lease_until.timestamp_millis()));
        match within(self.budget, update.send()).await? {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(StoreError::Conflict(format!("{} is not ours", claim.key)))
            }
            Err(e) => Err(store_error(DEP, e)),
        }
    }

    async fn get(&self, key: &ClaimKey) -> Result<Option<ClaimRecord>, StoreError> {
        let get = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key.as_str()))
            .consistent_read(true);
        let out = within(self.budget, get.send())
            .await?
            .map_err(|e| store_error(DEP, e))?;
        out.item().map(record_from_item).transpose()
    }
}
