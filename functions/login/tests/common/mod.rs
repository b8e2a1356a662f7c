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
use login::app::Ports;
use login::device::DeviceCookies;
use login::password::{Argon2Passwords, HashError, PasswordVerifier, Verified, hash_password};
use login::ratelimit::FallbackRateLimiter;
use login::users::{MemoryUserStore, User, UserStore};
use login::{App, Config, Settings};
use shared::claims::{ClaimStore, MemoryClaimStore};
use shared::clock::SharedClock;
use shared::config::Secret;
use shared::metrics::{MemorySink, Metrics};
use shared::queue::{EmailQueue, MemoryQueue};
use shared::ratelimit::{MemoryRateLimiter, RateLimiter};
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

/// Counts verifications (and dummy hashes of limited attempts) reaching the wrapped
/// verifier.
#[derive(Debug)]
pub struct Counting<P> {
    pub inner: P,
    pub calls: AtomicUsize,
    pub wasted: AtomicUsize,
}

impl<P> Counting<P> {
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            calls: AtomicUsize::new(0),
            wasted: AtomicUsize::new(0),
        }
    }
    /// Verifications against a stored hash or, for an unknown email, the dummy one.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    /// Dummy hashes spent on limited accounts or devices.
    pub fn wasted(&self) -> usize {
        self.wasted.load(Ordering::SeqCst)
    }
}

impl<P: PasswordVerifier> PasswordVerifier for Counting<P> {
    fn verify(&self, password: &str, stored: Option<&str>) -> Verified {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(password, stored)
    }
    fn waste(&self, password: &str) {
        self.wasted.fetch_add(1, Ordering::SeqCst);
        self.inner.waste(password)
    }
    fn hash(&self, password: &str) -> Result<String, HashError> {
        self.inner.hash(password)
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
    pub login: App,
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
    pub device_key: Secret<String>,
}

/// Builder inputs that tests override.
#[derive(Default)]
pub struct Parts {
    pub limiter: Option<Arc<dyn RateLimiter>>,
    pub queue: Option<Arc<dyn EmailQueue>>,
    pub users: Option<Arc<dyn UserStore>>,
    pub settings: Settings,
}

fn memory_ports(clock: &SharedClock) -> (Ports, Arc<MemoryUserStore>) {
    let memory_users = Arc::new(MemoryUserStore::new());
    let mut ports = Ports::in_memory(
        Arc::new(MemoryClaimStore::new(clock.clone())),
        Arc::new(MemoryQueue::new(clock.clone())),
        clock.clone(),
    );
    ports.users = memory_users.clone();
    (ports, memory_users)
}

/// The real adapters from the function's own builder, on fresh moto resources and Redis. The
/// Redis budget is one a loaded test machine keeps (these tests are about the counters; the
/// timeout and fallback have their own tests with the real budget).
async fn real_ports(
    clock: &SharedClock,
    metrics: &Metrics,
    device_key: &Secret<String>,
) -> (Ports, aws_config::SdkConfig, String) {
    let aws = aws().await;
    let settings = Settings {
        redis_timeout: Duration::from_secs(2),
        ..Settings::default()
    };
    let config = Config {
        users_table: table(&aws, "UsersTable").await,
        claims_table: table(&aws, "ClaimsTable").await,
        email_queue_url: queue_url(&aws).await,
        redis_url: Secret::new(redis_url()),
        device_cookie_key: Secret::new(device_key.expose().clone()),
        log_hash_key: DeviceCookies::random_key(),
        settings,
    };
    let ports = Ports::from_aws(&config, &aws, clock.clone(), metrics.clone()).unwrap();
    (ports, aws, config.users_table)
}

pub async fn stack(backend: Backend, parts: Parts) -> Stack {
    let clock = shared::clock::system();
    let (metrics, sink) = Metrics::in_memory("login");
    let passwords = Arc::new(Counting::new(Argon2Passwords::new()));
    let device_key = DeviceCookies::random_key();
    let (mut ports, memory_users, aws, users_table) = match backend {
        Backend::Memory => {
            let (ports, users) = memory_ports(&clock);
            (ports, Some(users), None, None)
        }
        Backend::Real => {
            let (ports, aws, table) = real_ports(&clock, &metrics, &device_key).await;
            (ports, None, Some(aws), Some(table))
        }
    };
    ports.passwords = passwords.clone();
    if let Some(users) = parts.users {
        ports.users = users;
    }
    if let Some(queue) = parts.queue {
        ports.queue = queue;
    }
    if let Some(limiter) = parts.limiter {
        ports.limiter = limiter;
    }
    let (users, claims, queue) = (
        ports.users.clone(),
        ports.claims.clone(),
        ports.queue.clone(),
    );
    let login = App::build(ports, &device_key, parts.settings, clock.clone(), metrics).unwrap();
    Stack {
        login,
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
        device_key,
    }
}

/// The production chain (the function's builder): `primary` (Redis, 100 ms) → DynamoDB
/// counters in `users_table`.
pub fn real_chain(
    primary: Arc<dyn RateLimiter>,
    config: &aws_config::SdkConfig,
    users_table: &str,
    clock: SharedClock,
    metrics: Metrics,
) -> FallbackRateLimiter {
    login::app::rate_limit_chain(
        primary,
        aws_sdk_dynamodb::Client::new(config),
        users_table,
        clock,
        metrics,
        Budget::REDIS,
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

/// A sign-in request carrying `cookies` (API Gateway v2 puts them in `cookies`).
pub fn login_request_with_cookies(
    email: &str,
    password: &str,
    ip: &str,
    cookies: &[&str],
) -> Request {
    let body = serde_json::json!({"email": email, "password": password}).to_string();
    let mut event = event_json(
        "POST",
        "/auth/login",
        Some("application/json"),
        Some(&body),
        ip,
    );
    event["cookies"] = serde_json::json!(cookies);
    request(&event)
}

/// The value of the `device` cookie a response sets (`device=<value>`).
pub fn device_cookie(r: &Response<Body>) -> String {
    let line = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("device="))
        .expect("a device cookie");
    let value = line.split(';').next().unwrap().to_owned();
    assert!(value.len() > "device=".len(), "{line}");
    value
}

/// Registers a user whose stored hash is `password_hash` as given (e.g. bcrypt).
pub async fn seed_user_with_hash(stack: &Stack, email: &str, password_hash: &str) -> User {
    let user = User {
        id: unique_name("usr"),
        email: email.to_owned(),
        name: "Moved".to_owned(),
        password_hash: password_hash.to_owned(),
        created_at: Utc::now(),
    };
    stack.users.create_user(&user).await.unwrap();
    user
}

/// Counts the password-hash replacements that won (the conditional write succeeded).
#[derive(Debug)]
pub struct CountingUpgrades {
    pub inner: Arc<dyn UserStore>,
    pub won: AtomicUsize,
    pub tried: AtomicUsize,
}

impl CountingUpgrades {
    pub fn new(inner: Arc<dyn UserStore>) -> Self {
        Self {
            inner,
            won: AtomicUsize::new(0),
            tried: AtomicUsize::new(0),
        }
    }
}

#[async_trait::async_trait]
impl UserStore for CountingUpgrades {
    async fn find_user(
        &self,
        email: &str,
    ) -> Result<Option<User>, shared::store_error::StoreError> {
        self.inner.find_user(email).await
    }
    async fn create_user(&self, user: &User) -> Result<(), shared::store_error::StoreError> {
        self.inner.create_user(user).await
    }
    async fn replace_password_hash(
        &self,
        email: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, shared::store_error::StoreError> {
        self.tried.fetch_add(1, Ordering::SeqCst);
        let won = self
            .inner
            .replace_password_hash(email, old_hash, new_hash)
            .await?;
        if won {
            self.won.fetch_add(1, Ordering::SeqCst);
        }
        Ok(won)
    }
    async fn create_session(
        &self,
        session: &login::users::Session,
    ) -> Result<(), shared::store_error::StoreError> {
        self.inner.create_session(session).await
    }
    async fn find_session(
        &self,
        token_sha256: &str,
        now: chrono::DateTime<Utc>,
    ) -> Result<Option<login::users::Session>, shared::store_error::StoreError> {
        self.inner.find_session(token_sha256, now).await
    }
}
