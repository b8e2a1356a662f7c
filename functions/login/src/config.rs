//! Configuration, read once at cold start; every problem is reported together.

use std::time::Duration;

use shared::config::{ConfigError, Env, Secret, take};
use shared::ratelimit::RateRule;

use crate::ratelimit::LoginLimits;

/// Default attempts per IP and failed attempts per account per window.
pub const DEFAULT_LIMIT: u32 = 5;
/// Default window (15 minutes).
pub const DEFAULT_WINDOW_SECS: u64 = 900;
/// Default session lifetime (7 days).
pub const DEFAULT_SESSION_TTL_SECS: u64 = 7 * 24 * 3600;
/// Default Redis time budget per decision.
pub const DEFAULT_REDIS_TIMEOUT_MS: u64 = 100;

/// Everything the function reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// DynamoDB users, sessions and fallback rate-limit counters.
    pub users_table: String,
    /// DynamoDB claims (sign-in notice dedup).
    pub claims_table: String,
    /// SQS email queue URL.
    pub email_queue_url: String,
    /// Redis URL (may carry a password).
    pub redis_url: Secret<String>,
    /// Key signing device cookies (`DEVICE_COOKIE_KEY`, secret).
    pub device_cookie_key: Secret<String>,
    /// Key of `shared::telemetry::log_hash` (`LOG_HASH_KEY`, secret), installed at cold start.
    pub log_hash_key: Secret<String>,
    /// Runtime settings.
    pub settings: Settings,
}

/// The tunable behaviour (also what tests set directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Per-IP and per-account limits.
    pub limits: LoginLimits,
    /// Session lifetime.
    pub session_ttl: Duration,
    /// Time budget of one Redis decision before falling back.
    pub redis_timeout: Duration,
    /// `Retry-After` when a dependency is down.
    pub unavailable_retry_after: Duration,
    /// Lifetime of a device cookie.
    pub device_cookie_ttl: Duration,
}

impl Settings {
    /// Limits of `limit` per `window` on both axes, and default session settings.
    pub fn with_limits(ip_limit: u32, account_limit: u32, window: Duration) -> Self {
        Self {
            limits: LoginLimits {
                per_ip: RateRule {
                    limit: ip_limit,
                    window,
                },
                per_account: RateRule {
                    limit: account_limit,
                    window,
                },
            },
            session_ttl: Duration::from_secs(DEFAULT_SESSION_TTL_SECS),
            redis_timeout: Duration::from_millis(DEFAULT_REDIS_TIMEOUT_MS),
            unavailable_retry_after: Duration::from_secs(5),
            device_cookie_ttl: crate::device::DEFAULT_TTL,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::with_limits(
            DEFAULT_LIMIT,
            DEFAULT_LIMIT,
            Duration::from_secs(DEFAULT_WINDOW_SECS),
        )
    }
}

fn positive<T: PartialOrd + Default>(env: &mut Env, name: &str, v: Option<T>) -> Option<T> {
    match v {
        Some(v) if v > T::default() => Some(v),
        Some(_) => {
            env.invalid(name, "a positive integer");
            None
        }
        None => None,
    }
}

impl Config {
    /// Reads every variable, reporting all problems together.
    pub fn from_env(mut env: Env) -> Result<Self, ConfigError> {
        let users_table = env.required("USERS_TABLE");
        let claims_table = env.required("CLAIMS_TABLE");
        let email_queue_url = env.required("EMAIL_QUEUE_URL");
        let redis_url = env.secret("REDIS_URL");
        let device_cookie_key = env.key("DEVICE_COOKIE_KEY");
        let log_hash_key = env.log_hash_key();
        let int = "a positive integer";
        let ip_limit = env.parsed_or("LOGIN_IP_LIMIT", DEFAULT_LIMIT, int);
        let ip_limit = positive(&mut env, "LOGIN_IP_LIMIT", ip_limit);
        let acct = env.parsed_or("LOGIN_ACCOUNT_FAILURE_LIMIT", DEFAULT_LIMIT, int);
        let acct = positive(&mut env, "LOGIN_ACCOUNT_FAILURE_LIMIT", acct);
        let window = env.parsed_or("LOGIN_WINDOW_SECONDS", DEFAULT_WINDOW_SECS, int);
        let window = positive(&mut env, "LOGIN_WINDOW_SECONDS", window);
        let ttl = env.parsed_or("SESSION_TTL_SECONDS", DEFAULT_SESSION_TTL_SECS, int);
        let ttl = positive(&mut env, "SESSION_TTL_SECONDS", ttl);
        let redis_ms = env.parsed_or("LOGIN_REDIS_TIMEOUT_MS", DEFAULT_REDIS_TIMEOUT_MS, int);
        let redis_ms = positive(&mut env, "LOGIN_REDIS_TIMEOUT_MS", redis_ms);
        env.finish()?;
        let mut settings = Settings::with_limits(
            take(ip_limit, "LOGIN_IP_LIMIT")?,
            take(acct, "LOGIN_ACCOUNT_FAILURE_LIMIT")?,
            Duration::from_secs(take(window, "LOGIN_WINDOW_SECONDS")?),
        );
        settings.session_ttl = Duration::from_secs(take(ttl, "SESSION_TTL_SECONDS")?);
        settings.redis_timeout = Duration::from_millis(take(redis_ms, "LOGIN_REDIS_TIMEOUT_MS")?);
        Ok(Self {
            users_table: take(users_table, "USERS_TABLE")?,
            claims_table: take(claims_table, "CLAIMS_TABLE")?,
            email_queue_url: take(email_queue_url, "EMAIL_QUEUE_URL")?,
            redis_url: take(redis_url, "REDIS_URL")?,
            device_cookie_key: take(device_cookie_key, "DEVICE_COOKIE_KEY")?,
            log_hash_key: take(log_hash_key, "LOG_HASH_KEY")?,
            settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_every_problem_is_reported() {
        let ok = Config::from_env(Env::from_pairs([
            ("USERS_TABLE", "u"),
            ("CLAIMS_TABLE", "c"),
            ("EMAIL_QUEUE_URL", "q"),
            ("REDIS_URL", "redis://:hunter2@h:6379"),
            ("DEVICE_COOKIE_KEY", "device-key-0123456789abcdef-0123456"),
            ("LOG_HASH_KEY", "log-hash-key-0123456789abcdef-01234"),
        ]))
        .unwrap();
        assert_eq!(ok.settings, Settings::default());
        let debug = format!("{ok:?}");
        for secret in ["hunter2", "device-key", "log-hash-key"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }

        let err = Config::from_env(Env::from_pairs([
            ("USERS_TABLE", "u"),
            ("LOGIN_IP_LIMIT", "0"),
            ("LOGIN_WINDOW_SECONDS", "soon"),
            ("DEVICE_COOKIE_KEY", "too-short"),
        ]))
        .unwrap_err()
        .to_string();
        for name in [
            "CLAIMS_TABLE",
            "EMAIL_QUEUE_URL",
            "REDIS_URL",
            "LOGIN_IP_LIMIT",
            "LOGIN_WINDOW_SECONDS",
            "DEVICE_COOKIE_KEY",
            "LOG_HASH_KEY",
        ] {
            assert!(err.contains(name), "{name} missing from: {err}");
        }
        assert!(!err.contains("too-short"), "{err}");
    }
}
