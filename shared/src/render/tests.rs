use chrono::DateTime;
use serde_json::json;

use super::*;
use crate::telemetry::CorrelationId;

const NY: Tz = chrono_tz::America::New_York;

fn job(template: EmailTemplate, data: Value) -> EmailJob {
    EmailJob::new(
        "job#1",
        template,
        "jane@example.com",
        data,
        CorrelationId::from_upstream("corr-1"),
        DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
    )
}

fn reminder(kind: EmailTemplate) -> EmailJob {
    job(
        kind,
        json!({"appointment_id": "a1", "customer_name": "Jane", "service": "Consultation",
               "starts_at": "2026-07-01T14:00:00Z", "time_zone": "Europe/Paris",
               "meeting_link": "https://meet.example.com/x?a=1&b=2"}),
    )
}

#[test]
fn every_template_renders_both_parts() {
    let jobs = [
        job(
            EmailTemplate::SignInNotice,
            json!({"name": "Jane", "ip": "203.0.113.9", "signed_in_at": "2026-07-01T14:00:00Z"}),
        ),
        job(
            EmailTemplate::OrderConfirmation,
            json!({"order_id": "o1", "amount_cents": 12345, "currency": "usd", "customer_name": "Jane"}),
        ),
        job(
            EmailTemplate::DepositConfirmation,
            json!({"order_id": "o1", "deposit_cents": 5000, "balance_cents": 15000,
                   "total_cents": 20000, "currency": "usd", "customer_name": "Jane"}),
        ),
        job(
            EmailTemplate::PaymentFailed,
            json!({"invoice_id": "in_1", "attempt": 2, "amount_cents": 999, "currency": "eur", "customer_name": "Jane"}),
        ),
        reminder(EmailTemplate::Reminder24h),
        reminder(EmailTemplate::Reminder1h),
        job(
            EmailTemplate::AdminAlert,
            json!({"job_id": "order-confirmation#o1", "template": "order_confirmation", "reason": "budget"}),
        ),
    ];
    for j in &jobs {
        let email = render(j, "noreply@example.com", NY).unwrap();
        assert_eq!(email.from, "noreply@example.com");
        assert_eq!(email.to, "jane@example.com");
        assert!(!email.subject.is_empty());
        assert!(email.text.contains("corr-1") || j.template == EmailTemplate::AdminAlert);
        assert!(email.html.starts_with("<!doctype html>"), "{}", email.html);
        assert!(email.html.contains("Reference: corr-1"));
    }
}

#[test]
fn times_use_the_jobs_zone_else_the_default_and_name_it() {
    let email = render(&reminder(EmailTemplate::Reminder24h), "s@example.com", NY).unwrap();
    assert!(
        email
            .text
            .contains("Wednesday, July 1, 2026 at 4:00 PM CEST (Europe/Paris)"),
        "{}",
        email.text
    );
    let notice = job(
        EmailTemplate::SignInNotice,
        json!({"name": "Jane", "ip": "203.0.113.9", "signed_in_at": "2026-07-01T14:00:00Z"}),
    );
    let email = render(&notice, "s@example.com", NY).unwrap();
    assert!(
        email.text.contains("10:00 AM EDT (America/New_York)"),
        "{}",
        email.text
    );
}

#[test]
fn amounts_come_from_integer_cents() {
    let email = render(
        &job(
            EmailTemplate::DepositConfirmation,
            json!({"order_id": "o1", "deposit_cents": 5000, "balance_cents": 150001,
                   "total_cents": 155001, "currency": "usd", "customer_name": "Jane"}),
        ),
        "s@example.com",
        NY,
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
        &job(
            EmailTemplate::OrderConfirmation,
            json!({"order_id": "o1", "amount_cents": 1, "currency": "usd",
                   "customer_name": "<script>alert(1)</script> & Co"}),
        ),
        "s@example.com",
        NY,
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
    let link = render(&reminder(EmailTemplate::Reminder1h), "s@example.com", NY).unwrap();
    assert!(link.html.contains("a=1&amp;b=2"), "{}", link.html);
}

#[test]
fn subjects_stay_on_one_line() {
    let email = render(
        &job(
            EmailTemplate::OrderConfirmation,
            json!({"order_id": "o1\r\nBcc: x@evil.example", "amount_cents": 1, "currency": "usd", "customer_name": "J"}),
        ),
        "s@example.com",
        NY,
    )
    .unwrap();
    assert!(!email.subject.contains('\n') && !email.subject.contains('\r'));
}

#[test]
fn bad_data_is_a_permanent_render_error_naming_the_field() {
    let cases = [
        (
            json!({"amount_cents": 1, "currency": "usd", "customer_name": "J"}),
            RenderError::Missing {
                template: "order_confirmation",
                field: "order_id",
            },
        ),
        (
            json!({"order_id": "o", "amount_cents": 1.5, "currency": "usd", "customer_name": "J"}),
            RenderError::Invalid {
                template: "order_confirmation",
                field: "amount_cents",
                expected: "a non-negative integer amount in minor units",
            },
        ),
        (
            json!({"order_id": "o", "amount_cents": "100", "currency": "usd", "customer_name": "J"}),
            RenderError::Invalid {
                template: "order_confirmation",
                field: "amount_cents",
                expected: "a non-negative integer amount in minor units",
            },
        ),
        (
            json!({"order_id": "o", "amount_cents": 1, "currency": "dollars", "customer_name": "J"}),
            RenderError::Invalid {
                template: "order_confirmation",
                field: "currency",
                expected: "an ISO 4217 code",
            },
        ),
    ];
    for (data, expected) in cases {
        let err = render(
            &job(EmailTemplate::OrderConfirmation, data),
            "s@example.com",
            NY,
        )
        .unwrap_err();
        assert_eq!(err, expected);
        assert_eq!(err.class(), ErrorClass::Permanent);
    }
    let mut bad_zone = reminder(EmailTemplate::Reminder1h);
    bad_zone.data["time_zone"] = json!("Mars/Olympus");
    assert!(matches!(
        render(&bad_zone, "s@example.com", NY),
        Err(RenderError::Invalid {
            field: "time_zone",
            ..
        })
    ));
    let mut bad_time = reminder(EmailTemplate::Reminder1h);
    bad_time.data["starts_at"] = json!("tomorrow");
    assert!(matches!(
        render(&bad_time, "s@example.com", NY),
        Err(RenderError::Invalid {
            field: "starts_at",
            ..
        })
    ));
    let mut bad_link = reminder(EmailTemplate::Reminder1h);
    bad_link.data["meeting_link"] = json!("javascript:alert(1)");
    assert!(matches!(
        render(&bad_link, "s@example.com", NY),
        Err(RenderError::Invalid {
            field: "meeting_link",
            ..
        })
    ));
    let mut no_link = reminder(EmailTemplate::Reminder1h);
    no_link.data.as_object_mut().unwrap().remove("meeting_link");
    assert!(
        !render(&no_link, "s@example.com", NY)
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
        let mut j = reminder(EmailTemplate::Reminder1h);
        j.to = to.into();
        assert_eq!(
            render(&j, "s@example.com", NY),
            Err(RenderError::Recipient),
            "{to}"
        );
    }
}
