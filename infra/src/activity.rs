//! What the stack has done lately, for the `/_local` page and for replays: webhook
//! deliveries (with their raw bodies, so a failed event can be replayed), reminder runs,
//! sent emails and the email jobs the worker has seen.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// How many entries of each list are kept.
const KEEP: usize = 50;

/// One webhook delivery.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// Event id, when the body had one.
    pub event_id: Option<String>,
    /// Event type, when the body had one.
    pub event_type: Option<String>,
    /// HTTP status answered.
    pub status: u16,
    /// `outcome` or problem `title` from the answer.
    pub outcome: String,
}

/// One reminder run.
#[derive(Debug, Clone)]
pub struct ReminderRun {
    /// When it started.
    pub at: DateTime<Utc>,
    /// `scheduled` or `on demand`.
    pub trigger: String,
    /// The summary as JSON, or the error.
    pub result: String,
}

/// One sent email.
#[derive(Debug, Clone)]
pub struct SentLine {
    /// When.
    pub at: DateTime<Utc>,
    /// Recipient.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Template it was rendered from.
    pub template: String,
    /// Mailer message id (`.eml` file name or SES id).
    pub message_id: String,
}

#[derive(Debug, Default)]
struct Inner {
    webhooks: VecDeque<WebhookDelivery>,
    bodies: HashMap<String, Vec<u8>>,
    runs: VecDeque<ReminderRun>,
    sent: VecDeque<SentLine>,
    jobs: BTreeSet<String>,
}

/// The activity log (shared by the server, the worker loop and the scheduler).
#[derive(Debug, Default)]
pub struct Activity {
    inner: Mutex<Inner>,
}

fn push<T>(list: &mut VecDeque<T>, item: T) {
    list.push_front(item);
    list.truncate(KEEP);
}

impl Activity {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a webhook delivery and keeps the body of an identified event for replays.
    pub fn webhook(&self, delivery: WebhookDelivery, body: &[u8]) {
        let mut inner = self.lock();
        if let Some(id) = &delivery.event_id {
            inner.bodies.insert(id.clone(), body.to_vec());
        }
        push(&mut inner.webhooks, delivery);
    }

    /// The last raw body received for `event_id`.
    pub fn body_of(&self, event_id: &str) -> Option<Vec<u8>> {
        self.lock().bodies.get(event_id).cloned()
    }

    /// Records a reminder run.
    pub fn reminder_run(&self, run: ReminderRun) {
        push(&mut self.lock().runs, run);
    }

    /// Records a sent email.
    pub fn sent(&self, line: SentLine) {
        push(&mut self.lock().sent, line);
    }

    /// Records an email job id seen by the worker.
    pub fn job_seen(&self, job_id: &str) {
        self.lock().jobs.insert(job_id.to_owned());
    }

    /// Recent webhook deliveries, newest first.
    pub fn webhooks(&self) -> Vec<WebhookDelivery> {
        self.lock().webhooks.iter().cloned().collect()
    }

    /// Recent reminder runs, newest first.
    pub fn runs(&self) -> Vec<ReminderRun> {
        self.lock().runs.iter().cloned().collect()
    }

    /// Recent sent emails, newest first.
    pub fn sent_lines(&self) -> Vec<SentLine> {
        self.lock().sent.iter().cloned().collect()
    }

    /// Email job ids seen by the worker, sorted.
    pub fn jobs(&self) -> Vec<String> {
        self.lock().jobs.iter().cloned().collect()
    }
}
