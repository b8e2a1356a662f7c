use lambda_http::{Error, Request, run, service_fn};
use shared::config::Env;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init_tracing();
    let config = stripe_webhook::Config::from_env(Env::from_process()).inspect_err(|e| {
        tracing::error!(error = %e, "cold start failed");
    })?;
    let config = &config;
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(stripe_webhook::handle(config, request).await)
    }))
    .await
}
