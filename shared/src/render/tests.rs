use chrono::DateTime;
use serde_json::{Value, json};

use super::*;
use crate::email_job::DecodeError;

const NY: Tz = chrono_tz::America::New_York;

/// 2026-05-28T20:26:40Z.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap()
}

fn wire(template: &str, data: Value) -> String {
    json!({"id": "job#1", "template": template, "to": "jane@example.com", "data": data,
           "critical": true, "correlation_id": "corr-1", "created_at": "2026-05-28T20:26:40Z"})
    .to_string()
}

/// A job as the worker decodes it from the queue.
fn job(template: &str, data: Value) -> EmailJob {
    EmailJob::decode(&wire(template, data)).unwrap()
}

fn reminder_data() -> Value {
    json!({"appointment_id": "a1", "customer_name": "Jane", "service": "Consultation",
           "starts_at": "2026-07-01T14:00:00Z", "time_zone": "Europe/Paris",
           "meeting_link": "https://meet.example.com/x?a=1&b=2"})
}

fn reminder(template: &str) -> EmailJob {
    job(template, reminder_data())
}

fn order(data: Value) -> EmailJob {
    job("order_confirmation", data)
}

#[test]
fn every_template_renders_both_parts() {
    let jobs = [
        job(
            "sign_in_notice",
            json!({"name": "Jane", "ip": "203.0.113.9", "signed_in_at": "2026-07-01T14:00:00Z"}),
        ),
        order(
            json!({"order_id": "o1", "amount_cents": 12345, "currency": "usd", "customer_name": "Jane"}),
        ),
        job(
            "deposit_confirmation",
            json!({"order_id": "o1", "deposit_cents": 5000, "balance_cents": 15000,
                   "total_cents": 20000, "currency": "usd", "customer_name": "Jane"}),
        ),
        job(
            "payment_failed",
            json!({"invoice_id": "in_1", "attempt": 2, "amount_cents": 999, "currency": "eur", "customer_name": "Jane"}),
        ),
        reminder("reminder_24h"),
        reminder("reminder_1h"),
        job(
            "admin_alert",
            json!({"job_id": "order-confirmation#o1", "template": "order_confirmation", "reason": "budget"}),
        ),
    ];
    let mut templates = Vec::new();
    for j in &jobs {
        let email = render(j, "noreply@example.com", NY, now()).unwrap();
        assert_eq!(email.from, "noreply@example.com");
        assert_eq!(email.to, "jane@example.com");
        assert!(!email.subject.is_empty());
        let is_alert = matches!(j.email, Email::AdminAlert(_));
        assert!(email.text.contains("corr-1") || is_alert);
        assert!(email.html.starts_with("<!doctype html>"), "{}", email.html);
        assert!(email.html.contains("Reference: corr-1"));
        templates.push(email.template);
    }
    assert_eq!(
        templates,
        [
            "sign_in_notice",
            "order_confirmation",
            "deposit_confirmation",
            "payment_failed",
            "reminder_24h",
            "reminder_1h",
            "admin_alert"
        ],
        "the template travels with the email, taken from the job's variant"
    );
}

#[test]
fn times_use_the_jobs_zone_else_the_default_and_name_it() {
    let email = render(&reminder("reminder_24h"), "s@example.com", NY, now()).unwrap();
    assert!(
        email
            .text
            .contains("Wednesday, July 1, 2026 at 4:00 PM CEST (Europe/Paris)"),
        "{}",
        email.text
    );
    let notice = job(
        "sign_in_notice",
        json!({"name": "Jane", "ip": "203.0.113.9", "signed_in_at": "2026-07-01T14:00:00Z"}),
    );
    let email = render(&notice, "s@example.com", NY, now()).unwrap();
    assert!(
        email.text.contains("10:00 AM EDT (America/New_York)"),
        "{}",
        email.text
    );
}

#[test]
fn reminder_wording_comes_from_the_local_day_difference() {
    // The appointment starts 2026-07-01 14:00 UTC = 16:00 in Paris.
    let start = DateTime::parse_from_rfc3339("2026-07-01T14:00:00Z")
        .unwrap()
        .to_utc();
    let at = |rfc: &str| DateTime::parse_from_rfc3339(rfc).unwrap().to_utc();
    let cases = [
        // 24 h before: the day before, local time.
        (
            at("2026-06-30T14:00:00Z"),
            "tomorrow",
            "Reminder: Consultation tomorrow",
        ),
        // A 24 h reminder sent late, the same local morning: "today", never "tomorrow".
        (
            at("2026-07-01T06:00:00Z"),
            "today",
            "Reminder: Consultation today",
        ),
        // 23:30 UTC on June 30 is already July 1 in Paris.
        (
            at("2026-06-30T23:30:00Z"),
            "today",
            "Reminder: Consultation today",
        ),
        (
            at("2026-06-28T14:00:00Z"),
            "in 3 days",
            "Reminder: Consultation in 3 days",
        ),
        (
            at("2026-07-01T13:00:00Z"),
            "in 1 hour",
            "Starting soon: Consultation",
        ),
        (
            at("2026-07-01T13:40:00Z"),
            "in 20 minutes",
            "Starting soon: Consultation",
        ),
    ];
    for (now, label, subject) in cases {
        assert_eq!(
            When::of(start, now, chrono_tz::Europe::Paris).label(),
            label
        );
        for template in ["reminder_24h", "reminder_1h"] {
            let email = render(&reminder(template), "s@example.com", NY, now).unwrap();
            assert!(
                email.subject.starts_with(subject),
                "{now}: {}",
                email.subject
            );
            assert!(
                email
                    .text
                    .contains(&format!("appointment {label}: Wednesday, July 1")),
                "{now}: {}",
                email.text
            );
        }
    }
}

#[test]
fn amounts_come_from_integer_cents() {
    let email = render(
        &job(
            "deposit_confirmation",
            json!({"order_id": "o1", "deposit_cents": 5000, "balance_cents": 150001,
                   "total_cents": 155001, "currency": "usd", "customer_name": "Jane"}),
        ),
        "s@example.com",
        NY,
        now(),
    )
    .unwrap();
    assert!(
        email.text.contains("deposit of USD 50.00"),
        "{}",
        email.text
    );
    assert!(email.text.contains("Balance due: USD 1,500.01"));
    assert!(email.text.contains("Order total: USD 1,550.01"));
}

#[test]
fn html_part_is_escaped_and_text_part_is_plain() {
    let email = render(
        &order(
            json!({"order_id": "o1", "amount_cents": 1, "currency": "usd",
                      "customer_name": "<script>alert(1)</script> & Co"}),
        ),
        "s@example.com",
        NY,
        now(),
    )
    .unwrap();
    assert!(!email.html.contains("<script>"), "{}", email.html);
    assert!(
        email
            .html
            .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; Co"),
        "{}",
        email.html
    );
    assert!(email.text.contains("Hello <script>alert(1)</script> & Co,"));
    let link = render(&reminder("reminder_1h"), "s@example.com", NY, now()).unwrap();
    assert!(link.html.contains("a=1&amp;b=2"), "{}", link.html);
}

#[test]
fn subjects_stay_on_one_line() {
    let email = render(
        &order(
            json!({"order_id": "o1\r\nBcc: x@evil.example", "amount_cents": 1, "currency": "usd", "customer_name": "J"}),
        ),
        "s@example.com",
        NY,
        now(),
    )
    .unwrap();
    assert!(!email.subject.contains('\n') && !email.subject.contains('\r'));
}

#[test]
fn data_of_the_wrong_shape_is_refused_when_decoded_naming_the_field() {
    let cases = [
        (
            json!({"amount_cents": 1, "currency": "usd", "customer_name": "J"}),
            "missing field `order_id`",
        ),
        (
            json!({"order_id": "o", "amount_cents": 1.5, "currency": "usd", "customer_name": "J"}),
            "field `amount_cents`: invalid type, expected u64",
        ),
        (
            json!({"order_id": "o", "amount_cents": "100", "currency": "usd", "customer_name": "J"}),
            "field `amount_cents`: invalid type, expected u64",
        ),
        (
            json!({"order_id": "o", "amount_cents": -1, "currency": "usd", "customer_name": "J"}),
            "field `amount_cents`: invalid value, expected u64",
        ),
    ];
    for (data, expected) in cases {
        match EmailJob::decode(&wire("order_confirmation", data)) {
            Err(DecodeError::InvalidData { reason, header }) => {
                assert_eq!(reason, expected);
                assert_eq!(header.id, "job#1");
            }
            other => panic!("{other:?}"),
        }
    }
    let mut bad_time = reminder_data();
    bad_time["starts_at"] = json!("tomorrow");
    assert!(matches!(
        EmailJob::decode(&wire("reminder_1h", bad_time)),
        Err(DecodeError::InvalidData { reason, .. }) if reason.starts_with("field `starts_at`")
    ));
}

#[test]
fn unusable_values_are_a_permanent_render_error_naming_the_field() {
    let err = render(
        &order(json!({"order_id": "o", "amount_cents": 1, "currency": "dollars", "customer_name": "J"})),
        "s@example.com",
        NY,
        now(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        RenderError::Invalid {
            template: "order_confirmation",
            field: "currency",
            expected: "an ISO 4217 code",
        }
    );
    assert_eq!(err.class(), ErrorClass::Permanent);
    let empty =
        order(json!({"order_id": " ", "amount_cents": 1, "currency": "usd", "customer_name": "J"}));
    assert!(matches!(
        render(&empty, "s@example.com", NY, now()),
        Err(RenderError::Invalid {
            field: "order_id",
            ..
        })
    ));
    let with = |field: &str, value: Value| {
        let mut data = reminder_data();
        data[field] = value;
        job("reminder_1h", data)
    };
    assert!(matches!(
        render(
            &with("time_zone", json!("Mars/Olympus")),
            "s@example.com",
            NY,
            now()
        ),
        Err(RenderError::Invalid {
            field: "time_zone",
            ..
        })
    ));
    assert!(matches!(
        render(
            &with("meeting_link", json!("javascript:alert(1)")),
            "s@example.com",
            NY,
            now()
        ),
        Err(RenderError::Invalid {
            field: "meeting_link",
            ..
        })
    ));
    let mut no_link = reminder_data();
    no_link.as_object_mut().unwrap().remove("meeting_link");
    assert!(
        !render(&job("reminder_1h", no_link), "s@example.com", NY, now())
            .unwrap()
            .html
            .contains("<a href")
    );
    for to in [
        "",
        "jane",
        "a@b@c.com",
        "jane@example.com, x@y.com",
        "jane@localhost",
    ] {
        let mut j = reminder("reminder_1h");
        j.to = to.into();
        assert_eq!(
            render(&j, "s@example.com", NY, now()),
            Err(RenderError::Recipient),
            "{to}"
        );
    }
}
