//! Secrets Manager adapter against moto: values read by ARN, a missing secret named (never a
//! value), `<NAME>_SECRET_ARN` variables resolved, and a new secret version picked up by a
//! re-read at most once per interval.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use shared::clock::ManualClock;
use shared::secrets::{RefreshableSecret, SecretSource, SecretsManagerSecret, resolve};
use shared::testing::provision::put_secret;
use shared::testing::{fixtures, unique_name};

async fn client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&fixtures::moto().await)
}

#[tokio::test]
async fn a_stored_secret_is_read_by_its_arn() {
    let client = client().await;
    let arn = put_secret(&client, &unique_name("redis-url"), "redis://:pw@cache:6379")
        .await
        .unwrap();
    assert!(arn.starts_with("arn:aws:secretsmanager:"), "{arn}");
    let value = SecretsManagerSecret::new(client, &arn)
        .read()
        .await
        .unwrap();
    assert_eq!(value.expose(), "redis://:pw@cache:6379");
}

#[tokio::test]
async fn a_missing_secret_is_named_and_no_value_is_shown() {
    let client = client().await;
    let arn = format!(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:{}",
        unique_name("absent")
    );
    let err = SecretsManagerSecret::new(client, &arn)
        .read()
        .await
        .unwrap_err();
    assert_eq!(err.arn, arn);
    assert!(
        err.reason.contains("ResourceNotFoundException"),
        "{}",
        err.reason
    );
    assert!(
        err.to_string()
            .starts_with(&format!("secret {arn} could not be read"))
    );
}

#[tokio::test]
async fn secret_arn_variables_become_values() {
    let client = client().await;
    let redis = put_secret(&client, &unique_name("redis"), "redis://one")
        .await
        .unwrap();
    let key = put_secret(&client, &unique_name("key"), "sk_test_two")
        .await
        .unwrap();
    let vars = HashMap::from([
        ("REDIS_URL_SECRET_ARN".to_owned(), redis),
        ("STRIPE_API_KEY_SECRET_ARN".to_owned(), key),
        ("USERS_TABLE".to_owned(), "users".to_owned()),
    ]);
    let mut env = resolve(vars, |arn| SecretsManagerSecret::new(client.clone(), arn)).await;
    assert_eq!(env.secret("REDIS_URL").unwrap().expose(), "redis://one");
    assert_eq!(
        env.secret("STRIPE_API_KEY").unwrap().expose(),
        "sk_test_two"
    );
    assert!(env.finish().is_ok());
}

#[tokio::test]
async fn a_new_version_is_picked_up_by_the_next_allowed_re_read() {
    let client = client().await;
    let name = unique_name("whsec");
    let arn = put_secret(&client, &name, "whsec_one").await.unwrap();
    let clock = ManualClock::at("2026-12-01T12:00:00Z");
    let secret = RefreshableSecret::new(
        Arc::new(SecretsManagerSecret::new(client.clone(), &arn)),
        RefreshableSecret::MIN_INTERVAL,
        clock.shared(),
    );
    put_secret(&client, &name, "whsec_two,whsec_one")
        .await
        .unwrap();
    assert!(secret.refresh().await);
    assert_eq!(secret.latest().unwrap().expose(), "whsec_two,whsec_one");
    put_secret(&client, &name, "whsec_three").await.unwrap();
    assert!(!secret.refresh().await, "held back within the minute");
    assert_eq!(secret.latest().unwrap().expose(), "whsec_two,whsec_one");
    clock.advance(Duration::from_secs(60));
    assert!(secret.refresh().await);
    assert_eq!(secret.latest().unwrap().expose(), "whsec_three");
}
