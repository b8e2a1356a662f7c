use std::sync::Arc;

use lambda_http::{Error, Request, run, service_fn};
use shared::claims::DynamoClaimStore;
use shared::config::Env;
use shared::metrics::Metrics;
use shared::queue::SqsQueue;
use stripe_webhook::billing::DynamoBillingStore;
use stripe_webhook::directory::StripeDirectory;
use stripe_webhook::effects::Ports;
use stripe_webhook::signature::Verifier;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init_tracing();
    let config = stripe_webhook::Config::from_env(Env::from_process()).inspect_err(|e| {
        tracing::error!(error = %e, "cold start failed");
    })?;
    let aws = shared::aws::load_config().await;
    let clock = shared::clock::system();
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    let app = stripe_webhook::App {
        verifier: Verifier::new(config.webhook_secrets.clone(), config.tolerance),
        ports: Ports {
            claims: Arc::new(DynamoClaimStore::new(
                dynamo.clone(),
                &config.claims_table,
                clock.clone(),
            )),
            billing: Arc::new(DynamoBillingStore::new(dynamo, &config.billing_table)),
            queue: Arc::new(SqsQueue::new(
                aws_sdk_sqs::Client::new(&aws),
                &config.email_queue_url,
            )),
            directory: Arc::new(StripeDirectory::new(config.stripe_api_key.expose())),
        },
        metrics: Metrics::stdout("stripe-webhook"),
        clock,
        settings: config.settings(),
    };
    let app = &app;
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(stripe_webhook::handle(app, request).await)
    }))
    .await
}
