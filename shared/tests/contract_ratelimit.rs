//! Rate limiter contract: the same suite against the in-memory limiter and Redis.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use shared::clock::ManualClock;
use shared::ratelimit::{
    CheckMode, MemoryRateLimiter, RateCheck, RateLimiter, RateRule, RedisRateLimiter,
};
use shared::testing::unique_name;
use shared::timeout::Budget;

fn memory() -> Arc<dyn RateLimiter> {
    Arc::new(MemoryRateLimiter::new(
        ManualClock::new(Utc::now()).shared(),
    ))
}

fn redis() -> Arc<dyn RateLimiter> {
    // A generous budget: 200 concurrent checks queue on one connection.
    let limiter = RedisRateLimiter::new(&common::redis_url())
        .unwrap()
        .with_budget(Budget::REDIS.with_limit(Duration::from_secs(5)));
    Arc::new(limiter)
}

const RULE: RateRule = RateRule {
    limit: 5,
    window: Duration::from_secs(900),
};

fn count(key: &str) -> RateCheck {
    RateCheck {
        key: key.to_owned(),
        rule: RULE,
        mode: CheckMode::Count,
    }
}

fn peek(key: &str) -> RateCheck {
    RateCheck {
        mode: CheckMode::Peek,
        ..count(key)
    }
}

async fn two_hundred_concurrent_checks_allow_exactly_five(limiter: Arc<dyn RateLimiter>) {
    let key = format!("rl:{{{}}}", unique_name("burst"));
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let limiter = limiter.clone();
            let key = key.clone();
            tokio::spawn(async move { limiter.check(&[count(&key)]).await })
        })
        .collect();
    let mut allowed = 0;
    let mut counts = Vec::new();
    for t in tasks {
        let d = t.await.unwrap().unwrap()[0];
        allowed += usize::from(d.allowed);
        counts.push(d.count);
    }
    counts.sort_unstable();
    assert_eq!(allowed, 5);
    assert_eq!(
        counts,
        (1..=200).collect::<Vec<u32>>(),
        "every attempt counted once"
    );
}

async fn decisions_report_remaining_and_true_reset(limiter: Arc<dyn RateLimiter>) {
    let key = format!("rl:{{{}}}", unique_name("remaining"));
    let first = limiter.check(&[count(&key)]).await.unwrap()[0];
    assert_eq!((first.allowed, first.count, first.remaining), (true, 1, 4));
    assert!(
        first.reset_after <= RULE.window
            && first.reset_after > RULE.window - Duration::from_secs(5)
    );
    for _ in 0..4 {
        limiter.check(&[count(&key)]).await.unwrap();
    }
    let sixth = limiter.check(&[count(&key)]).await.unwrap()[0];
    assert_eq!((sixth.allowed, sixth.count, sixth.remaining), (false, 6, 0));
    assert!(
        sixth.reset_after <= first.reset_after,
        "the window does not restart"
    );
}

async fn peek_does_not_count_and_reset_clears(limiter: Arc<dyn RateLimiter>) {
    let key = format!("rl:{{{}}}", unique_name("peek"));
    let fresh = limiter.check(&[peek(&key)]).await.unwrap()[0];
    assert_eq!((fresh.allowed, fresh.count, fresh.remaining), (true, 0, 5));
    for _ in 0..5 {
        limiter.check(&[count(&key)]).await.unwrap();
    }
    let full = limiter.check(&[peek(&key)]).await.unwrap()[0];
    assert_eq!(
        (full.allowed, full.count),
        (false, 5),
        "peek at the limit denies"
    );
    let again = limiter.check(&[peek(&key)]).await.unwrap()[0];
    assert_eq!(again.count, 5, "peeking never counts");
    limiter.reset(&key).await.unwrap();
    let cleared = limiter.check(&[peek(&key)]).await.unwrap()[0];
    assert_eq!((cleared.allowed, cleared.count), (true, 0));
}

async fn several_counters_in_one_call(limiter: Arc<dyn RateLimiter>) {
    let ip = format!("rl:{{{}}}", unique_name("ip"));
    let account = format!("rl:{{{}}}", unique_name("acct"));
    for _ in 0..5 {
        limiter.check(&[count(&account)]).await.unwrap();
    }
    let decisions = limiter.check(&[count(&ip), peek(&account)]).await.unwrap();
    assert_eq!(decisions.len(), 2);
    assert_eq!((decisions[0].allowed, decisions[0].count), (true, 1));
    assert_eq!((decisions[1].allowed, decisions[1].count), (false, 5));
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory_adapter {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $case() { super::$case(super::memory()).await })*
        }
        mod redis_adapter {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $case() { super::$case(super::redis()).await })*
        }
    };
}

contract!(
    two_hundred_concurrent_checks_allow_exactly_five,
    decisions_report_remaining_and_true_reset,
    peek_does_not_count_and_reset_clears,
    several_counters_in_one_call,
);

/// A counter that lost its TTL (the seed's "locked out forever" bug) gets one back.
#[tokio::test]
async fn redis_key_without_ttl_gets_one_back() {
    let url = common::redis_url();
    let key = format!("rl:{{{}}}", unique_name("nottl"));
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(7)
        .query_async(&mut conn)
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(ttl, -1, "seeded without expiry");

    let d = redis().check(&[peek(&key)]).await.unwrap()[0];
    assert_eq!((d.allowed, d.count), (false, 7));
    assert_eq!(d.reset_after, RULE.window);
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 900_000, "TTL restored, got {ttl}");
}

/// The window really ends: after it, counting starts again at 1.
#[tokio::test]
async fn redis_window_expires() {
    let limiter = redis();
    let key = format!("rl:{{{}}}", unique_name("window"));
    let short = RateCheck {
        rule: RateRule {
            limit: 1,
            window: Duration::from_millis(300),
        },
        ..count(&key)
    };
    assert!(limiter.check(std::slice::from_ref(&short)).await.unwrap()[0].allowed);
    assert!(!limiter.check(std::slice::from_ref(&short)).await.unwrap()[0].allowed);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let d = limiter.check(&[short]).await.unwrap()[0];
    assert_eq!((d.allowed, d.count), (true, 1));
}

/// The in-memory window ends on the manual clock.
#[tokio::test]
async fn memory_window_expires() {
    let clock = ManualClock::new(Utc::now());
    let limiter = MemoryRateLimiter::new(clock.shared());
    let key = "k";
    for _ in 0..6 {
        limiter.check(&[count(key)]).await.unwrap();
    }
    clock.advance(RULE.window);
    let d = limiter.check(&[count(key)]).await.unwrap()[0];
    assert_eq!((d.allowed, d.count), (true, 1));
}

/// An unreachable Redis is a classified error, not a hang or a panic.
#[tokio::test]
async fn unreachable_redis_is_dependency_down() {
    use shared::error::{Classify, ErrorClass};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let limiter = RedisRateLimiter::new(&format!("redis://127.0.0.1:{port}")).unwrap();
    let err = limiter.check(&[count("k")]).await.unwrap_err();
    assert!(
        matches!(
            err.class(),
            ErrorClass::DependencyDown | ErrorClass::Transient
        ),
        "{err:?}"
    );
    assert!(err.class().is_retryable());
}
