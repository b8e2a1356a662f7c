use std::sync::Arc;

use lambda_http::Error;
use shared::claims::DynamoClaimStore;
use shared::lambda::{init, run_http};
use shared::metrics::Metrics;
use shared::queue::SqsQueue;
use shared::secrets::RefreshableSecret;
use stripe_webhook::billing::DynamoBillingStore;
use stripe_webhook::directory::StripeDirectory;
use stripe_webhook::effects::Ports;
use stripe_webhook::signature::Verifier;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init_tracing();
    let aws = shared::aws::load_config().await;
    let env = shared::secrets::process_env(&aws).await;
    let config = init(stripe_webhook::Config::from_env(env)).await?;
    let clock = shared::clock::system();
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    let app = stripe_webhook::App {
        verifier: Verifier::new(config.webhook_secrets.clone(), config.tolerance).rotating(
            RefreshableSecret::from_process_env(&aws, "STRIPE_WEBHOOK_SECRETS", clock.clone()),
        ),
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
    run_http(move |request| stripe_webhook::handle(app, request)).await
}
