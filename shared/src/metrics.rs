//! Reliability counters as CloudWatch Embedded Metric Format (EMF) log lines.
//!
//! Every metric the code can emit is a [`Metric`] variant; [`Metric::ALL`] is the single list
//! that alarms in `template.yaml` are checked against.

use std::sync::{Arc, Mutex};

use serde_json::json;

/// CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "ReliableBundle";

/// The reliability counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// A delivery of something already done was suppressed.
    DuplicateSuppressed,
    /// A claim was lost to another owner (or found in progress elsewhere).
    ClaimLost,
    /// A retryable failure led to a retry (dimension: error class).
    RetryScheduled,
    /// A message was left for the dead-letter queue.
    DeadLettered,
    /// A login attempt was refused by a rate limit.
    RateLimitDenied,
    /// The rate limiter ran on its fallback store (Redis slow or down).
    RateLimiterDegraded,
    /// Neither rate-limit store answered; logins refused with 503.
    RateLimiterUnavailable,
    /// An authentic Stripe event could not be parsed and was stored raw.
    StripeEventUnparsed,
    /// A Stripe event of a type we do not handle.
    StripeEventIgnored,
    /// A subscription event named a Stripe customer we cannot map to a user.
    StripeUnknownCustomer,
    /// A Stripe event of the other mode (test vs live) was acknowledged and not applied.
    StripeEventWrongMode,
    /// A payment's metadata named a role we do not know; the order was left alone.
    StripeUnknownPaymentRole,
    /// A payment in another currency, or more than the order total, was recorded.
    StripeMoneyAnomaly,
    /// A dispute was opened or closed on an order.
    StripeDispute,
    /// An email job ended permanently failed.
    EmailFailedPermanent,
    /// An email was sent.
    EmailSent,
    /// SES sending is paused for the account.
    SesAccountPaused,
    /// A sign-in notice could not be queued (login still succeeded).
    SignInNoticeNotQueued,
    /// A reminder was sent.
    ReminderSent,
    /// A send's outcome is unknown (it may have gone out): recorded `AMBIGUOUS`, listed by
    /// `bundle list-ambiguous`.
    SendAmbiguous,
    /// A queued email was not sent because it was no longer current (its `not_after` passed,
    /// or its appointment was cancelled or moved); recorded `EXPIRED`.
    EmailExpired,
}

impl Metric {
    /// Every metric, for cross-checking alarms.
    pub const ALL: [Self; 21] = [
        Self::DuplicateSuppressed,
        Self::ClaimLost,
        Self::RetryScheduled,
        Self::DeadLettered,
        Self::RateLimitDenied,
        Self::RateLimiterDegraded,
        Self::RateLimiterUnavailable,
        Self::StripeEventUnparsed,
        Self::StripeEventIgnored,
        Self::StripeUnknownCustomer,
        Self::StripeEventWrongMode,
        Self::StripeUnknownPaymentRole,
        Self::StripeMoneyAnomaly,
        Self::StripeDispute,
        Self::EmailFailedPermanent,
        Self::EmailSent,
        Self::SesAccountPaused,
        Self::SignInNoticeNotQueued,
        Self::ReminderSent,
        Self::SendAmbiguous,
        Self::EmailExpired,
    ];

    /// The CloudWatch metric name.
    pub fn name(self) -> &'static str {
        match self {
            Self::DuplicateSuppressed => "DuplicateSuppressed",
            Self::ClaimLost => "ClaimLost",
            Self::RetryScheduled => "RetryScheduled",
            Self::DeadLettered => "DeadLettered",
            Self::RateLimitDenied => "RateLimitDenied",
            Self::RateLimiterDegraded => "RateLimiterDegraded",
            Self::RateLimiterUnavailable => "RateLimiterUnavailable",
            Self::StripeEventUnparsed => "StripeEventUnparsed",
            Self::StripeEventIgnored => "StripeEventIgnored",
            Self::StripeUnknownCustomer => "StripeUnknownCustomer",
            Self::StripeEventWrongMode => "StripeEventWrongMode",
            Self::StripeUnknownPaymentRole => "StripeUnknownPaymentRole",
            Self::StripeMoneyAnomaly => "StripeMoneyAnomaly",
            Self::StripeDispute => "StripeDispute",
            Self::EmailFailedPermanent => "EmailFailedPermanent",
            Self::EmailSent => "EmailSent",
            Self::SesAccountPaused => "SesAccountPaused",
            Self::SignInNoticeNotQueued => "SignInNoticeNotQueued",
            Self::ReminderSent => "ReminderSent",
            Self::SendAmbiguous => "SendAmbiguous",
            Self::EmailExpired => "EmailExpired",
        }
    }
}

/// Where metric lines go.
pub trait MetricSink: Send + Sync + std::fmt::Debug {
    /// Writes one EMF line.
    fn write_line(&self, line: String);
}

/// Writes EMF lines to stdout, where the Lambda log agent picks them up.
#[derive(Debug, Default)]
pub struct StdoutSink;

impl MetricSink for StdoutSink {
    fn write_line(&self, line: String) {
        println!("{line}");
    }
}

/// Keeps EMF lines in memory (tests, the local stack's dashboard).
#[derive(Debug, Default, Clone)]
pub struct MemorySink {
    lines: Arc<Mutex<Vec<String>>>,
}

impl MemorySink {
    /// Lines written so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Sum of the values recorded for `metric`.
    pub fn total(&self, metric: Metric) -> f64 {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get(metric.name()).and_then(serde_json::Value::as_f64))
            .sum()
    }
}

impl MetricSink for MemorySink {
    fn write_line(&self, line: String) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }
}

/// Emits metrics for one function, with the function name as a dimension.
#[derive(Debug, Clone)]
pub struct Metrics {
    function: &'static str,
    sink: Arc<dyn MetricSink>,
}

impl Metrics {
    /// Metrics for `function`, written to `sink`.
    pub fn new(function: &'static str, sink: Arc<dyn MetricSink>) -> Self {
        Self { function, sink }
    }

    /// Metrics for `function` to stdout.
    pub fn stdout(function: &'static str) -> Self {
        Self::new(function, Arc::new(StdoutSink))
    }

    /// Metrics kept in memory; the sink is returned for inspection.
    pub fn in_memory(function: &'static str) -> (Self, MemorySink) {
        let sink = MemorySink::default();
        (Self::new(function, Arc::new(sink.clone())), sink)
    }

    /// Counts one occurrence.
    pub fn incr(&self, metric: Metric) {
        self.count(metric, 1.0, None);
    }

    /// Counts `value` occurrences, optionally with a `class` dimension (an error class).
    pub fn count(&self, metric: Metric, value: f64, class: Option<&str>) {
        let dims = if class.is_some() {
            json!([["Function"], ["Function", "Class"]])
        } else {
            json!([["Function"]])
        };
        let mut line = json!({
            "_aws": {
                "Timestamp": chrono::Utc::now().timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": dims,
                    "Metrics": [{ "Name": metric.name(), "Unit": "Count" }],
                }],
            },
            "Function": self.function,
            (metric.name()): value,
        });
        if let (Some(class), Some(map)) = (class, line.as_object_mut()) {
            map.insert("Class".into(), class.into());
        }
        self.sink.write_line(line.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_valid_emf() {
        let (metrics, sink) = Metrics::in_memory("login");
        metrics.incr(Metric::RateLimitDenied);
        metrics.count(Metric::RetryScheduled, 2.0, Some("transient"));
        let lines = sink.lines();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Metrics"][0]["Name"], "RetryScheduled");
        assert_eq!(directive["Dimensions"][1], json!(["Function", "Class"]));
        assert_eq!(v["Function"], "login");
        assert_eq!(v["Class"], "transient");
        assert_eq!(v["RetryScheduled"], 2.0);
        assert_eq!(sink.total(Metric::RateLimitDenied), 1.0);
        assert_eq!(sink.total(Metric::RetryScheduled), 2.0);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Metric::ALL.len());
    }
}
