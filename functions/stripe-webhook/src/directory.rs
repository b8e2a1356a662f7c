//! The customer directory port: which of our users a Stripe customer belongs to, read from
//! `metadata.user_id` on the Stripe customer. Used when `customer#<cus>` is not in the table.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use shared::error::{Classify, ErrorClass};
use shared::timeout::{Budget, TimedOut, within};

/// A directory lookup failed (the customer may still exist).
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The call ran out of its budget and was cancelled.
    #[error(transparent)]
    Timeout(#[from] TimedOut),
    /// Stripe answered with an error or could not be reached.
    #[error("stripe lookup failed ({})", class.as_str())]
    Stripe {
        /// Class of the failure.
        class: ErrorClass,
    },
}

impl Classify for DirectoryError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Timeout(t) => t.class(),
            Self::Stripe { class } => *class,
        }
    }
}

/// The customer directory port.
#[async_trait]
pub trait CustomerDirectory: Send + Sync + fmt::Debug {
    /// The user id stored on the Stripe customer, `None` when absent or the customer is deleted.
    async fn user_id(&self, customer: &str) -> Result<Option<String>, DirectoryError>;
}

/// A directory in a map (tests and the local stack).
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    users: Mutex<HashMap<String, String>>,
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `metadata.user_id` of `customer`.
    pub fn insert(&self, customer: &str, user_id: &str) {
        self.users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(customer.to_owned(), user_id.to_owned());
    }
}

#[async_trait]
impl CustomerDirectory for MemoryDirectory {
    async fn user_id(&self, customer: &str) -> Result<Option<String>, DirectoryError> {
        Ok(self
            .users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(customer)
            .cloned())
    }
}

/// The Stripe API through async-stripe (`GET /v1/customers/:id`), within a time budget.
pub struct StripeDirectory {
    client: stripe::Client,
    budget: Budget,
}

impl fmt::Debug for StripeDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeDirectory")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl StripeDirectory {
    /// A directory calling Stripe with `api_key` (built once at cold start).
    pub fn new(api_key: &str) -> Self {
        Self {
            client: stripe::Client::new(api_key),
            budget: Budget::STRIPE,
        }
    }
}

fn stripe_class(err: &stripe::StripeError) -> ErrorClass {
    match err {
        stripe::StripeError::Stripe(_, status) => ErrorClass::from_http_status(*status),
        _ => ErrorClass::Transient,
    }
}

#[async_trait]
impl CustomerDirectory for StripeDirectory {
    async fn user_id(&self, customer: &str) -> Result<Option<String>, DirectoryError> {
        use stripe_core::customer::{RetrieveCustomer, RetrieveCustomerReturned};
        let request = RetrieveCustomer::new(customer);
        match within(self.budget, request.send(&self.client)).await? {
            Ok(RetrieveCustomerReturned::Customer(c)) => Ok(c
                .metadata
                .and_then(|m| m.get("user_id").cloned())
                .filter(|u| !u.is_empty())),
            Ok(RetrieveCustomerReturned::DeletedCustomer(_)) => Ok(None),
            Err(stripe::StripeError::Stripe(_, 404)) => Ok(None),
            Err(e) => Err(DirectoryError::Stripe {
                class: stripe_class(&e),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_stripe_adapter_builds_without_network_and_hides_its_key() {
        let directory = StripeDirectory::new("sk_test_not_a_real_key");
        let text = format!("{directory:?}");
        assert!(!text.contains("sk_test"), "{text}");
    }

    #[tokio::test]
    async fn the_memory_directory_answers_what_was_inserted() {
        let d = MemoryDirectory::new();
        assert_eq!(d.user_id("cus_1").await.unwrap(), None);
        d.insert("cus_1", "usr_1");
        assert_eq!(d.user_id("cus_1").await.unwrap().as_deref(), Some("usr_1"));
    }
}
