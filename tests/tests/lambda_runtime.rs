//! The four release-shaped binaries run as Lambda runs them: each one under a Lambda Runtime
//! API emulator (`scenario_tests::emulator`), against moto and Redis, with its secrets in
//! moto's Secrets Manager. Every sample in `events/<function>/` gets the answer listed here
//! (the expected answers live next to the tests, not in `events/`); a cold start with missing
//! configuration is reported on `/runtime/init/error`; a malformed event is an answer or an
//! error with a stable `errorType`, never a panic; a rotated webhook secret is picked up
//! without a restart.
//!
//! The binaries come from the same target directory (`make test` builds them with the tests;
//! alone: `cargo build --workspace --bins`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use scenario_tests::emulator::{FunctionProcess, Outcome, RuntimeApi, workspace_binary};
use scenario_tests::samples;
use scenario_tests::stack::{Stack, WEBHOOK_SECRET};
use serde_json::{Value, json};
use shared::testing::fixtures;
use shared::testing::unique_name;

/// The Stripe samples and the status each answers once re-signed at invoke time.
const STRIPE_ANSWERS: &[(&str, u16)] = &[
    ("charge_dispute_closed.json", 200),
    ("charge_dispute_created.json", 200),
    ("charge_refunded.json", 200),
    ("checkout_session_completed.json", 200),
    ("checkout_session_completed_deposit.json", 200),
    // A live-mode event at a test-mode function: acknowledged, never applied.
    ("checkout_session_completed_livemode.json", 200),
    ("customer_subscription_created.json", 200),
    ("customer_subscription_deleted.json", 200),
    // Unknown customer: the Stripe API look-up fails (no real key), so Stripe must retry.
    ("customer_subscription_unknown_customer.json", 500),
    ("customer_subscription_updated.json", 200),
    // Invoice events read the subscription from the Stripe API, which is out of reach here
    // (no network, no real key): 500 with the claim released, so Stripe retries.
    ("invoice_paid.json", 500),
    ("invoice_payment_failed.json", 500),
    ("payment_intent_payment_failed.json", 200),
    ("payment_intent_succeeded.json", 200),
    ("payment_intent_succeeded_base64.json", 200),
    ("payment_intent_succeeded_final_payment.json", 200),
    // An unknown payment role: stored, counted and alerted; the order is not touched.
    ("payment_intent_succeeded_unknown_role.json", 200),
    ("stale_timestamp.json", 400),
    ("tampered.json", 400),
    ("unknown_type.json", 200),
    ("unparsable_invoice.json", 200),
    ("unsigned.json", 400),
    ("wrong_secret.json", 400),
];

/// How long each function may run (template.yaml `Timeout`), given as the invocation deadline.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
const CRON_TIMEOUT: Duration = Duration::from_secs(120);
const EMAIL_TIMEOUT: Duration = Duration::from_secs(30);

fn sample(function: &str, name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(function)
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Every sample file of `events/<function>/` (the expected-answer tables must cover them).
fn sample_names(function: &str) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(function);
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// Starts `binary` of this test's profile under a fresh emulator with the stack's variables
/// (minus `without`).
async fn start(stack: &Stack, binary: &str, without: &[&str]) -> Running {
    let api = RuntimeApi::start().await.unwrap();
    let path = workspace_binary(binary).unwrap_or_else(|e| panic!("{e}"));
    let process = FunctionProcess::spawn(&path, binary, &stack.without(without), &api).unwrap();
    Running { api, process }
}

struct Running {
    api: RuntimeApi,
    process: FunctionProcess,
}

impl Running {
    async fn invoke(&mut self, event: Value, timeout: Duration) -> Outcome {
        match self.api.invoke(event, timeout).await {
            Some(outcome) => outcome,
            None => panic!(
                "no answer (running: {}); output:\n{}",
                self.process.is_running(),
                self.process.output()
            ),
        }
    }

    /// Status and JSON body of an HTTP API answer.
    async fn http(&mut self, event: Value) -> (u16, Value) {
        match self.invoke(event, HTTP_TIMEOUT).await {
            Outcome::Response(r) => {
                let body = r["body"].as_str().map_or(Value::Null, |b| {
                    serde_json::from_str(b).unwrap_or(Value::String(b.to_owned()))
                });
                (r["statusCode"].as_u64().unwrap() as u16, body_with(r, body))
            }
            other => panic!("an HTTP answer expected, got {other:?}"),
        }
    }

    /// The process output, checked to contain no panic.
    fn logs_without_panic(&self) -> String {
        let out = self.process.output();
        assert!(!out.contains("panicked"), "{out}");
        out
    }
}

/// The answer's body, with the response's headers and cookies alongside for assertions.
fn body_with(response: Value, body: Value) -> Value {
    json!({"body": body, "headers": response["headers"], "cookies": response["cookies"]})
}

/// The time the secrets read took, from the function's own log line.
fn secrets_read_ms(logs: &str) -> f64 {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "secrets read from Secrets Manager")
        .and_then(|l| l["fields"]["elapsed_ms"].as_f64())
        .unwrap_or_else(|| panic!("no secrets-read line in:\n{logs}"))
}

#[tokio::test]
async fn login_answers_each_sample_and_refuses_a_malformed_event() {
    let stack = Stack::new(&fixtures::redis()).await;
    samples::seed_login_user(&stack.aws, &stack.vars["USERS_TABLE"])
        .await
        .unwrap();
    samples::reset_login_limits(&fixtures::redis())
        .await
        .unwrap();
    let mut login = start(&stack, "login", &[]).await;
    assert_eq!(
        sample_names("login"),
        ["malformed_body.json", "success.json", "wrong_password.json"]
    );

    let (status, answer) = login.http(sample("login", "success.json")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["body"]["user"]["email"], samples::LOGIN_EMAIL);
    assert_eq!(answer["body"]["user"]["name"], "Jane Doe");
    assert!(answer["body"]["user"].get("password_hash").is_none());
    let cookies = answer["cookies"].as_array().unwrap();
    assert!(
        cookies
            .iter()
            .any(|c| c.as_str().unwrap().contains("HttpOnly")),
        "{answer}"
    );

    for (name, expected) in [("wrong_password.json", 401), ("malformed_body.json", 400)] {
        let (status, answer) = login.http(sample("login", name)).await;
        assert_eq!(status, expected, "{name}: {answer}");
        assert_eq!(
            answer["headers"]["content-type"], "application/problem+json",
            "{name}"
        );
    }

    // isBase64Encoded with a body that is not base64: 400 from our event loop, no panic, and
    // the process serves the next event.
    let mut broken = sample("login", "success.json");
    broken["isBase64Encoded"] = json!(true);
    broken["body"] = json!("%% not base64 %%");
    let (status, answer) = login.http(broken).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["headers"]["content-type"],
        "application/problem+json"
    );
    let (status, _) = login.http(json!({"not": "an HTTP event"})).await;
    assert_eq!(status, 400);
    let (status, _) = login.http(sample("login", "wrong_password.json")).await;
    assert_eq!(status, 401);
    assert!(login.process.is_running());

    let logs = login.logs_without_panic();
    eprintln!("login: secrets read in {:.1} ms", secrets_read_ms(&logs));
    assert!(
        !logs.contains(samples::LOGIN_PASSWORD),
        "no password in logs"
    );
}

#[tokio::test]
async fn stripe_webhook_answers_each_sample_re_signed_at_invoke_time() {
    let stack = Stack::new(&fixtures::redis()).await;
    samples::seed_billing(&stack.aws, &stack.vars["BILLING_TABLE"])
        .await
        .unwrap();
    let mut webhook = start(&stack, "stripe-webhook", &[]).await;
    let listed: Vec<&str> = STRIPE_ANSWERS.iter().map(|(n, _)| *n).collect();
    let files = sample_names("stripe-webhook");
    assert_eq!(files, listed, "every sample has its answer here");

    for (name, expected) in STRIPE_ANSWERS {
        let mut event = sample("stripe-webhook", name);
        samples::resign_stripe_event(&mut event, WEBHOOK_SECRET, chrono::Utc::now());
        let (status, answer) = webhook.http(event).await;
        assert_eq!(status, *expected, "{name}: {answer}");
        if *expected >= 400 {
            assert_eq!(
                answer["headers"]["content-type"], "application/problem+json",
                "{name}"
            );
        }
    }
    let logs = webhook.logs_without_panic();
    eprintln!(
        "stripe-webhook: secrets read in {:.1} ms",
        secrets_read_ms(&logs)
    );
    assert!(!logs.contains(WEBHOOK_SECRET), "no secret in logs");
}

/// A new webhook secret stored in Secrets Manager is used by the running function for the
/// next delivery signed with it (no restart, no redeploy).
#[tokio::test]
async fn a_rotated_webhook_secret_verifies_without_a_restart() {
    let stack = Stack::new(&fixtures::redis()).await;
    let mut webhook = start(&stack, "stripe-webhook", &[]).await;
    let event = |secret: &str| {
        let mut e = sample("stripe-webhook", "unknown_type.json");
        assert!(samples::resign_stripe_event(
            &mut e,
            secret,
            chrono::Utc::now()
        ));
        e
    };
    assert_eq!(webhook.http(event(WEBHOOK_SECRET)).await.0, 200);
    let rotated = "whsec_runtime_test_rotated";
    let secrets = aws_sdk_secretsmanager::Client::new(&stack.aws);
    secrets
        .put_secret_value()
        .secret_id(&stack.vars["STRIPE_WEBHOOK_SECRETS_SECRET_ARN"])
        .secret_string(format!("{rotated},{WEBHOOK_SECRET}"))
        .send()
        .await
        .unwrap();
    assert_eq!(webhook.http(event(rotated)).await.0, 200, "new secret");
    assert_eq!(
        webhook.http(event(WEBHOOK_SECRET)).await.0,
        200,
        "old one, still listed"
    );
    assert_eq!(webhook.http(event("whsec_someone_else")).await.0, 400);
    let logs = webhook.logs_without_panic();
    assert_eq!(logs.matches("secret re-read").count(), 1, "{logs}");
}

#[tokio::test]
async fn reminder_cron_answers_each_sample_and_names_a_store_failure() {
    let stack = Stack::new(&fixtures::redis()).await;
    let mut cron = start(&stack, "reminder-cron", &[]).await;
    assert_eq!(
        sample_names("reminder-cron"),
        ["classic_scheduled_event.json", "scheduler.json"]
    );
    // No appointment is due in the fresh table: an empty, successful run.
    let empty = json!({"due": 0, "claimed": 0, "sent": 0, "already_sent": 0,
        "skipped_too_late": 0, "queued_for_retry": 0, "failed_permanent": 0,
        "deferred": 0, "errors": 0});
    for name in ["scheduler.json", "classic_scheduled_event.json"] {
        let answer = cron
            .invoke(sample("reminder-cron", name), CRON_TIMEOUT)
            .await;
        assert_eq!(answer, Outcome::Response(empty.clone()), "{name}");
    }
    cron.logs_without_panic();

    // A table that does not exist: the run fails with a stable type, not a boxed-error path.
    let mut broken = stack.clone();
    broken
        .vars
        .insert("APPOINTMENTS_TABLE".into(), unique_name("missing"));
    let mut cron = start(&broken, "reminder-cron", &[]).await;
    let Outcome::Error {
        error_type,
        error_message,
    } = cron
        .invoke(sample("reminder-cron", "scheduler.json"), CRON_TIMEOUT)
        .await
    else {
        panic!("an error expected")
    };
    assert_eq!(error_type, "StoreUnavailable");
    assert!(
        error_message.starts_with("appointments query failed"),
        "{error_message}"
    );
    cron.logs_without_panic();
}

#[tokio::test]
async fn email_retry_answers_each_sample_and_names_a_malformed_event() {
    let stack = Stack::new(&fixtures::redis()).await;
    let mut worker = start(&stack, "email-retry", &[]).await;
    assert_eq!(
        sample_names("email-retry"),
        [
            "duplicate_batch.json",
            "malformed_batch.json",
            "valid_batch.json"
        ]
    );
    let no_failures = Outcome::Response(json!({"batchItemFailures": []}));
    // The 30 s deadline leaves room for each record's 8 s budget and the 3 s margin.
    let answer = worker
        .invoke(sample("email-retry", "valid_batch.json"), EMAIL_TIMEOUT)
        .await;
    assert_eq!(answer, no_failures, "valid_batch: all three sent");
    let answer = worker
        .invoke(sample("email-retry", "duplicate_batch.json"), EMAIL_TIMEOUT)
        .await;
    assert_eq!(
        answer, no_failures,
        "duplicate_batch: already sent, acknowledged"
    );
    let answer = worker
        .invoke(sample("email-retry", "malformed_batch.json"), EMAIL_TIMEOUT)
        .await;
    // Records are handled concurrently, so the failures come in any order.
    let Outcome::Response(body) = answer else {
        panic!("malformed_batch: {answer:?}")
    };
    let mut failed: Vec<&str> = body["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    failed.sort_unstable();
    assert_eq!(
        failed,
        [
            "66666666-6666-4666-8666-666666666666",
            "77777777-7777-4777-8777-777777777777"
        ],
        "malformed_batch: the two unreadable records come back (then the DLQ)"
    );

    // Not an SQS event at all: a named error, and the worker keeps serving.
    let answer = worker
        .invoke(json!({"Records": "not a list"}), EMAIL_TIMEOUT)
        .await;
    let Outcome::Error {
        error_type,
        error_message,
    } = answer
    else {
        panic!("an error expected, got {answer:?}")
    };
    assert_eq!(error_type, "InvalidEvent");
    assert!(!error_message.contains("not a list"), "{error_message}");
    let answer = worker
        .invoke(sample("email-retry", "duplicate_batch.json"), EMAIL_TIMEOUT)
        .await;
    assert_eq!(answer, no_failures);
    worker.logs_without_panic();
}

/// Missing configuration stops the cold start: the runtime is told on `/runtime/init/error`
/// with every problem, the process exits, and the secret that cannot be read is named by
/// its variable and ARN, never by a value.
#[tokio::test]
async fn a_cold_start_with_missing_configuration_is_reported_to_the_runtime() {
    let stack = Stack::new(&fixtures::redis()).await;
    let mut vars = stack.vars.clone();
    vars.insert(
        "STRIPE_API_KEY_SECRET_ARN".into(),
        format!(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:{}",
            unique_name("never-created")
        ),
    );
    let broken = Stack {
        vars,
        ..stack.clone()
    };
    let mut webhook = start(
        &broken,
        "stripe-webhook",
        &["BILLING_TABLE", "EMAIL_QUEUE_URL"],
    )
    .await;
    let Some(Outcome::Error {
        error_type,
        error_message,
    }) = webhook.api.init_error(Duration::from_secs(20)).await
    else {
        panic!("no init error; output:\n{}", webhook.process.output())
    };
    assert_eq!(error_type, "ConfigInvalid");
    for named in [
        "BILLING_TABLE is missing",
        "EMAIL_QUEUE_URL is missing",
        "STRIPE_API_KEY_SECRET_ARN is invalid",
        "never-created",
        "STRIPE_API_KEY is missing",
    ] {
        assert!(error_message.contains(named), "{named}: {error_message}");
    }
    assert_ne!(
        webhook.process.exit_code(Duration::from_secs(10)).await,
        Some(0)
    );
    let logs = webhook.logs_without_panic();
    let line: Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|l: &Value| l["fields"]["message"] == "cold start failed")
        .unwrap_or_else(|| panic!("{logs}"));
    assert_eq!(line["level"], "ERROR");
    assert!(!logs.contains(WEBHOOK_SECRET), "no secret value in logs");

    // The same failure in Lambda's Text log format: plain lines, not JSON.
    let mut text = broken.vars.clone();
    text.insert("AWS_LAMBDA_LOG_FORMAT".into(), "Text".into());
    let text = Stack {
        vars: text,
        ..stack.clone()
    };
    let mut login = start(&text, "login", &["USERS_TABLE"]).await;
    let reported = login.api.init_error(Duration::from_secs(20)).await;
    assert!(
        matches!(reported, Some(Outcome::Error { ref error_type, .. }) if error_type == "ConfigInvalid")
    );
    login.process.exit_code(Duration::from_secs(10)).await;
    let logs = login.logs_without_panic();
    let line = logs
        .lines()
        .find(|l| l.contains("cold start failed"))
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(line.contains("ERROR") && !line.starts_with('{'), "{line}");
}
