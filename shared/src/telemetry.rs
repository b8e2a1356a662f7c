//! Logs and correlation: JSON `tracing` output for Lambda, correlation ids, and helpers that
//! keep personal data and secrets out of logs.

use std::fmt;
use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::log_controls::{LogControls, LogFormat};

/// Installs a `tracing` subscriber suited to Lambda (no colours, no timestamps: the platform
/// adds them), with the level and format of [`LogControls`] (`AWS_LAMBDA_LOG_LEVEL`,
/// `AWS_LAMBDA_LOG_FORMAT`, `RUST_LOG` first; JSON at `info` by default). Safe to call twice.
pub fn init_tracing() {
    let controls = LogControls::from_process();
    // `Targets` reads the same `level,target=level` directives as `EnvFilter` without a regex
    // engine in every binary (docs/PERFORMANCE.md, "Package size").
    let filter: Targets = controls
        .filter
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO));
    // The layer decides: the builder's own default would stop at INFO.
    let builder = tracing_subscriber::fmt()
        .with_max_level(tracing::level_filters::LevelFilter::TRACE)
        .with_target(false)
        .without_time()
        .with_ansi(false);
    let _ = match controls.format {
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .finish()
            .with(filter)
            .try_init(),
        LogFormat::Text => builder.finish().with(filter).try_init(),
    };
}

/// One id carried from the API request or Stripe event through the queue to the SES message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CorrelationId(String);

impl CorrelationId {
    /// A fresh random id (128 bits, hex).
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    /// Reuses an upstream id (request id, Stripe event id); keeps only safe characters and
    /// at most 128 of them so a client cannot inject log content.
    pub fn from_upstream(raw: &str) -> Self {
        let cleaned: String = raw
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
            .take(128)
            .collect();
        if cleaned.is_empty() {
            Self::random()
        } else {
            Self(cleaned)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The process-wide key of [`log_hash`], installed once at cold start from the function's
/// configuration (`LOG_HASH_KEY`, a secret).
static LOG_HASH_KEY: OnceLock<Vec<u8>> = OnceLock::new();

/// Installs the key of [`log_hash`] (the first call wins; later calls are ignored).
pub fn install_log_hash_key(key: &str) {
    let _ = LOG_HASH_KEY.set(key.as_bytes().to_vec());
}

/// The installed key, else a random one for this process (tests, local tools): hashes are
/// then stable within the process only, and still not reversible.
fn log_hash_key() -> &'static [u8] {
    LOG_HASH_KEY.get_or_init(|| {
        let mut random = [0u8; 32];
        rand::rng().fill_bytes(&mut random);
        random.to_vec()
    })
}

/// A short stable hash for log fields (`h:` + 12 hex chars of HMAC-SHA256 under the
/// configured key): lets logs correlate events about the same email, address or token
/// without revealing it, and without the key nobody can hash a list of candidates to match.
pub fn log_hash(value: &str) -> String {
    // HMAC accepts keys of any length: the error branch cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(log_hash_key()) else {
        return "h:unavailable".to_owned();
    };
    mac.update(value.as_bytes());
    format!("h:{}", &hex::encode(mac.finalize().into_bytes())[..12])
}

/// An email for human eyes in logs: first character and domain (`j***@example.com`).
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        _ => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_and_do_not_contain_the_value() {
        let a = log_hash("jane@example.com");
        assert_eq!(a, log_hash("jane@example.com"));
        assert_ne!(a, log_hash("john@example.com"));
        assert_eq!(a.len(), 14);
        assert!(!a.contains("jane"));
        let unkeyed = hex::encode(<Sha256 as sha2::Digest>::digest(b"jane@example.com"));
        assert_ne!(&a[2..], &unkeyed[..12], "keyed, not a plain SHA-256");
    }

    #[test]
    fn emails_are_masked() {
        assert_eq!(mask_email("jane@example.com"), "j***@example.com");
        assert_eq!(mask_email("not-an-email"), "***");
        assert_eq!(mask_email("@x.com"), "***");
    }

    #[test]
    fn upstream_ids_are_sanitised() {
        assert_eq!(CorrelationId::from_upstream("evt_123").as_str(), "evt_123");
        assert_eq!(
            CorrelationId::from_upstream("a\nb\"c}").as_str(),
            "abc",
            "newlines and quotes cannot reach the log"
        );
        assert_eq!(CorrelationId::from_upstream("\n").as_str().len(), 32);
    }
}
