use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use email_retry::record::DynamoEmailStore;
use email_retry::{Config, Worker};
use lambda_runtime::{Error, LambdaEvent};
use shared::deadline::Deadline;
use shared::lambda::{Failure, init, run};
use shared::mailer::SesMailer;
use shared::metrics::Metrics;
use shared::queue::SqsQueue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init_tracing();
    let aws = shared::aws::load_config().await;
    let config = init(Config::from_env(shared::secrets::process_env(&aws).await)).await?;
    let clock = shared::clock::system();
    let worker = Worker::new(
        Arc::new(DynamoEmailStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            config.emails_table.clone(),
            clock.clone(),
        )),
        Arc::new(SesMailer::new(aws_sdk_sesv2::Client::new(&aws))),
        Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&aws),
            config.queue_url.clone(),
        )),
        Metrics::stdout("email-retry"),
        config.settings.clone(),
        clock.clone(),
        None,
    );
    let (worker, margin, clock) = (&worker, config.deadline_margin, &clock);
    run(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = Deadline::from_epoch_millis(event.context.deadline, margin, clock.clone());
        Ok::<SqsBatchResponse, Failure>(worker.handle(event.payload, &deadline).await)
    })
    .await
}
