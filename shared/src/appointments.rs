//! Appointments and their port: reminder-cron finds the ones starting soon, the email worker
//! checks that a queued reminder's appointment is still approved at the same start and version.
//!
//! DynamoDB layout (AppointmentsTable): `pk` = appointment id; `starts_at` as
//! `YYYY-MM-DDTHH:MM:SSZ` (sorts as time); `due_day` = UTC start day, present only on approved
//! appointments, so the `by-start-day` index is sparse and partitioned by day (no hot key).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::aws::store_error;
use crate::dynamo_item::{Item, get_s, n, opt_i64, opt_s, s};
use crate::store_error::StoreError;
use crate::timeout::{Budget, within};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, NaiveDate, Utc};

/// Status of an appointment; only approved ones get reminders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Confirmed by the business.
    Approved,
    /// Any other state (`pending`, `cancelled`, ...), kept as stored.
    Other(String),
}

impl Status {
    /// Parses the stored value.
    pub fn parse(raw: &str) -> Self {
        if raw == "approved" {
            Self::Approved
        } else {
            Self::Other(raw.to_owned())
        }
    }

    /// Stored value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Approved => "approved",
            Self::Other(s) => s,
        }
    }
}

/// An appointment as the reminder run needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    /// Id.
    pub id: String,
    /// Customer email.
    pub customer_email: String,
    /// Customer name.
    pub customer_name: String,
    /// Service booked.
    pub service: String,
    /// Start (UTC instant).
    pub starts_at: DateTime<Utc>,
    /// Business time zone (IANA name) used to show times; may be empty (use the default).
    pub time_zone: String,
    /// Duration in minutes.
    pub duration_minutes: u32,
    /// Status.
    pub status: Status,
    /// Bumped on every reschedule.
    pub version: u32,
    /// Optional meeting link.
    pub meeting_link: Option<String>,
}

/// How `starts_at` is stored: fixed width, so string order is time order.
pub fn stored_instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn day(t: DateTime<Utc>) -> NaiveDate {
    t.date_naive()
}

/// The appointments port.
#[async_trait]
pub trait AppointmentStore: Send + Sync + std::fmt::Debug {
    /// Approved appointments with `from <= starts_at <= to`, in start order.
    async fn approved_starting_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, StoreError>;

    /// One appointment by id (any status).
    async fn get(&self, id: &str) -> Result<Option<Appointment>, StoreError>;

    /// Creates or replaces an appointment (booking, reschedule, cancellation).
    async fn put(&self, appointment: &Appointment) -> Result<(), StoreError>;
}

impl Appointment {
    /// Whether a reminder written for `starts_at` and `version` still applies: the appointment
    /// is approved and was neither moved nor rescheduled since (no version: start only).
    pub fn still_matches(&self, starts_at: DateTime<Utc>, version: Option<u32>) -> bool {
        self.status == Status::Approved
            && self.starts_at == starts_at
            && version.is_none_or(|v| v == self.version)
    }
}

/// Appointments in a map.
#[derive(Debug, Default)]
pub struct MemoryAppointments {
    items: Mutex<HashMap<String, Appointment>>,
}

#[async_trait]
impl AppointmentStore for MemoryAppointments {
    async fn approved_starting_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, StoreError> {
        let items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = items
            .values()
            .filter(|a| a.status == Status::Approved && a.starts_at >= from && a.starts_at <= to)
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.starts_at, &a.id).cmp(&(b.starts_at, &b.id)));
        Ok(out)
    }

    async fn get(&self, id: &str) -> Result<Option<Appointment>, StoreError> {
        let items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        Ok(items.get(id).cloned())
    }

    async fn put(&self, appointment: &Appointment) -> Result<(), StoreError> {
        self.items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(appointment.id.clone(), appointment.clone());
        Ok(())
    }
}

/// Appointments in DynamoDB, found through the sparse `by-start-day` index.
#[derive(Debug, Clone)]
pub struct DynamoAppointments {
    client: Client,
    table: String,
    index: String,
    budget: Budget,
}

impl DynamoAppointments {
    /// The store on `table`, querying `index`.
    pub fn new(client: Client, table: impl Into<String>, index: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            index: index.into(),
            budget: Budget::DYNAMODB,
        }
    }

    /// Overrides the per-call time budget.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    async fn query_day(
        &self,
        day: NaiveDate,
        from: &str,
        to: &str,
    ) -> Result<Vec<Appointment>, StoreError> {
        let mut out = Vec::new();
        let mut start_key = None;
        loop {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(&self.index)
                .key_condition_expression("due_day = :day AND starts_at BETWEEN :from AND :to")
                .expression_attribute_values(":day", s(day.to_string()))
                .expression_attribute_values(":from", s(from))
                .expression_attribute_values(":to", s(to))
                .set_exclusive_start_key(start_key.take());
            let page = within(self.budget, query.send())
                .await?
                .map_err(|e| store_error("dynamodb", e))?;
            for item in page.items() {
                out.push(from_item(item)?);
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start_key = Some(key.clone()),
                _ => return Ok(out),
            }
        }
    }
}

fn from_item(item: &Item) -> Result<Appointment, StoreError> {
    let starts_at = get_s(item, "starts_at")?;
    Ok(Appointment {
        id: get_s(item, "pk")?,
        customer_email: get_s(item, "customer_email")?,
        customer_name: get_s(item, "customer_name")?,
        service: get_s(item, "service")?,
        starts_at: DateTime::parse_from_rfc3339(&starts_at)
            .map_err(|_| StoreError::Corrupt(format!("starts_at {starts_at:?}")))?
            .with_timezone(&Utc),
        time_zone: opt_s(item, "time_zone").unwrap_or_default(),
        duration_minutes: opt_i64(item, "duration_minutes")
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(0),
        status: Status::parse(&get_s(item, "status")?),
        version: opt_i64(item, "version")
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0),
        meeting_link: opt_s(item, "meeting_link"),
    })
}

#[async_trait]
impl AppointmentStore for DynamoAppointments {
    async fn approved_starting_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, StoreError> {
        let (from_s, to_s) = (stored_instant(from), stored_instant(to));
        let mut days = Vec::new();
        let mut d = day(from);
        while d <= day(to) {
            days.push(d);
            d = d.succ_opt().unwrap_or(d);
            if d == NaiveDate::MAX {
                break;
            }
        }
        // One query per day partition, all at once: one wait instead of one per day.
        let queried = futures::future::try_join_all(
            days.into_iter().map(|d| self.query_day(d, &from_s, &to_s)),
        )
        .await?;
        let mut out: Vec<Appointment> = queried.into_iter().flatten().collect();
        // The index may lag a status change; only approved ones count.
        out.retain(|a| a.status == Status::Approved);
        Ok(out)
    }

    async fn get(&self, id: &str) -> Result<Option<Appointment>, StoreError> {
        let get = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(id))
            .consistent_read(true);
        let out = within(self.budget, get.send())
            .await?
            .map_err(|e| store_error("dynamodb", e))?;
        out.item().map(from_item).transpose()
    }

    async fn put(&self, a: &Appointment) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&a.id))
            .item("customer_email", s(&a.customer_email))
            .item("customer_name", s(&a.customer_name))
            .item("service", s(&a.service))
            .item("starts_at", s(stored_instant(a.starts_at)))
            .item("time_zone", s(&a.time_zone))
            .item("duration_minutes", n(a.duration_minutes))
            .item("status", s(a.status.as_str()))
            .item("version", n(a.version));
        if a.status == Status::Approved {
            put = put.item("due_day", s(day(a.starts_at).to_string()));
        }
        if let Some(link) = &a.meeting_link {
            put = put.item("meeting_link", s(link));
        }
        within(self.budget, put.send())
            .await?
            .map(|_| ())
            .map_err(|e| store_error("dynamodb", e))
    }
}

#[async_trait]
impl<T: AppointmentStore + ?Sized> AppointmentStore for std::sync::Arc<T> {
    async fn approved_starting_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, StoreError> {
        (**self).approved_starting_between(from, to).await
    }
    async fn get(&self, id: &str) -> Result<Option<Appointment>, StoreError> {
        (**self).get(id).await
    }
    async fn put(&self, appointment: &Appointment) -> Result<(), StoreError> {
        (**self).put(appointment).await
    }
}

#[async_trait]
impl<T: AppointmentStore> AppointmentStore for crate::faults::Faulty<T> {
    async fn approved_starting_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, StoreError> {
        self.plan()
            .run(self.inner().approved_starting_between(from, to))
            .await
    }
    async fn get(&self, id: &str) -> Result<Option<Appointment>, StoreError> {
        self.plan().run(self.inner().get(id)).await
    }
    async fn put(&self, appointment: &Appointment) -> Result<(), StoreError> {
        self.plan().run(self.inner().put(appointment)).await
    }
}
