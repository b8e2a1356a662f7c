//! Model of the claim primitive (issue 17): workers claim, do the work once, then complete,
//! release (a failed attempt) or fail it for good, against a store whose writes may succeed
//! while their answer is lost, a clock that jumps to any lease or expiry, and crashes.
//!
//! The store decides with the real rule ([`blocks_claim`] on a real [`ClaimRecord`]) and the
//! owner condition of `complete` / `release` / `fail_permanently`; the workers react as the
//! callers do (a lost claim answer is retried under a new token; a refused completion is read
//! back and counts when the record says completed by us).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, TimeDelta, Utc};

use super::{ClaimKey, ClaimRecord, ClaimStatus, OwnerToken, blocks_claim};
use crate::testing::model::{Model, Property, check};

/// An owner token: (worker, attempt).
type Token = (u8, u8);

/// The world and the callers' assumptions, each one explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Assumptions {
    /// Workers (concurrent deliveries of the same piece of work).
    workers: u8,
    /// Attempts each worker makes (its redeliveries).
    attempts: u8,
    /// Lease length, in clock ticks.
    lease: u8,
    /// How long records are kept (`retain_for`), in ticks.
    retain: u8,
    /// Longest hold (work and finish writes), in ticks; the clock cannot pass a holder's claim
    /// plus this.
    longest_work: u8,
    /// Whether work may outlast its lease (the assumption "lease longer than the longest work"
    /// dropped).
    work_may_outlast_lease: bool,
    /// Deliveries stop before this tick (the assumption "records outlive redeliveries").
    deliveries_until: u8,
    /// Last tick of the clock.
    horizon: u8,
    /// Writes applied whose answer is lost.
    lost_answers: u8,
    /// Attempts whose work fails (no effect; the claim is released).
    work_failures: u8,
    /// Crashes of a holder.
    crashes: u8,
    /// Faults (lost answers, failed work, crashes) happen only before this tick.
    faults_until: u8,
    /// Whether complete / release / fail check the owner (dropped: anyone may finish a claim).
    owner_checked: bool,
}

impl Default for Assumptions {
    fn default() -> Self {
        Self {
            workers: 2,
            attempts: 3,
            lease: 2,
            retain: 8,
            longest_work: 1,
            work_may_outlast_lease: false,
            deliveries_until: 7,
            horizon: 9,
            lost_answers: 1,
            work_failures: 1,
            crashes: 1,
            faults_until: 4,
            owner_checked: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Finish {
    Complete,
    Release,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Worker {
    /// About to claim (attempt number).
    Idle(u8),
    /// Holds the claim; the work has not started.
    Holding(Token),
    /// Did the work at `since` (or failed it); finishes with `Finish`.
    Working(Token, u8, Finish),
    /// Writing the finish (again, after a lost answer).
    Finishing(Token, Finish),
    /// Finished, suppressed as a duplicate, out of attempts, or crashed.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Rec {
    status: ClaimStatus,
    owner: Token,
    lease_until: u8,
    expires_at: u8,
    claimed_at: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct State {
    now: u8,
    record: Option<Rec>,
    workers: Vec<Worker>,
    /// Times the work's effect was applied.
    effects: u8,
    /// Effects whose outcome no later attempt could know (the holder crashed after the work).
    unknowable: u8,
    /// Tokens that applied the effect.
    doers: Vec<Token>,
    lost_answers: u8,
    work_failures: u8,
    crashes: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Action {
    Claim {
        worker: u8,
        lost: bool,
    },
    Work {
        worker: u8,
        finish: Finish,
    },
    Done {
        worker: u8,
    },
    Write {
        worker: u8,
        lost: bool,
    },
    Crash {
        worker: u8,
    },
    /// The clock jumps forward to this tick.
    Tick(u8),
}

#[derive(Debug, Clone)]
struct ClaimModel {
    a: Assumptions,
}

fn instant(tick: u8) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(i64::from(tick))
}

/// The real claim condition, asked about the model's record.
fn blocks(record: &Rec, now: u8) -> bool {
    let real = ClaimRecord {
        key: ClaimKey::new("model", &["work"]),
        status: record.status,
        owner: OwnerToken::random(),
        lease_until: instant(record.lease_until),
        fingerprint: None,
        result: None,
        expires_at: instant(record.expires_at),
    };
    blocks_claim(&real, instant(now))
}

impl ClaimModel {
    fn owned_by(&self, record: &Rec, token: Token) -> bool {
        !self.a.owner_checked || (record.owner == token && record.status == ClaimStatus::InProgress)
    }

    /// How far the clock may jump: a live holder finishes (work and finish writes) within
    /// `longest_work` of its claim, unless that assumption is dropped.
    fn tick_limit(&self, s: &State) -> u8 {
        let holder = |token: Token| {
            s.workers.iter().any(|w| match *w {
                Worker::Holding(t) | Worker::Working(t, _, _) | Worker::Finishing(t, _) => {
                    t == token
                }
                _ => false,
            })
        };
        match s.record {
            Some(r)
                if !self.a.work_may_outlast_lease
                    && r.status == ClaimStatus::InProgress
                    && holder(r.owner) =>
            {
                self.a.horizon.min(r.claimed_at + self.a.longest_work)
            }
            _ => self.a.horizon,
        }
    }

    fn quiescent(&self, s: &State) -> bool {
        let mut actions = Vec::new();
        self.actions(s, &mut actions);
        actions.is_empty()
    }

    /// Applies a finish write for `token`; whether the condition let it through.
    fn write(&self, s: &mut State, token: Token, finish: Finish) -> bool {
        let Some(record) = s.record else {
            return false;
        };
        if !self.owned_by(&record, token) {
            return false;
        }
        let expires_at = s.now + self.a.retain;
        s.record = match finish {
            Finish::Complete => Some(Rec {
                status: ClaimStatus::Completed,
                expires_at,
                ..record
            }),
            Finish::Fail => Some(Rec {
                status: ClaimStatus::FailedPermanent,
                expires_at,
                ..record
            }),
            Finish::Release => None,
        };
        true
    }
}

impl Model for ClaimModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![State {
            now: 0,
            record: None,
            workers: vec![Worker::Idle(0); usize::from(self.a.workers)],
            effects: 0,
            unknowable: 0,
            doers: Vec::new(),
            lost_answers: self.a.lost_answers,
            work_failures: self.a.work_failures,
            crashes: self.a.crashes,
        }]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        for (i, w) in s.workers.iter().enumerate() {
            let worker = u8::try_from(i).unwrap();
            let faults = s.now < self.a.faults_until;
            let lost = [false, true]
                .into_iter()
                .filter(|&l| !l || (faults && s.lost_answers > 0));
            match *w {
                Worker::Idle(_) if s.now < self.a.deliveries_until => {
                    // A live lease makes the worker wait for the clock (or the holder).
                    let live_lease = s
                        .record
                        .is_some_and(|r| r.status == ClaimStatus::InProgress && blocks(&r, s.now));
                    if !live_lease {
                        actions.extend(lost.map(|lost| Action::Claim { worker, lost }));
                    }
                }
                Worker::Holding(_) => {
                    actions.push(Action::Work {
                        worker,
                        finish: Finish::Complete,
                    });
                    actions.push(Action::Work {
                        worker,
                        finish: Finish::Fail,
                    });
                    if faults && s.work_failures > 0 {
                        actions.push(Action::Work {
                            worker,
                            finish: Finish::Release,
                        });
                    }
                }
                Worker::Working(..) => actions.push(Action::Done { worker }),
                Worker::Finishing(..) => {
                    actions.extend(lost.map(|lost| Action::Write { worker, lost }));
                }
                _ => {}
            }
            if faults && s.crashes > 0 && matches!(w, Worker::Working(..) | Worker::Finishing(..)) {
                actions.push(Action::Crash { worker });
            }
        }
        let mut limit = self.tick_limit(s);
        if s.workers.iter().any(|w| *w != Worker::Done) {
            // Fairness: a pending delivery is tried before deliveries stop.
            limit = limit.min(self.a.deliveries_until.saturating_sub(1));
        }
        let mut targets: Vec<u8> = vec![s.now + 1];
        if let Some(r) = s.record {
            targets.extend([r.lease_until, r.expires_at]);
        }
        targets.sort_unstable();
        targets.dedup();
        for t in targets {
            if t > s.now && t <= limit {
                actions.push(Action::Tick(t));
            }
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut s = last.clone();
        match action {
            Action::Claim { worker, lost } => {
                let Worker::Idle(attempt) = s.workers[usize::from(worker)] else {
                    return None;
                };
                let next = match s.record {
                    Some(r) if blocks(&r, s.now) => Worker::Done,
                    _ => {
                        let token = (worker, attempt);
                        s.record = Some(Rec {
                            status: ClaimStatus::InProgress,
                            owner: token,
                            lease_until: s.now + self.a.lease,
                            expires_at: s.now + self.a.retain,
                            claimed_at: s.now,
                        });
                        if lost {
                            s.lost_answers -= 1;
                            retry(&self.a, attempt)
                        } else {
                            Worker::Holding(token)
                        }
                    }
                };
                s.workers[usize::from(worker)] = next;
            }
            Action::Work { worker, finish } => {
                let Worker::Holding(token) = s.workers[usize::from(worker)] else {
                    return None;
                };
                match finish {
                    Finish::Complete => {
                        s.effects += 1;
                        s.doers.push(token);
                    }
                    Finish::Release => s.work_failures -= 1,
                    Finish::Fail => {}
                }
                s.workers[usize::from(worker)] = Worker::Working(token, s.now, finish);
            }
            Action::Done { worker } => {
                let Worker::Working(token, _, finish) = s.workers[usize::from(worker)] else {
                    return None;
                };
                s.workers[usize::from(worker)] = Worker::Finishing(token, finish);
            }
            Action::Write { worker, lost } => {
                let Worker::Finishing(token, finish) = s.workers[usize::from(worker)] else {
                    return None;
                };
                let applied = self.write(&mut s, token, finish);
                let next = if lost && applied {
                    s.lost_answers -= 1;
                    Worker::Finishing(token, finish)
                } else if finish == Finish::Release {
                    retry(&self.a, token.1)
                } else {
                    Worker::Done
                };
                s.workers[usize::from(worker)] = next;
            }
            Action::Crash { worker } => {
                s.crashes -= 1;
                if matches!(
                    s.workers[usize::from(worker)],
                    Worker::Working(_, _, Finish::Complete)
                        | Worker::Finishing(_, Finish::Complete)
                ) {
                    s.unknowable += 1;
                }
                s.workers[usize::from(worker)] = Worker::Done;
            }
            Action::Tick(t) => s.now = t,
        }
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always(AT_MOST_ONCE, |_, s: &State| s.effects <= 1 + s.unknowable),
            Property::always(NAMES_THE_DOER, |_, s: &State| {
                s.record.is_none_or(|r| {
                    r.status != ClaimStatus::Completed || s.doers.contains(&r.owner)
                })
            }),
            Property::always("every lease ends", |m: &Self, s: &State| {
                s.record.is_none_or(|r| {
                    r.status != ClaimStatus::InProgress || r.lease_until <= r.claimed_at + m.a.lease
                })
            }),
            Property::always("work done or failed for good", |m: &Self, s: &State| {
                !m.quiescent(s)
                    || s.effects >= 1
                    || s.record
                        .is_some_and(|r| r.status == ClaimStatus::FailedPermanent)
            }),
        ]
    }
}

const AT_MOST_ONCE: &str = "effect applied at most once";
const NAMES_THE_DOER: &str = "a completed claim names the attempt that did the work";

/// The next attempt after a failed one, or done when the attempts are spent.
fn retry(a: &Assumptions, attempt: u8) -> Worker {
    if attempt + 1 < a.attempts {
        Worker::Idle(attempt + 1)
    } else {
        Worker::Done
    }
}

#[test]
fn claims_hold_under_lost_answers_jumps_and_crashes() {
    let outcome = check(
        "claims",
        ClaimModel {
            a: Assumptions::default(),
        },
        None,
    );
    outcome.assert_holds();
    assert!(outcome.explored.unique > 1_000);
}

#[test]
fn work_outlasting_its_lease_is_done_twice() {
    let a = Assumptions {
        work_may_outlast_lease: true,
        ..Assumptions::default()
    };
    let outcome = check(
        "claims/work-outlasts-lease",
        ClaimModel { a },
        Some(AT_MOST_ONCE),
    );
    println!("{}", outcome.counterexample(AT_MOST_ONCE));
}

#[test]
fn finishing_without_the_owner_check_lets_a_stale_holder_free_a_live_claim() {
    let a = Assumptions {
        owner_checked: false,
        ..Assumptions::default()
    };
    let outcome = check(
        "claims/no-owner-check",
        ClaimModel { a },
        Some(NAMES_THE_DOER),
    );
    println!("{}", outcome.counterexample(NAMES_THE_DOER));
}

#[test]
fn redeliveries_after_the_record_expired_redo_the_work() {
    let a = Assumptions {
        deliveries_until: 12,
        horizon: 13,
        ..Assumptions::default()
    };
    let outcome = check(
        "claims/redelivered-after-expiry",
        ClaimModel { a },
        Some(AT_MOST_ONCE),
    );
    println!("{}", outcome.counterexample(AT_MOST_ONCE));
}

#[test]
#[ignore = "deep bound: make model-deep"]
fn claims_hold_at_the_deep_bound() {
    let a = Assumptions {
        workers: 3,
        lost_answers: 2,
        horizon: 11,
        deliveries_until: 9,
        retain: 10,
        ..Assumptions::default()
    };
    check("claims/deep", ClaimModel { a }, None).assert_holds();
}
