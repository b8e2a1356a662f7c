//! Property tests: partial-batch responses name exactly the records that must come back (and
//! never an empty id); backoff delays stay in their full-jitter bounds for a seeded rng.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use common::{Harness, failed_ids, order_job, settings};
use email_retry::worker::backoff_for;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Fresh,
    AlreadySent,
    Malformed,
    Throttled,
    Rejected,
    NoMessageId,
    EmptyMessageId,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Fresh),
        Just(Kind::AlreadySent),
        Just(Kind::Malformed),
        Just(Kind::Throttled),
        Just(Kind::Rejected),
        Just(Kind::NoMessageId),
        Just(Kind::EmptyMessageId),
    ]
}

fn record(id: Option<&str>, body: String, receive_count: u32) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = id.map(str::to_owned);
    m.receipt_handle = Some(format!("rh-{}", id.unwrap_or("none")));
    m.body = Some(body);
    m.attributes
        .insert("ApproximateReceiveCount".into(), receive_count.to_string());
    m
}

async fn check(kinds: Vec<Kind>, receive_count: u32) -> Result<(), TestCaseError> {
    let h = Harness::new();
    let mut expected = BTreeSet::new();
    let mut event = SqsEvent::default();
    for (i, kind) in kinds.iter().enumerate() {
        let id = format!("m-{i}");
        let job = |to: &str| order_job(&format!("o{i}"), to);
        let body = |to: &str| serde_json::to_string(&job(to)).unwrap();
        let rec = match kind {
            Kind::Fresh => record(Some(&id), body("a@example.com"), receive_count),
            Kind::AlreadySent => {
                let j = job("a@example.com");
                let m = h.deliver(std::slice::from_ref(&j)).await;
                h.handle(&m).await;
                record(Some(&id), body("a@example.com"), receive_count)
            }
            Kind::Malformed => {
                expected.insert(id.clone());
                record(Some(&id), format!("{{\"broken\": {i}"), receive_count)
            }
            Kind::Throttled => {
                if receive_count < 3 {
                    expected.insert(id.clone());
                }
                record(Some(&id), body("retry-a@example.com"), receive_count)
            }
            Kind::Rejected => record(Some(&id), body("perm-a@example.com"), receive_count),
            Kind::NoMessageId => record(None, "{not json".into(), receive_count),
            Kind::EmptyMessageId => record(Some(""), "{not json".into(), receive_count),
        };
        event.records.push(rec);
    }
    let response = h.worker.handle(event, &h.deadline()).await;
    let ids = failed_ids(&response);
    prop_assert!(ids.iter().all(|id| !id.is_empty()), "empty id in {ids:?}");
    let got: BTreeSet<_> = ids.iter().cloned().collect();
    prop_assert_eq!(got.len(), ids.len(), "an id reported twice");
    prop_assert_eq!(got, expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn partial_batch_responses_name_exactly_the_records_that_come_back(
        kinds in proptest::collection::vec(kind(), 0..10),
        receive_count in 1u32..=4,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(check(kinds, receive_count))?;
    }

    #[test]
    fn backoff_stays_within_the_upper_half_of_the_ceiling(seed in any::<u64>(), attempt in 1u32..40) {
        let s = settings();
        let mut rng = StdRng::seed_from_u64(seed);
        let wait = backoff_for(&s, attempt, &mut rng);
        let ceiling = s.backoff.base.saturating_mul(2u32.saturating_pow(attempt - 1)).min(s.backoff.cap);
        prop_assert!(wait <= ceiling, "{wait:?} > {ceiling:?}");
        prop_assert!(wait >= ceiling / 2, "{wait:?} < half of {ceiling:?}");
    }
}

#[test]
fn seeded_backoff_is_reproducible_and_spreads_over_the_bound() {
    let s = settings(); // base 10 s, cap 60 s
    let ceilings = [10, 20, 40, 60, 60];
    for (attempt, ceiling) in (1u32..).zip(ceilings) {
        let ceiling = Duration::from_secs(ceiling);
        let mut a = StdRng::seed_from_u64(99);
        let mut b = StdRng::seed_from_u64(99);
        let waits: Vec<_> = (0..1000)
            .map(|_| backoff_for(&s, attempt, &mut a))
            .collect();
        let again: Vec<_> = (0..1000)
            .map(|_| backoff_for(&s, attempt, &mut b))
            .collect();
        assert_eq!(waits, again);
        assert!(waits.iter().all(|w| *w <= ceiling && *w >= ceiling / 2));
        let low = waits.iter().filter(|w| **w < ceiling * 5 / 8).count();
        let high = waits.iter().filter(|w| **w > ceiling * 7 / 8).count();
        assert!(
            (150..=350).contains(&low),
            "attempt {attempt}: {low} in the lowest quarter of the range"
        );
        assert!(
            (150..=350).contains(&high),
            "attempt {attempt}: {high} in the highest quarter of the range"
        );
    }
}
