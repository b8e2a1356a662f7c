//! The representative request of each function, fresh for every invocation (new sign-in IP,
//! new order and event, new due appointment, new email job), with what it needs seeded first.

use chrono::{Duration as TimeDelta, Utc};
use scenario_tests::samples;
use scenario_tests::stack::{Stack, WEBHOOK_SECRET};
use serde_json::{Value, json};
use shared::appointments::{Appointment, AppointmentStore, DynamoAppointments, Status};
use stripe_webhook::billing::{BillingStore, DynamoBillingStore, Order};
use stripe_webhook::signature::sign_header;

/// What a function is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// The hello-world floor: `{"hello": "world"}`, echoed.
    Hello,
    /// A successful sign-in of the seeded user from a new client IP.
    Login,
    /// `checkout.session.completed` paying a new pending order.
    Webhook,
    /// A scheduled run with one appointment due for its 24 h reminder.
    Reminders,
    /// An SQS batch of one order-confirmation job.
    EmailRetry,
}

impl Workload {
    /// The binary's name.
    pub fn binary(self) -> &'static str {
        match self {
            Self::Hello => "hello-lambda",
            Self::Login => "login",
            Self::Webhook => "stripe-webhook",
            Self::Reminders => "reminder-cron",
            Self::EmailRetry => "email-retry",
        }
    }

    /// What the request is, for the report.
    pub fn request(self) -> &'static str {
        match self {
            Self::Hello => "echo",
            Self::Login => "sign-in succeeds",
            Self::Webhook => "order paid (checkout.session.completed)",
            Self::Reminders => "run with one reminder due",
            Self::EmailRetry => "batch of one job, sent",
        }
    }

    /// The secrets template.yaml gives the function (as `<NAME>_SECRET_ARN`).
    pub fn secrets(self) -> &'static [&'static str] {
        match self {
            Self::Hello => &[],
            Self::Login => &["REDIS_URL", "DEVICE_COOKIE_KEY", "LOG_HASH_KEY"],
            Self::Webhook => &["STRIPE_WEBHOOK_SECRETS", "STRIPE_API_KEY", "LOG_HASH_KEY"],
            Self::Reminders | Self::EmailRetry => &["LOG_HASH_KEY"],
        }
    }

    /// The invocation deadline (template.yaml `Timeout`).
    pub fn timeout(self) -> std::time::Duration {
        std::time::Duration::from_secs(match self {
            Self::Hello | Self::Login | Self::Webhook => 10,
            Self::Reminders => 120,
            Self::EmailRetry => 30,
        })
    }

    /// Seeds what every invocation shares (the sign-in user).
    pub async fn prepare(self, stack: &Stack) -> Result<(), String> {
        match self {
            Self::Login => samples::seed_login_user(&stack.aws, &stack.vars["USERS_TABLE"]).await,
            _ => Ok(()),
        }
    }

    /// Seeds invocation `i`'s data and returns its event.
    pub async fn event(self, stack: &Stack, i: usize) -> Result<Value, String> {
        match self {
            Self::Hello => Ok(json!({ "hello": "world" })),
            Self::Login => login_event(stack, i).await,
            Self::Webhook => webhook_event(stack, i).await,
            Self::Reminders => reminder_event(stack, i).await,
            Self::EmailRetry => Ok(email_event(i)),
        }
    }

    /// Whether `answer` is the successful one.
    pub fn succeeded(self, answer: &Value) -> bool {
        match self {
            Self::Hello => answer == &json!({ "hello": "world" }),
            Self::Login | Self::Webhook => answer["statusCode"] == 200,
            Self::Reminders => answer["sent"] == 1 && answer["errors"] == 0,
            Self::EmailRetry => answer == &json!({ "batchItemFailures": [] }),
        }
    }
}

fn sample(path: &str) -> Result<Value, String> {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(path);
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))
}

/// The login sample from a new private address, its counters (and the account's) cleared first
/// so every invocation is an admitted, successful sign-in.
async fn login_event(stack: &Stack, i: usize) -> Result<Value, String> {
    let mut event = sample("login/success.json")?;
    let ip = format!(
        "10.{}.{}.{}",
        (i >> 16) & 255,
        (i >> 8) & 255,
        (i & 255).max(1)
    );
    samples::reset_login_limits_of(&stack.secrets["REDIS_URL"], &ip).await?;
    event["requestContext"]["http"]["sourceIp"] = json!(ip);
    if let Some(headers) = event["headers"].as_object_mut() {
        headers.remove("x-forwarded-for");
    }
    Ok(event)
}

async fn webhook_event(stack: &Stack, i: usize) -> Result<Value, String> {
    let order_id = format!("ord_bench_{i}");
    let billing = DynamoBillingStore::new(
        aws_sdk_dynamodb::Client::new(&stack.aws),
        &stack.vars["BILLING_TABLE"],
    );
    let order = Order::pending(&order_id, 12_000, "usd", samples::LOGIN_EMAIL, "Jane Doe");
    billing
        .create_order(&order)
        .await
        .map_err(|e| format!("order {order_id}: {e}"))?;
    let mut event = sample("stripe-webhook/checkout_session_completed.json")?;
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap_or_default())
        .map_err(|e| format!("sample body: {e}"))?;
    let now = Utc::now().timestamp();
    body["id"] = json!(format!("evt_bench_{i}"));
    body["created"] = json!(now);
    let session = &mut body["data"]["object"];
    session["id"] = json!(format!("cs_bench_{i}"));
    session["client_reference_id"] = json!(order_id);
    session["metadata"]["order_id"] = json!(order_id);
    session["payment_intent"] = json!(format!("pi_bench_{i}"));
    let text = body.to_string();
    event["headers"]["content-length"] = json!(text.len().to_string());
    event["headers"]["stripe-signature"] = json!(sign_header(WEBHOOK_SECRET, now, text.as_bytes()));
    event["body"] = json!(text);
    Ok(event)
}

/// One approved appointment 20 h ahead (its 24 h reminder is due); the previous one is
/// cancelled so every run has exactly one reminder to send.
async fn reminder_event(stack: &Stack, i: usize) -> Result<Value, String> {
    let store = DynamoAppointments::new(
        aws_sdk_dynamodb::Client::new(&stack.aws),
        &stack.vars["APPOINTMENTS_TABLE"],
        &stack.vars["APPOINTMENTS_INDEX"],
    );
    let appointment = |n: usize, status: Status| Appointment {
        id: format!("apt_bench_{n}"),
        customer_email: samples::LOGIN_EMAIL.into(),
        customer_name: "Jane Doe".into(),
        service: "Consultation".into(),
        starts_at: Utc::now() + TimeDelta::hours(20),
        time_zone: String::new(),
        duration_minutes: 30,
        status,
        version: 1,
        meeting_link: None,
    };
    if i > 0 {
        let previous = appointment(i - 1, Status::Other("cancelled".into()));
        store
            .put(&previous)
            .await
            .map_err(|e| format!("cancel appointment {}: {e}", i - 1))?;
    }
    store
        .put(&appointment(i, Status::Approved))
        .await
        .map_err(|e| format!("appointment {i}: {e}"))?;
    sample("reminder-cron/scheduler.json")
}

fn email_event(i: usize) -> Value {
    let job = json!({
        "id": format!("order-confirmation#ord_bench_{i}"),
        "template": "order_confirmation",
        "to": samples::LOGIN_EMAIL,
        "data": {
            "order_id": format!("ord_bench_{i}"),
            "amount_cents": 12_000,
            "currency": "usd",
            "customer_name": "Jane Doe",
        },
        "critical": true,
        "correlation_id": format!("evt_bench_{i}"),
        "created_at": Utc::now().to_rfc3339(),
    });
    let now_ms = Utc::now().timestamp_millis().to_string();
    json!({ "Records": [{
        "messageId": format!("00000000-0000-4000-8000-{i:012}"),
        "receiptHandle": format!("bench-{i}"),
        "body": job.to_string(),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": now_ms,
            "SenderId": "bench",
            "ApproximateFirstReceiveTimestamp": now_ms,
        },
        "messageAttributes": {},
        "md5OfBody": "00000000000000000000000000000000",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench-EmailQueue",
        "awsRegion": "us-east-1",
    }]})
}
