//! The Lambda binary: configuration (secrets resolved), the composition root, the runtime loop.

use lambda_http::Error;
use shared::lambda::{init, run_http};
use stripe_webhook::{App, Config};

// Lambda hands an instance one event at a time and every wait inside one is I/O (CPU-heavy
// work, such as password hashing, runs on the blocking pool): one thread serves it, and no
// worker threads are started at cold start (docs/PERFORMANCE.md, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init_tracing();
    let aws = shared::aws::load_config().await;
    let config = init(Config::from_env(shared::secrets::process_env(&aws).await)).await?;
    let app = &init(App::from_aws(config, &aws)).await?;
    run_http(move |request| stripe_webhook::handle(app, request)).await
}
