//! `stripe-webhook`: `POST /stripe/webhook`. Verifies the `Stripe-Signature`, claims the event
//! (`stripe-event#<id>`), applies its effects to orders, payments and subscriptions, queues
//! emails exactly once, and completes the claim only after every effect is stored.
//!
//! Modules: [`signature`] (pure verification), [`event`] (tolerant parsing), [`billing`] (the
//! store port, DynamoDB and in-memory), [`directory`] (Stripe customer lookup), [`effects`]
//! (one event's effects), [`handler`] (HTTP answers).

pub mod billing;
pub mod directory;
pub mod effects;
pub mod event;
pub mod handler;
pub mod signature;

use std::time::Duration;

use shared::config::{ConfigError, Env, Secret};

pub use handler::{App, Settings, handle};

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
    /// Stripe API key (customer lookups).
    pub stripe_api_key: Secret<String>,
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
        let log_hash_key = env.log_hash_key();
        let tolerance = env.parsed_or("STRIPE_SIGNATURE_TOLERANCE_SECS", 300u64, "whole seconds");
        let budget = env.parsed_or("WEBHOOK_BUDGET_MS", 5000u64, "whole milliseconds");
        env.finish()?;
        Ok(Self {
            claims_table: shared::config::take(claims_table, "CLAIMS_TABLE")?,
            billing_table: shared::config::take(billing_table, "BILLING_TABLE")?,
            email_queue_url: shared::config::take(email_queue_url, "EMAIL_QUEUE_URL")?,
            webhook_secrets: shared::config::take(webhook_secrets, "STRIPE_WEBHOOK_SECRETS")?,
            stripe_api_key: shared::config::take(stripe_api_key, "STRIPE_API_KEY")?,
            tolerance: Duration::from_secs(shared::config::take(
                tolerance,
                "STRIPE_SIGNATURE_TOLERANCE_SECS",
            )?),
            budget: Duration::from_millis(shared::config::take(budget, "WEBHOOK_BUDGET_MS")?),
            log_hash_key: shared::config::take(log_hash_key, "LOG_HASH_KEY")?,
        })
    }

    /// Handler settings from this configuration.
    pub fn settings(&self) -> Settings {
        Settings {
            budget: self.budget,
            ..Settings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_variable_is_reported_and_secrets_are_not_echoed() {
        let err = Config::from_env(Env::from_pairs([("WEBHOOK_BUDGET_MS", "soon")])).unwrap_err();
        let text = err.to_string();
        for name in [
            "CLAIMS_TABLE",
            "BILLING_TABLE",
            "EMAIL_QUEUE_URL",
            "STRIPE_WEBHOOK_SECRETS",
            "STRIPE_API_KEY",
            "WEBHOOK_BUDGET_MS",
            "LOG_HASH_KEY",
        ] {
            assert!(text.contains(name), "{text}");
        }
        assert_eq!(err.problems.len(), 7);
        let ok = Config::from_env(Env::from_pairs([
            ("CLAIMS_TABLE", "c"),
            ("BILLING_TABLE", "b"),
            ("EMAIL_QUEUE_URL", "http://q"),
            ("STRIPE_WEBHOOK_SECRETS", "whsec_a,whsec_b"),
            ("STRIPE_API_KEY", "sk_test_x"),
            ("LOG_HASH_KEY", "0123456789abcdef0123456789abcdef"),
        ]))
        .unwrap();
        assert_eq!(ok.webhook_secrets.len(), 2);
        assert_eq!(ok.tolerance, Duration::from_secs(300));
        assert!(!format!("{ok:?}").contains("whsec_a"));
        assert!(!format!("{ok:?}").contains("sk_test_x"));
    }
}
