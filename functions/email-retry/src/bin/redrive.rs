//! `email-redrive`: moves the email DLQ back to the email queue (no-op for finished jobs).
//!
//! Reads `EMAILS_TABLE`, `EMAIL_QUEUE_URL` and `EMAIL_DLQ_URL`; prints the summary as JSON.

use std::process::ExitCode;
use std::sync::Arc;

use email_retry::record::DynamoEmailStore;
use shared::config::{Env, take};
use shared::queue::SqsQueue;

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init_tracing();
    let mut env = Env::from_process();
    let table = env.required("EMAILS_TABLE");
    let queue = env.required("EMAIL_QUEUE_URL");
    let dlq = env.required("EMAIL_DLQ_URL");
    let names = env.finish().and_then(|()| {
        Ok((
            take(table, "EMAILS_TABLE")?,
            take(queue, "EMAIL_QUEUE_URL")?,
            take(dlq, "EMAIL_DLQ_URL")?,
        ))
    });
    let (table, queue, dlq) = match names {
        Ok(n) => n,
        Err(e) => {
            eprintln!("email-redrive: {e}");
            return ExitCode::from(2);
        }
    };
    let aws = shared::aws::load_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let store = DynamoEmailStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        table,
        Arc::new(shared::clock::SystemClock),
    );
    let outcome = email_retry::redrive::redrive(
        &SqsQueue::new(sqs.clone(), dlq),
        &SqsQueue::new(sqs, queue),
        &store,
    )
    .await;
    match outcome {
        Ok(s) => {
            println!(
                "{}",
                serde_json::json!({"moved": s.moved, "already_finished": s.already_finished, "malformed_kept": s.malformed_kept})
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("email-redrive: {e}");
            ExitCode::FAILURE
        }
    }
}
