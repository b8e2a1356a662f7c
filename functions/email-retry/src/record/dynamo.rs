//! Email records in the DynamoDB EmailsTable (`pk` = `email#<job id>`, TTL `expires_at`).

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};
use shared::aws::store_error;
use shared::claims::OwnerToken;
use shared::clock::SharedClock;
use shared::deadline::to_delta;
use shared::dynamo_item::{Item, get_millis, get_s, get_secs, n, opt_i64, opt_s, s};
use shared::timeout::{Budget, within};

use super::{
    Begin, EmailRecord, EmailStatus, EmailStore, Lease, RETAIN_FOR, StoreError, record_key, refused,
};

const DEP: &str = "dynamodb";
/// An absent, expired, pending or lease-expired record can be begun.
const BEGINNABLE: &str = "attribute_not_exists(pk) OR #exp <= :now_s OR #st = :pending \
                          OR (#st = :sending AND #lease <= :now_ms)";
/// Only the current sending owner may finish.
const OWNED: &str = "#own = :me AND #st = :sending";

/// Email records in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoEmailStore {
    client: Client,
    table: String,
    clock: SharedClock,
    budget: Budget,
}

impl DynamoEmailStore {
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

    fn expires_at(&self) -> i64 {
        (self.clock.now() + to_delta(RETAIN_FOR)).timestamp()
    }

    /// `SET #st = :new, <extra>` conditional on ownership.
    async fn finish(
        &self,
        lease: &Lease,
        status: EmailStatus,
        extra: &[(&str, aws_sdk_dynamodb::types::AttributeValue)],
    ) -> Result<(), StoreError> {
        let mut expr = String::from("SET #st = :new, #exp = :exp");
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(record_key(&lease.job_id)))
            .condition_expression(OWNED)
            .expression_attribute_names("#own", "owner")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":me", s(lease.owner.as_str()))
            .expression_attribute_values(":sending", s(EmailStatus::Sending.as_str()))
            .expression_attribute_values(":new", s(status.as_str()))
            .expression_attribute_values(":exp", n(self.expires_at()));
        for (name, value) in extra {
            expr.push_str(&format!(", #{name} = :{name}"));
            update = update
                .expression_attribute_names(format!("#{name}"), *name)
                .expression_attribute_values(format!(":{name}"), value.clone());
        }
        match within(self.budget, update.update_expression(expr).send()).await? {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(StoreError::Conflict(format!(
                    "email {} is not ours",
                    lease.job_id
                )))
            }
            Err(e) => Err(store_error(DEP, e)),
        }
    }
}

fn record_from_item(item: &Item) -> Result<EmailRecord, StoreError> {
    let pk = get_s(item, "pk")?;
    let status = get_s(item, "status")?;
    let sent_at = opt_s(item, "sent_at")
        .map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|t| t.to_utc())
                .map_err(|_| StoreError::Corrupt("sent_at is not RFC 3339".into()))
        })
        .transpose()?;
    Ok(EmailRecord {
        job_id: pk.strip_prefix("email#").unwrap_or(&pk).to_owned(),
        status: EmailStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown email status {status}")))?,
        attempts: u32::try_from(opt_i64(item, "attempts").unwrap_or(0)).unwrap_or(0),
        lease_until: get_millis(item, "lease_until")?,
        last_error: opt_s(item, "last_error"),
        ses_message_id: opt_s(item, "ses_message_id"),
        sent_at,
        reason: opt_s(item, "reason"),
        expires_at: get_secs(item, "expires_at")?,
    })
}

#[async_trait]
impl EmailStore for DynamoEmailStore {
    async fn begin(&self, job_id: &str, lease_until: DateTime<Utc>) -> Result<Begin, StoreError> {
        let now = self.clock.now();
        let owner = OwnerToken::random();
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(record_key(job_id)))
            .update_expression(
                "SET #st = :sending, #own = :me, #lease = :lease, #exp = :exp ADD #att :one",
            )
            .condition_expression(BEGINNABLE)
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#own", "owner")
            .expression_attribute_names("#lease", "lease_until")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_names("#att", "attempts")
            .expression_attribute_values(":sending", s(EmailStatus::Sending.as_str()))
            .expression_attribute_values(":pending", s(EmailStatus::Pending.as_str()))
            .expression_attribute_values(":me", s(owner.as_str()))
            .expression_attribute_values(":lease", n(lease_until.timestamp_millis()))
            .expression_attribute_values(":exp", n(self.expires_at()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now_s", n(now.timestamp()))
            .expression_attribute_values(":now_ms", n(now.timestamp_millis()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match within(self.budget, update.send()).await? {
            Ok(out) => {
                let attempts = out
                    .attributes()
                    .and_then(|a| opt_i64(a, "attempts"))
                    .and_then(|a| u32::try_from(a).ok())
                    .unwrap_or(1);
                Ok(Begin::Acquired(Lease {
                    job_id: job_id.to_owned(),
                    owner,
                    attempts,
                }))
            }
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let old = match e.err() {
                    UpdateItemError::ConditionalCheckFailedException(c) => c.item().cloned(),
                    _ => None,
                };
                let record = match old {
                    Some(item) => Some(record_from_item(&item)?),
                    None => self.get(job_id).await?,
                };
                record.map(refused).ok_or_else(|| {
                    StoreError::Conflict(format!("email {job_id} changed during begin"))
                })
            }
            Err(e) => Err(store_error(DEP, e)),
        }
    }

    async fn sent(&self, lease: &Lease, ses_message_id: &str) -> Result<(), StoreError> {
        let sent_at = self.clock.now().to_rfc3339();
        self.finish(
            lease,
            EmailStatus::Sent,
            &[
                ("ses_message_id", s(ses_message_id)),
                ("sent_at", s(sent_at)),
            ],
        )
        .await
    }

    async fn retry_later(&self, lease: &Lease, error: &str) -> Result<(), StoreError> {
        self.finish(lease, EmailStatus::Pending, &[("last_error", s(error))])
            .await
    }

    async fn ambiguous(&self, lease: &Lease, detail: &str) -> Result<(), StoreError> {
        self.finish(lease, EmailStatus::Ambiguous, &[("reason", s(detail))])
            .await
    }

    async fn expired(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        self.finish(lease, EmailStatus::Expired, &[("reason", s(reason))])
            .await
    }

    async fn failed(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        self.finish(
            lease,
            EmailStatus::FailedPermanent,
            &[("reason", s(reason))],
        )
        .await
    }

    async fn get(&self, job_id: &str) -> Result<Option<EmailRecord>, StoreError> {
        let get = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(record_key(job_id)))
            .consistent_read(true);
        let out = within(self.budget, get.send())
            .await?
            .map_err(|e| store_error(DEP, e))?;
        out.item().map(record_from_item).transpose()
    }

    async fn list(&self, status: EmailStatus) -> Result<Vec<EmailRecord>, StoreError> {
        let mut out = Vec::new();
        let mut start_key = None;
        loop {
            let scan = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#st = :st AND begins_with(pk, :prefix)")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":st", s(status.as_str()))
                .expression_attribute_values(":prefix", s(record_key("")))
                .consistent_read(true)
                .set_exclusive_start_key(start_key.take());
            let page = within(self.budget, scan.send())
                .await?
                .map_err(|e| store_error(DEP, e))?;
            for item in page.items() {
                out.push(record_from_item(item)?);
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start_key = Some(key.clone()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.job_id.cmp(&b.job_id));
        Ok(out)
    }
}
