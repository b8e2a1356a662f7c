//! The composition root: [`App`] holds every port and setting of the function, built once per
//! cold start by [`App::from_aws`] (the real adapters, every tuning constant written here), or
//! by [`App::build`] from ports already built (tests, the local stack).

use std::sync::Arc;
use std::time::Duration;

use shared::claims::DynamoClaimStore;
use shared::clock::SharedClock;
use shared::metrics::Metrics;
use shared::queue::SqsQueue;
use shared::secrets::RefreshableSecret;

use crate::billing::DynamoBillingStore;
use crate::effects::Ports;
use crate::signature::Verifier;
use crate::stripe_api::{StripeApiError, StripeHttpApi};
use crate::{Config, StripeMode};

/// The function's name in metrics.
pub const FUNCTION: &str = "stripe-webhook";

/// Limits and timings of the handler.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest body accepted, measured on the decoded bytes.
    pub max_body: usize,
    /// Total time for claim + effects of one delivery.
    pub budget: Duration,
    /// Longest lease on an event claim (the Lambda deadline usually ends it sooner).
    pub lease_cap: Duration,
    /// How long completed claims suppress duplicates (Stripe retries for 3 days).
    pub retain: Duration,
    /// Kept free before the Lambda deadline to release a claim and answer.
    pub margin: Duration,
    /// The Stripe mode served; other-mode events are acknowledged, never applied.
    pub mode: StripeMode,
    /// Where money and dispute alerts go.
    pub admin_email: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_body: 1024 * 1024,
            budget: Duration::from_secs(5),
            lease_cap: Duration::from_secs(30),
            retain: Duration::from_secs(8 * 24 * 3600),
            margin: Duration::from_millis(1500),
            mode: StripeMode::Test,
            admin_email: "admin@example.com".to_owned(),
        }
    }
}

/// Everything the handler needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct App {
    /// Signature check.
    pub verifier: Verifier,
    /// The ports.
    pub ports: Ports,
    /// Counters.
    pub metrics: Metrics,
    /// Time source.
    pub clock: SharedClock,
    /// Limits and timings.
    pub settings: Settings,
}

impl Ports {
    /// The real adapters: DynamoDB claims and billing, the SQS email queue, the Stripe API.
    pub fn from_aws(
        config: &Config,
        aws: &aws_config::SdkConfig,
        clock: SharedClock,
    ) -> Result<Self, StripeApiError> {
        let dynamo = aws_sdk_dynamodb::Client::new(aws);
        Ok(Self {
            claims: Arc::new(DynamoClaimStore::new(
                dynamo.clone(),
                &config.claims_table,
                clock,
            )),
            billing: Arc::new(DynamoBillingStore::new(dynamo, &config.billing_table)),
            queue: Arc::new(SqsQueue::new(
                aws_sdk_sqs::Client::new(aws),
                &config.email_queue_url,
            )),
            stripe: Arc::new(StripeHttpApi::new(
                config.stripe_api_key.expose(),
                config.stripe_api_base.as_deref(),
            )?),
        })
    }
}

impl App {
    /// The deployed function: real adapters from `config`, metrics on stdout (EMF).
    pub fn from_aws(
        config: Config,
        aws: &aws_config::SdkConfig,
    ) -> Result<Self, lambda_http::Error> {
        let clock = shared::clock::system();
        let ports = Ports::from_aws(&config, aws, clock.clone())?;
        Ok(Self::build(
            ports,
            // A signature that matches no cached secret re-reads them (at most once a
            // minute), so a rotation in Secrets Manager needs no redeploy.
            Verifier::new(config.webhook_secrets.clone(), config.tolerance).rotating(
                RefreshableSecret::from_process_env(aws, "STRIPE_WEBHOOK_SECRETS", clock.clone()),
            ),
            config.settings(),
            clock,
            Metrics::stdout(FUNCTION),
        ))
    }

    /// An app on ports already built (tests, the local stack).
    pub fn build(
        ports: Ports,
        verifier: Verifier,
        settings: Settings,
        clock: SharedClock,
        metrics: Metrics,
    ) -> Self {
        Self {
            verifier,
            ports,
            metrics,
            clock,
            settings,
        }
    }
}
