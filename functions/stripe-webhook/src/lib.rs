//! `stripe-webhook`: `POST /stripe/webhook`. Verifies the `Stripe-Signature`, claims the event
//! (`stripe-event#<id>`), applies its effects to orders, payments and subscriptions, queues
//! emails exactly once, and completes the claim only after every effect is stored.
//!
//! Modules: [`app`] (the wiring, built once), [`signature`] (pure verification), [`event`]
//! (tolerant parsing, the table of handled types), [`ledger`] (money integrity, pure),
//! [`billing`] (the store port, DynamoDB and in-memory), [`stripe_api`] (what we read from
//! Stripe), [`effects`] (one event's effects), [`pipeline`] (verify → claim → apply →
//! complete), [`handler`] (HTTP answers), [`reconcile`] (events Stripe has and we missed).

pub mod app;
pub mod billing;
pub mod effects;
pub mod event;
pub mod handler;
pub mod ledger;
pub mod pipeline;
pub mod reconcile;
pub mod signature;
pub mod stripe_api;

use std::str::FromStr;
use std::time::Duration;

use shared::config::{ConfigError, Env, Secret, take};

pub use app::{App, Settings};
pub use effects::Ports;
pub use handler::handle;

/// Which Stripe mode this deployment serves; events of the other mode are never applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripeMode {
    /// Real money (`livemode: true`).
    Live,
    /// Test mode (`livemode: false`).
    Test,
}

impl StripeMode {
    /// Whether an event with `livemode` belongs to this mode.
    pub fn accepts(self, livemode: bool) -> bool {
        livemode == (self == Self::Live)
    }
}

impl FromStr for StripeMode {
    type Err = ();

    fn from_str(raw: &str) -> Result<Self, ()> {
        match raw {
            "live" => Ok(Self::Live),
            "test" => Ok(Self::Test),
            _ => Err(()),
        }
    }
}

/// Configuration read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    /// DynamoDB table of claims.
    pub claims_table: String,
    /// DynamoDB table of orders, payments, subscriptions and customers.
    pub billing_table: String,
    /// SQS URL of the email queue.
    pub email_queue_url: String,
    /// Webhook signing secrets, comma-separated (several during a rotation).
    pub webhook_secrets: Vec<Secret<String>>,
    /// Stripe API key (customer and subscription reads, event lists).
    pub stripe_api_key: Secret<String>,
    /// Another Stripe API base URL (a local stand-in); Stripe's own when absent.
    pub stripe_api_base: Option<String>,
    /// `live` or `test`.
    pub stripe_mode: StripeMode,
    /// Where money and dispute alerts go.
    pub admin_email: String,
    /// Accepted distance between the signed timestamp and now, both directions.
    pub tolerance: Duration,
    /// Total time budget of one delivery.
    pub budget: Duration,
    /// Key of `shared::telemetry::log_hash` (secret), installed at cold start.
    pub log_hash_key: Secret<String>,
}

impl Config {
    /// Reads every variable, reporting all problems together.
    pub fn from_env(mut env: Env) -> Result<Self, ConfigError> {
        let claims_table = env.required("CLAIMS_TABLE");
        let billing_table = env.required("BILLING_TABLE");
        let email_queue_url = env.required("EMAIL_QUEUE_URL");
        let webhook_secrets = env.secret_list("STRIPE_WEBHOOK_SECRETS");
        let stripe_api_key = env.secret("STRIPE_API_KEY");
        let stripe_api_base = env.optional("STRIPE_API_BASE");
        let stripe_mode = env.parsed("STRIPE_MODE", "live or test");
        let admin_email = env.required("ADMIN_EMAIL");
        let log_hash_key = env.log_hash_key();
        let tolerance = env.parsed_or("STRIPE_SIGNATURE_TOLERANCE_SECS", 300u64, "whole seconds");
        let budget = env.parsed_or("WEBHOOK_BUDGET_MS", 5000u64, "whole milliseconds");
        env.finish()?;
        Ok(Self {
            claims_table: take(claims_table, "CLAIMS_TABLE")?,
            billing_table: take(billing_table, "BILLING_TABLE")?,
            email_queue_url: take(email_queue_url, "EMAIL_QUEUE_URL")?,
            webhook_secrets: take(webhook_secrets, "STRIPE_WEBHOOK_SECRETS")?,
            stripe_api_key: take(stripe_api_key, "STRIPE_API_KEY")?,
            stripe_api_base,
            stripe_mode: take(stripe_mode, "STRIPE_MODE")?,
            admin_email: take(admin_email, "ADMIN_EMAIL")?,
            tolerance: Duration::from_secs(take(tolerance, "STRIPE_SIGNATURE_TOLERANCE_SECS")?),
            budget: Duration::from_millis(take(budget, "WEBHOOK_BUDGET_MS")?),
            log_hash_key: take(log_hash_key, "LOG_HASH_KEY")?,
        })
    }

    /// Handler settings from this configuration.
    pub fn settings(&self) -> Settings {
        Settings {
            budget: self.budget,
            mode: self.stripe_mode,
            admin_email: self.admin_email.clone(),
            ..Settings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_variable_is_reported_and_secrets_are_not_echoed() {
        let err = Config::from_env(Env::from_pairs([
            ("WEBHOOK_BUDGET_MS", "soon"),
            ("STRIPE_MODE", "staging"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        for name in [
            "CLAIMS_TABLE",
            "BILLING_TABLE",
            "EMAIL_QUEUE_URL",
            "STRIPE_WEBHOOK_SECRETS",
            "STRIPE_API_KEY",
            "STRIPE_MODE",
            "ADMIN_EMAIL",
            "WEBHOOK_BUDGET_MS",
            "LOG_HASH_KEY",
        ] {
            assert!(text.contains(name), "{text}");
        }
        assert_eq!(err.problems.len(), 9);
        let ok = Config::from_env(Env::from_pairs([
            ("CLAIMS_TABLE", "c"),
            ("BILLING_TABLE", "b"),
            ("EMAIL_QUEUE_URL", "http://q"),
            ("STRIPE_WEBHOOK_SECRETS", "whsec_a,whsec_b"),
            ("STRIPE_API_KEY", "sk_test_x"),
            ("STRIPE_MODE", "live"),
            ("ADMIN_EMAIL", "ops@example.com"),
            ("LOG_HASH_KEY", "0123456789abcdef0123456789abcdef"),
        ]))
        .unwrap();
        assert_eq!(ok.webhook_secrets.len(), 2);
        assert_eq!(ok.tolerance, Duration::from_secs(300));
        assert_eq!(ok.stripe_mode, StripeMode::Live);
        assert!(ok.stripe_mode.accepts(true) && !ok.stripe_mode.accepts(false));
        assert!(!format!("{ok:?}").contains("whsec_a"));
        assert!(!format!("{ok:?}").contains("sk_test_x"));
    }
}
