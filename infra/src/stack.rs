//! The stack: the four functions built on one set of ports, and the operations the server,
//! the scheduler, the worker loop and the ops commands run on them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use lambda_http::{Body, Request, Response};
use login::users::User;
use serde_json::{Value, json};
use shared::config::Secret;
use shared::deadline::Deadline;
use shared::metrics::Metrics;
use shared::retry::Backoff;
use stripe_webhook::signature::{Verifier, sign_header};

use crate::activity::{Activity, ReminderRun, WebhookDelivery};
use crate::apigw::{self, PlainRequest};
use crate::ports::{self, DeadLetters, Ports};
use crate::settings::LocalSettings;

/// The four functions and their ports.
#[derive(Debug)]
pub struct Stack {
    /// Settings it was built with.
    pub settings: LocalSettings,
    /// The shared ports.
    pub ports: Ports,
    /// `stripe-webhook`.
    pub webhook: stripe_webhook::App,
    /// `reminder-cron`.
    pub reminder: reminder_cron::App,
    /// `email-retry`.
    pub worker: email_retry::App,
    /// Recent activity.
    pub activity: Arc<Activity>,
}

/// An answer of an operation: HTTP status and JSON body.
pub type OpResult = Result<Value, (u16, String)>;

fn metrics(function: &'static str) -> Metrics {
    // EMF lines are for CloudWatch; locally they would bury the summaries.
    Metrics::in_memory(function).0
}

/// reminder-cron's settings locally: the schedule runs every `reminder_interval`.
pub fn reminder_settings(settings: &LocalSettings) -> reminder_cron::Settings {
    let mut s = reminder_cron::Settings::new(
        settings.sender.clone(),
        settings.admin_email.clone(),
        settings.time_zone,
    );
    s.rules.schedule_interval = settings.reminder_interval.max(Duration::from_secs(1));
    s
}

/// email-retry's settings locally: short backoff and pause, so retries are visible.
pub fn worker_settings(settings: &LocalSettings) -> email_retry::Settings {
    let mut s = email_retry::Settings::new(
        settings.sender.clone(),
        settings.admin_email.clone(),
        settings.time_zone,
    );
    s.backoff = Backoff::new(settings.email_backoff.0, settings.email_backoff.1);
    s.paused_delay = Duration::from_secs(60);
    s
}

impl Stack {
    /// Builds the ports for the configured backend and the four functions on them
    /// (services resource names from `env`).
    pub async fn build(settings: LocalSettings, env: shared::config::Env) -> Result<Self, String> {
        let activity = Arc::new(Activity::default());
        let ports = ports::build(&settings, &activity, env).await?;
        let clock = ports.clock.clone();
        let webhook = stripe_webhook::App::build(
            ports.webhook.clone(),
            Verifier::new(
                settings
                    .webhook_secrets
                    .iter()
                    .cloned()
                    .map(Secret::new)
                    .collect(),
                Verifier::DEFAULT_TOLERANCE,
            ),
            stripe_webhook::Settings {
                admin_email: settings.admin_email.clone(),
                ..stripe_webhook::Settings::default()
            },
            clock.clone(),
            metrics("stripe-webhook"),
        );
        let reminder = reminder_cron::App::build(
            reminder_cron::Ports {
                appointments: ports.appointments.clone(),
                claims: ports.claims.clone(),
                queue: ports.queue.clone(),
                mailer: ports.mailer.clone(),
            },
            clock.clone(),
            metrics("reminder-cron"),
            reminder_settings(&settings),
        );
        let worker = email_retry::App::build(
            email_retry::Ports {
                store: ports.emails.clone(),
                mailer: ports.mailer.clone(),
                queue: ports.queue.clone(),
                appointments: ports.appointments.clone(),
                claims: ports.claims.clone(),
            },
            clock,
            metrics("email-retry"),
            worker_settings(&settings),
        );
        Ok(Self {
            settings,
            ports,
            webhook,
            reminder,
            worker,
            activity,
        })
    }

    /// `POST /auth/login` through the login handler.
    pub async fn login(&self, request: Request) -> Response<Body> {
        self.ports.login.handle(request).await
    }

    /// `POST /stripe/webhook` through the webhook handler; the delivery is logged.
    pub async fn stripe_webhook(&self, request: Request) -> Response<Body> {
        let body = apigw::body_bytes(request.body());
        let response = stripe_webhook::handle(&self.webhook, request).await;
        let envelope: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let answer: Value =
            serde_json::from_slice(&apigw::body_bytes(response.body())).unwrap_or(Value::Null);
        let outcome = answer["outcome"]
            .as_str()
            .or_else(|| answer["title"].as_str())
            .unwrap_or_default()
            .to_owned();
        let delivery = WebhookDelivery {
            at: Utc::now(),
            event_id: envelope["id"].as_str().map(str::to_owned),
            event_type: envelope["type"].as_str().map(str::to_owned),
            status: response.status().as_u16(),
            outcome,
        };
        if self.settings.announce {
            println!(
                "stripe {} {} -> {} {}",
                delivery.event_type.as_deref().unwrap_or("?"),
                delivery.event_id.as_deref().unwrap_or("?"),
                delivery.status,
                delivery.outcome
            );
        }
        self.activity.webhook(delivery, &body);
        response
    }

    /// Runs reminder-cron once with a scheduled-event payload (as EventBridge Scheduler
    /// sends it) and a 60 s budget.
    pub async fn run_reminders(&self, trigger: &str) -> OpResult {
        let now = Utc::now();
        let event = json!({
            "scheduled_time": now.to_rfc3339_opts(SecondsFormat::Secs, true),
            "execution_id": format!("local-{}", now.timestamp_millis()),
        });
        let deadline = Deadline::after(
            Duration::from_secs(60),
            Duration::from_secs(5),
            self.ports.clock.clone(),
        );
        let result = self.reminder.handle(&event, &deadline).await;
        let (text, answer) = match result {
            Ok(summary) => {
                let value = serde_json::to_value(&summary).unwrap_or(Value::Null);
                (value.to_string(), Ok(value))
            }
            Err(e) => (
                format!("failed: {e}"),
                Err((503, format!("reminder run failed: {e}"))),
            ),
        };
        if self.settings.announce {
            println!("cron   reminder run ({trigger}): {text}");
        }
        self.activity.reminder_run(ReminderRun {
            at: now,
            trigger: trigger.to_owned(),
            result: text,
        });
        answer
    }

    /// Receives one batch from the email queue and hands it to the email worker.
    pub async fn email_batch(&self) -> Result<usize, String> {
        crate::worker_loop::process_batch(
            &self.worker,
            self.ports.queue.as_ref(),
            &self.activity,
            &self.ports.clock,
        )
        .await
    }

    /// Processes batches until a receive comes back empty; returns the records handled.
    pub async fn drain_emails(&self) -> Result<usize, String> {
        let mut total = 0;
        loop {
            let n = self.email_batch().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// The email jobs whose send outcome is unknown (`AMBIGUOUS`): job id, attempts, reason.
    pub async fn list_ambiguous(&self) -> OpResult {
        let records = self
            .worker
            .store
            .list(email_retry::record::EmailStatus::Ambiguous)
            .await
            .map_err(|e| (503, format!("email records unavailable: {e}")))?;
        let jobs: Vec<Value> = records
            .iter()
            .map(|r| json!({"job_id": r.job_id, "attempts": r.attempts, "reason": r.reason}))
            .collect();
        Ok(json!({ "ambiguous": jobs }))
    }

    /// Moves dead-lettered email jobs back to the queue (finished jobs are not re-sent).
    pub async fn redrive_dlq(&self) -> OpResult {
        match &self.ports.dead_letters {
            DeadLetters::Memory(queue) => {
                // The worker acknowledges a redriven job that is already finished without
                // sending it again, so moving every dead letter back is safe.
                let moved = queue.redrive_dead_letters();
                Ok(json!({ "moved": moved }))
            }
            DeadLetters::Sqs(dlq) => email_retry::redrive::redrive(
                dlq.as_ref(),
                self.ports.queue.as_ref(),
                self.ports.emails.as_ref(),
            )
            .await
            .map(|s| {
                json!({
                    "moved": s.moved,
                    "already_finished": s.already_finished,
                    "malformed_kept": s.malformed_kept,
                })
            })
            .map_err(|e| (503, format!("redrive failed: {e}"))),
        }
    }

    /// Lists the Stripe events since `since` (else the stored checkpoint) and processes any not
    /// completed here through the webhook's own claim and effects; answers the counts.
    pub async fn reconcile_stripe(&self, since: Option<i64>) -> OpResult {
        let report = stripe_webhook::reconcile::run(&self.webhook, since)
            .await
            .map_err(|e| (503, e.to_string()))?;
        serde_json::to_value(report).map_err(|e| (500, e.to_string()))
    }

    /// Reprocesses a stored unparsed event, or a failed one whose body this stack received,
    /// through the webhook handler (re-signed now with the first secret): the same claim
    /// and effects as a Stripe resend.
    pub async fn replay_stripe_event(&self, event_id: &str) -> OpResult {
        let billing = &self.ports.webhook.billing;
        let unparsed = billing
            .unparsed(event_id)
            .await
            .map_err(|e| (503, format!("billing store: {e}")))?;
        let failure = billing
            .failure(event_id)
            .await
            .map_err(|e| (503, format!("billing store: {e}")))?;
        let (source, body) = match (unparsed, failure) {
            (Some(u), _) => match u.body {
                Some(body) => ("unparsed", body),
                None => {
                    return Err((
                        409,
                        format!(
                            "{event_id} was stored without its body (too large); resend it from Stripe: stripe events resend {event_id}"
                        ),
                    ));
                }
            },
            (None, Some(f)) => match self.activity.body_of(event_id) {
                Some(body) => ("failed", body),
                None => {
                    return Err((
                        409,
                        format!(
                            "{event_id} failed ({}) but this stack did not receive its body; resend it from Stripe: stripe events resend {event_id}",
                            f.reason
                        ),
                    ));
                }
            },
            (None, None) => {
                return Err((
                    404,
                    format!("no stored unparsed or failed Stripe event {event_id}"),
                ));
            }
        };
        let request = self.signed_webhook_request(&body)?;
        let response = self.stripe_webhook(request).await;
        let answer: Value =
            serde_json::from_slice(&apigw::body_bytes(response.body())).unwrap_or(Value::Null);
        Ok(json!({
            "event_id": event_id,
            "source": source,
            "status": response.status().as_u16(),
            "answer": answer,
        }))
    }

    /// A webhook request for `body`, signed now with the first configured secret.
    pub fn signed_webhook_request(&self, body: &[u8]) -> Result<Request, (u16, String)> {
        let signature = sign_header(self.settings.signing_secret(), Utc::now().timestamp(), body);
        let mut headers = lambda_http::http::HeaderMap::new();
        headers.insert(
            "content-type",
            lambda_http::http::HeaderValue::from_static("application/json"),
        );
        let value = lambda_http::http::HeaderValue::from_str(&signature)
            .map_err(|e| (500, format!("signature header: {e}")))?;
        headers.insert("stripe-signature", value);
        let plain = PlainRequest {
            method: "POST",
            path: "/stripe/webhook",
            query: "",
            headers: &headers,
            body,
            peer: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        apigw::to_lambda(&plain, &format!("replay-{}", Utc::now().timestamp_millis()))
            .map_err(|e| (500, e))
    }

    /// Imports a Supabase `auth.users` export (CSV or JSON) into the users store.
    pub async fn import_users(&self, text: &str) -> OpResult {
        let format = login::import::Format::sniff(text);
        let parsed = login::import::parse(text, format, Utc::now()).map_err(|e| (400, e))?;
        let report = login::import::import(self.ports.login.users.as_ref(), parsed)
            .await
            .map_err(|e| (503, format!("users store: {e}")))?;
        serde_json::to_value(report).map_err(|e| (500, e.to_string()))
    }

    /// Registers a user with an Argon2id hash of `password`.
    pub async fn create_user(&self, email: &str, name: &str, password: String) -> OpResult {
        let email = email.trim().to_lowercase();
        if !email.contains('@') || email.len() > 254 {
            return Err((400, "not an email address".into()));
        }
        if password.chars().count() < 8 {
            return Err((400, "the password needs at least 8 characters".into()));
        }
        let hash = tokio::task::spawn_blocking(move || login::password::hash_password(&password))
            .await
            .map_err(|e| (500, format!("hashing crashed: {e}")))?
            .map_err(|e| (500, e.to_string()))?;
        let now = Utc::now();
        let user = User {
            id: format!("user-{}", now.timestamp_micros()),
            email: email.clone(),
            name: name.to_owned(),
            password_hash: hash,
            created_at: now,
        };
        match self.ports.login.users.create_user(&user).await {
            Ok(()) => Ok(json!({ "id": user.id, "email": email, "name": name })),
            Err(shared::store_error::StoreError::Conflict(_)) => {
                Err((409, format!("a user with email {email} already exists")))
            }
            Err(e) => Err((503, format!("users store: {e}"))),
        }
    }
}
