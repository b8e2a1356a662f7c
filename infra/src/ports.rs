//! Every port of the four functions, built once for the chosen backend: the in-memory
//! adapters (default), or the real ones exactly as each function's `main.rs` builds them.

use std::sync::Arc;
use std::time::Duration;

use email_retry::record::{EmailStore, MemoryEmailStore};
use reminder_cron::appointments::{AppointmentStore, MemoryAppointments};
use shared::claims::{ClaimStore, MemoryClaimStore};
use shared::clock::SharedClock;
use shared::config::{Env, Secret, take};
use shared::mailer::{Mailer, MemoryMailer};
use shared::metrics::Metrics;
use shared::queue::{EmailQueue, MemoryQueue, SqsQueue};
use stripe_webhook::billing::MemoryBillingStore;
use stripe_webhook::stripe_api::MemoryStripe;

use crate::activity::Activity;
use crate::announce::Announce;
use crate::settings::{Backend, LocalSettings};

/// The email queue's `maxReceiveCount` (as in template.yaml): the worker's budget plus its
/// spare receives.
pub const MAX_RECEIVES: u32 =
    email_retry::tuning::RETRY_BUDGET + email_retry::tuning::SPARE_RECEIVES;

/// The one-line fix for a services backend that is not configured or not reachable.
pub const SERVICES_FIX: &str =
    "fix: infra/scripts/services.sh start && source .local/services/env (or use --backend memory)";

/// Where dead-lettered email jobs are.
#[derive(Debug, Clone)]
pub enum DeadLetters {
    /// The in-process queue's dead-letter list.
    Memory(Arc<MemoryQueue>),
    /// The SQS dead-letter queue.
    Sqs(Arc<SqsQueue>),
}

/// Every adapter the stack hands to the functions.
#[derive(Debug, Clone)]
pub struct Ports {
    /// Time source.
    pub clock: SharedClock,
    /// Claims.
    pub claims: Arc<dyn ClaimStore>,
    /// The email queue.
    pub queue: Arc<dyn EmailQueue>,
    /// Its dead letters.
    pub dead_letters: DeadLetters,
    /// The mailer (announcing every send).
    pub mailer: Arc<dyn Mailer>,
    /// The in-memory mailer under it (memory backend), for tests.
    pub memory_mailer: Option<Arc<MemoryMailer>>,
    /// The `login` function, built by its own builder on this backend (its users store
    /// and rate limiter are `login.users` and `login.limiter`).
    pub login: login::App,
    /// Appointments.
    pub appointments: Arc<dyn AppointmentStore>,
    /// stripe-webhook's ports (its billing store is also the demo's and the ops commands').
    pub webhook: stripe_webhook::Ports,
    /// Email records.
    pub emails: Arc<dyn EmailStore>,
    /// The in-memory email records (memory backend), for the page.
    pub memory_emails: Option<Arc<MemoryEmailStore>>,
    /// What the ports are, for the banner.
    pub description: String,
}

/// Builds the ports for `settings.backend`; the services backend reads its resource names
/// from `env` (the same variables the functions read).
pub async fn build(
    settings: &LocalSettings,
    activity: &Arc<Activity>,
    env: Env,
) -> Result<Ports, String> {
    match settings.backend {
        Backend::Memory => memory(settings, activity),
        Backend::Services => services(settings, activity, env).await,
    }
}

fn sender_domain(sender: &str) -> String {
    sender
        .rsplit_once('@')
        .map_or_else(|| sender.to_owned(), |(_, d)| d.to_owned())
}

/// Removes the previous run's `.eml` files: the mailer numbers messages from 1 again, and
/// the outbox should show this run only.
fn clear_outbox(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "eml") {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `login` on its builder: device cookies under a random key (they last as long as the
/// stack), metrics kept in memory (EMF lines would bury the summaries).
fn login_app(ports: login::app::Ports, clock: &SharedClock) -> Result<login::App, String> {
    login::App::build(
        ports,
        &login::device::DeviceCookies::random_key(),
        login::Settings::default(),
        clock.clone(),
        Metrics::in_memory("login").0,
    )
    .map_err(|e| format!("login: {e}"))
}

fn memory(settings: &LocalSettings, activity: &Arc<Activity>) -> Result<Ports, String> {
    clear_outbox(&settings.outbox);
    let clock = shared::clock::system();
    let queue = Arc::new(MemoryQueue::with_redrive(clock.clone(), MAX_RECEIVES));
    let claims: Arc<dyn ClaimStore> = Arc::new(MemoryClaimStore::new(clock.clone()));
    let login = login_app(
        login::app::Ports::in_memory(claims.clone(), queue.clone(), clock.clone()),
        &clock,
    )?;
    let mailer = Arc::new(
        MemoryMailer::new([sender_domain(&settings.sender)]).with_outbox(&settings.outbox),
    );
    let emails = Arc::new(MemoryEmailStore::new(clock.clone()));
    Ok(Ports {
        webhook: stripe_webhook::Ports {
            claims: claims.clone(),
            billing: Arc::new(MemoryBillingStore::new()),
            queue: queue.clone(),
            stripe: Arc::new(MemoryStripe::new()),
        },
        claims,
        queue: queue.clone(),
        dead_letters: DeadLetters::Memory(queue),
        mailer: Arc::new(Announce::new(
            mailer.clone(),
            activity.clone(),
            settings.announce,
        )),
        memory_mailer: Some(mailer),
        login,
        appointments: Arc::new(MemoryAppointments::default()),
        emails: emails.clone(),
        memory_emails: Some(emails),
        description: format!(
            "memory (in-process adapters; emails written to {})",
            settings.outbox.display()
        ),
        clock,
    })
}

/// Names of the real resources, from the same variables the functions read.
struct Names {
    users: String,
    claims: String,
    billing: String,
    appointments: String,
    index: String,
    emails: String,
    queue_url: String,
    dlq_url: Option<String>,
    redis_url: String,
    stripe_api_key: Option<String>,
    stripe_api_base: Option<String>,
}

fn names(mut env: Env) -> Result<Names, String> {
    let users = env.required("USERS_TABLE");
    let claims = env.required("CLAIMS_TABLE");
    let billing = env.required("BILLING_TABLE");
    let appointments = env.required("APPOINTMENTS_TABLE");
    let emails = env.required("EMAILS_TABLE");
    let queue_url = env.required("EMAIL_QUEUE_URL");
    let redis_url = env.secret("REDIS_URL");
    let index = env
        .optional("APPOINTMENTS_INDEX")
        .unwrap_or_else(|| "by-start-day".into());
    let dlq_url = env.optional("EMAIL_DLQ_URL");
    let stripe_api_key = env.optional("STRIPE_API_KEY");
    let stripe_api_base = env.optional("STRIPE_API_BASE");
    let fail = |e: shared::config::ConfigError| format!("backend services: {e}; {SERVICES_FIX}");
    env.finish().map_err(fail)?;
    Ok(Names {
        users: take(users, "USERS_TABLE").map_err(fail)?,
        claims: take(claims, "CLAIMS_TABLE").map_err(fail)?,
        billing: take(billing, "BILLING_TABLE").map_err(fail)?,
        appointments: take(appointments, "APPOINTMENTS_TABLE").map_err(fail)?,
        index,
        emails: take(emails, "EMAILS_TABLE").map_err(fail)?,
        queue_url: take(queue_url, "EMAIL_QUEUE_URL").map_err(fail)?,
        dlq_url,
        redis_url: take(redis_url, "REDIS_URL").map_err(fail)?.expose().clone(),
        stripe_api_key,
        stripe_api_base,
    })
}

/// stripe-webhook's ports from its own builder, with the local stack's secrets; without a
/// Stripe key, Stripe's side (customers, subscriptions, events) is in memory.
fn webhook_ports(
    n: &Names,
    settings: &LocalSettings,
    aws: &aws_config::SdkConfig,
    clock: SharedClock,
) -> Result<stripe_webhook::Ports, String> {
    let config = stripe_webhook::Config {
        log_hash_key: login::device::DeviceCookies::random_key(),
        claims_table: n.claims.clone(),
        billing_table: n.billing.clone(),
        email_queue_url: n.queue_url.clone(),
        webhook_secrets: settings
            .webhook_secrets
            .iter()
            .cloned()
            .map(Secret::new)
            .collect(),
        stripe_api_key: Secret::new(n.stripe_api_key.clone().unwrap_or_default()),
        stripe_api_base: n.stripe_api_base.clone(),
        stripe_mode: stripe_webhook::StripeMode::Test,
        admin_email: settings.admin_email.clone(),
        tolerance: stripe_webhook::signature::Verifier::DEFAULT_TOLERANCE,
        budget: stripe_webhook::Settings::default().budget,
    };
    let mut ports = stripe_webhook::Ports::from_aws(&config, aws, clock)
        .map_err(|e| format!("Stripe API client: {e}"))?;
    if n.stripe_api_key.is_none() {
        ports.stripe = Arc::new(MemoryStripe::new());
    }
    Ok(ports)
}

/// The dead-letter queue of `queue_url`, from its redrive policy.
async fn dead_letter_url(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<String, String> {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot reach SQS queue {queue_url} ({}); {SERVICES_FIX}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            )
        })?;
    let policy = attrs
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy))
        .ok_or_else(|| {
            format!("{queue_url} has no redrive policy; fix: export EMAIL_DLQ_URL=<dead-letter queue url>")
        })?;
    let arn = serde_json::from_str::<serde_json::Value>(policy)
        .ok()
        .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_owned))
        .ok_or_else(|| "unreadable redrive policy; fix: export EMAIL_DLQ_URL=<url>".to_owned())?;
    let name = arn.rsplit(':').next().unwrap_or_default();
    sqs.get_queue_url()
        .queue_name(name)
        .send()
        .await
        .ok()
        .and_then(|o| o.queue_url().map(str::to_owned))
        .ok_or_else(|| {
            format!("dead-letter queue {name} not found; fix: export EMAIL_DLQ_URL=<url>")
        })
}

/// Registers the sender's domain with a local SES emulator (moto refuses unverified
/// senders); never done against real AWS, where identities are verified by a person.
async fn verify_sender_locally(aws: &aws_config::SdkConfig, sender: &str) {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        return;
    }
    let ses = aws_sdk_sesv2::Client::new(aws);
    // An identity that already exists is fine.
    let _ = ses
        .create_email_identity()
        .email_identity(sender_domain(sender))
        .send()
        .await;
}

/// Connection refused and the like surface here, before the banner, with the fix.
async fn check_reachable(dynamo: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), String> {
    let call = dynamo.describe_table().table_name(table).send();
    match tokio::time::timeout(Duration::from_secs(5), call).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "DynamoDB table {table} is not usable ({}); {SERVICES_FIX}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        )),
        Err(_) => Err(format!(
            "DynamoDB did not answer within 5 s; {SERVICES_FIX}"
        )),
    }
}

async fn services(
    settings: &LocalSettings,
    activity: &Arc<Activity>,
    env: Env,
) -> Result<Ports, String> {
    let n = names(env)?;
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        return Err(format!(
            "backend services: AWS_REGION is not set; {SERVICES_FIX}"
        ));
    }
    let aws = tokio::time::timeout(Duration::from_secs(10), shared::aws::load_config())
        .await
        .map_err(|_| format!("loading the AWS configuration took over 10 s; {SERVICES_FIX}"))?;
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    check_reachable(&dynamo, &n.users).await?;
    let dlq_url = match n.dlq_url.clone() {
        Some(url) => url,
        None => dead_letter_url(&sqs, &n.queue_url).await?,
    };
    verify_sender_locally(&aws, &settings.sender).await;
    let clock = shared::clock::system();
    let login_config = login::Config {
        users_table: n.users.clone(),
        claims_table: n.claims.clone(),
        email_queue_url: n.queue_url.clone(),
        redis_url: Secret::new(n.redis_url.clone()),
        device_cookie_key: login::device::DeviceCookies::random_key(),
        log_hash_key: login::device::DeviceCookies::random_key(),
        settings: login::Settings::default(),
    };
    let login_ports = login::app::Ports::from_aws(
        &login_config,
        &aws,
        clock.clone(),
        Metrics::in_memory("login").0,
    )
    .map_err(|e| format!("REDIS_URL is not usable ({e}); {SERVICES_FIX}"))?;
    let login = login_app(login_ports, &clock)?;
    let webhook = webhook_ports(&n, settings, &aws, clock.clone())?;
    let queue = Arc::new(SqsQueue::new(sqs.clone(), &n.queue_url));
    // reminder-cron and email-retry build their own adapters; the stack shares them.
    let reminder = reminder_cron::App::from_aws(
        reminder_cron::Config {
            log_hash_key: login::device::DeviceCookies::random_key(),
            appointments_table: n.appointments.clone(),
            appointments_index: n.index.clone(),
            claims_table: n.claims.clone(),
            email_queue_url: n.queue_url.clone(),
            settings: crate::stack::reminder_settings(settings),
        },
        &aws,
    );
    let worker = email_retry::App::from_aws(
        email_retry::Config {
            log_hash_key: login::device::DeviceCookies::random_key(),
            emails_table: n.emails.clone(),
            appointments_table: n.appointments.clone(),
            claims_table: n.claims.clone(),
            queue_url: n.queue_url.clone(),
            settings: crate::stack::worker_settings(settings),
        },
        &aws,
    );
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "AWS".into());
    Ok(Ports {
        // The claims table's adapter as reminder-cron builds it (one per table, shared).
        claims: reminder.claims.clone(),
        queue,
        dead_letters: DeadLetters::Sqs(Arc::new(SqsQueue::new(sqs, dlq_url))),
        mailer: Arc::new(Announce::new(
            reminder.mailer.clone(),
            activity.clone(),
            settings.announce,
        )),
        memory_mailer: None,
        login,
        appointments: reminder.appointments.clone(),
        webhook,
        emails: worker.store.clone(),
        memory_emails: None,
        description: format!(
            "services (DynamoDB/SQS/SES at {endpoint}, Redis at {}; customer lookups {})",
            redact_url(&n.redis_url),
            if n.stripe_api_key.is_some() {
                "via Stripe"
            } else {
                "local only"
            }
        ),
        clock,
    })
}

/// `redis://:secret@host:6379` → `redis://host:6379`.
fn redact_url(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://{host}"),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redis_passwords_never_reach_the_banner() {
        assert_eq!(
            super::redact_url("redis://:hunter2@cache:6379"),
            "redis://cache:6379"
        );
        assert_eq!(
            super::redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }
}
