//! Billing store on DynamoDB (`BillingTable`, partition key `pk`), every state change a
//! conditional write.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use shared::aws::store_error;
use shared::deadline::to_delta;
use shared::dynamo_item::{Item, get_i64, get_s, n, opt_i64, opt_s, s};
use shared::timeout::{Budget, within};

use super::{
    Applied, BillingStore, CustomerLink, EventFailure, Ledger, Order, OrderStatus, Payment,
    StoreError, Subscription, UnparsedEvent,
};

const DEP: &str = "dynamodb";
/// How long unparsed events and failure records are kept for an operator.
const KEEP_RECORDS: Duration = Duration::from_secs(90 * 24 * 3600);

/// Billing records in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoBillingStore {
    client: Client,
    table: String,
    budget: Budget,
}

fn order_key(id: &str) -> AttributeValue {
    s(format!("order#{id}"))
}
fn payment_key(pi: &str) -> AttributeValue {
    s(format!("payment#{pi}"))
}
fn subscription_key(id: &str) -> AttributeValue {
    s(format!("subscription#{id}"))
}
fn customer_key(cus: &str) -> AttributeValue {
    s(format!("customer#{cus}"))
}
fn unparsed_key(id: &str) -> AttributeValue {
    s(format!("stripe-event-unparsed#{id}"))
}
fn failure_key(id: &str) -> AttributeValue {
    s(format!("stripe-event-failed#{id}"))
}
fn checkpoint_key() -> AttributeValue {
    s("stripe-reconcile#checkpoint")
}

fn opt_string(item: &Item, name: &str) -> Option<String> {
    opt_s(item, name)
}

fn bool_attr(item: &Item, name: &str) -> bool {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false)
}

fn time_attr(item: &Item, name: &str) -> Option<DateTime<Utc>> {
    opt_i64(item, name).and_then(DateTime::from_timestamp_millis)
}

fn order_from(item: &Item) -> Result<Order, StoreError> {
    let status = get_s(item, "status")?;
    Ok(Order {
        id: get_s(item, "order_id")?,
        status: OrderStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown order status {status}")))?,
        total_cents: get_i64(item, "total_cents")?,
        currency: get_s(item, "currency")?,
        customer_email: get_s(item, "customer_email")?,
        customer_name: get_s(item, "customer_name")?,
        paid_cents: get_i64(item, "paid_cents")?,
        balance_cents: get_i64(item, "balance_cents")?,
        refunded_cents: opt_i64(item, "refunded_cents").unwrap_or(0),
        disputed: bool_attr(item, "disputed"),
        failure_reason: opt_string(item, "failure_reason"),
        ledger: opt_string(item, "ledger")
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("order ledger: {e}")))?
            .unwrap_or_default(),
        version: u64::try_from(opt_i64(item, "version").unwrap_or(0))
            .map_err(|_| StoreError::Corrupt("order version".into()))?,
    })
}

fn ledger_attr(ledger: &Ledger) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(ledger)
        .map(s)
        .map_err(|e| StoreError::Corrupt(format!("order ledger: {e}")))
}

/// The payment fields of an order, written by `create_order` and `save_order`.
fn payment_fields(order: &Order) -> Result<Vec<(&'static str, AttributeValue)>, StoreError> {
    Ok(vec![
        ("status", s(order.status.as_str())),
        ("paid_cents", n(order.paid_cents)),
        ("balance_cents", n(order.balance_cents)),
        ("refunded_cents", n(order.refunded_cents)),
        ("disputed", AttributeValue::Bool(order.disputed)),
        ("failure_reason", opt_attr(order.failure_reason.as_ref())),
        ("ledger", ledger_attr(&order.ledger)?),
        ("version", n(order.version)),
    ])
}

fn subscription_from(item: &Item) -> Result<Subscription, StoreError> {
    Ok(Subscription {
        id: get_s(item, "subscription_id")?,
        user_id: get_s(item, "user_id")?,
        customer: get_s(item, "customer")?,
        status: get_s(item, "status")?,
        current_period_start: opt_i64(item, "current_period_start"),
        current_period_end: opt_i64(item, "current_period_end"),
        cancel_at_period_end: bool_attr(item, "cancel_at_period_end"),
        event_created: get_i64(item, "event_created")?,
        event_rank: u8::try_from(get_i64(item, "event_rank")?)
            .map_err(|_| StoreError::Corrupt("event_rank out of range".into()))?,
    })
}

/// Whether an SDK error is a refused condition.
fn condition_failed<E>(err: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    matches!(err, SdkError::ServiceError(ctx) if ctx.err().code() == Some("ConditionalCheckFailedException"))
}

impl DynamoBillingStore {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            budget: Budget::DYNAMODB,
        }
    }

    /// Overrides the per-call time budget.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    async fn get(&self, key: AttributeValue) -> Result<Option<Item>, StoreError> {
        let get = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", key)
            .consistent_read(true);
        let out = within(self.budget, get.send())
            .await?
            .map_err(|e| store_error(DEP, e))?;
        Ok(out.item().cloned())
    }

    /// A conditional put; a refused condition is `Unchanged`.
    async fn put_if(
        &self,
        item: Item,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Applied, StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        for (k, v) in names {
            put = put.expression_attribute_names(*k, *v);
        }
        for (k, v) in values {
            put = put.expression_attribute_values(k, v);
        }
        match within(self.budget, put.send()).await? {
            Ok(_) => Ok(Applied::Changed),
            Err(e) if condition_failed(&e) => Ok(Applied::Unchanged),
            Err(e) => Err(store_error(DEP, e)),
        }
    }

    /// A conditional update; a refused condition is `Unchanged`.
    async fn update_if(
        &self,
        key: AttributeValue,
        update: &str,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Applied, StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", key)
            .update_expression(update)
            .condition_expression(condition);
        for (k, v) in names {
            req = req.expression_attribute_names(*k, *v);
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        match within(self.budget, req.send()).await? {
            Ok(_) => Ok(Applied::Changed),
            Err(e) if condition_failed(&e) => Ok(Applied::Unchanged),
            Err(e) => Err(store_error(DEP, e)),
        }
    }
}

fn opt_attr(value: Option<&String>) -> AttributeValue {
    value.map_or(AttributeValue::Null(true), s)
}

#[async_trait]
impl BillingStore for DynamoBillingStore {
    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        self.get(order_key(id))
            .await?
            .as_ref()
            .map(order_from)
            .transpose()
    }

    async fn create_order(&self, order: &Order) -> Result<Applied, StoreError> {
        let mut item = Item::new();
        item.insert("pk".into(), order_key(&order.id));
        item.insert("order_id".into(), s(&order.id));
        item.insert("total_cents".into(), n(order.total_cents));
        item.insert("currency".into(), s(&order.currency));
        item.insert("customer_email".into(), s(&order.customer_email));
        item.insert("customer_name".into(), s(&order.customer_name));
        for (name, value) in payment_fields(order)? {
            item.insert(name.into(), value);
        }
        self.put_if(item, "attribute_not_exists(pk)", &[], vec![])
            .await
    }

    async fn save_order(&self, expected_version: u64, next: &Order) -> Result<Applied, StoreError> {
        let fields = payment_fields(next)?;
        let names: Vec<(String, &str)> = fields
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (format!("#f{i}"), *name))
            .collect();
        let update = format!(
            "SET {}",
            (0..fields.len())
                .map(|i| format!("#f{i} = :f{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let placeholders: Vec<String> = (0..fields.len()).map(|i| format!(":f{i}")).collect();
        let mut values: Vec<(&str, AttributeValue)> = placeholders
            .iter()
            .map(String::as_str)
            .zip(fields.into_iter().map(|(_, v)| v))
            .collect();
        values.push((":expected", n(expected_version)));
        let mut name_refs: Vec<(&str, &str)> =
            names.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        name_refs.push(("#ver", "version"));
        // Orders created before versions existed have none: version 0.
        let condition = if expected_version == 0 {
            "attribute_exists(pk) AND (attribute_not_exists(#ver) OR #ver = :expected)"
        } else {
            "attribute_exists(pk) AND #ver = :expected"
        };
        self.update_if(order_key(&next.id), &update, condition, &name_refs, values)
            .await
    }

    async fn record_payment(&self, payment: &Payment) -> Result<Applied, StoreError> {
        let item = Item::from([
            ("pk".into(), payment_key(&payment.payment_intent)),
            ("payment_intent".into(), s(&payment.payment_intent)),
            ("order_id".into(), s(&payment.order_id)),
            ("amount_cents".into(), n(payment.amount_cents)),
            ("currency".into(), s(&payment.currency)),
            ("kind".into(), s(&payment.kind)),
            ("event_id".into(), s(&payment.event_id)),
        ]);
        self.put_if(item, "attribute_not_exists(pk)", &[], vec![])
            .await
    }

    async fn payment(&self, payment_intent: &str) -> Result<Option<Payment>, StoreError> {
        let Some(item) = self.get(payment_key(payment_intent)).await? else {
            return Ok(None);
        };
        Ok(Some(Payment {
            payment_intent: get_s(&item, "payment_intent")?,
            order_id: get_s(&item, "order_id")?,
            amount_cents: get_i64(&item, "amount_cents")?,
            currency: get_s(&item, "currency")?,
            kind: get_s(&item, "kind")?,
            event_id: get_s(&item, "event_id")?,
        }))
    }

    async fn upsert_subscription(&self, sub: &Subscription) -> Result<Applied, StoreError> {
        let mut item = Item::from([
            ("pk".into(), subscription_key(&sub.id)),
            ("subscription_id".into(), s(&sub.id)),
            ("user_id".into(), s(&sub.user_id)),
            ("customer".into(), s(&sub.customer)),
            ("status".into(), s(&sub.status)),
            (
                "cancel_at_period_end".into(),
                AttributeValue::Bool(sub.cancel_at_period_end),
            ),
            ("event_created".into(), n(sub.event_created)),
            ("event_rank".into(), n(sub.event_rank)),
        ]);
        if let Some(v) = sub.current_period_start {
            item.insert("current_period_start".into(), n(v));
        }
        if let Some(v) = sub.current_period_end {
            item.insert("current_period_end".into(), n(v));
        }
        self.put_if(
            item,
            "attribute_not_exists(pk) OR (#st <> :canceled AND \
             (#ec < :created OR (#ec = :created AND #rank < :rank)))",
            &[
                ("#st", "status"),
                ("#ec", "event_created"),
                ("#rank", "event_rank"),
            ],
            vec![
                (":canceled", s("canceled")),
                (":created", n(sub.event_created)),
                (":rank", n(sub.event_rank)),
            ],
        )
        .await
    }

    async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        self.get(subscription_key(id))
            .await?
            .as_ref()
            .map(subscription_from)
            .transpose()
    }

    async fn customer(&self, customer: &str) -> Result<Option<CustomerLink>, StoreError> {
        let Some(item) = self.get(customer_key(customer)).await? else {
            return Ok(None);
        };
        Ok(Some(CustomerLink {
            customer: get_s(&item, "customer")?,
            user_id: get_s(&item, "user_id")?,
        }))
    }

    async fn link_customer(&self, link: &CustomerLink) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".into(), customer_key(&link.customer)),
            ("customer".into(), s(&link.customer)),
            ("user_id".into(), s(&link.user_id)),
        ]);
        self.put_if(
            item,
            "attribute_not_exists(pk) OR user_id = :u",
            &[],
            vec![(":u", s(&link.user_id))],
        )
        .await?;
        Ok(())
    }

    async fn store_unparsed(&self, event: &UnparsedEvent) -> Result<(), StoreError> {
        let expires = event.received_at + to_delta(KEEP_RECORDS);
        let mut item = Item::from([
            ("pk".into(), unparsed_key(&event.event_id)),
            ("event_id".into(), s(&event.event_id)),
            ("error".into(), s(&event.error)),
            ("body_sha256".into(), s(&event.body_sha256)),
            (
                "received_at".into(),
                n(event.received_at.timestamp_millis()),
            ),
            ("expires_at".into(), n(expires.timestamp())),
        ]);
        if let Some(t) = &event.event_type {
            item.insert("event_type".into(), s(t));
        }
        if let Some(body) = &event.body {
            item.insert("body".into(), AttributeValue::B(Blob::new(body.clone())));
        }
        self.put_if(item, "attribute_not_exists(pk)", &[], vec![])
            .await?;
        Ok(())
    }

    async fn unparsed(&self, event_id: &str) -> Result<Option<UnparsedEvent>, StoreError> {
        let Some(item) = self.get(unparsed_key(event_id)).await? else {
            return Ok(None);
        };
        Ok(Some(UnparsedEvent {
            event_id: get_s(&item, "event_id")?,
            event_type: opt_string(&item, "event_type"),
            error: get_s(&item, "error")?,
            body: item
                .get("body")
                .and_then(|b| b.as_b().ok())
                .map(|b| b.as_ref().to_vec()),
            body_sha256: get_s(&item, "body_sha256")?,
            received_at: time_attr(&item, "received_at")
                .ok_or_else(|| StoreError::Corrupt("received_at".into()))?,
            replayed_at: time_attr(&item, "replayed_at"),
        }))
    }

    async fn mark_replayed(&self, event_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.update_if(
            unparsed_key(event_id),
            "SET replayed_at = :at",
            "attribute_exists(pk) AND attribute_not_exists(replayed_at)",
            &[],
            vec![(":at", n(at.timestamp_millis()))],
        )
        .await?;
        Ok(())
    }

    async fn record_failure(&self, failure: &EventFailure) -> Result<(), StoreError> {
        let expires = failure.last_at + to_delta(KEEP_RECORDS);
        self.update_if(
            failure_key(&failure.event_id),
            "SET event_id = :id, event_type = :type, reason = :reason, subject = :subject, \
             last_at = :at, expires_at = :exp ADD attempts :one",
            "attribute_not_exists(pk) OR attribute_exists(pk)",
            &[],
            vec![
                (":id", s(&failure.event_id)),
                (":type", s(&failure.event_type)),
                (":reason", s(&failure.reason)),
                (":subject", s(&failure.subject)),
                (":at", n(failure.last_at.timestamp_millis())),
                (":exp", n(expires.timestamp())),
                (":one", n(1)),
            ],
        )
        .await?;
        Ok(())
    }

    async fn failure(&self, event_id: &str) -> Result<Option<EventFailure>, StoreError> {
        let Some(item) = self.get(failure_key(event_id)).await? else {
            return Ok(None);
        };
        Ok(Some(EventFailure {
            event_id: get_s(&item, "event_id")?,
            event_type: get_s(&item, "event_type")?,
            reason: get_s(&item, "reason")?,
            subject: get_s(&item, "subject")?,
            attempts: u32::try_from(get_i64(&item, "attempts")?)
                .map_err(|_| StoreError::Corrupt("attempts".into()))?,
            last_at: time_attr(&item, "last_at")
                .ok_or_else(|| StoreError::Corrupt("last_at".into()))?,
        }))
    }

    async fn reconcile_checkpoint(&self) -> Result<Option<i64>, StoreError> {
        let Some(item) = self.get(checkpoint_key()).await? else {
            return Ok(None);
        };
        Ok(Some(get_i64(&item, "created")?))
    }

    async fn advance_checkpoint(&self, created: i64) -> Result<Applied, StoreError> {
        self.update_if(
            checkpoint_key(),
            "SET created = :c",
            "attribute_not_exists(pk) OR created < :c",
            &[],
            vec![(":c", n(created))],
        )
        .await
    }
}
