//! The pipeline against moto: DynamoDB records, the real SQS queue (visibility, receive
//! counts, redrive to the DLQ) and SES v2, with throttling and rejections injected.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsEvent;
use common::{ADMIN, SENDER, failed_ids, moto, order_job, settings, sign_in_job};
use email_retry::App;
use email_retry::record::{DynamoEmailStore, EmailStatus, EmailStore};
use email_retry::worker::as_lambda_record;
use futures::StreamExt;
use shared::deadline::Deadline;
use shared::email_job::EmailJob;
use shared::faults::{Fault, FaultPlan, Faulty};
use shared::mailer::{Mailer, SendFailure, SesMailer};
use shared::metrics::{Metric, Metrics};
use shared::queue::{EmailQueue, SqsQueue};
use shared::retry::Backoff;
use shared::timeout::Budget;

/// SES wrapped in a pass-through counter (calls that reach SES), then 5 % permanent
/// rejections, then 20 % throttling (seeded).
type FaultySes = Faulty<Faulty<Faulty<SesMailer>>>;

fn faulty_ses(config: &aws_config::SdkConfig) -> FaultySes {
    // moto answers one request at a time: a 30 s send budget keeps the test about injected
    // faults, not emulator slowness (a cut send would be AMBIGUOUS).
    let budget = Budget::SES.with_limit(Duration::from_secs(30));
    let ses = Faulty::new(
        SesMailer::from_aws(config).with_budget(budget),
        FaultPlan::none(),
    );
    let rejecting = Faulty::new(
        ses,
        FaultPlan::random(0.05, 11, Fault::FailSend(SendFailure::Permanent)),
    );
    Faulty::new(
        rejecting,
        FaultPlan::random(0.20, 7, Fault::FailSend(SendFailure::Retryable)),
    )
}

/// One Lambda-like poller: receive a batch (visibility as the event source mapping would
/// hold it), run the handler, delete what it did not report.
async fn poll_once(worker: &App, queue: &SqsQueue) -> usize {
    // Like the Lambda poller, a failed receive or delete is simply tried again later.
    let Ok(messages) = queue.receive(10, Duration::from_secs(30)).await else {
        return usize::MAX;
    };
    if messages.is_empty() {
        return 0;
    }
    let mut event = SqsEvent::default();
    event.records = messages.iter().map(as_lambda_record).collect();
    let deadline = Deadline::after(
        Duration::from_secs(30),
        Duration::from_secs(3),
        shared::clock::system(),
    );
    let response = worker.handle(event, &deadline).await;
    assert!(failed_ids(&response).iter().all(|id| !id.is_empty()));
    let failed = failed_ids(&response);
    for m in messages.iter().filter(|m| !failed.contains(&m.message_id)) {
        let _ = queue.delete(&m.receipt).await;
    }
    messages.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_jobs_with_throttling_and_rejections_end_sent_or_failed_once() {
    let config = moto::aws().await;
    moto::verify_sender(&config, SENDER).await;
    let table = moto::emails_table(&config).await;
    let (queue_info, dlq_info) = moto::queues(&config).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    // A slow moto must not lose receive answers to the client timeout (that spends receive
    // counts without an attempt): a generous SQS budget for this test.
    let queue = Arc::new(
        SqsQueue::new(sqs.clone(), queue_info.url.clone())
            .with_budget(Budget::SQS.with_limit(Duration::from_secs(20))),
    );
    let store = Arc::new(
        DynamoEmailStore::new(
            aws_sdk_dynamodb::Client::new(&config),
            table,
            shared::clock::system(),
        )
        .with_budget(Budget::DYNAMODB.with_limit(Duration::from_secs(10))),
    );
    let mailer = Arc::new(faulty_ses(&config));
    let (metrics, sink) = Metrics::in_memory("email-retry");
    let mut s = settings();
    s.backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(2));
    s.concurrency = 10;
    let worker = Arc::new(
        email_retry::App::build(
            email_retry::Ports {
                store: store.clone(),
                mailer: mailer.clone(),
                queue: queue.clone(),
                appointments: std::sync::Arc::new(
                    shared::appointments::MemoryAppointments::default(),
                ),
                claims: std::sync::Arc::new(shared::claims::MemoryClaimStore::new(
                    shared::clock::system(),
                )),
            },
            shared::clock::system(),
            metrics,
            s,
        )
        .with_seed(42),
    );

    // 1,000 jobs: 600 order confirmations (critical), 400 sign-in notices; 3 malformed bodies.
    let jobs: Vec<EmailJob> = (0..1000)
        .map(|i| {
            let tag = shared::testing::unique_name(&format!("j{i}"));
            if i % 5 < 3 {
                order_job(&tag, &format!("customer{i}@example.com"))
            } else {
                sign_in_job(&tag, &format!("user{i}@example.com"))
            }
        })
        .collect();
    futures::stream::iter(&jobs)
        .map(|job| {
            let queue = queue.clone();
            async move {
                while queue.enqueue(job, Duration::ZERO).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        })
        .buffer_unordered(25)
        .collect::<Vec<_>>()
        .await;
    let malformed = ["{not json", r#"{"id":"x"}"#, "null"];
    for body in malformed {
        queue.send_raw(body, Duration::ZERO).await.unwrap();
    }

    // Four concurrent pollers until the queue (visible, in flight and delayed) is empty; then
    // the DLQ redrive, which re-queues anything a slow run pushed past the receive limit
    // (a no-op for finished jobs), until it moves nothing.
    let started = Instant::now();
    let mut redriven = 0;
    let dlq = Arc::new(SqsQueue::new(sqs.clone(), dlq_info.url.clone()));
    let last = loop {
        let pollers: Vec<_> = (0..4)
            .map(|_| {
                let (worker, queue, config, url) = (
                    worker.clone(),
                    queue.clone(),
                    config.clone(),
                    queue_info.url.clone(),
                );
                tokio::spawn(async move {
                    loop {
                        assert!(
                            started.elapsed() < Duration::from_secs(600),
                            "queue did not drain"
                        );
                        if poll_once(&worker, &queue).await == 0 {
                            if moto::depth(&config, &url).await == 0 {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                })
            })
            .collect();
        for p in futures::future::join_all(pollers).await {
            p.unwrap();
        }
        let summary = email_retry::redrive::redrive(&*dlq, &*queue, &*store)
            .await
            .unwrap();
        redriven += summary.moved;
        if summary.moved == 0 {
            break summary;
        }
    };
    let drained_in = started.elapsed();

    // Every job ended SENT or FAILED_PERMANENT; critical failures have one alert each.
    let (mut sent, mut rejected, mut exhausted, mut critical_failed) = (0u64, 0u64, 0u64, 0u64);
    let mut message_ids = HashSet::new();
    let mut alert_ids = Vec::new();
    for job in &jobs {
        let r = store
            .get(&job.id)
            .await
            .unwrap()
            .expect("every job has a record");
        match r.status {
            EmailStatus::Sent => {
                sent += 1;
                assert!(
                    message_ids.insert(r.ses_message_id.unwrap()),
                    "one SES id per email"
                );
            }
            EmailStatus::FailedPermanent => {
                let reason = r.reason.unwrap();
                if reason.starts_with("rejected") {
                    rejected += 1;
                } else {
                    assert!(
                        reason.starts_with("retry budget of 3 attempts exhausted"),
                        "{reason}"
                    );
                    // Attempts count from ApproximateReceiveCount; a receive whose answer
                    // was lost still counts, so fewer sends than 3 may have been made.
                    assert!((1..=3).contains(&r.attempts), "{}", r.attempts);
                    exhausted += 1;
                }
                if job.critical {
                    critical_failed += 1;
                    alert_ids.push(format!("admin-alert#{}", job.id));
                }
            }
            other => panic!("{} ended {other:?}", job.id),
        }
    }
    assert_eq!(sent + rejected + exhausted, 1000);
    let (mut alerts_sent, mut alerts_failed) = (0u64, 0u64);
    for id in &alert_ids {
        let r = store
            .get(id)
            .await
            .unwrap()
            .expect("an alert per critical failure");
        match r.status {
            EmailStatus::Sent => {
                alerts_sent += 1;
                assert!(message_ids.insert(r.ses_message_id.unwrap()));
            }
            EmailStatus::FailedPermanent => alerts_failed += 1,
            other => panic!("alert {id} ended {other:?}"),
        }
    }
    assert_eq!(alerts_sent + alerts_failed, critical_failed);
    // Exactly one SES call per sent email: nothing sent twice.
    let ses_calls = mailer.inner().inner().plan().calls();
    assert_eq!(ses_calls, sent + alerts_sent);
    assert_eq!(sink.total(Metric::EmailSent) as u64, sent + alerts_sent);
    // Nothing lost: the queue is empty and the DLQ holds exactly the malformed bodies.
    assert_eq!(moto::depth(&config, &queue_info.url).await, 0);
    assert_eq!(last.malformed_kept, malformed.len());
    assert_eq!(
        moto::depth(&config, &dlq_info.url).await,
        malformed.len() as u64
    );
    let throttled = mailer.plan().injected();
    let send_calls = mailer.plan().calls();
    eprintln!(
        "FIGURES jobs=1000 sent={sent} failed_rejected={rejected} failed_budget={exhausted} \
         critical_failed={critical_failed} alerts_sent={alerts_sent} alerts_failed={alerts_failed} \
         send_attempts={send_calls} throttled={throttled} rejected_injected={} ses_calls={ses_calls} \
         dead_lettered={} redriven={redriven} drained_in={:.1}s",
        mailer.inner().plan().injected(),
        last.malformed_kept,
        drained_in.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_sqs_message_handled_twice_concurrently_makes_one_ses_call() {
    let config = moto::aws().await;
    moto::verify_sender(&config, SENDER).await;
    let table = moto::emails_table(&config).await;
    let (queue_info, _) = moto::queues(&config).await;
    let queue = Arc::new(SqsQueue::new(
        aws_sdk_sqs::Client::new(&config),
        queue_info.url,
    ));
    let store = Arc::new(DynamoEmailStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        table,
        shared::clock::system(),
    ));
    // Slow SES so both deliveries overlap; the plan counts the calls that reach it.
    let mailer = Arc::new(Faulty::new(
        SesMailer::from_aws(&config),
        FaultPlan::always(Fault::Latency(Duration::from_millis(300))),
    ));
    let worker = Arc::new(
        email_retry::App::build(
            email_retry::Ports {
                store: store.clone(),
                mailer: mailer.clone(),
                queue: queue.clone(),
                appointments: std::sync::Arc::new(
                    shared::appointments::MemoryAppointments::default(),
                ),
                claims: std::sync::Arc::new(shared::claims::MemoryClaimStore::new(
                    shared::clock::system(),
                )),
            },
            shared::clock::system(),
            Metrics::in_memory("email-retry").0,
            settings(),
        )
        .with_seed(1),
    );
    let job = order_job(&shared::testing::unique_name("o"), "jane@example.com");
    queue.enqueue(&job, Duration::ZERO).await.unwrap();
    let messages = queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(messages.len(), 1);
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (worker, messages) = (worker.clone(), messages.clone());
            tokio::spawn(async move {
                let mut event = SqsEvent::default();
                event.records = messages.iter().map(as_lambda_record).collect();
                let deadline = Deadline::after(
                    Duration::from_secs(30),
                    Duration::from_secs(3),
                    shared::clock::system(),
                );
                worker.handle(event, &deadline).await
            })
        })
        .collect();
    let responses: Vec<_> = futures::future::join_all(runs)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(mailer.plan().calls(), 1);
    assert_eq!(
        responses
            .iter()
            .map(|r| r.batch_item_failures.len())
            .sum::<usize>(),
        1
    );
    let record = store.get(&job.id).await.unwrap().unwrap();
    assert_eq!(record.status, EmailStatus::Sent);
    assert_eq!(record.attempts, 1);
    let _ = ADMIN;
    let _: &dyn Mailer = &*mailer;
}
