//! Claim store contract: the same suite against the in-memory store and DynamoDB (moto).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use shared::claims::{
    ClaimKey, ClaimOutcome, ClaimRequest, ClaimStatus, ClaimStore, DynamoClaimStore,
    MemoryClaimStore, StoreError,
};
use shared::clock::ManualClock;

/// A store under test and the clock it reads.
struct Subject {
    store: Arc<dyn ClaimStore>,
    clock: ManualClock,
}

fn clock() -> ManualClock {
    ManualClock::new(Utc::now())
}

fn memory() -> Subject {
    let clock = clock();
    Subject {
        store: Arc::new(MemoryClaimStore::new(clock.shared())),
        clock,
    }
}

async fn dynamo() -> Subject {
    let config = common::aws().await;
    let table = common::table(&config, "ClaimsTable").await;
    let clock = clock();
    // Generous budget: the suite checks semantics; moto queues bursts of 1,000 requests.
    let budget = shared::timeout::Budget::DYNAMODB.with_limit(Duration::from_secs(20));
    let store = DynamoClaimStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        table,
        clock.shared(),
    )
    .with_budget(budget);
    Subject {
        store: Arc::new(store),
        clock,
    }
}

fn key(name: &str) -> ClaimKey {
    ClaimKey::new("test", &[name, &shared::testing::unique_name("k")])
}

fn request(s: &Subject, key: &ClaimKey, lease: Duration, retain: Duration) -> ClaimRequest {
    let lease_until = s.clock.shared().now() + TimeDelta::from_std(lease).unwrap();
    ClaimRequest::new(key.clone(), lease_until, retain)
}

const MINUTE: Duration = Duration::from_secs(60);
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

fn acquired(outcome: ClaimOutcome) -> shared::claims::Claim {
    match outcome {
        ClaimOutcome::Acquired(c) => c,
        other => panic!("expected to acquire, got {other:?}"),
    }
}

async fn lifecycle(s: Subject) {
    let k = key("lifecycle");
    let mut req = request(&s, &k, MINUTE, WEEK);
    req.fingerprint = Some("fp-1".into());
    let claim = acquired(s.store.claim(&req).await.unwrap());

    let ClaimOutcome::InProgress(held) = s.store.claim(&req).await.unwrap() else {
        panic!("second claim must see the live lease");
    };
    assert_eq!(held.owner, claim.owner);
    assert_eq!(held.status, ClaimStatus::InProgress);
    assert_eq!(held.fingerprint.as_deref(), Some("fp-1"));

    s.store.complete(&claim, Some("msg-42")).await.unwrap();
    let ClaimOutcome::Completed(done) = s.store.claim(&req).await.unwrap() else {
        panic!("completed work must be reported as such");
    };
    assert_eq!(done.result.as_deref(), Some("msg-42"));
    assert!(
        matches!(
            s.store.complete(&claim, None).await,
            Err(StoreError::Conflict(_))
        ),
        "completing twice is refused"
    );
}

async fn hundred_concurrent_claims_one_winner(s: Subject) {
    let k = key("race");
    let req = request(&s, &k, MINUTE, WEEK);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let store = s.store.clone();
            let req = req.clone();
            tokio::spawn(async move { store.claim(&req).await })
        })
        .collect();
    let mut winners = 0;
    let mut in_progress = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            ClaimOutcome::Acquired(_) => winners += 1,
            ClaimOutcome::InProgress(_) => in_progress += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((winners, in_progress), (1, 99));
}

/// Many keys, five claimants each, all at once: exactly one winner per key. (Plain threaded
/// moto_server breaks this now and then under load, about 3 keys in 1,000 in a 5,000-claim
/// stress run, because it checks the condition and writes without a lock; the local services
/// therefore run moto with requests serialised, as DynamoDB serialises writes to an item.)
async fn many_keys_five_claimants_each_one_winner_per_key(s: Subject) {
    let run = shared::testing::unique_name("many");
    let tasks: Vec<_> = (0..200)
        .flat_map(|k| (0..5).map(move |_| k))
        .map(|k| {
            let store = s.store.clone();
            let req = request(
                &s,
                &ClaimKey::new("test", &[&run, &k.to_string()]),
                MINUTE,
                WEEK,
            );
            tokio::spawn(async move { (k, store.claim(&req).await.unwrap()) })
        })
        .collect();
    let mut winners = std::collections::HashMap::new();
    for t in tasks {
        let (k, outcome) = t.await.unwrap();
        if matches!(outcome, ClaimOutcome::Acquired(_)) {
            *winners.entry(k).or_insert(0) += 1;
        }
    }
    assert_eq!(winners.len(), 200, "every key won once");
    assert!(winners.values().all(|n| *n == 1), "no key won twice");
}

async fn stale_owner_is_refused_after_takeover(s: Subject) {
    let k = key("stale");
    let first = acquired(
        s.store
            .claim(&request(&s, &k, Duration::from_secs(10), WEEK))
            .await
            .unwrap(),
    );
    s.clock.advance(Duration::from_secs(11));
    let second = acquired(s.store.claim(&request(&s, &k, MINUTE, WEEK)).await.unwrap());
    assert_ne!(first.owner, second.owner);

    assert!(matches!(
        s.store.complete(&first, Some("late")).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.store.release(&first).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.store.fail_permanently(&first, "late").await,
        Err(StoreError::Conflict(_))
    ));

    s.store.complete(&second, Some("ok")).await.unwrap();
    let record = s.store.get(&k).await.unwrap().unwrap();
    assert_eq!(record.owner, second.owner);
    assert_eq!(record.status, ClaimStatus::Completed);
    assert_eq!(record.result.as_deref(), Some("ok"));
}

async fn expired_record_still_present_is_claimable(s: Subject) {
    let k = key("expired");
    let claim = acquired(
        s.store
            .claim(&request(&s, &k, MINUTE, Duration::from_secs(120)))
            .await
            .unwrap(),
    );
    s.store.complete(&claim, None).await.unwrap();
    s.clock.advance(Duration::from_secs(121));
    let stored = s.store.get(&k).await.unwrap();
    assert!(
        stored.is_some(),
        "TTL deletion has not happened: the record is still there"
    );
    let again = acquired(s.store.claim(&request(&s, &k, MINUTE, WEEK)).await.unwrap());
    assert_ne!(again.owner, claim.owner);
}

async fn release_lets_a_retry_claim_at_once(s: Subject) {
    let k = key("release");
    let req = request(&s, &k, MINUTE, WEEK);
    let claim = acquired(s.store.claim(&req).await.unwrap());
    s.store.release(&claim).await.unwrap();
    assert_eq!(s.store.get(&k).await.unwrap(), None);
    acquired(s.store.claim(&req).await.unwrap());
}

async fn permanent_failure_is_remembered(s: Subject) {
    let k = key("failed");
    let req = request(&s, &k, MINUTE, WEEK);
    let claim = acquired(s.store.claim(&req).await.unwrap());
    s.store
        .fail_permanently(&claim, "bad address")
        .await
        .unwrap();
    let ClaimOutcome::FailedPermanent(record) = s.store.claim(&req).await.unwrap() else {
        panic!("a permanent failure must block new claims");
    };
    assert_eq!(record.result.as_deref(), Some("bad address"));
}

async fn extend_keeps_the_claim_past_its_first_lease(s: Subject) {
    let k = key("extend");
    let claim = acquired(
        s.store
            .claim(&request(&s, &k, Duration::from_secs(10), WEEK))
            .await
            .unwrap(),
    );
    let later = s.clock.shared().now() + TimeDelta::seconds(40);
    s.store.extend(&claim, later).await.unwrap();
    s.clock.advance(Duration::from_secs(30));
    let ClaimOutcome::InProgress(held) =
        s.store.claim(&request(&s, &k, MINUTE, WEEK)).await.unwrap()
    else {
        panic!("the extended lease must still hold");
    };
    assert_eq!(held.owner, claim.owner);
    assert_eq!(
        held.lease_until.timestamp_millis(),
        later.timestamp_millis()
    );
    s.clock.advance(Duration::from_secs(11));
    let second = acquired(s.store.claim(&request(&s, &k, MINUTE, WEEK)).await.unwrap());
    assert!(
        matches!(
            s.store.extend(&claim, later).await,
            Err(StoreError::Conflict(_))
        ),
        "a stale owner cannot extend"
    );
    s.store.complete(&second, None).await.unwrap();
    assert!(
        matches!(
            s.store.extend(&second, later).await,
            Err(StoreError::Conflict(_))
        ),
        "a completed claim has no lease to extend"
    );
    assert_eq!(
        s.store.get(&k).await.unwrap().unwrap().status,
        ClaimStatus::Completed
    );
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory_adapter {
            $(#[tokio::test] async fn $case() { super::$case(super::memory()).await })*
        }
        mod dynamodb_adapter {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $case() { super::$case(super::dynamo().await).await })*
        }
    };
}

contract!(
    lifecycle,
    hundred_concurrent_claims_one_winner,
    many_keys_five_claimants_each_one_winner_per_key,
    stale_owner_is_refused_after_takeover,
    extend_keeps_the_claim_past_its_first_lease,
    expired_record_still_present_is_claimable,
    release_lets_a_retry_claim_at_once,
    permanent_failure_is_remembered,
);
