//! Five concurrent runs over due appointments against moto (DynamoDB + SQS), with 10%
//! injected claim-store failures, 20% mailer failures and 20% of queue hand-overs whose answer
//! is lost (the message lands, the run sees an error: the root cause of the 1,001),
//! repeated until quiet; then the real email worker drains the queue. Every reminder reaches
//! its customer exactly once, sent directly or by the worker. Each seed gets fresh tables and
//! a fresh queue; `make test` runs 20 seeds, the ignored variant as many as `SEEDS` says.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use futures::StreamExt;
use reminder_cron::appointments::{AppointmentStore, DynamoAppointments};
use reminder_cron::run::run;
use reminder_cron::tuning::SCHEDULE_INTERVAL;
use shared::claims::DynamoClaimStore;
use shared::error::ErrorClass;
use shared::faults::{Fault, FaultPlan, Faulty};
use shared::mailer::SendFailure;
use shared::queue::{EmailQueue, SqsQueue};
use shared::testing::fixtures;
use shared::timeout::Budget;
use support::{World, appointment, worker};

/// What one seed did.
#[derive(Debug, Default)]
struct Figures {
    rounds: u32,
    direct: u32,
    queued: u32,
    claim_faults: u64,
    mailer_faults: u64,
    lost_queue_answers: u64,
    delivered: usize,
}

async fn scenario(seed: u64, appointments: usize) -> Figures {
    let config = fixtures::moto().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let appt_table = fixtures::table(&config, "AppointmentsTable").await;
    let claims_table = fixtures::table(&config, "ClaimsTable").await;
    let queue_info = fixtures::queue(&config, "EmailDeadLetterQueue").await;

    let w = World::new();
    // moto answers one request at a time: give DynamoDB room, so the test is about injected
    // faults, not emulator timeouts. SQS keeps its real budget (its timeouts are the root
    // cause this scenario guards against).
    let budget = Budget::DYNAMODB.with_limit(Duration::from_secs(10));
    let store = Arc::new(
        DynamoAppointments::new(dynamo.clone(), appt_table, "by-start-day").with_budget(budget),
    );
    let list: Vec<_> = (0..appointments)
        .map(|i| appointment(&format!("s{seed}-m{i:04}"), w.in_(30 + (i as i64 % 25))))
        .collect();
    futures::stream::iter(list)
        .for_each_concurrent(8, |a| {
            let store = store.clone();
            async move { store.put(&a).await.unwrap() }
        })
        .await;

    let dynamo_claims = Arc::new(
        DynamoClaimStore::new(dynamo.clone(), claims_table, w.clock.shared()).with_budget(budget),
    );
    let claims = Arc::new(Faulty::new(
        dynamo_claims.clone(),
        FaultPlan::random(0.10, seed, Fault::Fail(ErrorClass::Transient)),
    ));
    let mailer = Arc::new(Faulty::new(
        w.mailer.clone(),
        FaultPlan::random(
            0.20,
            seed.wrapping_add(1),
            Fault::FailSend(SendFailure::Retryable),
        ),
    ));
    let sqs = Arc::new(SqsQueue::new(
        aws_sdk_sqs::Client::new(&config),
        queue_info.url,
    ));
    let queue = Arc::new(Faulty::new(
        sqs.clone(),
        FaultPlan::random(
            0.20,
            seed.wrapping_add(2),
            Fault::FailAfter(ErrorClass::Transient),
        ),
    ));
    let app = w.deps_with(store.clone(), claims.clone(), queue.clone(), mailer.clone());

    let mut figures = Figures::default();
    loop {
        figures.rounds += 1;
        let runs: Vec<_> = (0..5)
            .map(|_| {
                let (app, deadline) = (app.clone(), w.deadline());
                tokio::spawn(async move { run(&app, &deadline).await })
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
        if figures.rounds == 3 {
            // The outage ends; runs go on until one finds nothing left to do.
            claims.plan().disarm();
            mailer.plan().disarm();
            queue.plan().disarm();
        }
        // The next scheduled run: leases of answers lost to timeouts have passed by then.
        w.clock.advance(SCHEDULE_INTERVAL);
        assert!(figures.rounds < 20, "seed {seed}: runs never became quiet");
    }
    figures.direct = u32::try_from(w.mailer.sent().len()).unwrap();
    figures.queued = drain_sqs(&w, &sqs, store, dynamo_claims, seed).await;

    let mut delivered: HashMap<String, u32> = HashMap::new();
    for (_, email) in w.mailer.sent() {
        *delivered.entry(email.to).or_default() += 1;
    }
    let twice: Vec<_> = delivered.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "seed {seed}: delivered twice: {twice:?}");
    assert_eq!(delivered.len(), appointments, "seed {seed}: none lost");
    figures.claim_faults = claims.plan().injected();
    figures.mailer_faults = mailer.plan().injected();
    figures.lost_queue_answers = queue.plan().injected();
    figures.delivered = delivered.values().sum::<u32>() as usize;
    figures
}

/// Delivers the queue through the email worker (in-memory email records, the same mailer);
/// returns how many queued messages it received (a copy that came back counts again).
async fn drain_sqs(
    w: &World,
    sqs: &SqsQueue,
    appointments: Arc<DynamoAppointments>,
    claims: Arc<DynamoClaimStore>,
    seed: u64,
) -> u32 {
    let worker = worker(
        &w.clock,
        Arc::new(sqs.clone()),
        w.mailer.clone(),
        appointments,
        claims,
    );
    let (mut received, mut rounds) = (0, 0);
    loop {
        let batch = sqs.receive(10, Duration::from_secs(60)).await.unwrap();
        if batch.is_empty() {
            return received;
        }
        received += u32::try_from(batch.len()).unwrap();
        let mut event = SqsEvent::default();
        event.records = batch
            .iter()
            .map(email_retry::worker::as_lambda_record)
            .collect();
        let response = worker.handle(event, &w.deadline()).await;
        let back: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        for m in &batch {
            if back.contains(&m.message_id) {
                // Two copies of one job in a batch: the second finds the first's lease and
                // comes back (after it, it finds the job final). Time passes for the test.
                sqs.change_visibility(&m.receipt, Duration::ZERO)
                    .await
                    .unwrap();
            } else {
                sqs.delete(&m.receipt).await.unwrap();
            }
        }
        rounds += 1;
        assert!(rounds < 200, "seed {seed}: the queue never drained");
    }
}

async fn seeds(first: u64, count: u64, appointments: usize) {
    let mut total = Figures::default();
    for seed in first..first + count {
        let f = scenario(seed, appointments).await;
        println!("seed={seed} {f:?}");
        total.rounds += f.rounds;
        total.direct += f.direct;
        total.queued += f.queued;
        total.claim_faults += f.claim_faults;
        total.mailer_faults += f.mailer_faults;
        total.lost_queue_answers += f.lost_queue_answers;
        total.delivered += f.delivered;
    }
    println!(
        "seeds={count} appointments/seed={appointments} total: {total:?} (every reminder delivered exactly once)"
    );
}

/// 20 seeds in a row, 20 appointments each (make test; moto answers one request at a time,
/// so sizes are kept small here and large in the bench variant).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_concurrent_runs_over_many_seeds_with_faults() {
    seeds(1, 20, 20).await;
}

/// The bench variant: `SEEDS` seeds (default 10) of `APPOINTMENTS` (default 1,000) each.
/// `cargo nextest run -p reminder-cron --run-ignored only -E 'test(many_seeds_bench)'`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long: run on demand (see docs/RELIABILITY.md)"]
async fn five_concurrent_runs_many_seeds_bench() {
    let var = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let count = var("SEEDS", 10);
    seeds(
        var("FIRST_SEED", 1),
        count,
        usize::try_from(var("APPOINTMENTS", 1000)).unwrap(),
    )
    .await;
}
