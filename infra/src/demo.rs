//! Demo data, seeded on start through each function's own stores: a user with a password,
//! two appointments (one due for its 24 h reminder, one for its 1 h reminder), a Stripe
//! customer mapped to the user, and an order awaiting payment.

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use login::users::User;
use reminder_cron::appointments::{Appointment, Status};
use stripe_webhook::billing::{Applied, CustomerLink, Order};

use crate::ports::Ports;

/// Demo user email.
pub const USER_EMAIL: &str = "demo@example.com";
/// Demo user password (local demo only).
pub const USER_PASSWORD: &str = "demo-password-1";
/// Demo user name.
pub const USER_NAME: &str = "Dana Demo";
/// Demo user id.
pub const USER_ID: &str = "user-demo";
/// Demo Stripe customer.
pub const CUSTOMER: &str = "cus_demo";
/// Demo order awaiting payment.
pub const ORDER_ID: &str = "order-demo-1001";
/// Its total.
pub const ORDER_TOTAL_CENTS: i64 = 12_500;
/// Appointment due for its 24 h reminder.
pub const APPT_24H: &str = "appt-demo-24h";
/// Appointment due for its 1 h reminder.
pub const APPT_1H: &str = "appt-demo-1h";

/// What was seeded (printed in the banner).
#[derive(Debug, Clone)]
pub struct Seeded {
    /// Lines to print.
    pub lines: Vec<String>,
}

fn minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t)
}

fn appointment(id: &str, service: &str, starts_at: DateTime<Utc>) -> Appointment {
    Appointment {
        id: id.to_owned(),
        customer_email: USER_EMAIL.to_owned(),
        customer_name: USER_NAME.to_owned(),
        service: service.to_owned(),
        starts_at,
        time_zone: "America/New_York".to_owned(),
        duration_minutes: 60,
        status: Status::Approved,
        version: 1,
        meeting_link: Some("https://meet.example.com/demo".to_owned()),
    }
}

/// Seeds the demo data (idempotent: existing user, order and mapping are kept).
pub async fn seed(ports: &Ports, now: DateTime<Utc>) -> Result<Seeded, String> {
    let mut lines = Vec::new();
    let password = USER_PASSWORD.to_owned();
    let hash = tokio::task::spawn_blocking(move || login::password::hash_password(&password))
        .await
        .map_err(|e| format!("seed: hashing crashed: {e}"))?
        .map_err(|e| format!("seed: {e}"))?;
    let user = User {
        id: USER_ID.to_owned(),
        email: USER_EMAIL.to_owned(),
        name: USER_NAME.to_owned(),
        password_hash: hash,
        created_at: now,
    };
    let existed = match ports.login.users.create_user(&user).await {
        Ok(()) => "",
        Err(shared::store_error::StoreError::Conflict(_)) => " (already there)",
        Err(e) => return Err(format!("seed user: {e}")),
    };
    lines.push(format!(
        "user         {USER_EMAIL} / password {USER_PASSWORD}{existed}"
    ));

    let day = appointment(
        APPT_24H,
        "Strategy session",
        minute(now + TimeDelta::minutes(23 * 60 + 30)),
    );
    let hour = appointment(
        APPT_1H,
        "Follow-up call",
        minute(now + TimeDelta::minutes(50)),
    );
    for (appt, kind) in [(&day, "24 h"), (&hour, "1 h")] {
        ports
            .appointments
            .put(appt)
            .await
            .map_err(|e| format!("seed appointment: {e}"))?;
        lines.push(format!(
            "appointment  {} at {} (due for its {kind} reminder)",
            appt.id,
            appt.starts_at.to_rfc3339()
        ));
    }

    ports
        .webhook
        .billing
        .link_customer(&CustomerLink {
            customer: CUSTOMER.to_owned(),
            user_id: USER_ID.to_owned(),
        })
        .await
        .map_err(|e| format!("seed customer: {e}"))?;
    lines.push(format!("stripe       customer {CUSTOMER} -> {USER_ID}"));

    let order = Order::pending(ORDER_ID, ORDER_TOTAL_CENTS, "usd", USER_EMAIL, USER_NAME);
    let created = ports
        .webhook
        .billing
        .create_order(&order)
        .await
        .map_err(|e| format!("seed order: {e}"))?;
    let state = match created {
        Applied::Changed => "awaiting payment".to_owned(),
        Applied::Unchanged => match ports.webhook.billing.order(ORDER_ID).await {
            Ok(Some(o)) => format!("already there, {}", o.status.as_str()),
            _ => "already there".to_owned(),
        },
    };
    lines.push(format!(
        "order        {ORDER_ID} USD {}.{:02} ({state})",
        ORDER_TOTAL_CENTS / 100,
        ORDER_TOTAL_CENTS % 100
    ));
    Ok(Seeded { lines })
}
