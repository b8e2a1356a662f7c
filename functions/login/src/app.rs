//! The composition root: every real adapter of the function and every tuning constant,
//! written once. `main.rs`, the tests and the local stack (`infra`) all build through here.
//!
//! Nothing here waits on the network or hashes: the dummy hash is embedded
//! ([`crate::password::DUMMY_HASH`]) and Redis connects in the background, so the runtime
//! asks for the first event right after the configuration is read.

use std::sync::Arc;
use std::time::Duration;

use shared::breaker::CircuitBreaker;
use shared::claims::{ClaimStore, DynamoClaimStore};
use shared::clock::SharedClock;
use shared::config::Secret;
use shared::metrics::Metrics;
use shared::queue::{EmailQueue, SqsQueue};
use shared::ratelimit::{MemoryRateLimiter, RateLimiter, RedisRateLimiter};
use shared::timeout::Budget;

use crate::device::DeviceCookies;
use crate::password::{Argon2Passwords, PasswordVerifier};
use crate::ratelimit::{DynamoRateLimiter, FallbackRateLimiter, warm_up};
use crate::users::{DynamoUserStore, MemoryUserStore, UserStore};
use crate::{App, Config, Settings};

/// Consecutive Redis failures before the breaker opens.
pub const BREAKER_THRESHOLD: u32 = 3;
/// How long the open breaker skips Redis.
pub const BREAKER_COOL_DOWN: Duration = Duration::from_secs(30);

/// Why the function cannot be built (a configuration problem, reported at cold start).
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// The ports of the sign-in service, already built.
#[derive(Debug, Clone)]
pub struct Ports {
    /// Users and sessions.
    pub users: Arc<dyn UserStore>,
    /// The rate-limit chain.
    pub limiter: Arc<dyn RateLimiter>,
    /// Password verification.
    pub passwords: Arc<dyn PasswordVerifier>,
    /// Claims (sign-in notice dedup).
    pub claims: Arc<dyn ClaimStore>,
    /// Email queue.
    pub queue: Arc<dyn EmailQueue>,
}

impl Ports {
    /// In-memory users and counters, with the given (shared) claims and queue.
    pub fn in_memory(
        claims: Arc<dyn ClaimStore>,
        queue: Arc<dyn EmailQueue>,
        clock: SharedClock,
    ) -> Self {
        Self {
            users: Arc::new(MemoryUserStore::new()),
            limiter: Arc::new(MemoryRateLimiter::new(clock)),
            passwords: Arc::new(Argon2Passwords::new()),
            claims,
            queue,
        }
    }

    /// The real adapters: DynamoDB, SQS, and Redis → DynamoDB counters. Redis connects in the
    /// background (no wait here); a Redis outage at cold start does not stop the function.
    pub fn from_aws(
        config: &Config,
        aws: &aws_config::SdkConfig,
        clock: SharedClock,
        metrics: Metrics,
    ) -> Result<Self, BuildError> {
        let dynamo = aws_sdk_dynamodb::Client::new(aws);
        let budget = Budget::REDIS.with_limit(config.settings.redis_timeout);
        let redis = Arc::new(RedisRateLimiter::new(config.redis_url.expose())?.with_budget(budget));
        connect_in_background(Arc::clone(&redis));
        let limiter = rate_limit_chain(
            redis,
            dynamo.clone(),
            &config.users_table,
            clock.clone(),
            metrics,
            budget,
        );
        Ok(Self {
            users: Arc::new(DynamoUserStore::new(dynamo.clone(), &config.users_table)),
            limiter: Arc::new(limiter),
            passwords: Arc::new(Argon2Passwords::new()),
            claims: Arc::new(DynamoClaimStore::new(dynamo, &config.claims_table, clock)),
            queue: Arc::new(SqsQueue::new(
                aws_sdk_sqs::Client::new(aws),
                &config.email_queue_url,
            )),
        })
    }
}

/// Opens the Redis connection on the runtime without waiting for it (outside a runtime the
/// first sign-in opens it).
fn connect_in_background(redis: Arc<RedisRateLimiter>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move { warm_up(redis.as_ref()).await });
    }
}

/// The rate-limit chain: `primary` (Redis) cut at `budget` behind the breaker, then the
/// DynamoDB counters in `users_table`.
pub fn rate_limit_chain(
    primary: Arc<dyn RateLimiter>,
    dynamo: aws_sdk_dynamodb::Client,
    users_table: &str,
    clock: SharedClock,
    metrics: Metrics,
    budget: Budget,
) -> FallbackRateLimiter {
    FallbackRateLimiter::new(
        primary,
        Arc::new(DynamoRateLimiter::new(dynamo, users_table, clock.clone())),
        CircuitBreaker::new(BREAKER_THRESHOLD, BREAKER_COOL_DOWN, clock),
        budget,
        metrics,
    )
}

impl App {
    /// The function as deployed: real adapters from `config`, system clock, EMF metrics on
    /// stdout, and `LOG_HASH_KEY` already installed by [`Config::from_env`].
    pub fn from_aws(config: Config, aws: &aws_config::SdkConfig) -> Result<Self, BuildError> {
        let clock = shared::clock::system();
        let metrics = Metrics::stdout("login");
        let ports = Ports::from_aws(&config, aws, clock.clone(), metrics.clone())?;
        Self::build(
            ports,
            &config.device_cookie_key,
            config.settings,
            clock,
            metrics,
        )
    }

    /// The service on ready ports, with device cookies signed by `device_key`.
    pub fn build(
        ports: Ports,
        device_key: &Secret<String>,
        settings: Settings,
        clock: SharedClock,
        metrics: Metrics,
    ) -> Result<Self, BuildError> {
        Ok(Self {
            users: ports.users,
            limiter: ports.limiter,
            passwords: ports.passwords,
            claims: ports.claims,
            queue: ports.queue,
            devices: DeviceCookies::new(device_key, settings.device_cookie_ttl)?,
            clock,
            metrics,
            settings,
        })
    }
}
