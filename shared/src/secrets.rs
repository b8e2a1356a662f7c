//! Secrets from AWS Secrets Manager, never from plain environment variables in AWS.
//!
//! The template passes each secret's ARN as `<NAME>_SECRET_ARN`. At cold start [`process_env`]
//! reads every such secret concurrently (one round trip of `GetSecretValue` calls, each within
//! [`Budget::SECRETS_MANAGER`]) and hands the value to [`Env`] as `<NAME>`, so every
//! `Config::from_env` reads a secret the same way whether it came from Secrets Manager or,
//! locally, from a plain `<NAME>` variable. A missing or unreadable secret is a configuration
//! problem naming the variable and the ARN, never the value.
//!
//! [`RefreshableSecret`] re-reads one secret on demand, at most once per interval (the Stripe
//! webhook uses it when a signature matches none of its secrets, so a rotation needs no
//! redeploy).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use chrono::{DateTime, Utc};

use crate::clock::SharedClock;
use crate::config::{Env, Secret};
use crate::timeout::{Budget, within};

/// Suffix of the variables that carry a secret's ARN instead of its value.
pub const ARN_SUFFIX: &str = "_SECRET_ARN";

/// Why a secret could not be read; names the secret, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret {arn} could not be read: {reason}")]
pub struct SecretError {
    /// ARN (or name) of the secret.
    pub arn: String,
    /// What went wrong (error code, timeout, binary secret).
    pub reason: String,
}

/// Where a secret's current value comes from.
#[async_trait]
pub trait SecretSource: Send + Sync + std::fmt::Debug {
    /// The secret's current value.
    async fn read(&self) -> Result<Secret<String>, SecretError>;
}

/// One secret in AWS Secrets Manager (or moto), read with `GetSecretValue`.
#[derive(Debug, Clone)]
pub struct SecretsManagerSecret {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
}

impl SecretsManagerSecret {
    /// The secret `arn` (a name works too).
    pub fn new(client: aws_sdk_secretsmanager::Client, arn: impl Into<String>) -> Self {
        Self {
            client,
            arn: arn.into(),
        }
    }

    fn error(&self, reason: impl Into<String>) -> SecretError {
        SecretError {
            arn: self.arn.clone(),
            reason: reason.into(),
        }
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSecret {
    async fn read(&self) -> Result<Secret<String>, SecretError> {
        let call = self.client.get_secret_value().secret_id(&self.arn).send();
        let output = within(Budget::SECRETS_MANAGER, call)
            .await
            .map_err(|e| self.error(e.to_string()))?
            .map_err(|e| self.error(DisplayErrorContext(e).to_string()))?;
        output
            .secret_string
            .filter(|s| !s.trim().is_empty())
            .map(Secret::new)
            .ok_or_else(|| self.error("no text value (empty or binary secret)"))
    }
}

/// `(NAME, ARN)` for every `<NAME>_SECRET_ARN` variable with a value, sorted by name.
pub fn secret_references(vars: &HashMap<String, String>) -> Vec<(String, String)> {
    let mut refs: Vec<(String, String)> = vars
        .iter()
        .filter_map(|(var, arn)| {
            let name = var.strip_suffix(ARN_SUFFIX)?;
            let arn = arn.trim();
            (!name.is_empty() && !arn.is_empty()).then(|| (name.to_owned(), arn.to_owned()))
        })
        .collect();
    refs.sort();
    refs
}

/// The process environment with every `<NAME>_SECRET_ARN` resolved into `<NAME>` from
/// Secrets Manager (see the module docs). Logs how many secrets were read and how long it took.
pub async fn process_env(aws: &aws_config::SdkConfig) -> Env {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    resolve(std::env::vars().collect(), |arn| {
        SecretsManagerSecret::new(client.clone(), arn)
    })
    .await
}

/// `vars` with every secret reference resolved through the source `open` gives for its ARN,
/// all read concurrently. A secret that cannot be read is recorded as a configuration problem
/// of its `<NAME>_SECRET_ARN` variable.
pub async fn resolve<S: SecretSource>(
    mut vars: HashMap<String, String>,
    open: impl Fn(&str) -> S,
) -> Env {
    let refs = secret_references(&vars);
    if refs.is_empty() {
        return Env::from_pairs(vars);
    }
    let started = Instant::now();
    let sources: Vec<S> = refs.iter().map(|(_, arn)| open(arn)).collect();
    let reads = futures::future::join_all(sources.iter().map(SecretSource::read)).await;
    tracing::info!(
        secrets = refs.len(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "secrets read from Secrets Manager"
    );
    let mut problems = Vec::new();
    for ((name, _), read) in refs.into_iter().zip(reads) {
        match read {
            Ok(value) => {
                vars.insert(name, value.expose().clone());
            }
            Err(e) => problems.push((format!("{name}{ARN_SUFFIX}"), e.to_string())),
        }
    }
    let mut env = Env::from_pairs(vars);
    for (var, why) in problems {
        env.invalid(&var, &format!("a readable Secrets Manager secret ({why})"));
    }
    env
}

/// A secret re-read on demand, at most once per `min_interval` (the first re-read is never
/// held back: the cold-start read does not count).
#[derive(Debug)]
pub struct RefreshableSecret {
    source: Arc<dyn SecretSource>,
    min_interval: Duration,
    clock: SharedClock,
    latest: RwLock<Option<Secret<String>>>,
    /// Bumped after every re-read that returned a value.
    generation: AtomicU64,
    last_attempt: tokio::sync::Mutex<Option<DateTime<Utc>>>,
}

impl RefreshableSecret {
    /// Shortest time between two re-reads in production.
    pub const MIN_INTERVAL: Duration = Duration::from_secs(60);

    /// Re-reads `source` at most once per `min_interval` of `clock` time.
    pub fn new(source: Arc<dyn SecretSource>, min_interval: Duration, clock: SharedClock) -> Self {
        Self {
            source,
            min_interval,
            clock,
            latest: RwLock::new(None),
            generation: AtomicU64::new(0),
            last_attempt: tokio::sync::Mutex::new(None),
        }
    }

    /// The secret named by the process variable `<name>_SECRET_ARN`, re-read at most once a
    /// minute; `None` when the variable is not set (a plain `<name>` is used as it is).
    pub fn from_process_env(
        aws: &aws_config::SdkConfig,
        name: &str,
        clock: SharedClock,
    ) -> Option<Arc<Self>> {
        let arn = std::env::var(format!("{name}{ARN_SUFFIX}"))
            .ok()
            .filter(|a| !a.trim().is_empty())?;
        let source = SecretsManagerSecret::new(aws_sdk_secretsmanager::Client::new(aws), arn);
        Some(Arc::new(Self::new(
            Arc::new(source),
            Self::MIN_INTERVAL,
            clock,
        )))
    }

    /// The value of the latest re-read, if any happened.
    pub fn latest(&self) -> Option<Secret<String>> {
        self.latest.read().ok().and_then(|v| v.clone())
    }

    /// Re-reads the secret unless the last attempt was less than the interval ago. `true` when
    /// a newer value than the caller has seen is now available (read by this call or by a
    /// concurrent one it waited for). A failed read is logged and counts as an attempt.
    pub async fn refresh(&self) -> bool {
        let seen = self.generation.load(Ordering::Acquire);
        let mut last = self.last_attempt.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return true;
        }
        let now = self.clock.now();
        if let Some(at) = *last
            && (now - at).to_std().unwrap_or_default() < self.min_interval
        {
            return false;
        }
        *last = Some(now);
        match self.source.read().await {
            Ok(value) => {
                if let Ok(mut latest) = self.latest.write() {
                    *latest = Some(value);
                }
                self.generation.fetch_add(1, Ordering::AcqRel);
                tracing::info!("secret re-read");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "secret re-read failed; keeping the current value");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::Mutex;

    /// A secret whose value the test changes, counting reads.
    #[derive(Debug, Default)]
    struct Stored {
        value: Mutex<Option<String>>,
        reads: AtomicU64,
    }

    #[async_trait]
    impl SecretSource for Arc<Stored> {
        async fn read(&self) -> Result<Secret<String>, SecretError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await; // a real read takes a round trip

            self.value
                .lock()
                .unwrap()
                .clone()
                .map(Secret::new)
                .ok_or(SecretError {
                    arn: "arn:secret:gone".into(),
                    reason: "ResourceNotFoundException".into(),
                })
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn only_named_arn_variables_are_references() {
        let refs = secret_references(&vars(&[
            ("REDIS_URL_SECRET_ARN", "arn:a"),
            ("_SECRET_ARN", "arn:nameless"),
            ("EMPTY_SECRET_ARN", " "),
            ("USERS_TABLE", "users"),
        ]));
        assert_eq!(refs, vec![("REDIS_URL".to_owned(), "arn:a".to_owned())]);
    }

    #[tokio::test]
    async fn references_become_values_and_failures_name_the_secret_only() {
        let known = Arc::new(Stored::default());
        *known.value.lock().unwrap() = Some("redis://:hunter2@cache:6379".into());
        let gone = Arc::new(Stored::default());
        let mut env = resolve(
            vars(&[
                ("REDIS_URL_SECRET_ARN", "arn:redis"),
                ("STRIPE_API_KEY_SECRET_ARN", "arn:secret:gone"),
                ("USERS_TABLE", "users"),
            ]),
            |arn| {
                if arn == "arn:redis" {
                    known.clone()
                } else {
                    gone.clone()
                }
            },
        )
        .await;
        assert_eq!(
            env.secret("REDIS_URL").unwrap().expose(),
            "redis://:hunter2@cache:6379"
        );
        assert_eq!(env.required("USERS_TABLE").as_deref(), Some("users"));
        assert_eq!(env.secret("STRIPE_API_KEY"), None);
        let text = env.finish().unwrap_err().to_string();
        assert_eq!(
            text,
            "invalid configuration: STRIPE_API_KEY_SECRET_ARN is invalid: expected a readable \
             Secrets Manager secret (secret arn:secret:gone could not be read: \
             ResourceNotFoundException); STRIPE_API_KEY is missing"
        );
        assert_eq!(known.reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn plain_variables_work_without_secrets_manager() {
        let mut env = resolve(vars(&[("REDIS_URL", "redis://local")]), |_: &str| {
            Arc::new(Stored::default())
        })
        .await;
        assert_eq!(env.secret("REDIS_URL").unwrap().expose(), "redis://local");
        assert!(env.finish().is_ok());
    }

    #[tokio::test]
    async fn re_reads_at_most_once_per_interval() {
        let stored = Arc::new(Stored::default());
        *stored.value.lock().unwrap() = Some("whsec_new".into());
        let clock = ManualClock::at("2026-12-01T12:00:00Z");
        let secret = RefreshableSecret::new(
            Arc::new(stored.clone()),
            RefreshableSecret::MIN_INTERVAL,
            clock.shared(),
        );
        assert_eq!(secret.latest(), None);
        assert!(secret.refresh().await, "the first re-read is not held back");
        assert_eq!(secret.latest().unwrap().expose(), "whsec_new");
        assert!(!secret.refresh().await);
        clock.advance(Duration::from_secs(59));
        assert!(!secret.refresh().await);
        assert_eq!(stored.reads.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(1));
        *stored.value.lock().unwrap() = None;
        assert!(!secret.refresh().await, "a failed read keeps the value");
        assert_eq!(secret.latest().unwrap().expose(), "whsec_new");
        assert_eq!(stored.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_re_read() {
        let stored = Arc::new(Stored::default());
        *stored.value.lock().unwrap() = Some("whsec_new".into());
        let clock = ManualClock::at("2026-12-01T12:00:00Z");
        let secret = RefreshableSecret::new(
            Arc::new(stored.clone()),
            RefreshableSecret::MIN_INTERVAL,
            clock.shared(),
        );
        let results = futures::future::join_all((0..8).map(|_| secret.refresh())).await;
        assert_eq!(results, vec![true; 8]);
        assert_eq!(stored.reads.load(Ordering::SeqCst), 1);
    }
}
