//! In-memory billing store with the DynamoDB adapter's conditions.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    Applied, BillingStore, CustomerLink, EventFailure, Order, Payment, StoreError, Subscription,
    UnparsedEvent, subscription_may_replace,
};

#[derive(Debug, Default)]
struct State {
    orders: HashMap<String, Order>,
    payments: HashMap<String, Payment>,
    subscriptions: HashMap<String, Subscription>,
    customers: HashMap<String, CustomerLink>,
    unparsed: HashMap<String, UnparsedEvent>,
    failures: HashMap<String, EventFailure>,
    checkpoint: Option<i64>,
}

/// Billing records in maps behind one mutex.
#[derive(Debug, Default)]
pub struct MemoryBillingStore {
    state: Mutex<State>,
}

impl MemoryBillingStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every payment (tests, local stack).
    pub fn payments(&self) -> Vec<Payment> {
        self.state().payments.values().cloned().collect()
    }
}

fn applied(changed: bool) -> Applied {
    if changed {
        Applied::Changed
    } else {
        Applied::Unchanged
    }
}

#[async_trait]
impl BillingStore for MemoryBillingStore {
    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        Ok(self.state().orders.get(id).cloned())
    }

    async fn create_order(&self, order: &Order) -> Result<Applied, StoreError> {
        let mut state = self.state();
        if state.orders.contains_key(&order.id) {
            return Ok(Applied::Unchanged);
        }
        state.orders.insert(order.id.clone(), order.clone());
        Ok(Applied::Changed)
    }

    async fn save_order(&self, expected_version: u64, next: &Order) -> Result<Applied, StoreError> {
        let mut state = self.state();
        match state.orders.get_mut(&next.id) {
            Some(current) if current.version == expected_version => {
                // Only the payment fields move; the shop's fields stay as stored.
                current.status = next.status;
                current.paid_cents = next.paid_cents;
                current.balance_cents = next.balance_cents;
                current.refunded_cents = next.refunded_cents;
                current.disputed = next.disputed;
                current.failure_reason = next.failure_reason.clone();
                current.ledger = next.ledger.clone();
                current.version = next.version;
                Ok(Applied::Changed)
            }
            _ => Ok(Applied::Unchanged),
        }
    }

    async fn record_payment(&self, payment: &Payment) -> Result<Applied, StoreError> {
        let mut state = self.state();
        if state.payments.contains_key(&payment.payment_intent) {
            return Ok(Applied::Unchanged);
        }
        state
            .payments
            .insert(payment.payment_intent.clone(), payment.clone());
        Ok(Applied::Changed)
    }

    async fn payment(&self, payment_intent: &str) -> Result<Option<Payment>, StoreError> {
        Ok(self.state().payments.get(payment_intent).cloned())
    }

    async fn upsert_subscription(&self, sub: &Subscription) -> Result<Applied, StoreError> {
        let mut state = self.state();
        let ok = state.subscriptions.get(&sub.id).is_none_or(|stored| {
            subscription_may_replace(stored, sub.event_created, sub.event_rank)
        });
        if ok {
            state.subscriptions.insert(sub.id.clone(), sub.clone());
        }
        Ok(applied(ok))
    }

    async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        Ok(self.state().subscriptions.get(id).cloned())
    }

    async fn customer(&self, customer: &str) -> Result<Option<CustomerLink>, StoreError> {
        Ok(self.state().customers.get(customer).cloned())
    }

    async fn link_customer(&self, link: &CustomerLink) -> Result<(), StoreError> {
        self.state()
            .customers
            .insert(link.customer.clone(), link.clone());
        Ok(())
    }

    async fn store_unparsed(&self, event: &UnparsedEvent) -> Result<(), StoreError> {
        self.state()
            .unparsed
            .entry(event.event_id.clone())
            .or_insert_with(|| event.clone());
        Ok(())
    }

    async fn unparsed(&self, event_id: &str) -> Result<Option<UnparsedEvent>, StoreError> {
        Ok(self.state().unparsed.get(event_id).cloned())
    }

    async fn mark_replayed(&self, event_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        if let Some(e) = self.state().unparsed.get_mut(event_id) {
            e.replayed_at.get_or_insert(at);
        }
        Ok(())
    }

    async fn record_failure(&self, failure: &EventFailure) -> Result<(), StoreError> {
        let mut state = self.state();
        let entry = state
            .failures
            .entry(failure.event_id.clone())
            .or_insert_with(|| EventFailure {
                attempts: 0,
                ..failure.clone()
            });
        entry.attempts += 1;
        entry.last_at = failure.last_at;
        entry.reason = failure.reason.clone();
        entry.subject = failure.subject.clone();
        Ok(())
    }

    async fn failure(&self, event_id: &str) -> Result<Option<EventFailure>, StoreError> {
        Ok(self.state().failures.get(event_id).cloned())
    }

    async fn reconcile_checkpoint(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.state().checkpoint)
    }

    async fn advance_checkpoint(&self, created: i64) -> Result<Applied, StoreError> {
        let mut state = self.state();
        let forward = state.checkpoint.is_none_or(|c| c < created);
        if forward {
            state.checkpoint = Some(created);
        }
        Ok(applied(forward))
    }
}
