//! Users & sessions store contract: the same suite on the in-memory store and DynamoDB (moto).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use login::users::{DynamoUserStore, MemoryUserStore, Session, User, UserStore};
use shared::store_error::StoreError;
use shared::testing::unique_name;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
}

fn user(email: &str) -> User {
    User {
        id: unique_name("usr"),
        email: email.to_owned(),
        name: "Jane Doe".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        created_at: DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap(),
    }
}

async fn suite(store: Arc<dyn UserStore>) {
    let email = common::email("contract");
    assert!(store.find_user(&email).await.unwrap().is_none());
    let u = user(&email);
    store.create_user(&u).await.unwrap();
    assert_eq!(store.find_user(&email).await.unwrap(), Some(u.clone()));
    let dup = store.create_user(&user(&email)).await.unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(_)), "{dup:?}");
    assert_eq!(
        store.find_user(&email).await.unwrap().unwrap().id,
        u.id,
        "first one kept"
    );

    // The password hash is replaced only while it is still the one read.
    let old = u.password_hash.clone();
    assert!(
        store
            .replace_password_hash(&email, &old, "$argon2id$new")
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_password_hash(&email, &old, "$argon2id$stale")
            .await
            .unwrap(),
        "a second writer with the old hash loses"
    );
    assert!(
        !store
            .replace_password_hash(&common::email("nobody"), &old, "$argon2id$x")
            .await
            .unwrap(),
        "no user, no write"
    );
    let stored = store.find_user(&email).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "$argon2id$new");
    assert_eq!(stored.id, u.id);

    let t = now();
    let session = Session {
        token_sha256: login::session::SessionToken::generate().sha256_hex(),
        user_id: u.id.clone(),
        created_at: DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap(),
        expires_at: t + TimeDelta::seconds(60),
    };
    store.create_session(&session).await.unwrap();
    assert_eq!(
        store.find_session(&session.token_sha256, t).await.unwrap(),
        Some(session.clone())
    );
    assert!(matches!(
        store.create_session(&session).await.unwrap_err(),
        StoreError::Conflict(_)
    ));
    // Expiry is checked on read, whatever TTL deletion has done.
    let later = t + TimeDelta::seconds(60);
    assert!(
        store
            .find_session(&session.token_sha256, later)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_session("0".repeat(64).as_str(), t)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn memory_store_meets_the_contract() {
    suite(Arc::new(MemoryUserStore::new())).await;
}

#[tokio::test]
async fn dynamodb_store_meets_the_contract() {
    let config = common::aws().await;
    let table = common::table(&config, "UsersTable").await;
    suite(Arc::new(DynamoUserStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        table,
    )))
    .await;
}
