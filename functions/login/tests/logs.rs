//! No email address, password, token or hash in the logs of any sign-in path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{Backend, PASSWORD, Parts, body_json, login_request, seed_user, stack};
use shared::error::ErrorClass;
use shared::faults::{Fault, FaultPlan, Faulty};
use shared::queue::MemoryQueue;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_personal_data_or_secrets_in_logs() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let queue = Arc::new(Faulty::new(
        MemoryQueue::new(shared::clock::system()),
        FaultPlan::on_calls([1], Fault::Fail(ErrorClass::DependencyDown)),
    ));
    let s = stack(
        Backend::Memory,
        Parts {
            queue: Some(queue),
            ..Parts::default()
        },
    )
    .await;
    let email = common::email("secret.person");
    let user = seed_user(&s, &email, "Secret Person").await;
    let ip = common::ip();
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let ok = s.login.handle(login_request(&email, PASSWORD, &ip)).await;
        assert_eq!(ok.status(), 200);
        tokens.push(
            body_json(&ok)["session"]["token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let unknown = common::email("ghost.person");
    for _ in 0..6 {
        s.login
            .handle(login_request(&email, "hunter2-wrong", &common::ip()))
            .await;
        s.login
            .handle(login_request(&unknown, "hunter2-wrong", &common::ip()))
            .await;
    }
    for _ in 0..6 {
        s.login.handle(login_request("x@y.z", "pw", &ip)).await;
    }

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(logs.lines().count() >= 20, "{logs}");
    let local = email.split('@').next().unwrap();
    for secret in [
        email.as_str(),
        local,
        unknown.as_str(),
        PASSWORD,
        "hunter2-wrong",
        user.password_hash.as_str(),
        "$argon2id",
        tokens[0].as_str(),
        tokens[1].as_str(),
    ] {
        assert!(
            !logs.contains(secret),
            "{secret:?} leaked into logs:\n{logs}"
        );
    }
    assert!(
        logs.contains(&shared::telemetry::log_hash(&email)),
        "email hashed in log fields"
    );
    assert!(logs.contains("sign-in notice not queued"));
    assert!(logs.contains("IP over its limit"));
    assert!(logs.contains("account over its limit"));
}
