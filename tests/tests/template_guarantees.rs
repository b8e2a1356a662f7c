//! Reads template.yaml and asserts the deployment guarantees of SPEC.md "Deployment shape".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_norway::Value;
use shared::testing::template::Template;

fn template() -> Template {
    Template::load().unwrap()
}

fn number(t: &Template, v: &Value) -> i64 {
    t.scalar(v)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a number: {v:?}"))
}

fn functions(t: &Template) -> Vec<String> {
    let f = t.resources_of("AWS::Serverless::Function");
    assert_eq!(f.len(), 4, "four functions");
    f
}

#[test]
fn every_function_is_arm64_al2023_built_with_cargo_lambda() {
    let t = template();
    let globals = &t.root()["Globals"]["Function"];
    for id in functions(&t) {
        let r = &t.root()["Resources"][id.as_str()];
        let p = &r["Properties"];
        let runtime = p["Runtime"].as_str().or(globals["Runtime"].as_str());
        assert_eq!(runtime, Some("provided.al2023"), "{id}");
        let arch = if p["Architectures"].is_null() {
            &globals["Architectures"]
        } else {
            &p["Architectures"]
        };
        assert_eq!(arch[0].as_str(), Some("arm64"), "{id}");
        assert_eq!(
            r["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id}"
        );
        assert!(
            r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .is_some(),
            "{id} names its binary"
        );
    }
    assert_eq!(globals["LoggingConfig"]["LogFormat"].as_str(), Some("JSON"));
}

/// Every IAM statement names actions and resources explicitly: no `*` anywhere.
#[test]
fn iam_has_no_wildcard_actions_or_resources() {
    let t = template();
    for id in functions(&t) {
        let policies = &t.root()["Resources"][id.as_str()]["Properties"]["Policies"];
        let statements: Vec<&Value> = policies
            .as_sequence()
            .unwrap_or_else(|| panic!("{id} has inline policies"))
            .iter()
            .flat_map(|p| p["Statement"].as_sequence().into_iter().flatten())
            .collect();
        assert!(!statements.is_empty(), "{id}");
        for s in statements {
            let actions: Vec<&str> = match &s["Action"] {
                Value::String(a) => vec![a.as_str()],
                Value::Sequence(list) => list.iter().filter_map(Value::as_str).collect(),
                other => panic!("{id}: action {other:?}"),
            };
            for a in actions {
                assert!(!a.contains('*'), "{id}: wildcard action {a}");
            }
            let resources = match &s["Resource"] {
                Value::Sequence(list) => list.clone(),
                one => vec![one.clone()],
            };
            for r in resources {
                assert_ne!(r.as_str(), Some("*"), "{id}: wildcard resource");
            }
        }
    }
}

#[test]
fn email_queue_redrive_visibility_and_retention() {
    let t = template();
    let q = t.properties("EmailQueue").unwrap();
    let dlq = t.properties("EmailDeadLetterQueue").unwrap();
    let budget = number(&t, &t.root()["Parameters"]["EmailRetryBudget"]["Default"]);
    assert_eq!(
        number(&t, &q["RedrivePolicy"]["maxReceiveCount"]),
        budget,
        "DLQ after the retry budget"
    );
    assert_eq!(
        Template::referenced_resource(&q["RedrivePolicy"]["deadLetterTargetArn"]).as_deref(),
        Some("EmailDeadLetterQueue")
    );
    assert!(
        number(&t, &dlq["MessageRetentionPeriod"]) > number(&t, &q["MessageRetentionPeriod"]),
        "DLQ keeps messages longer than the queue"
    );
    let worker = t.properties("EmailRetryFunction").unwrap();
    let timeout = number(&t, &worker["Timeout"]);
    assert!(
        number(&t, &q["VisibilityTimeout"]) >= 6 * timeout,
        "visibility >= 6x timeout"
    );
    let event = &worker["Events"]["EmailQueue"]["Properties"];
    assert_eq!(
        event["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    assert!(number(&t, &event["ScalingConfig"]["MaximumConcurrency"]) >= 2);
}

#[test]
fn schedule_has_retry_policy_and_dead_letter_queue() {
    let t = template();
    let props = &t.properties("ReminderCronFunction").unwrap()["Events"]["EveryFiveMinutes"];
    assert_eq!(props["Type"].as_str(), Some("ScheduleV2"));
    let p = &props["Properties"];
    assert_eq!(p["ScheduleExpression"].as_str(), Some("rate(5 minutes)"));
    assert!(number(&t, &p["RetryPolicy"]["MaximumRetryAttempts"]) >= 1);
    assert_eq!(
        Template::referenced_resource(&p["DeadLetterConfig"]["Arn"]).as_deref(),
        Some("ReminderScheduleDeadLetterQueue")
    );
}

#[test]
fn tables_are_on_demand_with_recovery_and_ttl_where_records_expire() {
    let t = template();
    let tables = t.resources_of("AWS::DynamoDB::Table");
    assert!(tables.len() >= 5);
    for id in &tables {
        let p = t.properties(id).unwrap();
        assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"), "{id}");
        assert_eq!(
            p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
            Some(true),
            "{id}"
        );
    }
    for id in ["ClaimsTable", "UsersTable", "EmailsTable", "BillingTable"] {
        let ttl = &t.properties(id).unwrap()["TimeToLiveSpecification"];
        assert_eq!(ttl["AttributeName"].as_str(), Some("expires_at"), "{id}");
        assert_eq!(ttl["Enabled"].as_bool(), Some(true), "{id}");
    }
}

/// Secrets reach functions by dynamic reference only, never as plain parameters.
#[test]
fn secrets_are_dynamic_references() {
    let t = template();
    for (function, var) in [
        ("LoginFunction", "REDIS_URL"),
        ("StripeWebhookFunction", "STRIPE_WEBHOOK_SECRETS"),
        ("StripeWebhookFunction", "STRIPE_API_KEY"),
    ] {
        let v = &t.properties(function).unwrap()["Environment"]["Variables"][var];
        let Value::Tagged(tagged) = v else {
            panic!("{function}.{var} must be !Sub of a dynamic reference")
        };
        let text = tagged.value.as_str().unwrap_or_default();
        assert!(
            text.starts_with("{{resolve:secretsmanager:"),
            "{function}.{var}: {text}"
        );
    }
}
