//! Rate limiter contract for the login fallback: the same cases on the in-memory limiter,
//! the Redis script and the DynamoDB counter (moto), so the fallback behaves like Redis.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use login::ratelimit::DynamoRateLimiter;
use shared::ratelimit::{
    CheckMode, MemoryRateLimiter, RateCheck, RateLimiter, RateRule, RedisRateLimiter,
};
use shared::testing::unique_name;
use tokio::task::JoinSet;

fn check(key: &str, limit: u32, window: Duration, mode: CheckMode) -> RateCheck {
    RateCheck {
        key: key.to_owned(),
        rule: RateRule { limit, window },
        mode,
    }
}

fn key(tag: &str) -> String {
    format!("rl:{{test:{}}}", unique_name(tag))
}

async fn counts_to_the_limit_then_denies(l: &dyn RateLimiter) {
    let k = key("limit");
    let window = Duration::from_secs(60);
    for n in 1..=7u32 {
        let d = l
            .check(&[check(&k, 5, window, CheckMode::Count)])
            .await
            .unwrap()[0];
        assert_eq!(d.count, n);
        assert_eq!(d.allowed, n <= 5, "attempt {n}");
        assert_eq!(d.remaining, 5u32.saturating_sub(n));
        assert_eq!(d.limit, 5);
        assert!(
            d.reset_after <= window && d.reset_after > Duration::from_secs(55),
            "{:?}",
            d.reset_after
        );
    }
}

async fn peek_reads_without_counting(l: &dyn RateLimiter) {
    let k = key("peek");
    let w = Duration::from_secs(60);
    let d = l.check(&[check(&k, 2, w, CheckMode::Peek)]).await.unwrap()[0];
    assert_eq!((d.count, d.allowed, d.reset_after), (0, true, w));
    l.check(&[check(&k, 2, w, CheckMode::Count)]).await.unwrap();
    l.check(&[check(&k, 2, w, CheckMode::Count)]).await.unwrap();
    let d = l.check(&[check(&k, 2, w, CheckMode::Peek)]).await.unwrap()[0];
    assert_eq!((d.count, d.allowed), (2, false));
    let d = l.check(&[check(&k, 2, w, CheckMode::Peek)]).await.unwrap()[0];
    assert_eq!(d.count, 2, "peek does not count");
}

async fn several_keys_in_one_call_are_independent(l: &dyn RateLimiter) {
    let (a, b) = (key("a"), key("b"));
    let w = Duration::from_secs(60);
    l.check(&[check(&a, 5, w, CheckMode::Count)]).await.unwrap();
    let ds = l
        .check(&[
            check(&a, 5, w, CheckMode::Count),
            check(&b, 1, w, CheckMode::Count),
        ])
        .await
        .unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!((ds[0].count, ds[0].allowed), (2, true));
    assert_eq!((ds[1].count, ds[1].allowed), (1, true));
}

async fn window_expires_and_restarts(l: &dyn RateLimiter) {
    let k = key("expire");
    let w = Duration::from_millis(1200);
    for _ in 0..3 {
        l.check(&[check(&k, 2, w, CheckMode::Count)]).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let d = l.check(&[check(&k, 2, w, CheckMode::Count)]).await.unwrap()[0];
    assert!(!d.allowed);
    assert!(
        d.reset_after <= Duration::from_millis(700),
        "true time left, not the window: {:?}",
        d.reset_after
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    let d = l.check(&[check(&k, 2, w, CheckMode::Count)]).await.unwrap()[0];
    assert_eq!((d.count, d.allowed), (1, true), "a new window after expiry");
}

async fn reset_clears_a_counter(l: &dyn RateLimiter) {
    let k = key("reset");
    let w = Duration::from_secs(60);
    for _ in 0..6 {
        l.check(&[check(&k, 5, w, CheckMode::Count)]).await.unwrap();
    }
    l.reset(&k).await.unwrap();
    let d = l.check(&[check(&k, 5, w, CheckMode::Count)]).await.unwrap()[0];
    assert_eq!((d.count, d.allowed), (1, true));
    l.reset(&key("never-used")).await.unwrap();
}

async fn concurrent_counts_are_exact(l: Arc<dyn RateLimiter>) {
    let k = key("burst");
    let mut set = JoinSet::new();
    for _ in 0..40 {
        let (l, k) = (l.clone(), k.clone());
        set.spawn(async move {
            l.check(&[check(&k, 5, Duration::from_secs(60), CheckMode::Count)])
                .await
                .unwrap()[0]
        });
    }
    let mut counts = Vec::new();
    let mut allowed = 0;
    while let Some(d) = set.join_next().await {
        let d = d.unwrap();
        counts.push(d.count);
        allowed += usize::from(d.allowed);
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=40).collect::<Vec<_>>(),
        "every count atomic and distinct"
    );
    assert_eq!(allowed, 5);
}

async fn suite(l: Arc<dyn RateLimiter>) {
    counts_to_the_limit_then_denies(l.as_ref()).await;
    peek_reads_without_counting(l.as_ref()).await;
    several_keys_in_one_call_are_independent(l.as_ref()).await;
    reset_clears_a_counter(l.as_ref()).await;
    window_expires_and_restarts(l.as_ref()).await;
    concurrent_counts_are_exact(l).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_limiter_meets_the_contract() {
    suite(Arc::new(MemoryRateLimiter::new(shared::clock::system()))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_limiter_meets_the_contract() {
    let l = RedisRateLimiter::new(&common::redis_url())
        .unwrap()
        .with_budget(shared::timeout::Budget::REDIS.with_limit(Duration::from_secs(2)));
    suite(Arc::new(l)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_fallback_limiter_meets_the_contract() {
    let config = common::aws().await;
    let table = common::table(&config, "UsersTable").await;
    let l = DynamoRateLimiter::new(
        aws_sdk_dynamodb::Client::new(&config),
        table,
        shared::clock::system(),
    );
    suite(Arc::new(l)).await;
}

#[tokio::test]
async fn dynamodb_counter_without_a_window_end_is_repaired() {
    // The analogue of a Redis key that lost its TTL: the next count starts a fresh window.
    let config = common::aws().await;
    let table = common::table(&config, "UsersTable").await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let k = key("repair");
    client
        .put_item()
        .table_name(&table)
        .item("pk", shared::dynamo_item::s(format!("ratelimit#{k}")))
        .item("count", shared::dynamo_item::n(99))
        .send()
        .await
        .unwrap();
    let l = DynamoRateLimiter::new(client, table, shared::clock::system());
    let d = l
        .check(&[check(&k, 5, Duration::from_secs(60), CheckMode::Count)])
        .await
        .unwrap()[0];
    assert_eq!((d.count, d.allowed), (1, true));
}
