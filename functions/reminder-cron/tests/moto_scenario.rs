//! 5 concurrent runs over 1,000 due appointments against moto (DynamoDB + SQS), with 10%
//! injected claim-store and mailer failures, repeated until quiet: every reminder reaches the
//! customer exactly once, either sent directly or handed to the email queue.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;

use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

use reminder_cron::appointments::{AppointmentStore, DynamoAppointments};
use reminder_cron::run::run;
use shared::claims::DynamoClaimStore;
use shared::error::ErrorClass;
use shared::faults::{Fault, FaultPlan, Faulty};
use shared::mailer::SendFailure;
use shared::queue::{EmailQueue, SqsQueue};
use shared::testing::fixtures;
use shared::timeout::Budget;
use support::{World, appointment, settings};

const APPOINTMENTS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_concurrent_runs_over_a_thousand_reminders_with_faults() {
    let config = fixtures::moto().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let appt_table = fixtures::table(&config, "AppointmentsTable").await;
    let claims_table = fixtures::table(&config, "ClaimsTable").await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue = fixtures::queue(&config, "EmailDeadLetterQueue").await;

    let w = World::new();
    // moto answers far slower than DynamoDB under this load: give it room, so the test is
    // about injected faults, not emulator timeouts.
    let budget = Budget::DYNAMODB.with_limit(Duration::from_secs(10));
    let store = Arc::new(
        DynamoAppointments::new(dynamo.clone(), appt_table, "by-start-day").with_budget(budget),
    );
    let appointments: Vec<_> = (0..APPOINTMENTS)
        .map(|i| appointment(&format!("m{i:04}"), w.in_(30 + (i as i64 % 25))))
        .collect();
    futures::stream::iter(appointments)
        .for_each_concurrent(8, |a| {
            let store = store.clone();
            async move { store.put(&a).await.unwrap() }
        })
        .await;

    let claims = Arc::new(Faulty::new(
        DynamoClaimStore::new(dynamo.clone(), claims_table, w.clock.shared()).with_budget(budget),
        FaultPlan::random(0.10, 7, Fault::Fail(ErrorClass::Transient)),
    ));
    let mailer = Arc::new(Faulty::new(
        w.mailer.clone(),
        FaultPlan::random(0.10, 11, Fault::FailSend(SendFailure::Retryable)),
    ));
    let queue = Arc::new(SqsQueue::new(sqs, queue.url));
    let deps = w.deps_with(store, claims.clone(), queue.clone(), mailer.clone());

    let mut rounds = 0;
    loop {
        rounds += 1;
        let runs: Vec<_> = (0..5)
            .map(|_| {
                let deps = deps.clone();
                let deadline = w.deadline();
                tokio::spawn(async move { run(&deps, &settings(8), &deadline).await })
            })
            .collect();
        let mut quiet = true;
        for r in runs {
            match r.await.unwrap() {
                Ok(s) => quiet &= s.claimed == 0,
                Err(_) => quiet = false,
            }
        }
        if quiet {
            break;
        }
        if rounds == 3 {
            // The outage ends; runs go on until one finds nothing left to do.
            claims.plan().disarm();
            mailer.plan().disarm();
        }
        // The next scheduled run: leases of answers lost to timeouts have passed by then.
        w.clock.advance(Duration::from_secs(61));
        assert!(rounds < 20, "runs never became quiet");
    }

    let mut delivered: HashMap<String, u32> = HashMap::new();
    for (_, email) in w.mailer.sent() {
        *delivered.entry(email.to).or_default() += 1;
    }
    let direct = delivered.values().sum::<u32>();
    let mut queued = 0;
    loop {
        let batch = queue.receive(10, Duration::from_secs(60)).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            *delivered.entry(m.job().unwrap().to).or_default() += 1;
            queued += 1;
        }
    }
    println!(
        "rounds={rounds} direct={direct} queued={queued} claim faults={} mailer faults={}",
        claims.plan().injected(),
        mailer.plan().injected()
    );
    assert_eq!(delivered.len(), APPOINTMENTS, "none lost");
    assert!(delivered.values().all(|n| *n == 1), "none twice");
    assert!(
        queued > 0 && mailer.plan().injected() > 0,
        "failures went through the queue"
    );
    assert_eq!(
        queued as u64,
        mailer.plan().injected(),
        "every failed send was queued once"
    );
}
