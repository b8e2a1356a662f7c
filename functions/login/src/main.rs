//! The Lambda binary: configuration, the composition root, the runtime loop.

use lambda_http::{Error, Request, run, service_fn};
use login::{App, Config};
use shared::config::Env;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init_tracing();
    let config = Config::from_env(Env::from_process()).inspect_err(|e| {
        tracing::error!(error = %e, "cold start failed");
    })?;
    let aws = shared::aws::load_config().await;
    let app = App::from_aws(config, &aws)?;
    let app = &app;
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(app.handle(request).await)
    }))
    .await
}
