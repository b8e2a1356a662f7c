//! Model of one email job in the worker (issue 17): SQS copies of the message (at-least-once:
//! one or two), each received, begun (the `email#<job id>` lease), sent, and recorded `SENT`,
//! with visibility timeouts, redelivery after a crash, the receive limit that moves a message
//! to the DLQ, the retry budget, ambiguous sends, failing DynamoDB calls and deadline
//! hand-backs.
//!
//! The budget comes from the code ([`RETRY_BUDGET`], [`SPARE_RECEIVES`], [`RECORD_SENT_ATTEMPTS`]) and the
//! queue's receive limit from `template.yaml`. Time is abstract: a lease passes only when its
//! holder is gone (the lease ends at the holder's deadline), and a message held past a lease
//! (refused for it, or back after a crash or a failed give-up) is received again only once
//! that lease is over.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use email_retry::tuning::{RECORD_SENT_ATTEMPTS, RETRY_BUDGET, SPARE_RECEIVES};

/// The budget of the worker as filed (issue 14): 3 receives, and `maxReceiveCount` 3.
const OLD_RETRY_BUDGET: u8 = 3;
use shared::testing::model::{Model, Property, check};
use shared::testing::template::Template;

/// The worker's rules under check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Protocol {
    /// Attempts (receives) before a failing job is given up.
    budget: u8,
    /// Receives before SQS moves the message to the DLQ (`maxReceiveCount`).
    max_receives: u8,
    /// Writing `SENT` is retried until the deadline (else: [`RECORD_SENT_ATTEMPTS`] attempts).
    record_sent_until_deadline: bool,
    /// A DynamoDB failure at or past the budget tries to give up (alert + `FAILED_PERMANENT`)
    /// instead of handing the message back for free.
    infra_failures_spend_budget: bool,
}

/// The email queue's `maxReceiveCount` in `template.yaml`.
fn template_receive_limit() -> u8 {
    let template = Template::load().unwrap();
    let properties = template.properties("EmailQueue").unwrap();
    let limit = properties
        .get("RedrivePolicy")
        .and_then(|p| p.get("maxReceiveCount"))
        .unwrap();
    template.scalar(limit).unwrap().parse().unwrap()
}

/// `worker.rs` when issue 14 was filed: the receive limit is the budget itself.
fn old() -> Protocol {
    Protocol {
        budget: OLD_RETRY_BUDGET,
        max_receives: OLD_RETRY_BUDGET,
        record_sent_until_deadline: false,
        infra_failures_spend_budget: false,
    }
}

/// Issue 14's worker changes: infrastructure failures spend the budget, with spare receives
/// past it for the give-up write, and `SENT` retried until the deadline.
fn fixed() -> Protocol {
    let budget = u8::try_from(RETRY_BUDGET).unwrap();
    let max_receives = budget + u8::try_from(SPARE_RECEIVES).unwrap();
    assert_eq!(
        max_receives,
        template_receive_limit(),
        "template.yaml maxReceiveCount"
    );
    Protocol {
        budget,
        max_receives,
        record_sent_until_deadline: true,
        infra_failures_spend_budget: true,
    }
}

/// What the world may do.
#[derive(Debug, Clone, PartialEq, Eq)]
struct World {
    /// Copies of the message in the queue (2: a duplicate delivery).
    copies: u8,
    /// Whether the job is critical (alert on permanent failure; ambiguous sends retried).
    critical: bool,
    /// DynamoDB calls that fail.
    store_failures: u8,
    /// Whether DynamoDB may stay down past a holder's deadline (the assumption of the fixed
    /// protocol dropped): writing `SENT` then fails.
    long_outage: bool,
    /// Retryable SES failures.
    retryable: u8,
    /// SES sends timing out after SES may have accepted them.
    ambiguous: u8,
    /// SES rejections.
    permanent: u8,
    /// Lambda crashes while holding a message.
    crashes: u8,
    /// Records handed back unstarted at the deadline margin.
    hand_backs: u8,
}

impl World {
    fn calm() -> Self {
        Self {
            copies: 1,
            critical: true,
            store_failures: 0,
            long_outage: false,
            retryable: 0,
            ambiguous: 0,
            permanent: 0,
            crashes: 0,
            hand_backs: 0,
        }
    }

    /// The bound the fixed protocol is proven to: a duplicate copy and every fault but crashes
    /// (see `crashing`).
    fn stormy(critical: bool) -> Self {
        Self {
            copies: 2,
            critical,
            store_failures: 2,
            retryable: 2,
            ambiguous: 1,
            permanent: 1,
            ..Self::calm()
        }
    }

    /// One copy, every fault and a crash: with the DynamoDB failures, three infrastructure
    /// faults, one more than the spare receives, so at most two fall past the budget.
    fn crashing(critical: bool) -> Self {
        Self {
            copies: 1,
            crashes: 1,
            ..Self::stormy(critical)
        }
    }
}

/// An invocation's hold on a copy: (copy, receive number).
type Token = (u8, u8);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Phase {
    Begin,
    Send,
    RecordSent,
    /// Alert (critical) and `FAILED_PERMANENT`; `leased`: under our send lease.
    GiveUp {
        leased: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Message {
    Visible(u8),
    Processing(u8, Phase),
    /// Hidden until the send lease is over: refused for another holder's lease (visibility set
    /// past it), or back after a crash or a failed give-up (the visibility timeout, 6x the
    /// function timeout, outlasts any lease).
    Deferred(u8),
    Deleted,
    DeadLettered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Record {
    Absent,
    Pending,
    Sending { owner: Token, live: bool },
    Sent,
    Ambiguous,
    FailedPermanent,
}

impl Record {
    fn is_final(self) -> bool {
        matches!(self, Self::Sent | Self::Ambiguous | Self::FailedPermanent)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct State {
    messages: Vec<Message>,
    record: Record,
    /// Copies of the email SES accepted (or may have: ambiguous sends count).
    sent: u8,
    ambiguous_sends: u8,
    /// Crashes between SES accepting and `SENT` being written.
    unknowable: u8,
    alerted: bool,
    store_failures: u8,
    retryable: u8,
    ambiguous: u8,
    permanent: u8,
    crashes: u8,
    hand_backs: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SendOutcome {
    Accepted,
    Retryable,
    Ambiguous,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Action {
    Receive {
        copy: u8,
    },
    HandBack {
        copy: u8,
    },
    Begin {
        copy: u8,
        store_fails: bool,
    },
    Send {
        copy: u8,
        outcome: SendOutcome,
    },
    RecordSent {
        copy: u8,
        store_fails: bool,
    },
    GiveUp {
        copy: u8,
        store_fails: bool,
    },
    Crash {
        copy: u8,
    },
    /// The send lease of a holder that is gone passes.
    LeaseExpires,
}

#[derive(Debug, Clone)]
struct WorkerModel {
    protocol: Protocol,
    world: World,
}

impl WorkerModel {
    fn store_can_fail(&self, s: &State, calls: u8) -> bool {
        s.store_failures >= calls
    }

    fn holder_alive(s: &State, owner: Token) -> bool {
        matches!(s.messages[usize::from(owner.0)], Message::Processing(r, _) if r == owner.1)
    }

    fn set(s: &mut State, copy: u8, m: Message) {
        s.messages[usize::from(copy)] = m;
    }

    /// A retryable failure of the attempt at receive `r`: give up at the budget, else come back.
    fn retry_or_give_up(&self, s: &mut State, copy: u8, r: u8, leased: bool) {
        if r >= self.protocol.budget {
            Self::set(s, copy, Message::Processing(r, Phase::GiveUp { leased }));
        } else {
            if leased
                && let Record::Sending { owner, .. } = s.record
                && owner == (copy, r)
            {
                s.record = Record::Pending;
            }
            Self::set(s, copy, Message::Visible(r));
        }
    }

    fn infra_failure(&self, s: &mut State, copy: u8, r: u8) {
        if self.protocol.infra_failures_spend_budget && r >= self.protocol.budget {
            Self::set(
                s,
                copy,
                Message::Processing(r, Phase::GiveUp { leased: false }),
            );
        } else {
            Self::set(s, copy, Message::Visible(r));
        }
    }

    fn quiescent(&self, s: &State) -> bool {
        let mut actions = Vec::new();
        self.actions(s, &mut actions);
        actions.is_empty()
    }

    fn settled(&self, s: &State) -> bool {
        match s.record {
            Record::Sent | Record::Ambiguous => true,
            Record::FailedPermanent => s.alerted || !self.world.critical,
            _ => s.sent >= 1,
        }
    }
}

impl Model for WorkerModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![State {
            messages: vec![Message::Visible(0); usize::from(self.world.copies)],
            record: Record::Absent,
            sent: 0,
            ambiguous_sends: 0,
            unknowable: 0,
            alerted: false,
            store_failures: self.world.store_failures,
            retryable: self.world.retryable,
            ambiguous: self.world.ambiguous,
            permanent: self.world.permanent,
            crashes: self.world.crashes,
            hand_backs: self.world.hand_backs,
        }]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        let record_sent_fails = if self.protocol.record_sent_until_deadline {
            self.world.long_outage
        } else {
            self.store_can_fail(s, u8::try_from(RECORD_SENT_ATTEMPTS).unwrap())
        };
        for (i, m) in s.messages.iter().enumerate() {
            let copy = u8::try_from(i).unwrap();
            let store_fails = [false, true]
                .into_iter()
                .filter(|&f| !f || self.store_can_fail(s, 1));
            match *m {
                Message::Visible(_) => actions.push(Action::Receive { copy }),
                Message::Deferred(_) if !matches!(s.record, Record::Sending { live: true, .. }) => {
                    actions.push(Action::Receive { copy });
                }
                Message::Processing(_, Phase::Begin) => {
                    actions
                        .extend(store_fails.map(|store_fails| Action::Begin { copy, store_fails }));
                    if s.hand_backs > 0 {
                        actions.push(Action::HandBack { copy });
                    }
                }
                Message::Processing(_, Phase::Send) => {
                    actions.push(Action::Send {
                        copy,
                        outcome: SendOutcome::Accepted,
                    });
                    for (left, outcome) in [
                        (s.retryable, SendOutcome::Retryable),
                        (s.ambiguous, SendOutcome::Ambiguous),
                        (s.permanent, SendOutcome::Rejected),
                    ] {
                        if left > 0 {
                            actions.push(Action::Send { copy, outcome });
                        }
                    }
                }
                Message::Processing(_, Phase::RecordSent) => {
                    actions.push(Action::RecordSent {
                        copy,
                        store_fails: false,
                    });
                    if record_sent_fails {
                        actions.push(Action::RecordSent {
                            copy,
                            store_fails: true,
                        });
                    }
                }
                Message::Processing(_, Phase::GiveUp { .. }) => {
                    actions.extend(
                        store_fails.map(|store_fails| Action::GiveUp { copy, store_fails }),
                    );
                }
                Message::Deleted | Message::DeadLettered | Message::Deferred(_) => {}
            }
            if s.crashes > 0 && matches!(m, Message::Processing(..)) {
                actions.push(Action::Crash { copy });
            }
        }
        if let Record::Sending { owner, live: true } = s.record
            && !Self::holder_alive(s, owner)
        {
            actions.push(Action::LeaseExpires);
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut s = last.clone();
        let p = self.protocol;
        match action {
            Action::Receive { copy } => {
                let (Message::Visible(r) | Message::Deferred(r)) = s.messages[usize::from(copy)]
                else {
                    return None;
                };
                let next = if r >= p.max_receives {
                    Message::DeadLettered
                } else {
                    Message::Processing(r + 1, Phase::Begin)
                };
                Self::set(&mut s, copy, next);
            }
            Action::HandBack { copy } => {
                let Message::Processing(r, _) = s.messages[usize::from(copy)] else {
                    return None;
                };
                s.hand_backs -= 1;
                Self::set(&mut s, copy, Message::Visible(r));
            }
            Action::Begin { copy, store_fails } => {
                let Message::Processing(r, _) = s.messages[usize::from(copy)] else {
                    return None;
                };
                if store_fails {
                    s.store_failures -= 1;
                    self.infra_failure(&mut s, copy, r);
                } else {
                    match s.record {
                        rec if rec.is_final() => Self::set(&mut s, copy, Message::Deleted),
                        Record::Sending { live: true, .. } => {
                            Self::set(&mut s, copy, Message::Deferred(r));
                        }
                        _ => {
                            s.record = Record::Sending {
                                owner: (copy, r),
                                live: true,
                            };
                            Self::set(&mut s, copy, Message::Processing(r, Phase::Send));
                        }
                    }
                }
            }
            Action::Send { copy, outcome } => {
                let Message::Processing(r, _) = s.messages[usize::from(copy)] else {
                    return None;
                };
                match outcome {
                    SendOutcome::Accepted => {
                        s.sent += 1;
                        Self::set(&mut s, copy, Message::Processing(r, Phase::RecordSent));
                    }
                    SendOutcome::Retryable => {
                        s.retryable -= 1;
                        self.retry_or_give_up(&mut s, copy, r, true);
                    }
                    SendOutcome::Ambiguous => {
                        s.ambiguous -= 1;
                        s.sent += 1;
                        s.ambiguous_sends += 1;
                        if self.world.critical {
                            self.retry_or_give_up(&mut s, copy, r, true);
                        } else {
                            s.record = Record::Ambiguous;
                            Self::set(&mut s, copy, Message::Deleted);
                        }
                    }
                    SendOutcome::Rejected => {
                        s.permanent -= 1;
                        Self::set(
                            &mut s,
                            copy,
                            Message::Processing(r, Phase::GiveUp { leased: true }),
                        );
                    }
                }
            }
            Action::RecordSent { copy, store_fails } => {
                let Message::Processing(r, _) = s.messages[usize::from(copy)] else {
                    return None;
                };
                if store_fails {
                    if !p.record_sent_until_deadline {
                        s.store_failures -= u8::try_from(RECORD_SENT_ATTEMPTS).unwrap();
                    }
                } else if matches!(s.record, Record::Sending { owner, .. } if owner == (copy, r)) {
                    s.record = Record::Sent;
                }
                // The email went out: the message is deleted either way.
                Self::set(&mut s, copy, Message::Deleted);
            }
            Action::GiveUp { copy, store_fails } => {
                let Message::Processing(r, Phase::GiveUp { leased }) =
                    s.messages[usize::from(copy)]
                else {
                    return None;
                };
                if self.world.critical {
                    s.alerted = true;
                }
                if store_fails {
                    s.store_failures -= 1;
                    Self::set(&mut s, copy, Message::Deferred(r));
                } else {
                    let ours = match s.record {
                        Record::Sending { owner, live } => {
                            if leased {
                                owner == (copy, r)
                            } else {
                                !live
                            }
                        }
                        rec => !leased && !rec.is_final(),
                    };
                    let next = if ours {
                        s.record = Record::FailedPermanent;
                        Message::Deleted
                    } else if s.record.is_final() || leased {
                        Message::Deleted
                    } else {
                        // Someone else's send lease: come back after it.
                        Message::Deferred(r)
                    };
                    Self::set(&mut s, copy, next);
                }
            }
            Action::Crash { copy } => {
                let Message::Processing(r, phase) = s.messages[usize::from(copy)] else {
                    return None;
                };
                s.crashes -= 1;
                if phase == Phase::RecordSent {
                    s.unknowable += 1;
                }
                Self::set(&mut s, copy, Message::Deferred(r));
            }
            Action::LeaseExpires => {
                if let Record::Sending { owner, .. } = s.record {
                    s.record = Record::Sending { owner, live: false };
                }
            }
        }
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always(ONCE, |_, s: &State| {
                s.sent <= 1 + s.ambiguous_sends + s.unknowable
            }),
            Property::always(SETTLED, |m: &Self, s: &State| {
                !m.quiescent(s) || m.settled(s)
            }),
        ]
    }
}

const ONCE: &str = "no email sent twice";
/// Checked once nothing can happen any more: every copy deleted or dead-lettered.
const SETTLED: &str = "job sent, or FAILED_PERMANENT with an alert, before its last copy is gone";

fn counterexample(name: &str, protocol: Protocol, world: World, property: &'static str) {
    let outcome = check(name, WorkerModel { protocol, world }, Some(property));
    println!(
        "counterexample to \"{property}\":\n{}",
        outcome.counterexample(property)
    );
}

#[test]
fn parameters_are_read_from_the_code_and_template() {
    let p = old();
    assert_eq!((p.budget, p.max_receives), (3, 3));
    assert_eq!(RECORD_SENT_ATTEMPTS, 3);
}

/// Issue 14: a DynamoDB failure on `begin` at the last receive hands the message back for
/// free; SQS then moves it to the DLQ with no `FAILED_PERMANENT` record and no alert.
#[test]
fn old_worker_dead_letters_a_valid_job_silently() {
    let world = World {
        retryable: 2,
        store_failures: 1,
        ..World::calm()
    };
    counterexample("worker/old/silent-dlq", old(), world, SETTLED);
}

/// `SENT` could not be written in 3 fast attempts; a duplicate copy of the message begins
/// after the lease and sends again.
#[test]
fn old_worker_sends_twice_when_sent_is_not_recorded() {
    let world = World {
        copies: 2,
        store_failures: 3,
        ..World::calm()
    };
    counterexample("worker/old/sent-not-recorded", old(), world, ONCE);
}

#[test]
fn fixed_worker_holds_for_critical_jobs() {
    let outcome = check(
        "worker/fixed/critical",
        WorkerModel {
            protocol: fixed(),
            world: World::stormy(true),
        },
        None,
    );
    outcome.assert_holds();
    assert!(outcome.explored.unique > 1_000);
}

#[test]
fn fixed_worker_holds_through_a_crash() {
    for critical in [true, false] {
        check(
            "worker/fixed/crash",
            WorkerModel {
                protocol: fixed(),
                world: World::crashing(critical),
            },
            None,
        )
        .assert_holds();
    }
}

/// Found by the model: each refusal for another copy's live lease costs a receive. A duplicate
/// copy, a crash and DynamoDB failures past the budget spend every spare receive and the job
/// reaches the DLQ unrecorded: a budget counted in SQS receives needs more spare receives
/// than faults can eat, or the budget counted in the record's attempts instead.
#[test]
fn fixed_worker_with_a_duplicate_and_a_crash_can_run_out_of_receives() {
    let world = World {
        retryable: u8::try_from(RETRY_BUDGET).unwrap(),
        ambiguous: 2,
        crashes: 1,
        ..World::stormy(true)
    };
    counterexample("worker/fixed/duplicate-and-crash", fixed(), world, SETTLED);
}

#[test]
fn fixed_worker_holds_for_other_jobs() {
    check(
        "worker/fixed/non-critical",
        WorkerModel {
            protocol: fixed(),
            world: World::stormy(false),
        },
        None,
    )
    .assert_holds();
}

/// Assumption: DynamoDB failures past the budget are fewer than the spare receives.
#[test]
fn fixed_worker_needs_spare_receives_for_its_give_up() {
    // Every attempt of the budget but one fails retryably, then DynamoDB fails past the spares.
    let world = World {
        retryable: u8::try_from(RETRY_BUDGET - 1).unwrap(),
        store_failures: 6,
        ..World::calm()
    };
    counterexample("worker/fixed/outage-past-spares", fixed(), world, SETTLED);
}

/// Assumption: DynamoDB comes back before the holder's deadline.
#[test]
fn fixed_worker_sends_twice_when_an_outage_outlasts_the_deadline() {
    let world = World {
        copies: 2,
        long_outage: true,
        ..World::calm()
    };
    counterexample("worker/fixed/long-outage", fixed(), world, ONCE);
}

#[test]
#[ignore = "deep bound: make model-deep"]
fn fixed_worker_holds_at_the_deep_bound() {
    let world = World {
        retryable: 3,
        ambiguous: 2,
        ..World::stormy(true)
    };
    check(
        "worker/fixed/deep",
        WorkerModel {
            protocol: fixed(),
            world,
        },
        None,
    )
    .assert_holds();
}
