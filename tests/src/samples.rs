//! What the sample events in `events/` need to get their documented answers from the real
//! binaries against the local services: the login sample's user (with fresh rate-limit
//! counters), the orders, customer and subscription the Stripe samples refer to, and the
//! Stripe samples re-signed at the current time (their committed signatures date from
//! 2026-01-01, far outside the 300 s tolerance).

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};
use login::client_ip::ClientIp;
use login::ratelimit::LoginLimits;
use login::users::{DynamoUserStore, User, UserStore};
use serde_json::Value;
use shared::config::Secret;
use shared::ratelimit::{RateLimiter, RedisRateLimiter};
use shared::store_error::StoreError;
use stripe_webhook::billing::{
    BillingStore, CustomerLink, DynamoBillingStore, Order, Subscription,
};
use stripe_webhook::signature::{Verifier, sign_header};

/// The secret `events/stripe-webhook/` is signed with.
pub const FIXTURE_SECRET: &str = "whsec_test_secret";
/// The time those samples were signed at (2026-01-01T00:00:00Z).
pub const FIXTURE_TIME: i64 = 1_767_225_600;
/// The user of `events/login/success.json`.
pub const LOGIN_EMAIL: &str = "jane@example.com";
/// Her password.
pub const LOGIN_PASSWORD: &str = "correct horse battery staple";
/// `requestContext.http.sourceIp` of the login samples.
pub const LOGIN_IP: &str = "203.0.113.10";

fn failed(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// Creates the login samples' user in `users_table` (kept when she exists).
pub async fn seed_login_user(aws: &aws_config::SdkConfig, users_table: &str) -> Result<(), String> {
    let store = DynamoUserStore::new(aws_sdk_dynamodb::Client::new(aws), users_table);
    let user = User {
        id: "usr_sample_jane".into(),
        email: LOGIN_EMAIL.into(),
        name: "Jane Doe".into(),
        password_hash: login::password::hash_password(LOGIN_PASSWORD)
            .map_err(|e| failed("hash", e))?,
        created_at: Utc::now(),
    };
    match store.create_user(&user).await {
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(failed("create the sample user", e)),
    }
}

/// Clears the sample IP's and account's rate-limit counters in Redis, so the samples can be
/// sent again within the 15-minute window.
pub async fn reset_login_limits(redis_url: &str) -> Result<(), String> {
    reset_login_limits_of(redis_url, LOGIN_IP).await
}

/// Clears the counters of the sample account and of the client address `ip`.
pub async fn reset_login_limits_of(redis_url: &str, ip: &str) -> Result<(), String> {
    let redis = RedisRateLimiter::new(redis_url).map_err(|e| failed("REDIS_URL", e))?;
    let ip = ClientIp::parse(ip).ok_or("the IP does not parse")?;
    for key in [
        LoginLimits::ip_key(&ip),
        LoginLimits::account_key(LOGIN_EMAIL),
    ] {
        redis
            .reset(&key)
            .await
            .map_err(|e| failed("reset a counter", e))?;
    }
    Ok(())
}

/// The orders, customer mapping and subscription the Stripe samples refer to (as
/// functions/stripe-webhook/tests/common seeds them); existing ones are kept.
pub async fn seed_billing(aws: &aws_config::SdkConfig, billing_table: &str) -> Result<(), String> {
    let store: Arc<dyn BillingStore> = Arc::new(DynamoBillingStore::new(
        aws_sdk_dynamodb::Client::new(aws),
        billing_table,
    ));
    for (id, total) in [
        ("ord_1001", 12_000),
        ("ord_1002", 10_000),
        ("ord_1003", 5_000),
    ] {
        let order = Order::pending(id, total, "usd", LOGIN_EMAIL, "Jane Doe");
        store
            .create_order(&order)
            .await
            .map_err(|e| failed(id, e))?;
    }
    store
        .link_customer(&CustomerLink {
            customer: "cus_known".into(),
            user_id: "usr_1".into(),
        })
        .await
        .map_err(|e| failed("cus_known", e))?;
    store
        .upsert_subscription(&Subscription {
            id: "sub_1".into(),
            user_id: "usr_1".into(),
            customer: "cus_known".into(),
            status: "incomplete".into(),
            current_period_start: None,
            current_period_end: None,
            cancel_at_period_end: false,
            event_created: FIXTURE_TIME - 3600,
            event_rank: 0,
        })
        .await
        .map_err(|e| failed("sub_1", e))?;
    Ok(())
}

/// The raw body of an API Gateway event (decoded when base64).
fn raw_body(event: &Value) -> Option<Vec<u8>> {
    let body = event["body"].as_str()?;
    if event["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD.decode(body).ok()
    } else {
        Some(body.as_bytes().to_vec())
    }
}

/// Re-signs a Stripe sample with `secret` as if sent at `now`: only a sample whose signature
/// verifies under [`FIXTURE_SECRET`] at its own time is re-signed, and its distance from
/// [`FIXTURE_TIME`] is kept, so tampered, foreign, unsigned and stale samples stay what they
/// are. Returns whether it was re-signed.
pub fn resign_stripe_event(event: &mut Value, secret: &str, now: DateTime<Utc>) -> bool {
    let Some(body) = raw_body(event) else {
        return false;
    };
    let Some(header) = event["headers"]["stripe-signature"].as_str() else {
        return false;
    };
    let Ok(parsed) = stripe_webhook::signature::parse_header(header) else {
        return false;
    };
    let Some(signed_at) = DateTime::from_timestamp(parsed.timestamp, 0) else {
        return false;
    };
    let fixture = Verifier::new(
        vec![Secret::new(FIXTURE_SECRET.to_owned())],
        Verifier::DEFAULT_TOLERANCE,
    );
    if fixture
        .verify(Some(header.as_bytes()), &body, signed_at)
        .is_err()
    {
        return false;
    }
    let t = now.timestamp() + (parsed.timestamp - FIXTURE_TIME);
    event["headers"]["stripe-signature"] = Value::String(sign_header(secret, t, &body));
    true
}
