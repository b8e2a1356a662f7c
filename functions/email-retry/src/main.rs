use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use email_retry::{App, Config};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::config::Env;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init_tracing();
    let config = Config::from_env(Env::from_process()).inspect_err(|e| {
        tracing::error!(error = %e, "cold start failed");
    })?;
    let aws = shared::aws::load_config().await;
    let app = &App::from_aws(config, &aws);
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = app.deadline(event.context.deadline);
        Ok::<SqsBatchResponse, Error>(app.handle(event.payload, &deadline).await)
    }))
    .await
}
