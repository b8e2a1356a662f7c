//! Test support: API Gateway v2 events, a counting password verifier, and the login service
//! wired either in memory or against the real services (moto + redis-server). A missing
//! service fails the test with instructions, never skips it.

#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use lambda_http::{Body, Request, Response};
use login::password::{Argon2Passwords, PasswordVerifier, hash_password};
use login::ratelimit::{DynamoRateLimiter, FallbackRateLimiter};
use login::users::{DynamoUserStore, MemoryUserStore, User, UserStore};
use login::{Login, Settings};
use shared::breaker::CircuitBreaker;
use shared::claims::{ClaimStore, DynamoClaimStore, MemoryClaimStore};
use shared::clock::SharedClock;
use shared::metrics::{MemorySink, Metrics};
use shared::queue::{EmailQueue, MemoryQueue, SqsQueue};
use shared::ratelimit::{MemoryRateLimiter, RateLimiter, RedisRateLimiter};
use shared::testing::unique_name;
use shared::timeout::Budget;

pub const PASSWORD: &str = "correct horse battery staple";

pub use shared::testing::fixtures::{moto as aws, redis as redis_url, table};

/// A fresh email queue URL (no redrive, like the contract suites).
pub async fn queue_url(config: &aws_config::SdkConfig) -> String {
    shared::testing::fixtures::queue(config, "EmailDeadLetterQueue")
        .await
        .url
}

/// Counts verifications reaching the wrapped verifier.
#[derive(Debug)]
pub struct Counting<P> {
    pub inner: P,
    pub calls: AtomicUsize,
}

impl<P> Counting<P> {
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            calls: AtomicUsize::new(0),
        }
    }
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl<P: PasswordVerifier> PasswordVerifier for Counting<P> {
    fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(password, stored)
    }
}

/// An API Gateway HTTP API (payload v2) event.
pub fn event_json(
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Option<&str>,
    source_ip: &str,
) -> serde_json::Value {
    let mut headers = serde_json::json!({"host": "api.example.com", "user-agent": "test"});
    if let Some(ct) = content_type {
        headers["content-type"] = ct.into();
    }
    serde_json::json!({
        "version": "2.0",
        "routeKey": "POST /auth/login",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": "test"
            },
            "requestId": format!("req-{}", unique_name("r")),
            "routeKey": "POST /auth/login",
            "stage": "$default",
            "time": "29/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1_795_000_000_000_i64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// A request from an event.
pub fn request(event: &serde_json::Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("valid event")
}

/// A well-formed sign-in request.
pub fn login_request(email: &str, password: &str, ip: &str) -> Request {
    let body = serde_json::json!({"email": email, "password": password}).to_string();
    request(&event_json(
        "POST",
        "/auth/login",
        Some("application/json"),
        Some(&body),
        ip,
    ))
}

pub fn body_text(r: &Response<Body>) -> String {
    match r.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

pub fn body_json(r: &Response<Body>) -> serde_json::Value {
    serde_json::from_str(&body_text(r)).expect("JSON body")
}

pub fn header<'a>(r: &'a Response<Body>, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Where the stores live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Real,
}

/// A login service under test with handles on its parts.
pub struct Stack {
    pub login: Login,
    pub users: Arc<dyn UserStore>,
    pub memory_users: Option<Arc<MemoryUserStore>>,
    pub passwords: Arc<Counting<Argon2Passwords>>,
    pub claims: Arc<dyn ClaimStore>,
    pub queue: Arc<dyn EmailQueue>,
    pub sink: MemorySink,
    pub clock: SharedClock,
    pub backend: Backend,
    pub aws: Option<aws_config::SdkConfig>,
    pub users_table: Option<String>,
}

/// Builder inputs that tests override.
#[derive(Default)]
pub struct Parts {
    pub limiter: Option<Arc<dyn RateLimiter>>,
    pub queue: Option<Arc<dyn EmailQueue>>,
    pub users: Option<Arc<dyn UserStore>>,
    pub settings: Settings,
}

fn passwords() -> Arc<Counting<Argon2Passwords>> {
    Arc::new(Counting::new(Argon2Passwords::new().unwrap()))
}

pub async fn stack(backend: Backend, parts: Parts) -> Stack {
    let clock = shared::clock::system();
    let (metrics, sink) = Metrics::in_memory("login");
    let passwords = passwords();
    // The parts that differ per backend; the service is assembled once below.
    let (users, memory_users, claims, queue, limiter, aws, users_table) = match backend {
        Backend::Memory => {
            let memory_users = Arc::new(MemoryUserStore::new());
            let users: Arc<dyn UserStore> = parts.users.unwrap_or_else(|| memory_users.clone());
            let queue: Arc<dyn EmailQueue> = parts
                .queue
                .unwrap_or_else(|| Arc::new(MemoryQueue::new(clock.clone())));
            let limiter: Arc<dyn RateLimiter> = parts
                .limiter
                .unwrap_or_else(|| Arc::new(MemoryRateLimiter::new(clock.clone())));
            let claims: Arc<dyn ClaimStore> = Arc::new(MemoryClaimStore::new(clock.clone()));
            (
                users,
                Some(memory_users),
                claims,
                queue,
                limiter,
                None,
                None,
            )
        }
        Backend::Real => {
            let config = aws().await;
            let redis = redis_url();
            let users_table = table(&config, "UsersTable").await;
            let claims_table = table(&config, "ClaimsTable").await;
            let dynamo = aws_sdk_dynamodb::Client::new(&config);
            let users: Arc<dyn UserStore> = parts
                .users
                .unwrap_or_else(|| Arc::new(DynamoUserStore::new(dynamo.clone(), &users_table)));
            let claims: Arc<dyn ClaimStore> = Arc::new(DynamoClaimStore::new(
                dynamo.clone(),
                &claims_table,
                clock.clone(),
            ));
            let queue: Arc<dyn EmailQueue> = match parts.queue {
                Some(q) => q,
                None => Arc::new(SqsQueue::new(
                    aws_sdk_sqs::Client::new(&config),
                    queue_url(&config).await,
                )),
            };
            let limiter: Arc<dyn RateLimiter> = match parts.limiter {
                Some(l) => l,
                None => {
                    // A warm connection, as `main` makes at cold start; and a budget that a
                    // loaded test machine keeps (these tests are about the counters; the
                    // timeout and fallback have their own tests with the real budget).
                    let budget = Budget::REDIS.with_limit(Duration::from_secs(2));
                    let redis = RedisRateLimiter::new(&redis).unwrap().with_budget(budget);
                    login::ratelimit::warm_up(&redis).await;
                    Arc::new(real_chain_with_budget(
                        Arc::new(redis),
                        &config,
                        &users_table,
                        clock.clone(),
                        metrics.clone(),
                        budget,
                    ))
                }
            };
            (
                users,
                None,
                claims,
                queue,
                limiter,
                Some(config),
                Some(users_table),
            )
        }
    };
    Stack {
        login: Login {
            users: users.clone(),
            limiter,
            passwords: passwords.clone(),
            claims: claims.clone(),
            queue: queue.clone(),
            clock: clock.clone(),
            metrics,
            settings: parts.settings,
        },
        users,
        memory_users,
        passwords,
        claims,
        queue,
        sink,
        clock,
        backend,
        aws,
        users_table,
    }
}

/// The production chain: `primary` (Redis, 100 ms) → DynamoDB counters in `users_table`.
pub fn real_chain(
    primary: Arc<dyn RateLimiter>,
    config: &aws_config::SdkConfig,
    users_table: &str,
    clock: SharedClock,
    metrics: Metrics,
) -> FallbackRateLimiter {
    real_chain_with_budget(primary, config, users_table, clock, metrics, Budget::REDIS)
}

/// The production chain with another Redis budget.
pub fn real_chain_with_budget(
    primary: Arc<dyn RateLimiter>,
    config: &aws_config::SdkConfig,
    users_table: &str,
    clock: SharedClock,
    metrics: Metrics,
    budget: Budget,
) -> FallbackRateLimiter {
    FallbackRateLimiter::new(
        primary,
        Arc::new(DynamoRateLimiter::new(
            aws_sdk_dynamodb::Client::new(config),
            users_table,
            clock.clone(),
        )),
        CircuitBreaker::new(3, Duration::from_secs(30), clock),
        budget,
        metrics,
    )
}

/// A unique email (tests share Redis, so keys must not collide between runs).
pub fn email(tag: &str) -> String {
    format!("{tag}-{}@example.com", unique_name("u").replace('-', ""))
}

/// A unique IPv4 address in 10.0.0.0/8 (tests share Redis).
pub fn ip() -> String {
    let n: u32 = rand::random();
    format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
}

/// Registers a user with [`PASSWORD`].
pub async fn seed_user(stack: &Stack, email: &str, name: &str) -> User {
    let user = User {
        id: unique_name("usr"),
        email: email.to_owned(),
        name: name.to_owned(),
        password_hash: hash_password(PASSWORD).unwrap(),
        created_at: Utc::now(),
    };
    stack.users.create_user(&user).await.unwrap();
    user
}
