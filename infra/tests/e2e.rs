//! End to end: the local stack started in-process on an ephemeral port, driven over real
//! HTTP, on both backends. Signs in, sends one signed `checkout.session.completed` three
//! times, triggers reminders, drains the email worker, and checks the exact set of emails.
//!
//! The services test needs moto + redis (`infra/scripts/services.sh start && source
//! .local/services/env`) and FAILS, never skips, without them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use infra::dev::{Running, start};
use infra::settings::{Backend, LocalSettings};
use infra::{client, demo};
use login::client_ip::ClientIp;
use login::ratelimit::LoginLimits;
use serde_json::Value;
use shared::config::Env;
use shared::testing::{provision, services, template::Template, unique_name};
use stripe_webhook::signature::sign_header;

fn settings(backend: Backend, outbox: PathBuf, sender: &str) -> LocalSettings {
    LocalSettings {
        backend,
        port: 0,
        reminder_interval: Duration::ZERO,
        outbox,
        sender: sender.to_owned(),
        run_worker: false,
        announce: false,
        ..LocalSettings::local_defaults()
    }
}

async fn post(running: &Running, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    let (status, text) = client::post(&running.url(), path, headers, body.as_bytes().to_vec())
        .await
        .unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The scenario; returns nothing, asserts on HTTP answers. Emails are checked by the caller.
async fn scenario(running: &Running) {
    // The Redis counters outlive a test run: start from a clean per-IP and account window.
    let limiter = &running.stack.ports.login.limiter;
    limiter
        .reset(&LoginLimits::ip_key(&ClientIp::parse("127.0.0.1").unwrap()))
        .await
        .unwrap();
    limiter
        .reset(&LoginLimits::account_key(demo::USER_EMAIL))
        .await
        .unwrap();

    let json = [("content-type", "application/json")];
    let login = format!(
        r#"{{"email":"{}","password":"{}"}}"#,
        demo::USER_EMAIL,
        demo::USER_PASSWORD
    );
    let (status, body) = post(running, "/auth/login", &json, &login).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["email"], demo::USER_EMAIL);
    let wrong = format!(
        r#"{{"email":"{}","password":"nope-nope"}}"#,
        demo::USER_EMAIL
    );
    let (status, _) = post(running, "/auth/login", &json, &wrong).await;
    assert_eq!(status, 401);

    let now = Utc::now().timestamp();
    let event =
        infra::stripe_samples::event("checkout.session.completed", &unique_name("evt_e2e_"), now)
            .unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let signature = sign_header(
            running.stack.settings.signing_secret(),
            now,
            event.as_bytes(),
        );
        let headers = [
            ("content-type", "application/json"),
            ("stripe-signature", signature.as_str()),
        ];
        let (status, body) = post(running, "/stripe/webhook", &headers, &event).await;
        assert_eq!(status, 200, "{body}");
        outcomes.push(body["outcome"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(outcomes, ["processed", "duplicate", "duplicate"]);
    let bad = [("stripe-signature", "t=1,v1=00")];
    let (status, body) = post(running, "/stripe/webhook", &bad, &event).await;
    assert_eq!(status, 400, "{body}");

    let (status, summary) = post(running, "/_local/ops/run-reminders", &[], "").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        (summary["due"].as_u64(), summary["sent"].as_u64()),
        (Some(2), Some(2))
    );
    let (_, again) = post(running, "/_local/ops/run-reminders", &[], "").await;
    assert_eq!(
        (again["sent"].as_u64(), again["already_sent"].as_u64()),
        (Some(0), Some(2))
    );

    let (status, drained) = post(running, "/_local/ops/drain-emails", &[], "").await;
    assert_eq!(status, 200, "{drained}");
    assert_eq!(drained["handled"], 2, "sign-in notice + order confirmation");
    let (_, again) = post(running, "/_local/ops/drain-emails", &[], "").await;
    assert_eq!(again["handled"], 0);

    let page = reqwest_like_get(running, "/_local").await;
    assert!(page.contains("checkout.session.completed") && page.contains("order_confirmation"));
}

/// GET over a raw socket (the ops client only posts).
async fn reqwest_like_get(running: &Running, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: local\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text
}

/// The emails every run must produce, as (recipient, subject prefix).
fn expected() -> BTreeSet<(String, String)> {
    [
        "New sign-in to your account",
        "Order order-demo-1001 confirmed",
        "Reminder: Strategy session tomorrow",
        "Starting soon: Follow-up call",
    ]
    .into_iter()
    .map(|s| (demo::USER_EMAIL.to_owned(), s.to_owned()))
    .collect()
}

/// Subjects cut to the expected prefixes (reminder subjects carry the local time).
fn normalise(subjects: Vec<(String, String)>) -> Vec<(String, String)> {
    subjects
        .into_iter()
        .map(|(to, subject)| {
            let cut = subject
                .find(", ")
                .filter(|_| subject.starts_with("Reminder:") || subject.starts_with("Starting"))
                .map_or(subject.clone(), |i| subject[..i].to_owned());
            (to, cut)
        })
        .collect()
}

fn assert_exact(sent: Vec<(String, String)>) {
    let sent = normalise(sent);
    let unique: BTreeSet<_> = sent.iter().cloned().collect();
    assert_eq!(unique.len(), sent.len(), "duplicates among {sent:?}");
    assert_eq!(unique, expected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backend_end_to_end() {
    let outbox = std::env::temp_dir().join(unique_name("bundle-e2e-outbox-"));
    let running = start(
        settings(Backend::Memory, outbox.clone(), "bookings@example.com"),
        Env::from_pairs::<String, String>([]),
    )
    .await
    .unwrap();
    scenario(&running).await;

    let mut from_files = Vec::new();
    for entry in std::fs::read_dir(&outbox).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let header = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap()
                .trim()
                .to_owned()
        };
        from_files.push((header("To:"), header("Subject:")));
    }
    assert_exact(from_files);
    let mailer = running.stack.ports.memory_mailer.as_ref().unwrap();
    assert_eq!(mailer.sent().len(), 4);
    std::fs::remove_dir_all(&outbox).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_backend_end_to_end() {
    let endpoint = services::moto_endpoint().unwrap();
    let aws = services::aws_config().await.unwrap();
    let redis = services::redis_url().unwrap();
    let template = Template::load().unwrap();
    let created = provision::create_all(&aws, &template, &unique_name("e2e-"))
        .await
        .unwrap();
    let mut pairs = infra::provision::env_exports(&template, &created);
    pairs.push(("REDIS_URL".into(), redis));
    // A sender of its own, so this run's messages can be told apart in moto's SES store.
    let sender = format!("{}@example.com", unique_name("e2e-"));
    let running = start(
        settings(Backend::Services, PathBuf::from("unused"), &sender),
        Env::from_pairs(pairs),
    )
    .await
    .unwrap();
    scenario(&running).await;

    let body = client_get_json(&format!("{endpoint}/moto-api/data.json")).await;
    let sent: Vec<(String, String)> = body["ses"]["Message"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["source"] == sender.as_str())
        .map(|m| {
            (
                m["destinations"]["ToAddresses"][0]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                m["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_exact(sent);
}

async fn client_get_json(url: &str) -> Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url.trim_start_matches("http://").split('/').next().unwrap();
    let path = &url[url.find(host).unwrap() + host.len()..];
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    // HTTP/1.0: the whole body, no chunked encoding.
    let request = format!("GET {path} HTTP/1.0\r\nhost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let start = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    serde_json::from_slice(&raw[start..]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_stripe_event_is_replayed_through_the_same_path_once() {
    let outbox = std::env::temp_dir().join(unique_name("bundle-replay-outbox-"));
    let running = start(
        settings(Backend::Memory, outbox.clone(), "bookings@example.com"),
        Env::from_pairs::<String, String>([]),
    )
    .await
    .unwrap();
    let now = Utc::now().timestamp();
    let id = unique_name("evt_replay_");
    let event = infra::stripe_samples::event("checkout.session.completed", &id, now)
        .unwrap()
        .replace(demo::ORDER_ID, "order-late");
    let signature = sign_header(
        running.stack.settings.signing_secret(),
        now,
        event.as_bytes(),
    );
    let headers = [("stripe-signature", signature.as_str())];
    // The order does not exist yet: recorded as failed, 500 so Stripe retries.
    let (status, body) = post(&running, "/stripe/webhook", &headers, &event).await;
    assert_eq!(status, 500, "{body}");

    let (status, body) = post(&running, "/_local/ops/replay/evt_unknown", &[], "").await;
    assert_eq!(status, 404, "{body}");

    let order = stripe_webhook::billing::Order::pending(
        "order-late",
        demo::ORDER_TOTAL_CENTS,
        "usd",
        "late@example.com",
        "Late",
    );
    running
        .stack
        .ports
        .webhook
        .billing
        .create_order(&order)
        .await
        .unwrap();
    let path = format!("/_local/ops/replay/{id}");
    let (status, body) = post(&running, &path, &[], "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["source"].as_str(), body["status"].as_u64()),
        (Some("failed"), Some(200))
    );
    assert_eq!(body["answer"]["outcome"], "processed");
    let (_, again) = post(&running, &path, &[], "").await;
    assert_eq!(again["answer"]["outcome"], "duplicate", "{again}");

    assert_eq!(running.stack.drain_emails().await.unwrap(), 1);
    let sent = running.stack.ports.memory_mailer.as_ref().unwrap().sent();
    let subjects: Vec<_> = sent.iter().map(|(_, e)| e.subject.as_str()).collect();
    assert_eq!(subjects, ["Order order-late confirmed"]);
    std::fs::remove_dir_all(&outbox).unwrap();
}
