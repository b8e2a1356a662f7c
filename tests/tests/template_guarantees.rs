//! Reads template.yaml and asserts the deployment guarantees docs/DEPLOY.md lists (runtime,
//! queues and their dead letters, tables, least-privilege IAM, secrets, schedule).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use serde_norway::Value;
use shared::testing::template::{Template, function_binaries};

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
fn every_function_is_arm64_al2023_built_by_the_shared_build() {
    let t = template();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let built = function_binaries().unwrap();
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
            Some("makefile"),
            "{id}"
        );
        // sam calls `make build-<id>`, which packages one function of the workspace.
        let binary = built
            .get(&id)
            .unwrap_or_else(|| panic!("Makefile has no build-{id} running lambda-build.sh"));
        assert!(
            root.join("functions")
                .join(binary)
                .join("src/main.rs")
                .is_file(),
            "build-{id} packages {binary}, a function of the workspace"
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
                let text = sub_text(&r).or_else(|| r.as_str().map(str::to_owned));
                if let Some(text) = text {
                    assert!(!text.contains('*'), "{id}: wildcard in resource {text}");
                }
            }
        }
    }
}

#[test]
fn email_queue_redrive_visibility_and_retention() {
    let t = template();
    let q = t.properties("EmailQueue").unwrap();
    let dlq = t.properties("EmailDeadLetterQueue").unwrap();
    let worker = t.properties("EmailRetryFunction").unwrap();
    let env = &worker["Environment"]["Variables"];
    let budget = number(&t, &env["EMAIL_RETRY_BUDGET"]);
    let spare = i64::from(email_retry::tuning::SPARE_RECEIVES);
    assert_eq!(
        number(&t, &q["RedrivePolicy"]["maxReceiveCount"]),
        budget + spare,
        "DLQ after the retry budget and the spare receives that record the failure"
    );
    assert_eq!(
        budget,
        i64::from(email_retry::tuning::RETRY_BUDGET),
        "one budget"
    );
    // The retry window the README states: 15 to 30 minutes, covering a 10-minute incident.
    let mut settings = email_retry::Settings::new("a@example.com", "b@example.com", chrono_tz::UTC)
        .with_retry_budget(u32::try_from(budget).unwrap());
    settings.backoff = shared::retry::Backoff::new(
        std::time::Duration::from_secs(
            number(&t, &env["EMAIL_BACKOFF_BASE_SECONDS"])
                .try_into()
                .unwrap(),
        ),
        std::time::Duration::from_secs(
            number(&t, &env["EMAIL_BACKOFF_CAP_SECONDS"])
                .try_into()
                .unwrap(),
        ),
    );
    let (shortest, longest) = settings.retry_window();
    assert!(
        shortest >= std::time::Duration::from_secs(600),
        "{shortest:?}"
    );
    assert_eq!((shortest.as_secs(), longest.as_secs()), (900, 1800));
    assert_eq!(
        Template::referenced_resource(&q["RedrivePolicy"]["deadLetterTargetArn"]).as_deref(),
        Some("EmailDeadLetterQueue")
    );
    assert!(
        number(&t, &dlq["MessageRetentionPeriod"]) > number(&t, &q["MessageRetentionPeriod"]),
        "DLQ keeps messages longer than the queue"
    );
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

/// The scheduler invokes reminder-cron asynchronously, so a failed run is retried by the
/// function's async invoke config, which must end in an alarmed destination (not Lambda's
/// silent default of two retries and a drop).
#[test]
fn a_failed_reminder_run_is_retried_then_lands_in_an_alarmed_queue() {
    let t = template();
    let config = &t.properties("ReminderCronFunction").unwrap()["EventInvokeConfig"];
    let retries = number(&t, &config["MaximumRetryAttempts"]);
    assert!((1..=2).contains(&retries), "{retries}");
    assert!(
        number(&t, &config["MaximumEventAgeInSeconds"]) <= 300,
        "stale runs dropped"
    );
    let on_failure = &config["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"].as_str(), Some("SQS"));
    let queue = Template::referenced_resource(&on_failure["Destination"]).unwrap();
    let alarmed = t
        .resources_of("AWS::CloudWatch::Alarm")
        .into_iter()
        .any(|id| {
            let p = t.properties(&id).unwrap();
            p["Dimensions"]
                .as_sequence()
                .into_iter()
                .flatten()
                .any(|d| {
                    Template::referenced_resource(&d["Value"]).as_deref() == Some(queue.as_str())
                })
        });
    assert!(alarmed, "{queue} has an alarm");
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

/// The names of variables that would carry a secret value.
fn names_a_secret(var: &str) -> bool {
    ["SECRET", "KEY", "PASSWORD", "TOKEN", "REDIS_URL"]
        .iter()
        .any(|word| var.contains(word))
}

/// No secret value in any environment variable (anyone with `lambda:GetFunctionConfiguration`
/// reads those): no dynamic reference anywhere, and every secret is passed as the ARN of a
/// Secrets Manager secret (`<NAME>_SECRET_ARN`, read by shared::secrets at cold start).
#[test]
fn no_secret_value_in_any_environment_variable() {
    let t = template();
    let mut scopes = vec![(
        "Globals".to_owned(),
        t.root()["Globals"]["Function"]["Environment"]["Variables"].clone(),
    )];
    for id in functions(&t) {
        scopes.push((
            id.clone(),
            t.properties(&id).unwrap()["Environment"]["Variables"].clone(),
        ));
    }
    let mut secret_vars = 0;
    for (scope, vars) in scopes {
        for (name, value) in vars.as_mapping().into_iter().flatten() {
            let name = name.as_str().unwrap();
            let text = serde_norway::to_string(value).unwrap();
            assert!(
                !text.contains("resolve:"),
                "{scope}.{name}: dynamic reference {text}"
            );
            if !names_a_secret(name) {
                continue;
            }
            assert!(
                name.ends_with("_SECRET_ARN"),
                "{scope}.{name} looks like a secret value"
            );
            let param = Template::referenced_resource(value)
                .unwrap_or_else(|| panic!("{scope}.{name} must be !Ref to an ARN parameter"));
            let pattern = t.root()["Parameters"][param.as_str()]["AllowedPattern"]
                .as_str()
                .unwrap_or_default();
            assert!(pattern.contains(":secretsmanager:"), "{param}: {pattern}");
            secret_vars += 1;
        }
    }
    assert_eq!(
        secret_vars, 8,
        "REDIS_URL, DEVICE_COOKIE_KEY, STRIPE_WEBHOOK_SECRETS, STRIPE_API_KEY, LOG_HASH_KEY x 4"
    );
}

/// Each function may read exactly the secrets its environment names, and nothing else from
/// Secrets Manager.
#[test]
fn secret_reads_are_scoped_to_the_functions_own_secret_arns() {
    let t = template();
    for id in functions(&t) {
        let p = t.properties(&id).unwrap();
        let configured: BTreeSet<String> = p["Environment"]["Variables"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter(|(name, _)| name.as_str().is_some_and(|n| n.ends_with("_SECRET_ARN")))
            .filter_map(|(_, value)| Template::referenced_resource(value))
            .collect();
        let mut granted = BTreeSet::new();
        for statement in p["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|policy| policy["Statement"].as_sequence().into_iter().flatten())
        {
            let actions = serde_norway::to_string(&statement["Action"]).unwrap();
            if !actions.contains("secretsmanager:") {
                continue;
            }
            assert_eq!(
                statement["Action"].as_sequence().map(Vec::len),
                Some(1),
                "{id}: only secretsmanager:GetSecretValue"
            );
            assert_eq!(
                statement["Action"][0].as_str(),
                Some("secretsmanager:GetSecretValue"),
                "{id}"
            );
            let resources = match &statement["Resource"] {
                Value::Sequence(list) => list.clone(),
                one => vec![one.clone()],
            };
            for r in resources {
                granted.insert(
                    Template::referenced_resource(&r)
                        .unwrap_or_else(|| panic!("{id}: secret resource {r:?} must be !Ref")),
                );
            }
        }
        assert_eq!(granted, configured, "{id}");
    }
    let webhook = t.properties("StripeWebhookFunction").unwrap();
    assert!(
        matches!(
            webhook["Environment"]["Variables"]["STRIPE_WEBHOOK_SECRETS_SECRET_ARN"],
            Value::Tagged(_)
        ),
        "the webhook's secrets come from Secrets Manager"
    );
}

/// The text of a `!Sub "..."` or `!Sub ["...", {vars}]`.
fn sub_text(v: &Value) -> Option<String> {
    let Value::Tagged(tagged) = v else {
        return None;
    };
    if tagged.tag != "Sub" {
        return None;
    }
    match &tagged.value {
        Value::String(s) => Some(s.clone()),
        Value::Sequence(list) => list.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// Logical ids named anywhere in `v`: `!Ref X`, `!GetAtt X.Attr`, `${X}` / `${X.Attr}` in `!Sub`.
fn references(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Tagged(tagged) => {
            if let Some(id) = Template::referenced_resource(v) {
                out.insert(id);
            }
            if let Some(text) = sub_text(v) {
                for part in text.split("${").skip(1) {
                    if let Some(name) = part.split('}').next() {
                        out.insert(name.split('.').next().unwrap_or(name).to_owned());
                    }
                }
            }
            references(&tagged.value, out);
        }
        Value::Sequence(list) => list.iter().for_each(|x| references(x, out)),
        Value::Mapping(map) => map.values().for_each(|x| references(x, out)),
        _ => {}
    }
}

/// Each function's inline policies reach exactly the tables and queues its environment names:
/// a function without `BILLING_TABLE` cannot touch the billing table, and every table or queue
/// it is configured with is reachable.
#[test]
fn each_function_reaches_only_its_own_tables_and_queues() {
    let t = template();
    let data: BTreeSet<String> = t
        .resources_of("AWS::DynamoDB::Table")
        .into_iter()
        .chain(t.resources_of("AWS::SQS::Queue"))
        .collect();
    for id in functions(&t) {
        let p = t.properties(&id).unwrap();
        let mut configured = BTreeSet::new();
        references(&p["Environment"]["Variables"], &mut configured);
        let mut granted = BTreeSet::new();
        references(&p["Policies"], &mut granted);
        let configured: BTreeSet<_> = configured.intersection(&data).cloned().collect();
        let granted: BTreeSet<_> = granted.intersection(&data).cloned().collect();
        assert!(!configured.is_empty(), "{id} uses some table or queue");
        assert_eq!(
            granted, configured,
            "{id}: IAM must grant exactly the tables/queues in its environment"
        );
    }
    // The derivation is not vacuous: the sign-in function has no billing access.
    let mut login = BTreeSet::new();
    references(
        &t.properties("LoginFunction").unwrap()["Policies"],
        &mut login,
    );
    assert!(login.contains("UsersTable") && !login.contains("BillingTable"));
}

/// Every function has a log group with the retention parameter (Lambda's own has none), and
/// the HTTP API writes access logs to a group with the same retention.
#[test]
fn logs_are_kept_for_the_retention_parameter() {
    let t = template();
    let groups = t.resources_of("AWS::Logs::LogGroup");
    let retained = |id: &str| {
        let p = t.properties(id).unwrap();
        Template::referenced_resource(&p["RetentionInDays"]).as_deref() == Some("LogRetentionDays")
    };
    for f in functions(&t) {
        let group = groups
            .iter()
            .find(|g| {
                let name = sub_text(&t.properties(g).unwrap()["LogGroupName"]);
                name.as_deref() == Some(&format!("/aws/lambda/${{{f}}}"))
            })
            .unwrap_or_else(|| panic!("{f} has a log group"));
        assert!(retained(group), "{group}");
    }
    let api = &t.root()["Globals"]["HttpApi"];
    let access = Template::referenced_resource(&api["AccessLogSettings"]["DestinationArn"])
        .expect("HTTP API access logs");
    assert!(retained(&access), "{access}");
    let format = api["AccessLogSettings"]["Format"].as_str().unwrap();
    let fields: serde_json::Value = serde_json::from_str(format).expect("JSON access log format");
    assert!(fields["requestId"].is_string() && fields["status"].is_string());
}

/// The HTTP API throttles every route, from parameters.
#[test]
fn http_api_is_throttled() {
    let t = template();
    let route = &t.root()["Globals"]["HttpApi"]["DefaultRouteSettings"];
    assert!(number(&t, &route["ThrottlingRateLimit"]) >= 1);
    assert!(
        number(&t, &route["ThrottlingBurstLimit"]) >= number(&t, &route["ThrottlingRateLimit"])
    );
}

/// EMF metric lines carry no `level`, so Lambda files them as INFO: an application log level
/// above INFO would drop every custom metric and silence its alarms.
#[test]
fn log_level_keeps_metric_lines_and_tracing_is_on() {
    let t = template();
    let f = &t.root()["Globals"]["Function"];
    let level = f["LoggingConfig"]["ApplicationLogLevel"].as_str().unwrap();
    assert!(["TRACE", "DEBUG", "INFO"].contains(&level), "{level}");
    assert_eq!(f["Tracing"].as_str(), Some("Active"));
    assert!(
        f["Environment"]["Variables"]["RUST_LOG"].is_null(),
        "RUST_LOG would override AWS_LAMBDA_LOG_LEVEL"
    );
    for id in functions(&t) {
        let own = &t.properties(&id).unwrap()["LoggingConfig"]["ApplicationLogLevel"];
        assert!(own.is_null() || own.as_str() == Some(level), "{id}");
    }
}

/// Deletion protection on every table, switched by one parameter that defaults to on.
#[test]
fn tables_have_deletion_protection_by_parameter() {
    let t = template();
    let param = &t.root()["Parameters"]["TableDeletionProtection"];
    assert_eq!(param["Default"].as_str(), Some("true"));
    for id in t.resources_of("AWS::DynamoDB::Table") {
        let v = &t.properties(&id).unwrap()["DeletionProtectionEnabled"];
        let Value::Tagged(tagged) = v else {
            panic!("{id}: DeletionProtectionEnabled must be !If [ProtectTables, true, false]")
        };
        assert_eq!(tagged.tag, "If", "{id}");
        assert_eq!(tagged.value[0].as_str(), Some("ProtectTables"), "{id}");
        assert_eq!(tagged.value[1].as_bool(), Some(true), "{id}");
    }
}

/// Outputs name the API URL and every table and queue.
#[test]
fn outputs_name_the_api_and_every_table_and_queue() {
    let t = template();
    let outputs = &t.root()["Outputs"];
    let mut named = BTreeSet::new();
    references(outputs, &mut named);
    assert!(named.contains("ServerlessHttpApi"), "ApiUrl");
    for id in t
        .resources_of("AWS::DynamoDB::Table")
        .into_iter()
        .chain(t.resources_of("AWS::SQS::Queue"))
    {
        assert!(named.contains(&id), "output for {id}");
    }
}

/// The two HTTP routes, each with its own function and an explicit timeout per function.
#[test]
fn http_routes_and_per_function_timeouts() {
    let t = template();
    let mut routes = BTreeSet::new();
    for id in functions(&t) {
        let p = t.properties(&id).unwrap();
        assert!(number(&t, &p["Timeout"]) >= 1, "{id} chooses its timeout");
        for (_, event) in p["Events"].as_mapping().into_iter().flatten() {
            if event["Type"].as_str() == Some("HttpApi") {
                let e = &event["Properties"];
                routes.insert(format!(
                    "{} {} -> {id}",
                    e["Method"].as_str().unwrap(),
                    e["Path"].as_str().unwrap()
                ));
            }
        }
    }
    let expected: BTreeSet<String> = [
        "POST /auth/login -> LoginFunction",
        "POST /stripe/webhook -> StripeWebhookFunction",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(routes, expected);
}
