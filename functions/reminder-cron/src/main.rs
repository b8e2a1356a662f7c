use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent};
use reminder_cron::appointments::DynamoAppointments;
use reminder_cron::{Config, Deps};
use shared::claims::DynamoClaimStore;
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
    let deps = Deps {
        appointments: Arc::new(DynamoAppointments::new(
            aws_sdk_dynamodb::Client::new(&aws),
            &config.appointments_table,
            &config.appointments_index,
        )),
        claims: Arc::new(DynamoClaimStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            &config.claims_table,
            clock.clone(),
        )),
        queue: Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&aws),
            &config.email_queue_url,
        )),
        mailer: Arc::new(SesMailer::new(aws_sdk_sesv2::Client::new(&aws))),
        clock: clock.clone(),
        metrics: Metrics::stdout("reminder-cron"),
    };
    let (deps, config) = (&deps, &config);
    run(move |event: LambdaEvent<serde_json::Value>| async move {
        let deadline = Deadline::from_epoch_millis(
            event.context.deadline,
            config.deadline_margin,
            deps.clock.clone(),
        );
        reminder_cron::handle(deps, &config.settings, &event.payload, &deadline)
            .await
            .map_err(Failure::from)
    })
    .await
}
