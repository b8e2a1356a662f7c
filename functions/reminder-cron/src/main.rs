use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::config::Env;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init_tracing();
    let config = reminder_cron::Config::from_env(Env::from_process()).inspect_err(|e| {
        tracing::error!(error = %e, "cold start failed");
    })?;
    let config = &config;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(reminder_cron::handle(config, event.payload).await)
        },
    ))
    .await
}
