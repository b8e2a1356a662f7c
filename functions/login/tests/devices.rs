//! An account limit that cannot be turned against its owner (device cookies), counting that
//! cannot be borrowed, bad cookies treated as absent, and users moved from the replaced
//! system (bcrypt hashes upgraded to Argon2id once). Each scenario runs in memory and against
//! the real services (redis-server + moto).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{
    Backend, CountingUpgrades, PASSWORD, Parts, Stack, device_cookie, email, ip, login_request,
    login_request_with_cookies, seed_user, seed_user_with_hash, stack,
};
use login::ratelimit::{LoginLimits, Principal};
use shared::metrics::Metric;
use shared::ratelimit::{CheckMode, RateCheck};
use tokio::task::JoinSet;

async fn status(s: &Stack, email: &str, password: &str, ip: &str, cookies: &[&str]) -> u16 {
    let r = s
        .login
        .handle(login_request_with_cookies(email, password, ip, cookies))
        .await;
    r.status().as_u16()
}

/// Signs in with the right password and returns the `device=...` cookie it sets.
async fn trusted_device(s: &Stack, email: &str) -> String {
    let r = s.login.handle(login_request(email, PASSWORD, &ip())).await;
    assert_eq!(r.status(), 200, "{}", common::body_text(&r));
    device_cookie(&r)
}

/// The current value of a counter (a peek, nothing counted).
async fn counter(s: &Stack, key: String) -> u32 {
    let peek = RateCheck {
        key,
        rule: s.login.settings.limits.per_account,
        mode: CheckMode::Peek,
    };
    s.login.limiter.check(&[peek]).await.unwrap()[0].count
}

async fn device_counter(s: &Stack, cookie: &str, email: &str) -> u32 {
    let value = cookie.trim_start_matches("device=");
    let device = s
        .login
        .devices
        .verify(value, email, chrono::Utc::now())
        .unwrap();
    counter(s, Principal::Device(&device).key()).await
}

// ------------------------------------------------------------ lockout attack

async fn lockout_attack(backend: Backend) {
    let s = stack(backend, Parts::default()).await;
    let owner = email("owner");
    seed_user(&s, &owner, "Owner").await;
    let cookie = trusted_device(&s, &owner).await;
    // Strangers from 12 addresses lock the account.
    for _ in 0..12 {
        assert_eq!(status(&s, &owner, "guess", &ip(), &[]).await, 401);
    }
    assert_eq!(s.passwords.calls(), 1 + 5, "5 guesses verified");
    assert_eq!(s.passwords.wasted(), 7, "the other 7 refused, as slowly");
    // The owner's browser is not locked out; a new browser is.
    assert_eq!(status(&s, &owner, PASSWORD, &ip(), &[&cookie]).await, 200);
    assert_eq!(status(&s, &owner, PASSWORD, &ip(), &[]).await, 401);
    assert_eq!(s.sink.total(Metric::RateLimitDenied), 8.0);
}

#[tokio::test]
async fn lockout_attack_leaves_the_owner_on_a_trusted_device_memory() {
    lockout_attack(Backend::Memory).await;
}

#[tokio::test]
async fn lockout_attack_leaves_the_owner_on_a_trusted_device_real() {
    lockout_attack(Backend::Real).await;
}

// ------------------------------------------------------------ stolen cookie

async fn stolen_cookie(backend: Backend) {
    let s = stack(backend, Parts::default()).await;
    let owner = email("stolen");
    seed_user(&s, &owner, "Owner").await;
    let stolen = trusted_device(&s, &owner).await;
    let other_device = trusted_device(&s, &owner).await;
    let verified = s.passwords.calls();
    // Replayed from 8 addresses: 5 guesses verified, then the device itself is locked.
    for _ in 0..8 {
        assert_eq!(status(&s, &owner, "guess", &ip(), &[&stolen]).await, 401);
    }
    assert_eq!(s.passwords.calls() - verified, 5);
    assert_eq!(device_counter(&s, &stolen, &owner).await, 8);
    assert_eq!(status(&s, &owner, PASSWORD, &ip(), &[&stolen]).await, 401);
    // Only that device: the account counter was not touched, the other device still works.
    assert_eq!(counter(&s, LoginLimits::account_key(&owner)).await, 0);
    assert_eq!(
        status(&s, &owner, PASSWORD, &ip(), &[&other_device]).await,
        200
    );
    assert_eq!(status(&s, &owner, PASSWORD, &ip(), &[]).await, 200);
}

#[tokio::test]
async fn a_stolen_cookie_is_limited_per_device_memory() {
    stolen_cookie(Backend::Memory).await;
}

#[tokio::test]
async fn a_stolen_cookie_is_limited_per_device_real() {
    stolen_cookie(Backend::Real).await;
}

// ------------------------------------------------------------ cookies that do not count

async fn foreign_and_tampered(backend: Backend) {
    let s = stack(backend, Parts::default()).await;
    let (a, b) = (email("usera"), email("userb"));
    seed_user(&s, &a, "A").await;
    seed_user(&s, &b, "B").await;
    let cookie_a = trusted_device(&s, &a).await;
    let cookie_b = trusted_device(&s, &b).await;
    for _ in 0..5 {
        assert_eq!(status(&s, &b, "guess", &ip(), &[]).await, 401);
    }
    // B's account is limited: A's cookie and a tampered B cookie are no cookie at all.
    assert_eq!(status(&s, &b, PASSWORD, &ip(), &[&cookie_a]).await, 401);
    let mut tampered = cookie_b.clone().into_bytes();
    let at = "device=v1.".len() + 2;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(status(&s, &b, PASSWORD, &ip(), &[&tampered]).await, 401);
    assert_eq!(
        counter(&s, LoginLimits::account_key(&b)).await,
        7,
        "both counted against the account"
    );
    // B's own cookie works, and A's cookie still works for A.
    assert_eq!(status(&s, &b, PASSWORD, &ip(), &[&cookie_b]).await, 200);
    assert_eq!(status(&s, &a, PASSWORD, &ip(), &[&cookie_a]).await, 200);
}

#[tokio::test]
async fn cookie_of_another_user_and_tampered_cookie_count_as_absent_memory() {
    foreign_and_tampered(Backend::Memory).await;
}

#[tokio::test]
async fn cookie_of_another_user_and_tampered_cookie_count_as_absent_real() {
    foreign_and_tampered(Backend::Real).await;
}

// ------------------------------------------------------------ counting

async fn ip_refused_not_counted(backend: Backend) {
    let s = stack(backend, Parts::default()).await;
    let victim = email("victim");
    seed_user(&s, &victim, "Victim").await;
    let attacker = ip();
    // The attacker's address spends its 5 attempts elsewhere, then hammers the victim.
    for i in 0..5 {
        let other = email(&format!("other{i}"));
        assert_eq!(status(&s, &other, "guess", &attacker, &[]).await, 401);
    }
    for _ in 0..20 {
        assert_eq!(status(&s, &victim, "guess", &attacker, &[]).await, 429);
    }
    assert_eq!(counter(&s, LoginLimits::account_key(&victim)).await, 0);
    assert_eq!(status(&s, &victim, PASSWORD, &ip(), &[]).await, 200);
}

#[tokio::test]
async fn attempts_refused_by_the_ip_limit_do_not_count_against_the_account_memory() {
    ip_refused_not_counted(Backend::Memory).await;
}

#[tokio::test]
async fn attempts_refused_by_the_ip_limit_do_not_count_against_the_account_real() {
    ip_refused_not_counted(Backend::Real).await;
}

async fn trusted_success_clears_the_device(backend: Backend) {
    let s = stack(backend, Parts::default()).await;
    let owner = email("clears");
    seed_user(&s, &owner, "Owner").await;
    let cookie = trusted_device(&s, &owner).await;
    for _ in 0..4 {
        assert_eq!(status(&s, &owner, "typo", &ip(), &[&cookie]).await, 401);
    }
    assert_eq!(device_counter(&s, &cookie, &owner).await, 4);
    assert_eq!(status(&s, &owner, PASSWORD, &ip(), &[&cookie]).await, 200);
    assert_eq!(device_counter(&s, &cookie, &owner).await, 0);
    let verified = s.passwords.calls();
    for _ in 0..5 {
        assert_eq!(status(&s, &owner, "typo", &ip(), &[&cookie]).await, 401);
    }
    assert_eq!(s.passwords.calls() - verified, 5, "a full window again");
}

#[tokio::test]
async fn a_trusted_sign_in_clears_that_devices_counter_memory() {
    trusted_success_clears_the_device(Backend::Memory).await;
}

#[tokio::test]
async fn a_trusted_sign_in_clears_that_devices_counter_real() {
    trusted_success_clears_the_device(Backend::Real).await;
}

// ------------------------------------------------------------ bad cookies

async fn bad_cookies(backend: Backend) {
    let s = stack(backend, Parts::default()).await;
    let owner = email("badcookie");
    seed_user(&s, &owner, "Owner").await;
    let good = trusted_device(&s, &owner).await;
    let long = format!("device={}", "A".repeat(10_000));
    let many: Vec<String> = (0..300).map(|i| format!("c{i}=v")).collect();
    let mut crowded: Vec<&str> = many.iter().map(String::as_str).collect();
    crowded.push(&good);
    let bad_sets: Vec<Vec<&str>> = vec![
        vec![&long],
        crowded,
        vec!["device=!!!.***.%%%.$$.@@"],
        vec!["device=v1.%%%.%%%.9999999999.%%%"],
        vec!["device="],
        vec!["device", "=", ";;;"],
        vec!["device=a", "device=b", "device=c", "device=d", "device=e"],
    ];
    for _ in 0..5 {
        assert_eq!(status(&s, &owner, "guess", &ip(), &[]).await, 401);
    }
    // The account is limited; none of these is a trusted device, none is a 5xx.
    for cookies in &bad_sets {
        let code = status(&s, &owner, PASSWORD, &ip(), cookies).await;
        assert_eq!(code, 401, "{:?}", &cookies[..cookies.len().min(2)]);
    }
    assert_eq!(status(&s, &owner, PASSWORD, &ip(), &[&good]).await, 200);
}

#[tokio::test]
async fn bad_cookies_count_as_absent_never_5xx_memory() {
    bad_cookies(Backend::Memory).await;
}

#[tokio::test]
async fn bad_cookies_count_as_absent_never_5xx_real() {
    bad_cookies(Backend::Real).await;
}

// ------------------------------------------------------------ bcrypt users

fn supabase_hash(password: &str) -> String {
    bcrypt::hash_with_result(password, 10)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoA)
}

async fn bcrypt_user_upgraded(backend: Backend) {
    let s = stack(backend, Parts::default()).await;
    let moved = email("moved");
    let old = supabase_hash(PASSWORD);
    assert!(old.starts_with("$2a$10$"), "{old}");
    seed_user_with_hash(&s, &moved, &old).await;
    assert_eq!(status(&s, &moved, "not it", &ip(), &[]).await, 401);
    assert_eq!(
        s.users
            .find_user(&moved)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        old,
        "a wrong password changes nothing"
    );
    assert_eq!(status(&s, &moved, PASSWORD, &ip(), &[]).await, 200);
    let upgraded = s
        .users
        .find_user(&moved)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{upgraded}"
    );
    assert_eq!(status(&s, &moved, PASSWORD, &ip(), &[]).await, 200);
    assert_eq!(
        s.users
            .find_user(&moved)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        upgraded,
        "a current hash is not rehashed"
    );
}

#[tokio::test]
async fn a_bcrypt_user_signs_in_and_the_hash_becomes_argon2id_memory() {
    bcrypt_user_upgraded(Backend::Memory).await;
}

#[tokio::test]
async fn a_bcrypt_user_signs_in_and_the_hash_becomes_argon2id_real() {
    bcrypt_user_upgraded(Backend::Real).await;
}

async fn concurrent_upgrade(backend: Backend) {
    let base = stack(backend, Parts::default()).await;
    let users = Arc::new(CountingUpgrades::new(base.users.clone()));
    let s = Arc::new(
        stack(
            backend,
            Parts {
                users: Some(users.clone()),
                settings: login::Settings::with_limits(50, 50, Duration::from_secs(900)),
                ..Parts::default()
            },
        )
        .await,
    );
    let moved = email("concurrent");
    seed_user_with_hash(&s, &moved, &supabase_hash(PASSWORD)).await;
    let mut set = JoinSet::new();
    for _ in 0..10 {
        let (s, moved) = (s.clone(), moved.clone());
        set.spawn(async move { status(&s, &moved, PASSWORD, &ip(), &[]).await });
    }
    while let Some(code) = set.join_next().await {
        assert_eq!(code.unwrap(), 200);
    }
    assert_eq!(users.won.load(Ordering::SeqCst), 1, "rehashed once");
    let tried = users.tried.load(Ordering::SeqCst);
    assert!((1..=10).contains(&tried), "{tried}");
    println!("{backend:?}: {tried} of 10 sign-ins tried the conditional write, 1 won");
    let stored = s.users.find_user(&moved).await.unwrap().unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"));
    assert_eq!(status(&s, &moved, PASSWORD, &ip(), &[]).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_sign_ins_rehash_once_memory() {
    concurrent_upgrade(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_sign_ins_rehash_once_real() {
    concurrent_upgrade(Backend::Real).await;
}
