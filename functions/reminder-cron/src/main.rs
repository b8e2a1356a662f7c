//! The Lambda binary: configuration (secrets resolved), the composition root, the runtime loop.

use lambda_runtime::{Error, LambdaEvent};
use reminder_cron::{App, Config};
use shared::lambda::{Failure, init, run};

// Lambda hands an instance one event at a time and every wait inside one is I/O (CPU-heavy
// work, such as password hashing, runs on the blocking pool): one thread serves it, and no
// worker threads are started at cold start (docs/PERFORMANCE.md, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init_tracing();
    let aws = shared::aws::load_config().await;
    let config = init(Config::from_env(shared::secrets::process_env(&aws).await)).await?;
    let app = &App::from_aws(config, &aws);
    run(move |event: LambdaEvent<serde_json::Value>| async move {
        let deadline = app.deadline(event.context.deadline);
        app.handle(&event.payload, &deadline)
            .await
            .map_err(Failure::from)
    })
    .await
}
