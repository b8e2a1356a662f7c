#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;
use std::sync::Arc;
use std::time::Duration;
use chrono::{TimeDelta, Utc};
use shared::claims::*;
use shared::clock::ManualClock;

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn stress() {
    let config = common::aws().await;
    let table = common::table(&config, "ClaimsTable").await;
    let clock = ManualClock::new(Utc::now());
    let store = Arc::new(DynamoClaimStore::new(aws_sdk_dynamodb::Client::new(&config), table, clock.shared()).with_budget(shared::timeout::Budget::DYNAMODB.with_limit(Duration::from_secs(30))));
    let mut doubles = 0;
    for round in 0..20 {
        let mut tasks = Vec::new();
        for k in 0..50 {
            for _ in 0..5 {
                let store = store.clone();
                let req = ClaimRequest::new(ClaimKey::new("s", &[&round.to_string(), &k.to_string()]), clock.shared().now() + TimeDelta::seconds(60), Duration::from_secs(600));
                tasks.push(tokio::spawn(async move { (k, matches!(store.claim(&req).await.unwrap(), ClaimOutcome::Acquired(_))) }));
            }
        }
        let mut wins = std::collections::HashMap::new();
        for t in tasks { let (k, won) = t.await.unwrap(); if won { *wins.entry(k).or_insert(0) += 1; } }
        doubles += wins.values().filter(|v| **v > 1).count();
        assert_eq!(wins.len(), 50);
    }
    println!("keys with more than one winner: {doubles} of 1000");
}
