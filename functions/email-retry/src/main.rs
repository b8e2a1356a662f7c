//! The Lambda binary: configuration (secrets resolved), the composition root, the runtime loop.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use email_retry::{App, Config};
use lambda_runtime::{Error, LambdaEvent};
use shared::lambda::{Failure, init, run};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init_tracing();
    let aws = shared::aws::load_config().await;
    let config = init(Config::from_env(shared::secrets::process_env(&aws).await)).await?;
    let app = &App::from_aws(config, &aws);
    run(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = app.deadline(event.context.deadline);
        Ok::<SqsBatchResponse, Failure>(app.handle(event.payload, &deadline).await)
    })
    .await
}
