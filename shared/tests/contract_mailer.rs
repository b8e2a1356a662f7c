//! Mailer contract: the same suite against the in-memory mailer and SES v2 (moto).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use shared::error::{Classify, ErrorClass};
use shared::faults::{Fault, FaultPlan, Faulty};
use shared::mailer::{Mailer, MemoryMailer, OutgoingEmail, SendFailure, SesMailer};
use shared::testing::unique_name;

/// Counts the messages the mailer delivered to an address.
type DeliveredTo = Box<dyn Fn(String) -> BoxFuture<usize> + Send + Sync>;
type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// A mailer under test, its verified sender domain, and a way to count what it delivered.
struct Subject {
    mailer: Arc<dyn Mailer>,
    domain: String,
    delivered: DeliveredTo,
}

fn memory() -> Subject {
    let domain = format!("{}.example.com", unique_name("mem"));
    let mailer = Arc::new(MemoryMailer::new([domain.clone()]));
    let m = mailer.clone();
    Subject {
        mailer,
        domain,
        delivered: Box::new(move |to| {
            let n = m.sent().iter().filter(|(_, e)| e.to == to).count();
            Box::pin(async move { n })
        }),
    }
}

/// Messages moto recorded for `to` (from its `/moto-api/data.json` view).
async fn moto_sent_to(endpoint: &str, to: &str) -> usize {
    let body = http_get(&format!("{endpoint}/moto-api/data.json")).await;
    let data: serde_json::Value = serde_json::from_str(&body).unwrap();
    let messages = data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    messages
        .iter()
        .filter(|m| m.to_string().contains(to))
        .count()
}

/// Minimal HTTP GET over a TCP socket (keeps an HTTP client out of the dependencies).
async fn http_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response.split_once("\r\n\r\n").unwrap().1.to_owned()
}

async fn ses() -> Subject {
    let config = common::aws().await;
    let endpoint = shared::testing::services::moto_endpoint().unwrap();
    let domain = format!("{}.example.com", unique_name("ses"));
    let client = aws_sdk_sesv2::Client::new(&config);
    client
        .create_email_identity()
        .email_identity(&domain)
        .send()
        .await
        .unwrap();
    Subject {
        mailer: Arc::new(SesMailer::new(client)),
        domain,
        delivered: Box::new(move |to| {
            let endpoint = endpoint.clone();
            Box::pin(async move { moto_sent_to(&endpoint, &to).await })
        }),
    }
}

fn email(from: &str, to: &str) -> OutgoingEmail {
    OutgoingEmail {
        from: from.to_owned(),
        to: to.to_owned(),
        subject: "Your order".into(),
        text: "Thanks".into(),
        html: "<p>Thanks</p>".into(),
        template: "order_confirmation".into(),
    }
}

async fn verified_sender_delivers_exactly_once(s: Subject) {
    let to = format!("{}@customer.test", unique_name("to"));
    let sent = s
        .mailer
        .send(&email(&format!("no-reply@{}", s.domain), &to))
        .await
        .unwrap();
    assert!(!sent.message_id.is_empty());
    assert_eq!((s.delivered)(to).await, 1);
}

async fn unverified_sender_is_permanent(s: Subject) {
    let to = format!("{}@customer.test", unique_name("to"));
    let err = s
        .mailer
        .send(&email("someone@unverified.invalid", &to))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SendFailure::Permanent);
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!((s.delivered)(to).await, 0);
}

async fn injected_failures_are_classified(s: Subject) {
    let from = format!("no-reply@{}", s.domain);
    for (kind, class) in [
        (SendFailure::Retryable, ErrorClass::Transient),
        (SendFailure::Permanent, ErrorClass::Permanent),
        (SendFailure::AccountPaused, ErrorClass::DependencyDown),
        (SendFailure::Ambiguous, ErrorClass::Transient),
    ] {
        let faulty = Faulty::new(s.mailer.clone(), FaultPlan::always(Fault::FailSend(kind)));
        let to = format!("{}@customer.test", unique_name("to"));
        let err = faulty.send(&email(&from, &to)).await.unwrap_err();
        assert_eq!((err.kind, err.class()), (kind, class));
        assert_eq!((s.delivered)(to).await, 0, "nothing reached the mailer");
    }
    let faulty = Faulty::new(
        s.mailer.clone(),
        FaultPlan::always(Fault::FailAfter(ErrorClass::Transient)),
    );
    let to = format!("{}@customer.test", unique_name("to"));
    let err = faulty.send(&email(&from, &to)).await.unwrap_err();
    assert_eq!(err.kind, SendFailure::Ambiguous);
    assert_eq!(
        (s.delivered)(to).await,
        1,
        "a lost response still sent the email"
    );
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory_adapter {
            $(#[tokio::test] async fn $case() { super::$case(super::memory()).await })*
        }
        mod ses_adapter {
            $(#[tokio::test] async fn $case() { super::$case(super::ses().await).await })*
        }
    };
}

contract!(
    verified_sender_delivers_exactly_once,
    unverified_sender_is_permanent,
    injected_failures_are_classified,
);
