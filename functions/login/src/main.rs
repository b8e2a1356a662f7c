use std::sync::Arc;

use lambda_http::Error;
use login::password::Argon2Passwords;
use login::ratelimit::{DynamoRateLimiter, FallbackRateLimiter, warm_up};
use login::users::DynamoUserStore;
use login::{Config, Login};
use shared::breaker::CircuitBreaker;
use shared::claims::DynamoClaimStore;
use shared::lambda::{init, run_http};
use shared::metrics::Metrics;
use shared::queue::SqsQueue;
use shared::ratelimit::RedisRateLimiter;
use shared::timeout::Budget;

/// Consecutive Redis failures before the breaker opens, and how long it stays open.
const BREAKER_THRESHOLD: u32 = 3;
const BREAKER_COOL_DOWN: std::time::Duration = std::time::Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init_tracing();
    let aws = shared::aws::load_config().await;
    let config = init(Config::from_env(shared::secrets::process_env(&aws).await)).await?;
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    let clock = shared::clock::system();
    let metrics = Metrics::stdout("login");
    let budget = Budget::REDIS.with_limit(config.settings.redis_timeout);
    let redis = RedisRateLimiter::new(config.redis_url.expose())?.with_budget(budget);
    warm_up(&redis).await;
    let limiter = FallbackRateLimiter::new(
        Arc::new(redis),
        Arc::new(DynamoRateLimiter::new(
            dynamo.clone(),
            &config.users_table,
            clock.clone(),
        )),
        CircuitBreaker::new(BREAKER_THRESHOLD, BREAKER_COOL_DOWN, clock.clone()),
        budget,
        metrics.clone(),
    );
    let login = Login {
        users: Arc::new(DynamoUserStore::new(dynamo.clone(), &config.users_table)),
        limiter: Arc::new(limiter),
        passwords: Arc::new(Argon2Passwords::new()?),
        claims: Arc::new(DynamoClaimStore::new(
            dynamo,
            &config.claims_table,
            clock.clone(),
        )),
        queue: Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&aws),
            &config.email_queue_url,
        )),
        clock,
        metrics,
        settings: config.settings,
    };
    let login = &login;
    run_http(move |request| login.handle(request)).await
}
