use serde_json::json;

use super::*;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

fn order_confirmation() -> EmailJob {
    EmailJob::new(
        "order-confirmation#o1",
        Email::OrderConfirmation(OrderConfirmation {
            order_id: "o1".into(),
            amount_cents: 12_500,
            currency: "usd".into(),
            customer_name: "Jane".into(),
        }),
        "jane@example.com",
        CorrelationId::from_upstream("evt_1"),
        at(1_700_000_000),
    )
}

/// The bodies of `events/email-retry/*.json`: jobs queued before the typed contract.
fn sample_bodies() -> Vec<(String, String)> {
    let mut bodies = Vec::new();
    for name in ["valid_batch.json", "duplicate_batch.json"] {
        let path = format!(
            "{}/../events/email-retry/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for record in event["Records"].as_array().unwrap() {
            bodies.push((name.to_owned(), record["body"].as_str().unwrap().to_owned()));
        }
    }
    bodies
}

#[test]
fn jobs_queued_before_the_typed_contract_decode_and_encode_back_unchanged() {
    let bodies = sample_bodies();
    assert_eq!(bodies.len(), 6, "{bodies:?}");
    let mut templates = Vec::new();
    for (file, body) in &bodies {
        let job = EmailJob::decode(body).unwrap_or_else(|e| panic!("{file}: {e}"));
        let original: Value = serde_json::from_str(body).unwrap();
        assert_eq!(serde_json::to_value(&job).unwrap(), original, "{file}");
        templates.push(job.email.template_name().into_owned());
    }
    templates.sort();
    templates.dedup();
    assert_eq!(
        templates,
        ["order_confirmation", "reminder_24h", "sign_in_notice"]
    );
}

#[test]
fn the_reminder_lead_is_data_and_names_the_template() {
    let body = sample_bodies()
        .into_iter()
        .map(|(_, b)| b)
        .find(|b| b.contains("reminder_24h"))
        .unwrap();
    let job = EmailJob::decode(&body).unwrap();
    let Email::Reminder(reminder) = &job.email else {
        panic!("{job:?}")
    };
    assert_eq!(reminder.lead, Lead::hours(24));
    assert_eq!(reminder.lead.duration(), Duration::from_secs(86_400));
    assert_eq!(reminder.starts_at, at(1_783_004_400));
    assert!(job.critical);
    let mut short = reminder.clone();
    short.lead = Lead::minutes(90);
    assert_eq!(
        Email::Reminder(short).template_name(),
        "reminder_90m",
        "leads that are not whole hours are written in minutes"
    );
    for (text, lead) in [
        ("1h", Some(Lead::hours(1))),
        ("30m", Some(Lead::minutes(30))),
        ("0h", None),
        ("h", None),
        ("24", None),
        ("", None),
        ("-1h", None),
    ] {
        assert_eq!(Lead::parse(text), lead, "{text}");
    }
}

#[test]
fn jobs_round_trip_and_criticality_follows_the_email() {
    let job = order_confirmation().not_after(at(1_700_000_600));
    assert!(job.critical);
    let text = serde_json::to_string(&job).unwrap();
    assert!(
        text.contains("\"template\":\"order_confirmation\""),
        "{text}"
    );
    assert!(
        text.contains("\"not_after\":\"2023-11-14T22:23:20Z\""),
        "{text}"
    );
    assert_eq!(serde_json::from_str::<EmailJob>(&text).unwrap(), job);
    let alert = Email::AdminAlert(AdminAlert {
        job_id: "j".into(),
        template: "order_confirmation".into(),
        reason: "r".into(),
    });
    assert!(!alert.is_critical());
    assert_eq!(alert.template_name(), "admin_alert");
}

#[test]
fn a_job_with_unusable_data_keeps_its_envelope_and_names_the_field() {
    let mut wire = serde_json::to_value(order_confirmation()).unwrap();
    wire["data"]["amount_cents"] = json!("19.99");
    match EmailJob::decode(&wire.to_string()) {
        Err(DecodeError::InvalidData { header, reason }) => {
            assert_eq!(header.id, "order-confirmation#o1");
            assert_eq!(header.template, "order_confirmation");
            assert!(header.critical);
            assert_eq!(reason, "field `amount_cents`: invalid type, expected u64");
            assert!(
                !reason.contains("19.99"),
                "values never reach reasons: {reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    wire["template"] = json!("reminder_soon");
    assert!(matches!(
        EmailJob::decode(&wire.to_string()),
        Err(DecodeError::UnknownTemplate(t)) if t == "reminder_soon"
    ));
    assert!(matches!(
        EmailJob::decode(r#"{"hello": 1}"#),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn payment_failed_attempts_are_numbers_or_digits() {
    let data = |attempt: Value| {
        json!({"invoice_id": "in_1", "attempt": attempt, "amount_cents": 999,
               "currency": "eur", "customer_name": "Jane"})
    };
    for attempt in [json!(2), json!("2")] {
        let email = Email::from_wire("payment_failed", data(attempt))
            .unwrap()
            .unwrap();
        assert!(matches!(
            email,
            Email::PaymentFailed(PaymentFailed { attempt: 2, .. })
        ));
    }
    assert!(matches!(
        Email::from_wire("payment_failed", data(json!("two"))),
        Some(Err(_))
    ));
}
