//! In-process queue with SQS semantics: delays, visibility, receive counts, optional redrive.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{EmailQueue, MAX_DELAY, MAX_VISIBILITY, Receipt, ReceivedMessage, StoreError};
use crate::clock::SharedClock;
use crate::deadline::to_delta;
use crate::email_job::EmailJob;

#[derive(Debug, Clone)]
struct Entry {
    id: String,
    body: String,
    visible_at: DateTime<Utc>,
    receive_count: u32,
    receipt: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    messages: Vec<Entry>,
    dead: Vec<Entry>,
}

/// A queue in memory, reading an injectable clock.
#[derive(Debug)]
pub struct MemoryQueue {
    state: Mutex<State>,
    clock: SharedClock,
    max_receive_count: Option<u32>,
}

impl MemoryQueue {
    /// An empty queue without redrive.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            state: Mutex::new(State::default()),
            clock,
            max_receive_count: None,
        }
    }

    /// An empty queue that moves a message to its dead-letter list once it has been received
    /// `max_receive_count` times and comes back again (SQS redrive).
    pub fn with_redrive(clock: SharedClock, max_receive_count: u32) -> Self {
        Self {
            max_receive_count: Some(max_receive_count),
            ..Self::new(clock)
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a raw body (also used to simulate malformed messages).
    pub fn send_raw(&self, body: &str, delay: Duration) -> String {
        let mut state = self.state();
        state.next_id += 1;
        let id = format!("mem-{}", state.next_id);
        let visible_at = self.clock.now() + to_delta(delay.min(MAX_DELAY));
        state.messages.push(Entry {
            id: id.clone(),
            body: body.to_owned(),
            visible_at,
            receive_count: 0,
            receipt: None,
        });
        id
    }

    /// Messages still in the queue (visible or not).
    pub fn len(&self) -> usize {
        self.state().messages.len()
    }

    /// Whether the queue holds no messages.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bodies moved to the dead-letter list.
    pub fn dead_letters(&self) -> Vec<String> {
        self.state().dead.iter().map(|e| e.body.clone()).collect()
    }

    /// Moves every dead letter back to the queue (redrive); returns how many.
    pub fn redrive_dead_letters(&self) -> usize {
        let now = self.clock.now();
        let mut state = self.state();
        let dead: Vec<Entry> = std::mem::take(&mut state.dead);
        let count = dead.len();
        state.messages.extend(dead.into_iter().map(|e| Entry {
            visible_at: now,
            receive_count: 0,
            receipt: None,
            ..e
        }));
        count
    }

    fn with_receipt(
        &self,
        receipt: &Receipt,
        change: impl FnOnce(&mut State, usize),
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        let pos = state
            .messages
            .iter()
            .position(|e| e.receipt.as_deref() == Some(receipt.0.as_str()))
            .ok_or_else(|| StoreError::Conflict("receipt handle is no longer valid".into()))?;
        change(&mut state, pos);
        Ok(())
    }
}

#[async_trait]
impl EmailQueue for MemoryQueue {
    async fn enqueue(&self, job: &EmailJob, delay: Duration) -> Result<String, StoreError> {
        let body = serde_json::to_string(job).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(self.send_raw(&body, delay))
    }

    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, StoreError> {
        let now = self.clock.now();
        let mut state = self.state();
        if let Some(limit) = self.max_receive_count {
            let (dead, live): (Vec<_>, Vec<_>) = std::mem::take(&mut state.messages)
                .into_iter()
                .partition(|e| e.visible_at <= now && e.receive_count >= limit);
            state.messages = live;
            state.dead.extend(dead);
        }
        let mut out = Vec::new();
        for entry in state.messages.iter_mut() {
            if out.len() >= max as usize {
                break;
            }
            if entry.visible_at > now {
                continue;
            }
            entry.receive_count += 1;
            entry.visible_at = now + to_delta(visibility);
            let receipt = format!("{}-r{}", entry.id, entry.receive_count);
            entry.receipt = Some(receipt.clone());
            out.push(ReceivedMessage {
                message_id: entry.id.clone(),
                receipt: Receipt(receipt),
                body: entry.body.clone(),
                receive_count: entry.receive_count,
            });
        }
        Ok(out)
    }

    async fn change_visibility(
        &self,
        receipt: &Receipt,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        let visible_at = self.clock.now() + to_delta(timeout.min(MAX_VISIBILITY));
        self.with_receipt(receipt, |state, pos| {
            state.messages[pos].visible_at = visible_at;
        })
    }

    async fn delete(&self, receipt: &Receipt) -> Result<(), StoreError> {
        self.with_receipt(receipt, |state, pos| {
            state.messages.remove(pos);
        })
    }
}
