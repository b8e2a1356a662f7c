//! Hello world on lambda_runtime: the reference the functions' cold start, memory and size are
//! compared with in `make bench-lambda` (built in the same run, same profile and toolchain).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
