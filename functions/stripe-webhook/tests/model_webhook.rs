//! Model of one Stripe event (issue 17): concurrent deliveries of it and Stripe's retries of
//! every answer that is not a `200`, each claiming `stripe-event#<id>`, applying the effects
//! (the order change, and the confirmation email queued once under `email-queued#<job id>`),
//! then completing or releasing, against stores that fail, lose the answers of writes that
//! succeeded, and handlers that crash (their lease then passes).
//!
//! As in `handler.rs` and `effects::queue_once`: a failed effect releases the event claim and
//! answers `500`; a failed enqueue releases the email claim; an email claim that cannot be
//! completed after the enqueue is left to its lease; a failed completion releases the event
//! claim. Stripe's retries come after its backoff (minutes), so after any live lease.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use shared::testing::model::{Model, Property, check};

/// What the handler relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Assumptions {
    /// Effects are idempotent on their own keys (the order change is a compare-and-set).
    idempotent_effects: bool,
    /// The email worker sends a job id once (its `email#<job id>` record).
    worker_dedups_job_ids: bool,
}

const AS_BUILT: Assumptions = Assumptions {
    idempotent_effects: true,
    worker_dedups_job_ids: true,
};

/// What the world may do.
#[derive(Debug, Clone, PartialEq, Eq)]
struct World {
    /// Deliveries of the event arriving at once.
    concurrent: u8,
    /// Store calls failing.
    store_failures: u8,
    /// Store writes applied whose answer is lost.
    lost_writes: u8,
    /// SQS sends stored whose answer is lost.
    lost_enqueues: u8,
    /// Handlers crashing between two steps.
    crashes: u8,
}

impl World {
    fn stormy() -> Self {
        Self {
            concurrent: 2,
            store_failures: 1,
            lost_writes: 1,
            lost_enqueues: 1,
            crashes: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Claim {
    Absent,
    Held { owner: u8, live: bool },
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Phase {
    Claim,
    Order,
    EmailClaim,
    Enqueue,
    EmailComplete,
    Complete,
    /// Answered `200`.
    Acknowledged,
    /// Answered `409`/`500`, or crashed: Stripe retries.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct State {
    deliveries: Vec<Phase>,
    /// Stripe retries not yet delivered.
    retries: u8,
    event: Claim,
    email: Claim,
    /// Times the order changed.
    order_changes: u8,
    /// Copies of the email job in the queue.
    queued: u8,
    store_failures: u8,
    lost_writes: u8,
    lost_enqueues: u8,
    crashes: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Fault {
    None,
    StoreFails,
    AnswerLost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Action {
    Step {
        delivery: u8,
        fault: Fault,
    },
    Crash {
        delivery: u8,
    },
    /// Stripe delivers a retry (after its backoff: no live lease left).
    Retry,
    /// The lease of a crashed or answered holder passes.
    EventLeaseExpires,
    EmailLeaseExpires,
}

#[derive(Debug, Clone)]
struct WebhookModel {
    assumptions: Assumptions,
    world: World,
}

fn holder_alive(s: &State, owner: u8) -> bool {
    !matches!(
        s.deliveries[usize::from(owner)],
        Phase::Acknowledged | Phase::Failed
    )
}

fn claimable(claim: Claim) -> bool {
    matches!(claim, Claim::Absent | Claim::Held { live: false, .. })
}

/// Releases `claim` if `owner` holds it (the owner-conditioned delete).
fn release(claim: &mut Claim, owner: u8) {
    if matches!(*claim, Claim::Held { owner: o, .. } if o == owner) {
        *claim = Claim::Absent;
    }
}

impl WebhookModel {
    fn customer_emails(&self, s: &State) -> u8 {
        if self.assumptions.worker_dedups_job_ids {
            s.queued.min(1)
        } else {
            s.queued
        }
    }

    fn quiescent(&self, s: &State) -> bool {
        let mut actions = Vec::new();
        self.actions(s, &mut actions);
        actions.is_empty()
    }

    /// A failed delivery: the event claim is released (when ours) and Stripe will retry.
    fn fail(s: &mut State, d: u8) -> Phase {
        release(&mut s.event, d);
        s.retries += 1;
        Phase::Failed
    }

    fn step(&self, s: &mut State, d: u8, fault: Fault) -> Phase {
        match fault {
            Fault::StoreFails => s.store_failures -= 1,
            Fault::AnswerLost if s.deliveries[usize::from(d)] == Phase::Enqueue => {
                s.lost_enqueues -= 1;
            }
            Fault::AnswerLost => s.lost_writes -= 1,
            Fault::None => {}
        }
        match s.deliveries[usize::from(d)] {
            Phase::Claim => match (fault, s.event) {
                (Fault::StoreFails, _) => Self::fail(s, d),
                (_, Claim::Completed) => Phase::Acknowledged,
                (_, claim) if !claimable(claim) => {
                    s.retries += 1;
                    Phase::Failed
                }
                (Fault::AnswerLost, _) => {
                    s.event = Claim::Held {
                        owner: d,
                        live: true,
                    };
                    s.retries += 1;
                    Phase::Failed
                }
                (Fault::None, _) => {
                    s.event = Claim::Held {
                        owner: d,
                        live: true,
                    };
                    Phase::Order
                }
            },
            Phase::Order => {
                if fault == Fault::StoreFails {
                    return Self::fail(s, d);
                }
                if !self.assumptions.idempotent_effects || s.order_changes == 0 {
                    s.order_changes += 1;
                }
                Phase::EmailClaim
            }
            Phase::EmailClaim => match (fault, s.email) {
                (Fault::StoreFails, _) => Self::fail(s, d),
                (_, Claim::Completed) => Phase::Complete,
                (_, claim) if !claimable(claim) => Self::fail(s, d),
                (fault, _) => {
                    s.email = Claim::Held {
                        owner: d,
                        live: true,
                    };
                    if fault == Fault::AnswerLost {
                        // The claim error fails the effect; the email claim waits for its lease.
                        Self::fail(s, d)
                    } else {
                        Phase::Enqueue
                    }
                }
            },
            Phase::Enqueue => {
                if fault != Fault::StoreFails {
                    s.queued += 1;
                }
                if fault == Fault::None {
                    Phase::EmailComplete
                } else {
                    release(&mut s.email, d);
                    Self::fail(s, d)
                }
            }
            Phase::EmailComplete => {
                if fault != Fault::StoreFails
                    && matches!(s.email, Claim::Held { owner, .. } if owner == d)
                {
                    s.email = Claim::Completed;
                }
                if fault == Fault::None {
                    Phase::Complete
                } else {
                    // Left to its lease; the event claim is released.
                    Self::fail(s, d)
                }
            }
            Phase::Complete => {
                if fault != Fault::StoreFails
                    && matches!(s.event, Claim::Held { owner, .. } if owner == d)
                {
                    s.event = Claim::Completed;
                }
                if fault == Fault::None {
                    Phase::Acknowledged
                } else {
                    Self::fail(s, d)
                }
            }
            Phase::Acknowledged | Phase::Failed => unreachable!("finished"),
        }
    }
}

impl Model for WebhookModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![State {
            deliveries: vec![Phase::Claim; usize::from(self.world.concurrent)],
            retries: 0,
            event: Claim::Absent,
            email: Claim::Absent,
            order_changes: 0,
            queued: 0,
            store_failures: self.world.store_failures,
            lost_writes: self.world.lost_writes,
            lost_enqueues: self.world.lost_enqueues,
            crashes: self.world.crashes,
        }]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        for (i, phase) in s.deliveries.iter().enumerate() {
            let delivery = u8::try_from(i).unwrap();
            if matches!(phase, Phase::Acknowledged | Phase::Failed) {
                continue;
            }
            actions.push(Action::Step {
                delivery,
                fault: Fault::None,
            });
            let writes = matches!(
                phase,
                Phase::Claim | Phase::EmailClaim | Phase::EmailComplete | Phase::Complete
            );
            if s.store_failures > 0 && *phase != Phase::Enqueue {
                actions.push(Action::Step {
                    delivery,
                    fault: Fault::StoreFails,
                });
            }
            let lost_left = if *phase == Phase::Enqueue {
                s.lost_enqueues
            } else if writes {
                s.lost_writes
            } else {
                0
            };
            if lost_left > 0 {
                actions.push(Action::Step {
                    delivery,
                    fault: Fault::AnswerLost,
                });
            }
            if s.crashes > 0 && *phase != Phase::Claim {
                actions.push(Action::Crash { delivery });
            }
        }
        // Stripe's backoff (minutes) outlasts every lease.
        let live = |c: Claim| matches!(c, Claim::Held { live: true, .. });
        if s.retries > 0 && !live(s.event) && !live(s.email) {
            actions.push(Action::Retry);
        }
        if let Claim::Held { owner, live: true } = s.event
            && !holder_alive(s, owner)
        {
            actions.push(Action::EventLeaseExpires);
        }
        if let Claim::Held { owner, live: true } = s.email
            && !holder_alive(s, owner)
        {
            actions.push(Action::EmailLeaseExpires);
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut s = last.clone();
        match action {
            Action::Step { delivery, fault } => {
                let next = self.step(&mut s, delivery, fault);
                s.deliveries[usize::from(delivery)] = next;
            }
            Action::Crash { delivery } => {
                s.crashes -= 1;
                s.retries += 1;
                s.deliveries[usize::from(delivery)] = Phase::Failed;
            }
            Action::Retry => {
                s.retries -= 1;
                s.deliveries.push(Phase::Claim);
            }
            Action::EventLeaseExpires => {
                if let Claim::Held { owner, .. } = s.event {
                    s.event = Claim::Held { owner, live: false };
                }
            }
            Action::EmailLeaseExpires => {
                if let Claim::Held { owner, .. } = s.email {
                    s.email = Claim::Held { owner, live: false };
                }
            }
        }
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always(ORDER_ONCE, |_, s: &State| s.order_changes <= 1),
            Property::always(EMAIL_ONCE, |m: &Self, s: &State| m.customer_emails(s) <= 1),
            Property::always(
                "event processed: order changed, email queued, claim completed",
                |m: &Self, s: &State| {
                    !m.quiescent(s)
                        || (s.event == Claim::Completed && s.order_changes >= 1 && s.queued >= 1)
                },
            ),
        ]
    }
}

const ORDER_ONCE: &str = "order changed at most once";
const EMAIL_ONCE: &str = "customer emailed at most once";

#[test]
fn webhook_holds_under_concurrent_deliveries_and_faults() {
    let outcome = check(
        "webhook",
        WebhookModel {
            assumptions: AS_BUILT,
            world: World::stormy(),
        },
        None,
    );
    outcome.assert_holds();
    assert!(outcome.explored.unique > 1_000);
}

/// Why every effect must be idempotent: a completion that fails after the effects releases
/// the claim, and Stripe's retry applies them again.
#[test]
fn non_idempotent_effects_are_applied_twice() {
    let model = WebhookModel {
        assumptions: Assumptions {
            idempotent_effects: false,
            ..AS_BUILT
        },
        world: World::stormy(),
    };
    let outcome = check("webhook/non-idempotent", model, Some(ORDER_ONCE));
    println!("{}", outcome.counterexample(ORDER_ONCE));
}

/// Why the email worker's job-id dedup is part of the webhook's guarantee: an enqueue whose
/// answer is lost is retried by Stripe and queued again.
#[test]
fn without_the_workers_dedup_a_lost_enqueue_answer_emails_twice() {
    let model = WebhookModel {
        assumptions: Assumptions {
            worker_dedups_job_ids: false,
            ..AS_BUILT
        },
        world: World::stormy(),
    };
    let outcome = check("webhook/no-worker-dedup", model, Some(EMAIL_ONCE));
    println!("{}", outcome.counterexample(EMAIL_ONCE));
}

#[test]
#[ignore = "deep bound: make model-deep"]
fn webhook_holds_at_the_deep_bound() {
    let world = World {
        concurrent: 3,
        store_failures: 2,
        lost_writes: 2,
        crashes: 2,
        ..World::stormy()
    };
    check(
        "webhook/deep",
        WebhookModel {
            assumptions: AS_BUILT,
            world,
        },
        None,
    )
    .assert_holds();
}
