//! Handler scenarios, each run in memory and against the real services (redis-server + moto):
//! bursts, credential stuffing, Redis failing, storage failing, the sign-in notice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Backend, PASSWORD, Parts, Stack, email, header, ip, login_request, seed_user, stack};
use login::users::UserStore;
use shared::error::ErrorClass;
use shared::faults::{Fault, FaultPlan, Faulty};
use shared::metrics::Metric;
use shared::queue::{EmailQueue, MemoryQueue};
use shared::ratelimit::{MemoryRateLimiter, RateLimiter, RedisRateLimiter};
use tokio::task::JoinSet;

async fn queued_jobs(queue: &dyn EmailQueue) -> Vec<shared::email_job::EmailJob> {
    let mut jobs = Vec::new();
    for _ in 0..3 {
        let batch = queue.receive(10, Duration::from_secs(60)).await.unwrap();
        if batch.is_empty() && !jobs.is_empty() {
            break;
        }
        jobs.extend(batch.iter().map(|m| m.job().unwrap()));
    }
    jobs
}

// ------------------------------------------------------------ 200 concurrent, one IP

async fn burst_from_one_ip(backend: Backend) {
    let s = Arc::new(stack(backend, Parts::default()).await);
    let address = ip();
    let mut set = JoinSet::new();
    for i in 0..200 {
        let s = s.clone();
        let address = address.clone();
        set.spawn(async move {
            let r = s
                .login
                .handle(login_request(
                    &email(&format!("burst{i}")),
                    "guess",
                    &address,
                ))
                .await;
            r.status().as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = set.join_next().await {
        statuses.push(status.unwrap());
    }
    let count = |code| statuses.iter().filter(|s| **s == code).count();
    println!(
        "{backend:?}: 401={} 429={} other={}",
        count(401),
        count(429),
        200 - count(401) - count(429)
    );
    assert_eq!(
        s.passwords.calls(),
        5,
        "exactly 5 attempts reach verification"
    );
    assert_eq!(count(401), 5);
    assert_eq!(count(429), 195);
    assert_eq!(s.sink.total(Metric::RateLimitDenied), 195.0);
    assert_eq!(
        s.sink.total(Metric::RateLimiterDegraded),
        0.0,
        "decided by the primary store"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_of_200_from_one_ip_reaches_verification_5_times_memory() {
    burst_from_one_ip(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_of_200_from_one_ip_reaches_verification_5_times_redis() {
    burst_from_one_ip(Backend::Real).await;
}

// ------------------------------------------------------------ credential stuffing

async fn many_ips_one_account(backend: Backend) {
    let s = Arc::new(stack(backend, Parts::default()).await);
    let victim = email("victim");
    seed_user(&s, &victim, "Victim").await;
    let mut set = JoinSet::new();
    for _ in 0..50 {
        let (s, victim) = (s.clone(), victim.clone());
        set.spawn(async move {
            s.login
                .handle(login_request(&victim, "wrong", &ip()))
                .await
                .status()
                .as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = set.join_next().await {
        statuses.push(status.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(
        s.passwords.calls(),
        5,
        "the account axis stops verification after 5"
    );
    // Even the right password is refused while the account is limited, with the same 401.
    let r = s
        .login
        .handle(login_request(&victim, PASSWORD, &ip()))
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(s.passwords.calls(), 5);
    assert_eq!(s.sink.total(Metric::RateLimitDenied), 46.0);
}

async fn one_ip_many_accounts(backend: Backend) {
    let s = stack(backend, Parts::default()).await;
    let address = ip();
    let mut statuses = Vec::new();
    for i in 0..50 {
        let r = s
            .login
            .handle(login_request(
                &email(&format!("acct{i}")),
                "wrong",
                &address,
            ))
            .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..5], &[401; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(
        s.passwords.calls(),
        5,
        "the IP axis stops verification after 5"
    );
    let r = s
        .login
        .handle(login_request(&email("last"), "wrong", &address))
        .await;
    assert_eq!(r.status(), 429);
    let retry: u64 = header(&r, "retry-after").parse().unwrap();
    assert!((880..=900).contains(&retry), "{retry}");
    assert_eq!(header(&r, "ratelimit-policy"), "5;w=900");
    assert!(header(&r, "ratelimit").starts_with("limit=5, remaining=0, reset="));
    assert_eq!(s.sink.total(Metric::RateLimiterDegraded), 0.0);
}

#[tokio::test]
async fn retry_after_is_the_true_time_left_in_the_window() {
    let clock = shared::clock::ManualClock::at("2026-11-29T10:00:00Z");
    let s = stack(
        Backend::Memory,
        Parts {
            limiter: Some(Arc::new(MemoryRateLimiter::new(clock.shared()))),
            ..Parts::default()
        },
    )
    .await;
    let address = ip();
    for _ in 0..5 {
        s.login
            .handle(login_request(&email("w"), "x", &address))
            .await;
    }
    clock.advance(Duration::from_secs(600));
    let r = s
        .login
        .handle(login_request(&email("w"), "x", &address))
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), "300");
    assert_eq!(header(&r, "ratelimit"), "limit=5, remaining=0, reset=300");
    assert_eq!(common::body_json(&r)["retry_after"], 300);
    clock.advance(Duration::from_secs(300));
    let r = s
        .login
        .handle(login_request(&email("w"), "x", &address))
        .await;
    assert_eq!(
        r.status(),
        401,
        "a new window after expiry: never locked out for good"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credential_stuffing_is_stopped_by_the_account_axis_memory() {
    many_ips_one_account(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credential_stuffing_is_stopped_by_the_account_axis_redis() {
    many_ips_one_account(Backend::Real).await;
}

#[tokio::test]
async fn one_ip_many_accounts_is_stopped_by_the_ip_axis_memory() {
    one_ip_many_accounts(Backend::Memory).await;
}

#[tokio::test]
async fn one_ip_many_accounts_is_stopped_by_the_ip_axis_redis() {
    one_ip_many_accounts(Backend::Real).await;
}

// ------------------------------------------------------------ Redis failing, fallback

/// A stack whose Redis fails per `plan`, falling back to DynamoDB counters in moto.
async fn stack_with_faulty_redis(plan: FaultPlan) -> (Stack, Arc<Faulty<RedisRateLimiter>>) {
    let config = common::aws().await;
    let users_table = common::table(&config, "UsersTable").await;
    let warm = RedisRateLimiter::new(&common::redis_url()).unwrap();
    login::ratelimit::warm_up(&warm).await;
    let redis = Arc::new(Faulty::new(warm, plan));
    let mut s = stack(
        Backend::Real,
        Parts {
            users: Some(Arc::new(login::users::DynamoUserStore::new(
                aws_sdk_dynamodb::Client::new(&config),
                &users_table,
            ))),
            ..Parts::default()
        },
    )
    .await;
    let chain = common::real_chain(
        redis.clone(),
        &config,
        &users_table,
        s.clock.clone(),
        s.login.metrics.clone(),
    );
    s.login.limiter = Arc::new(chain);
    s.users_table = Some(users_table);
    (s, redis)
}

async fn limits_hold_on_the_fallback(fault: Fault) {
    // Redis answers the first 2 checks, then fails on every call.
    let plan = FaultPlan::on_calls(3..=1000, fault);
    let (s, redis) = stack_with_faulty_redis(plan).await;
    let address = ip();
    let mut statuses = Vec::new();
    for i in 0..12 {
        let r = s
            .login
            .handle(login_request(&email(&format!("fb{i}")), "wrong", &address))
            .await;
        statuses.push(r.status().as_u16());
    }
    // 2 attempts counted in Redis, then the fallback starts its own window: 5 more allowed.
    assert_eq!(&statuses[..7], &[401; 7], "{statuses:?}");
    assert!(statuses[7..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(
        s.passwords.calls(),
        7,
        "never unthrottled while Redis is down"
    );
    assert!(s.sink.total(Metric::RateLimiterDegraded) >= 10.0);
    assert_eq!(s.sink.total(Metric::RateLimiterUnavailable), 0.0);
    // The breaker opened after 3 failures: Redis is no longer called on every attempt.
    assert_eq!(
        redis.plan().calls(),
        2 + 3,
        "breaker stops calling a failing Redis"
    );
}

#[tokio::test]
async fn redis_down_mid_test_falls_back_to_dynamodb_with_the_same_limits() {
    limits_hold_on_the_fallback(Fault::Fail(ErrorClass::DependencyDown)).await;
}

#[tokio::test]
async fn redis_hanging_is_cut_by_the_timeout_and_falls_back() {
    let started = std::time::Instant::now();
    limits_hold_on_the_fallback(Fault::Hang).await;
    // 3 hung calls of 100 ms each before the breaker opened, plus DynamoDB work.
    println!("hang scenario took {:?}", started.elapsed());
}

#[tokio::test]
async fn both_rate_limit_stores_failing_gives_503_never_401() {
    let (metrics, sink) = shared::metrics::Metrics::in_memory("login");
    let clock = shared::clock::system();
    let failing = |class| -> Arc<dyn RateLimiter> {
        Arc::new(Faulty::new(
            MemoryRateLimiter::new(shared::clock::system()),
            FaultPlan::always(Fault::Fail(class)),
        ))
    };
    let chain = login::ratelimit::FallbackRateLimiter::new(
        failing(ErrorClass::DependencyDown),
        failing(ErrorClass::Transient),
        shared::breaker::CircuitBreaker::new(3, Duration::from_secs(30), clock),
        shared::timeout::Budget::REDIS,
        metrics.clone(),
    );
    let mut s = stack(
        Backend::Memory,
        Parts {
            limiter: Some(Arc::new(chain)),
            ..Parts::default()
        },
    )
    .await;
    s.login.metrics = metrics;
    let user = email("both");
    seed_user(&s, &user, "Both").await;
    for password in [PASSWORD, "wrong"] {
        let r = s.login.handle(login_request(&user, password, &ip())).await;
        assert_eq!(r.status(), 503);
        assert_eq!(header(&r, "retry-after"), "5");
        assert_eq!(header(&r, "content-type"), "application/problem+json");
    }
    assert_eq!(s.passwords.calls(), 0, "no password work without a limiter");
    assert_eq!(sink.total(Metric::RateLimiterUnavailable), 2.0);
    assert_eq!(sink.total(Metric::RateLimiterDegraded), 2.0);
}

#[tokio::test]
async fn both_real_stores_failing_gives_503() {
    // Real Redis failing and a DynamoDB fallback pointing at a table that does not exist.
    let config = common::aws().await;
    let redis: Arc<dyn RateLimiter> = Arc::new(Faulty::new(
        RedisRateLimiter::new(&common::redis_url()).unwrap(),
        FaultPlan::always(Fault::Fail(ErrorClass::DependencyDown)),
    ));
    let mut s = stack(Backend::Real, Parts::default()).await;
    s.login.limiter = Arc::new(common::real_chain(
        redis,
        &config,
        "no-such-table",
        s.clock.clone(),
        s.login.metrics.clone(),
    ));
    let r = s
        .login
        .handle(login_request(&email("x"), "pw", &ip()))
        .await;
    assert_eq!(r.status(), 503);
    assert!(header(&r, "retry-after").parse::<u64>().unwrap() >= 1);
    assert_eq!(s.sink.total(Metric::RateLimiterUnavailable), 1.0);
}

// ------------------------------------------------------------ storage failing

#[derive(Debug)]
struct DownUsers;

#[async_trait::async_trait]
impl UserStore for DownUsers {
    async fn find_user(
        &self,
        _: &str,
    ) -> Result<Option<login::users::User>, shared::store_error::StoreError> {
        Err(shared::store_error::StoreError::backend(
            "dynamodb",
            ErrorClass::DependencyDown,
            "down",
        ))
    }
    async fn create_user(
        &self,
        _: &login::users::User,
    ) -> Result<(), shared::store_error::StoreError> {
        Err(shared::store_error::StoreError::backend(
            "dynamodb",
            ErrorClass::DependencyDown,
            "down",
        ))
    }
    async fn create_session(
        &self,
        _: &login::users::Session,
    ) -> Result<(), shared::store_error::StoreError> {
        Err(shared::store_error::StoreError::backend(
            "dynamodb",
            ErrorClass::DependencyDown,
            "down",
        ))
    }
    async fn find_session(
        &self,
        _: &str,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<login::users::Session>, shared::store_error::StoreError> {
        Err(shared::store_error::StoreError::backend(
            "dynamodb",
            ErrorClass::DependencyDown,
            "down",
        ))
    }
}

#[tokio::test]
async fn users_table_down_is_503_not_401() {
    let s = stack(
        Backend::Memory,
        Parts {
            users: Some(Arc::new(DownUsers)),
            ..Parts::default()
        },
    )
    .await;
    let r = s
        .login
        .handle(login_request(&email("down"), "pw", &ip()))
        .await;
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "retry-after"), "5");
    assert_eq!(s.passwords.calls(), 0);
}

#[tokio::test]
async fn dynamodb_unreachable_is_503_not_401() {
    // A real DynamoDB adapter pointed at a table that does not exist in moto.
    let config = common::aws().await;
    let s = stack(
        Backend::Real,
        Parts {
            users: Some(Arc::new(login::users::DynamoUserStore::new(
                aws_sdk_dynamodb::Client::new(&config),
                "missing-users-table",
            ))),
            ..Parts::default()
        },
    )
    .await;
    let r = s
        .login
        .handle(login_request(&email("gone"), "pw", &ip()))
        .await;
    assert_eq!(r.status().as_u16(), 503, "{}", common::body_text(&r));
}

// ------------------------------------------------------------ success and the notice

async fn success_and_notice_once(backend: Backend) {
    let s = stack(backend, Parts::default()).await;
    let user_email = email("jane");
    let user = seed_user(&s, &user_email, "Jane").await;
    let address = ip();
    // Two failures first: the account counter must be cleared by the success.
    for _ in 0..2 {
        let r = s
            .login
            .handle(login_request(&user_email, "nope", &ip()))
            .await;
        assert_eq!(r.status(), 401);
    }
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let r = s
            .login
            .handle(login_request(
                &format!("  {}  ", user_email.to_uppercase()),
                PASSWORD,
                &address,
            ))
            .await;
        assert_eq!(r.status(), 200, "{}", common::body_text(&r));
        let v = common::body_json(&r);
        assert_eq!(v["user"]["id"], user.id.as_str());
        assert_eq!(v["user"]["email"], user_email.as_str());
        assert_eq!(v["user"]["name"], "Jane");
        assert!(v["user"].get("password_hash").is_none());
        let token = v["session"]["token"].as_str().unwrap().to_owned();
        let cookie = header(&r, "set-cookie");
        assert!(
            cookie.starts_with(&format!(
                "session={token}; HttpOnly; Secure; SameSite=Lax; Path=/"
            )),
            "{cookie}"
        );
        assert_eq!(header(&r, "ratelimit-policy"), "5;w=900");
        let stored = s
            .users
            .find_session(&login::session::sha256_hex(&token), chrono::Utc::now())
            .await
            .unwrap()
            .expect("session stored under the token's SHA-256");
        assert_eq!(stored.user_id, user.id);
        let ttl = stored.expires_at - chrono::Utc::now();
        assert!((ttl.num_seconds() - 7 * 24 * 3600).abs() <= 5, "{ttl}");
        assert!(
            s.users
                .find_session(&token, chrono::Utc::now())
                .await
                .unwrap()
                .is_none(),
            "raw token never stored"
        );
        tokens.push(token);
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 3);
    assert_eq!(s.passwords.calls(), 5);
    // Failures were cleared: 5 more wrong passwords are verified before the account limit.
    for _ in 0..5 {
        assert_eq!(
            s.login
                .handle(login_request(&user_email, "nope", &ip()))
                .await
                .status(),
            401
        );
    }
    assert_eq!(s.passwords.calls(), 10);

    let jobs = queued_jobs(s.queue.as_ref()).await;
    assert_eq!(
        jobs.len(),
        1,
        "exactly one notice for one user, IP and hour: {jobs:?}"
    );
    let job = &jobs[0];
    assert!(
        job.id
            .starts_with(&format!("sign-in#{}#{}#", user.id, address)),
        "{}",
        job.id
    );
    assert_eq!(job.to, user_email);
    let shared::email_job::Email::SignInNotice(notice) = &job.email else {
        panic!("a sign-in notice: {job:?}")
    };
    assert_eq!(notice.name, "Jane");
    assert_eq!(notice.ip, address);
    assert_eq!(notice.signed_in_at.timestamp_subsec_nanos(), 0);
    assert_eq!(s.sink.total(Metric::DuplicateSuppressed), 2.0);
}

#[tokio::test]
async fn success_issues_a_session_and_queues_the_notice_once_memory() {
    success_and_notice_once(Backend::Memory).await;
}

#[tokio::test]
async fn success_issues_a_session_and_queues_the_notice_once_real() {
    success_and_notice_once(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_queue_the_notice_once_real() {
    let s = Arc::new(
        stack(
            Backend::Real,
            Parts {
                settings: login::Settings::with_limits(50, 50, Duration::from_secs(900)),
                ..Parts::default()
            },
        )
        .await,
    );
    let user_email = email("conc");
    seed_user(&s, &user_email, "Conc").await;
    let address = ip();
    let mut set = JoinSet::new();
    for _ in 0..8 {
        let (s, e, a) = (s.clone(), user_email.clone(), address.clone());
        set.spawn(async move {
            let r = s.login.handle(login_request(&e, PASSWORD, &a)).await;
            (r.status().as_u16(), common::body_text(&r))
        });
    }
    while let Some(st) = set.join_next().await {
        let (status, body) = st.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(queued_jobs(s.queue.as_ref()).await.len(), 1);
}

#[tokio::test]
async fn queue_down_still_signs_in_counts_and_lets_a_later_login_retry() {
    let clock = shared::clock::system();
    let queue = Arc::new(Faulty::new(
        MemoryQueue::new(clock),
        FaultPlan::on_calls([1], Fault::Fail(ErrorClass::DependencyDown)),
    ));
    let s = stack(
        Backend::Memory,
        Parts {
            queue: Some(queue.clone()),
            ..Parts::default()
        },
    )
    .await;
    let user_email = email("q");
    seed_user(&s, &user_email, "Q").await;
    let address = ip();
    let r = s
        .login
        .handle(login_request(&user_email, PASSWORD, &address))
        .await;
    assert_eq!(r.status(), 200, "a notice is not worth failing a sign-in");
    assert_eq!(s.sink.total(Metric::SignInNoticeNotQueued), 1.0);
    assert!(queue.inner().is_empty());
    // The claim was released: the next sign-in in the same hour queues the notice.
    let r = s
        .login
        .handle(login_request(&user_email, PASSWORD, &address))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(queue.inner().len(), 1);
    assert_eq!(s.sink.total(Metric::SignInNoticeNotQueued), 1.0);
}

// ------------------------------------------------------------ indistinguishable failures

#[tokio::test]
async fn unknown_email_wrong_password_and_limited_account_are_byte_identical() {
    let s = stack(Backend::Memory, Parts::default()).await;
    let known = email("known");
    seed_user(&s, &known, "Known").await;
    let limited = email("limited");
    seed_user(&s, &limited, "Limited").await;
    for _ in 0..5 {
        s.login
            .handle(login_request(&limited, "wrong", &ip()))
            .await;
    }
    let calls_before = s.passwords.calls();
    let answers = [
        s.login
            .handle(login_request(&email("nobody"), "whatever", "192.0.2.1"))
            .await,
        s.login
            .handle(login_request(&known, "wrong", "192.0.2.2"))
            .await,
        s.login
            .handle(login_request(&limited, PASSWORD, "192.0.2.3"))
            .await,
    ];
    assert_eq!(
        s.passwords.calls(),
        calls_before + 2,
        "the limited account did no hash work"
    );
    let render = |r: &lambda_http::Response<lambda_http::Body>| {
        let mut headers: Vec<_> = r
            .headers()
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
            .collect();
        headers.sort();
        format!(
            "{}\n{}\n{}",
            r.status(),
            headers.join("\n"),
            common::body_text(r)
        )
    };
    let first = render(&answers[0]);
    assert!(first.starts_with("401 Unauthorized\n"), "{first}");
    for a in &answers[1..] {
        assert_eq!(render(a), first, "byte-identical status, headers and body");
    }
    assert!(
        first.contains("ratelimit: limit=5, remaining=4, reset=900"),
        "{first}"
    );
}
