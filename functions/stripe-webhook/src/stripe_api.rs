//! The Stripe API port: what the webhook reads from Stripe itself — the user a customer belongs
//! to (`metadata.user_id`), a subscription's current state, and the event list reconciliation
//! walks. Answers are raw JSON objects, read by the same tolerant parser as webhook events.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use serde_json::Value;
use shared::error::{Classify, ErrorClass};
use shared::timeout::{Budget, TimedOut, within};
use stripe_client_core::{RequestBuilder, StripeMethod};

/// A Stripe API call failed (the object may still exist).
#[derive(Debug, thiserror::Error)]
pub enum StripeApiError {
    /// The call ran out of its budget and was cancelled.
    #[error(transparent)]
    Timeout(#[from] TimedOut),
    /// Stripe answered with an error, could not be reached, or sent something unreadable.
    #[error("stripe call failed ({})", class.as_str())]
    Stripe {
        /// Class of the failure.
        class: ErrorClass,
    },
}

impl Classify for StripeApiError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Timeout(t) => t.class(),
            Self::Stripe { class } => *class,
        }
    }
}

/// One page of `GET /v1/events` (newest first, as Stripe lists them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventPage {
    /// The events, whole.
    pub events: Vec<Value>,
    /// More pages follow (ask again with `starting_after` = the last id).
    pub has_more: bool,
}

/// The Stripe API port.
#[async_trait]
pub trait StripeApi: Send + Sync + fmt::Debug {
    /// The user id stored on the Stripe customer, `None` when absent or the customer is deleted.
    async fn customer_user_id(&self, customer: &str) -> Result<Option<String>, StripeApiError>;

    /// The subscription object as Stripe has it now, `None` when Stripe does not know it.
    async fn subscription(&self, id: &str) -> Result<Option<Value>, StripeApiError>;

    /// Events created at or after `created_gte`, one page after `starting_after`.
    async fn events(
        &self,
        created_gte: i64,
        starting_after: Option<&str>,
    ) -> Result<EventPage, StripeApiError>;
}

fn user_id_of(customer: &Value) -> Option<String> {
    if customer.get("deleted").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    customer
        .get("metadata")?
        .get("user_id")?
        .as_str()
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
}

/// Stripe's objects in maps (tests and the local stack without a Stripe key).
#[derive(Debug, Default)]
pub struct MemoryStripe {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    customers: HashMap<String, Value>,
    subscriptions: HashMap<String, Value>,
}

impl MemoryStripe {
    /// No customers, no subscriptions.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets `metadata.user_id` of `customer`.
    pub fn insert_customer(&self, customer: &str, user_id: &str) {
        let object = serde_json::json!({"id": customer, "metadata": {"user_id": user_id}});
        self.state().customers.insert(customer.to_owned(), object);
    }

    /// Sets the subscription object Stripe would return for its `id`.
    pub fn put_subscription(&self, object: Value) {
        if let Some(id) = object.get("id").and_then(Value::as_str) {
            self.state().subscriptions.insert(id.to_owned(), object);
        }
    }
}

#[async_trait]
impl StripeApi for MemoryStripe {
    async fn customer_user_id(&self, customer: &str) -> Result<Option<String>, StripeApiError> {
        Ok(self.state().customers.get(customer).and_then(user_id_of))
    }

    async fn subscription(&self, id: &str) -> Result<Option<Value>, StripeApiError> {
        Ok(self.state().subscriptions.get(id).cloned())
    }

    async fn events(&self, _: i64, _: Option<&str>) -> Result<EventPage, StripeApiError> {
        Ok(EventPage::default())
    }
}

/// The Stripe API through async-stripe's client, every call within a time budget.
pub struct StripeHttpApi {
    client: stripe::Client,
    budget: Budget,
}

impl fmt::Debug for StripeHttpApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeHttpApi")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// Events per page (Stripe's maximum).
const PAGE_SIZE: u32 = 100;

fn stripe_class(err: &stripe::StripeError) -> ErrorClass {
    match err {
        stripe::StripeError::Stripe(_, status) => ErrorClass::from_http_status(*status),
        stripe::StripeError::ConfigError(_) => ErrorClass::Config,
        _ => ErrorClass::Transient,
    }
}

impl StripeHttpApi {
    /// A client with `api_key`, at `base_url` (a local stand-in) or Stripe's own.
    pub fn new(api_key: &str, base_url: Option<&str>) -> Result<Self, StripeApiError> {
        let mut builder = stripe::ClientBuilder::new(api_key);
        if let Some(url) = base_url {
            builder = builder.url(url);
        }
        let client = builder.build().map_err(|e| StripeApiError::Stripe {
            class: stripe_class(&e),
        })?;
        Ok(Self {
            client,
            budget: Budget::STRIPE,
        })
    }

    /// `GET path?query` as JSON; a 404 is `None`.
    async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<Value>, StripeApiError> {
        let mut request = RequestBuilder::new(StripeMethod::Get, path);
        if !query.is_empty() {
            request = request.query(
                &query
                    .iter()
                    .cloned()
                    .collect::<std::collections::BTreeMap<_, _>>(),
            );
        }
        let call = request
            .customize::<miniserde::json::Value>()
            .send(&self.client);
        match within(self.budget, call).await? {
            Ok(value) => serde_json::from_str(&miniserde::json::to_string(&value))
                .map(Some)
                .map_err(|_| StripeApiError::Stripe {
                    class: ErrorClass::Transient,
                }),
            Err(stripe::StripeError::Stripe(_, 404)) => Ok(None),
            Err(e) => Err(StripeApiError::Stripe {
                class: stripe_class(&e),
            }),
        }
    }
}

#[async_trait]
impl StripeApi for StripeHttpApi {
    async fn customer_user_id(&self, customer: &str) -> Result<Option<String>, StripeApiError> {
        let object = self.get(&format!("/customers/{customer}"), &[]).await?;
        Ok(object.as_ref().and_then(user_id_of))
    }

    async fn subscription(&self, id: &str) -> Result<Option<Value>, StripeApiError> {
        self.get(&format!("/subscriptions/{id}"), &[]).await
    }

    async fn events(
        &self,
        created_gte: i64,
        starting_after: Option<&str>,
    ) -> Result<EventPage, StripeApiError> {
        let mut query = vec![
            ("created[gte]", created_gte.to_string()),
            ("limit", PAGE_SIZE.to_string()),
        ];
        if let Some(after) = starting_after {
            query.push(("starting_after", after.to_owned()));
        }
        let list = self.get("/events", &query).await?.unwrap_or_default();
        Ok(EventPage {
            events: list
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            has_more: list.get("has_more").and_then(Value::as_bool) == Some(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_http_adapter_builds_without_network_and_hides_its_key() {
        let api = StripeHttpApi::new("sk_test_not_a_real_key", None).unwrap();
        let text = format!("{api:?}");
        assert!(!text.contains("sk_test"), "{text}");
        assert!(StripeHttpApi::new("sk_test_x", Some("not a url")).is_err());
    }

    #[tokio::test]
    async fn the_memory_stripe_answers_what_was_put() {
        let s = MemoryStripe::new();
        assert_eq!(s.customer_user_id("cus_1").await.unwrap(), None);
        s.insert_customer("cus_1", "usr_1");
        assert_eq!(
            s.customer_user_id("cus_1").await.unwrap().as_deref(),
            Some("usr_1")
        );
        s.put_subscription(serde_json::json!({"id": "sub_1", "status": "active"}));
        assert!(s.subscription("sub_1").await.unwrap().is_some());
        assert!(s.subscription("sub_2").await.unwrap().is_none());
    }
}
