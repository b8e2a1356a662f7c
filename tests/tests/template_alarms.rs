//! The metric names the code emits (`shared::metrics::Metric`, EMF) and the ones the alarms and
//! the dashboard in template.yaml use come from one list; these tests fail when they drift.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use serde_norway::Value;
use shared::metrics::{Metric, NAMESPACE};
use shared::testing::template::{Template, function_binaries, locate};

fn template() -> Template {
    Template::load().unwrap()
}

/// Whether a metric needs someone to act. The match is exhaustive on purpose: a new `Metric`
/// variant does not compile until it is classified here (and, if alarm-worthy, alarmed).
fn alarm_worthy(metric: Metric) -> bool {
    match metric {
        Metric::RateLimiterDegraded
        | Metric::RateLimiterUnavailable
        | Metric::StripeEventUnparsed
        | Metric::StripeUnknownCustomer
        | Metric::StripeEventWrongMode
        | Metric::StripeUnknownPaymentRole
        | Metric::StripeMoneyAnomaly
        | Metric::StripeDispute
        | Metric::EmailFailedPermanent
        | Metric::SesAccountPaused
        | Metric::SignInNoticeNotQueued
        | Metric::SendAmbiguous => true,
        // Normal operation of an at-least-once system: on the dashboard only.
        Metric::DuplicateSuppressed
        | Metric::ClaimLost
        | Metric::RetryScheduled
        | Metric::RateLimitDenied
        | Metric::StripeEventIgnored
        | Metric::EmailSent
        | Metric::ReminderSent
        // Cancelled or moved appointments' reminders: expected; the dashboard shows them.
        | Metric::EmailExpired => false,
        // The DLQ itself is the source of truth: EmailDeadLetterQueueAlarm watches its depth.
        Metric::DeadLettered => false,
    }
}

/// The `Function` dimension values: the binaries the functions are built from.
fn binaries(t: &Template) -> BTreeSet<String> {
    let ids = t.resources_of("AWS::Serverless::Function");
    assert_eq!(ids.len(), 4);
    let built = function_binaries().unwrap();
    ids.iter()
        .map(|id| {
            built
                .get(id)
                .unwrap_or_else(|| panic!("no build-{id}"))
                .clone()
        })
        .collect()
}

/// One metric an alarm watches: namespace, name and its `Function` dimension (if any).
#[derive(Debug)]
struct Watched {
    namespace: String,
    name: String,
    function: Option<String>,
}

fn watched(metric: &Value) -> Watched {
    let function = metric["Dimensions"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|d| d["Name"].as_str() == Some("Function"))
        .and_then(|d| d["Value"].as_str().map(str::to_owned));
    Watched {
        namespace: metric["Namespace"].as_str().unwrap_or_default().to_owned(),
        name: metric["MetricName"].as_str().unwrap_or_default().to_owned(),
        function,
    }
}

/// Every alarm's logical id with the metrics it watches (single metric or metric math).
fn alarms(t: &Template) -> BTreeMap<String, Vec<Watched>> {
    t.resources_of("AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|id| {
            let p = t.properties(&id).unwrap();
            let list = match p["Metrics"].as_sequence() {
                Some(metrics) => metrics
                    .iter()
                    .filter(|m| !m["MetricStat"].is_null())
                    .map(|m| watched(&m["MetricStat"]["Metric"]))
                    .collect(),
                None => vec![watched(p)],
            };
            assert!(!list.is_empty(), "{id} watches a metric");
            (id, list)
        })
        .collect()
}

fn known_names() -> BTreeSet<&'static str> {
    Metric::ALL.iter().map(|m| m.name()).collect()
}

#[test]
fn every_custom_metric_an_alarm_uses_is_emitted_by_the_code() {
    let t = template();
    let known = known_names();
    let functions = binaries(&t);
    let mut custom = 0;
    for (id, metrics) in alarms(&t) {
        for m in metrics.iter().filter(|m| m.namespace == NAMESPACE) {
            custom += 1;
            assert!(
                known.contains(m.name.as_str()),
                "{id}: {} is not in shared::metrics::Metric::ALL",
                m.name
            );
            let f = m.function.as_deref().unwrap_or_default();
            assert!(functions.contains(f), "{id}: Function={f} is no binary");
        }
        for m in metrics.iter().filter(|m| m.namespace != NAMESPACE) {
            assert!(
                m.namespace.starts_with("AWS/"),
                "{id}: namespace {}",
                m.namespace
            );
        }
    }
    assert!(custom > 0, "some alarm watches a ReliableBundle metric");
}

/// Each alarm-worthy metric has an alarm that sums it over every function, so an alarm cannot
/// miss a counter because another function emitted it.
#[test]
fn every_alarm_worthy_metric_has_an_alarm_over_every_function() {
    let t = template();
    let functions = binaries(&t);
    let alarms = alarms(&t);
    let worthy: Vec<Metric> = Metric::ALL
        .into_iter()
        .filter(|m| alarm_worthy(*m))
        .collect();
    assert_eq!(worthy.len(), 12);
    for metric in worthy {
        let covering = alarms.iter().find(|(_, ms)| {
            let covered: BTreeSet<String> = ms
                .iter()
                .filter(|m| m.namespace == NAMESPACE && m.name == metric.name())
                .filter_map(|m| m.function.clone())
                .collect();
            covered == functions
        });
        let (id, _) = covering.unwrap_or_else(|| {
            panic!(
                "no alarm on {} covering all of {functions:?}",
                metric.name()
            )
        });
        let p = t.properties(id).unwrap();
        let expr = p["Metrics"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| m["ReturnData"].as_bool() == Some(true))
            .and_then(|m| m["Expression"].as_str())
            .unwrap_or_else(|| panic!("{id}: one returned expression"));
        for m in p["Metrics"].as_sequence().unwrap() {
            if m["ReturnData"].as_bool() == Some(false) {
                let mid = m["Id"].as_str().unwrap();
                assert!(expr.contains(&format!("FILL({mid}, 0)")), "{id}: {expr}");
            }
        }
    }
}

/// Dead-letter queues, function errors and throttles are alarmed (docs/RUNBOOK.md has one entry per alarm).
#[test]
fn queues_and_functions_are_alarmed() {
    let t = template();
    let alarms = alarms(&t);
    for queue in ["EmailDeadLetterQueue", "ReminderScheduleDeadLetterQueue"] {
        let found = alarms.keys().any(|id| {
            let p = t.properties(id).unwrap();
            p["MetricName"].as_str() == Some("ApproximateNumberOfMessagesVisible")
                && Template::referenced_resource(&p["Dimensions"][0]["Value"]).as_deref()
                    == Some(queue)
                && p["ComparisonOperator"].as_str() == Some("GreaterThanThreshold")
                && t.scalar(&p["Threshold"]).as_deref() == Some("0")
        });
        assert!(found, "{queue} depth > 0 alarm");
    }
    for function in t.resources_of("AWS::Serverless::Function") {
        for metric in ["Errors", "Throttles"] {
            let found = alarms.keys().any(|id| {
                let p = t.properties(id).unwrap();
                p["Namespace"].as_str() == Some("AWS/Lambda")
                    && p["MetricName"].as_str() == Some(metric)
                    && Template::referenced_resource(&p["Dimensions"][0]["Value"]).as_deref()
                        == Some(function.as_str())
            });
            assert!(found, "{function} {metric} alarm");
        }
    }
}

/// Every alarm notifies the alarm topic (the parameter, or the stack's own topic) when it fires
/// and when it recovers, and has a runbook entry under its logical id.
#[test]
fn every_alarm_notifies_the_topic_and_has_a_runbook_entry() {
    let t = template();
    let runbook_path = locate().unwrap().with_file_name("docs").join("RUNBOOK.md");
    let runbook = std::fs::read_to_string(&runbook_path)
        .unwrap_or_else(|e| panic!("{}: {e}", runbook_path.display()));
    let headings: BTreeSet<&str> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(str::trim)
        .collect();
    for id in alarms(&t).keys() {
        let p = t.properties(id).unwrap();
        for actions in ["AlarmActions", "OKActions"] {
            let action = &p[actions][0];
            let Value::Tagged(tagged) = action else {
                panic!("{id}.{actions}: !If [CreateAlarmTopic, ...]")
            };
            assert_eq!(tagged.tag, "If", "{id}");
            assert_eq!(tagged.value[0].as_str(), Some("CreateAlarmTopic"), "{id}");
            assert_eq!(
                Template::referenced_resource(&tagged.value[1]).as_deref(),
                Some("AlarmTopic")
            );
            assert_eq!(
                Template::referenced_resource(&tagged.value[2]).as_deref(),
                Some("AlarmTopicArn")
            );
        }
        assert!(
            headings.contains(id.as_str()),
            "docs/RUNBOOK.md has no `### {id}` entry"
        );
    }
}

/// The dashboard shows every metric of `Metric::ALL` and nothing else in our namespace.
#[test]
fn dashboard_shows_exactly_the_emitted_metrics() {
    let t = template();
    let id = t
        .resources_of("AWS::CloudWatch::Dashboard")
        .pop()
        .expect("a dashboard");
    let Value::Tagged(body) = &t.properties(&id).unwrap()["DashboardBody"] else {
        panic!("DashboardBody is !Sub")
    };
    let text = body.value.as_str().unwrap();
    let json: serde_json::Value = serde_json::from_str(text).expect("dashboard body is JSON");
    let mut shown = BTreeSet::new();
    let mut strings = vec![&json];
    while let Some(v) = strings.pop() {
        match v {
            serde_json::Value::String(s) if s.contains(&format!("{{{NAMESPACE},Function}}")) => {
                for part in s.split("MetricName=\"").skip(1) {
                    shown.insert(part.split('"').next().unwrap().to_owned());
                }
            }
            serde_json::Value::Array(a) => strings.extend(a),
            serde_json::Value::Object(o) => strings.extend(o.values()),
            _ => {}
        }
    }
    let known: BTreeSet<String> = known_names().into_iter().map(str::to_owned).collect();
    assert_eq!(shown, known);
}
