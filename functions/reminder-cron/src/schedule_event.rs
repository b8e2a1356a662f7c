//! The invoking event: EventBridge Scheduler input or the classic scheduled event.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// What the run learns from its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The time the schedule fired for, when the event carries one.
    pub scheduled_time: Option<DateTime<Utc>>,
    /// Scheduler execution id or event id, for logs.
    pub id: Option<String>,
}

/// Reads a Scheduler input (`{"scheduled_time": "...", "execution_id": "..."}`, set in
/// template.yaml from `<aws.scheduler.scheduled-time>`) or a classic scheduled event
/// (`{"time": "...", "id": "...", "detail-type": "Scheduled Event"}`). Anything else (an
/// on-demand `{}`) is a run with no scheduled time; due work is decided by the clock either way.
pub fn parse(event: &Value) -> Trigger {
    let text = |k: &str| event.get(k).and_then(Value::as_str);
    let scheduled_time = text("scheduled_time")
        .or_else(|| text("time"))
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let id = text("execution_id").or_else(|| text("id")).map(|id| {
        id.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(64)
            .collect()
    });
    Trigger { scheduled_time, id }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scheduler_and_classic_shapes() {
        let s = parse(&json!({"scheduled_time": "2026-06-10T14:05:00Z", "execution_id": "abc-1"}));
        assert_eq!(
            s.scheduled_time.unwrap().to_rfc3339(),
            "2026-06-10T14:05:00+00:00"
        );
        assert_eq!(s.id.as_deref(), Some("abc-1"));
        let c = parse(
            &json!({"detail-type": "Scheduled Event", "time": "2026-06-10T14:05:00Z", "id": "e1"}),
        );
        assert!(c.scheduled_time.is_some());
        assert_eq!(c.id.as_deref(), Some("e1"));
        let odd = parse(&json!({"time": 5, "id": "x\n\"y"}));
        assert_eq!(
            odd,
            Trigger {
                scheduled_time: None,
                id: Some("xy".into())
            }
        );
        assert_eq!(
            parse(&json!(null)),
            Trigger {
                scheduled_time: None,
                id: None
            }
        );
    }
}
