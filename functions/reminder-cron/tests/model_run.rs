//! Model of one reminder's life (issue 17): 2-3 reminder runs (concurrent invocations and the
//! next scheduled one) racing over its claim, the email worker draining the queue, and a world
//! that crashes Lambdas between any two steps, loses answers of writes that succeeded, pauses
//! DynamoDB, fails sends, cancels the appointment and lets the worker fall behind.
//!
//! Time is real milliseconds, read from the constants the code uses (`Budget`s, the deadline
//! margin, the lease cap, `record()`'s rounds and backoff, the Lambda timeout in
//! `template.yaml`). Each call takes either no time or its whole budget; runs step in time
//! order (a discrete-event schedule), so leases, deadlines and the outage are compared exactly.
//!
//! Two protocols: [`OLD`] is `run.rs` as it was when issue 14 was filed; [`FIXED`] is issue
//! 14's list plus the worker taking the reminder claim. Each test states the world it runs in.
//!
//! Simplifications: the worker's handling of one queued copy is one step (its own protocol is
//! `functions/email-retry/tests/model_worker.rs`, which also proves its job-id dedup); the
//! outage starts at the time of some step; an effect happens when its step starts and the
//! run's next step waits for the call's answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reminder_cron::due::DueRules;
use reminder_cron::tuning;
use shared::retry::Backoff;
use shared::testing::model::{Model, Property, check};
use shared::testing::template::Template;
use shared::timeout::Budget;

type Ms = u32;

/// `record()` of the protocol as filed (issue 14): 3 rounds of 5 attempts, backoff 20-500 ms.
/// The fixed code has no such give-up (it retries until the deadline); kept to show the old
/// counterexamples.
const OLD_RECORD_ROUNDS: u32 = 3;
const OLD_RECORD_ATTEMPTS: u32 = 5;
const OLD_RECORD_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(20), Duration::from_millis(500));
/// The lease cap of the protocol as filed (the lease was the deadline, capped at 60 s).
const OLD_LEASE_CAP: Duration = Duration::from_secs(60);

fn ms(d: Duration) -> Ms {
    u32::try_from(d.as_millis()).unwrap()
}

/// The durations the code works with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Timing {
    /// One DynamoDB call (`Budget::DYNAMODB`).
    store_call: Ms,
    /// One SES send (`Budget::SES`).
    send: Ms,
    /// One SQS send (`Budget::SQS`): a lost answer costs this much.
    enqueue: Ms,
    /// Margin kept before the Lambda deadline.
    margin: Ms,
    /// Lease cap of a reminder claim in the old protocol.
    old_lease_cap: Ms,
    /// How far past the hard deadline the fixed protocol's lease can reach (it is extended by
    /// this much ahead of now until the deadline).
    lease_extension: Ms,
    /// What the fixed protocol needs before the margin to start a reminder.
    reminder_budget: Ms,
    /// The function's timeout (its hard deadline after the invocation starts).
    timeout: Ms,
    /// Longest time `record()` keeps retrying when every attempt fails fast: its rounds times
    /// the sum of its backoff ceilings.
    record_window: Ms,
    /// Time between scheduled runs.
    interval: Ms,
}

impl Timing {
    fn from_code() -> Self {
        let round: Ms = (0..OLD_RECORD_ATTEMPTS - 1)
            .map(|n| ms(OLD_RECORD_BACKOFF.ceiling(n)))
            .sum();
        Self {
            store_call: ms(Budget::DYNAMODB.limit),
            send: ms(Budget::SES.limit),
            enqueue: ms(Budget::SQS.limit),
            margin: ms(tuning::DEADLINE_MARGIN),
            old_lease_cap: ms(OLD_LEASE_CAP),
            lease_extension: ms(tuning::LEASE_EXTENSION),
            reminder_budget: ms(tuning::REMINDER_BUDGET),
            timeout: lambda_timeout("ReminderCronFunction"),
            record_window: OLD_RECORD_ROUNDS * round,
            interval: ms(DueRules::default().schedule_interval),
        }
    }

    /// What a reminder needs before the margin under the fixed protocol: claim, send, complete.
    fn reminder_needs(&self) -> Ms {
        self.reminder_budget
    }
}

/// A function's `Timeout` in `template.yaml`, in milliseconds.
fn lambda_timeout(function: &str) -> Ms {
    let template = Template::load().unwrap();
    let properties = template.properties(function).unwrap();
    let seconds: Ms = template
        .scalar(properties.get("Timeout").unwrap())
        .unwrap()
        .parse()
        .unwrap();
    seconds * 1000
}

/// The protocol under check; each switch is one change of issue 14 (or the model's addition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Protocol {
    /// Completion (and release) retried until the Lambda deadline; else `record()` gives up
    /// after its rounds.
    complete_until_deadline: bool,
    /// The lease ends a lease cap after the hard deadline; else it is the deadline, capped at
    /// the lease cap from the claim.
    lease_past_deadline: bool,
    /// A reminder starts only when claim + send + completion fit before the margin; else only
    /// the margin is checked.
    start_only_if_fits: bool,
    /// The worker drops a queued reminder once the appointment started (`not_after`) or was
    /// cancelled, recording it `EXPIRED`.
    worker_rechecks_appointment: bool,
    /// The worker sends a queued reminder only under the reminder claim: when the claim records
    /// the hand-over, or after taking the claim itself; a claim completed as sent drops it.
    worker_takes_reminder_claim: bool,
}

/// `run.rs` when issue 14 was filed.
const OLD: Protocol = Protocol {
    complete_until_deadline: false,
    lease_past_deadline: false,
    start_only_if_fits: false,
    worker_rechecks_appointment: false,
    worker_takes_reminder_claim: false,
};

/// Issue 14's list, plus the worker taking the reminder claim.
const FIXED: Protocol = Protocol {
    complete_until_deadline: true,
    lease_past_deadline: true,
    start_only_if_fits: true,
    worker_rechecks_appointment: true,
    worker_takes_reminder_claim: true,
};

/// What the world may do (the model's assumptions, each one explicit).
#[derive(Debug, Clone, PartialEq, Eq)]
struct World {
    /// Start times of the runs (same time = concurrent invocations).
    runs: Vec<Ms>,
    /// Length of one DynamoDB outage starting at any moment (0: none); every call in it fails.
    store_outage: Ms,
    /// SQS sends stored by SQS whose answer is lost (the call times out).
    lost_enqueues: u8,
    /// Claim writes applied whose answer is lost.
    lost_claims: u8,
    /// SES sends failing retryably.
    send_failures: u8,
    /// Lambda crashes between two steps.
    crashes: u8,
    /// Whether the appointment may be cancelled at any moment.
    cancellation: bool,
    /// Whether the worker may reach a queued reminder only after the appointment started (an
    /// SES pause, a DLQ redrive).
    late_worker: bool,
    /// The appointment's start (the 1 h reminder is due from the first run on).
    starts_at: Ms,
    /// Faults happen only before this time: the last run meets a healed world.
    faults_until: Ms,
    /// Any call may take its whole budget (else calls take no time).
    slow_calls: bool,
    /// A run may reach the reminder as late as its start check allows (other reminders ahead).
    late_starts: bool,
}

impl World {
    /// One run and the next scheduled one; no faults.
    fn calm(timing: &Timing) -> Self {
        Self {
            runs: vec![0, timing.interval],
            store_outage: 0,
            lost_enqueues: 0,
            lost_claims: 0,
            send_failures: 0,
            crashes: 0,
            cancellation: false,
            late_worker: false,
            starts_at: 3_600_000,
            faults_until: timing.interval,
            slow_calls: false,
            late_starts: false,
        }
    }

    /// Two concurrent runs, the next scheduled one, and every fault: the bound the fixed
    /// protocol is proven to.
    fn stormy(timing: &Timing) -> Self {
        Self {
            runs: vec![0, 0, timing.interval],
            store_outage: 2_000,
            lost_enqueues: 1,
            lost_claims: 1,
            send_failures: 1,
            crashes: 1,
            cancellation: true,
            late_worker: true,
            slow_calls: true,
            late_starts: true,
            ..Self::calm(timing)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Owner {
    Run(u8),
    Worker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Status {
    InProgress,
    /// Completed with `sent:<id>`.
    Sent,
    /// Completed with `queued:<id>`.
    Queued,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Claim {
    status: Status,
    owner: Owner,
    lease_until: Ms,
    acquired_at: Ms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Phase {
    /// Not invoked yet.
    Scheduled,
    /// Found the reminder due and may start it.
    Ready,
    Claimed,
    Sent,
    SendFailed,
    Queued,
    /// Releasing the claim after a failed enqueue.
    Releasing,
    Done,
    /// Crashed or killed at its hard deadline.
    Dead,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Run {
    phase: Phase,
    /// When its next step happens.
    at: Ms,
    /// Its hard deadline.
    hard: Ms,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct State {
    now: Ms,
    claim: Option<Claim>,
    /// Queued copies of the reminder job (one job id), by the time they become visible.
    queue: Vec<Ms>,
    /// The worker's email record for the job id says `SENT`.
    email_sent: bool,
    /// Reminders that reached the customer.
    delivered: u8,
    /// Sends whose outcome no one could know: a crash between a send and its record.
    unknowable: u8,
    /// Queued reminders delivered after the start or a cancellation.
    stale: u8,
    /// The worker recorded a queued reminder `EXPIRED` (metric).
    expired: bool,
    cancelled: bool,
    outage_from: Option<Ms>,
    runs: Vec<Run>,
    lost_enqueues: u8,
    lost_claims: u8,
    send_failures: u8,
    crashes: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Action {
    /// Run `run` finds the reminder due; `late`: it reaches it as late as its start check allows.
    Begin {
        run: u8,
        late: bool,
    },
    Claim {
        run: u8,
        slow: bool,
        lost: bool,
    },
    Send {
        run: u8,
        slow: bool,
        fails: bool,
    },
    Enqueue {
        run: u8,
        lost: bool,
    },
    /// A `record()` attempt at the completion (`sent:` or `queued:`).
    Complete {
        run: u8,
    },
    /// A `record()` attempt at releasing the claim.
    Release {
        run: u8,
    },
    Crash {
        run: u8,
    },
    OutageStarts,
    Cancel,
    /// The worker receives the earliest queued copy (`late`: after the appointment started).
    Deliver {
        late: bool,
    },
}

#[derive(Debug, Clone)]
struct ReminderModel {
    timing: Timing,
    protocol: Protocol,
    world: World,
}

/// What one `record()` attempt at `t` leads to.
enum Recorded {
    /// The store is up: the write happens now.
    Now,
    /// The store is down: the next attempt that can succeed is at this time.
    RetryAt(Ms),
    /// `record()` gives up at this time (the claim stays as it was).
    GaveUp(Ms),
    /// The Lambda is killed at its deadline while retrying.
    Killed,
}

impl ReminderModel {
    fn new(protocol: Protocol, world: World) -> Self {
        Self {
            timing: Timing::from_code(),
            protocol,
            world,
        }
    }

    fn outage(&self, s: &State) -> Option<(Ms, Ms)> {
        s.outage_from
            .map(|from| (from, from + self.world.store_outage))
    }

    fn store_down(&self, s: &State, t: Ms) -> bool {
        self.outage(s).is_some_and(|(from, to)| from <= t && t < to)
    }

    fn faults_allowed(&self, s: &State) -> bool {
        s.now < self.world.faults_until
    }

    /// The time of the next step of any live run.
    fn next_run_step(&self, s: &State) -> Ms {
        s.runs
            .iter()
            .filter(|r| !matches!(r.phase, Phase::Done | Phase::Dead))
            .map(|r| r.at)
            .min()
            .unwrap_or(Ms::MAX)
    }

    fn lease_until(&self, run: &Run, t: Ms) -> Ms {
        if self.protocol.lease_past_deadline {
            run.hard + self.timing.lease_extension
        } else {
            run.hard.min(t + self.timing.old_lease_cap)
        }
    }

    /// The latest time the protocol starts a reminder in a run with deadline `hard`.
    fn latest_start(&self, hard: Ms) -> Ms {
        let soft = hard - self.timing.margin;
        if self.protocol.start_only_if_fits {
            soft - self.timing.reminder_needs()
        } else {
            soft - 1
        }
    }

    /// A `record()` attempt at `t` by a run with deadline `hard`: writes are fast when the
    /// store is up and fail fast during the outage.
    fn record(&self, s: &State, t: Ms, hard: Ms) -> Recorded {
        let outcome = match self.outage(s).filter(|_| self.store_down(s, t)) {
            None => return Recorded::Now,
            Some((_, ends)) if self.protocol.complete_until_deadline => Recorded::RetryAt(ends),
            Some((_, ends)) if ends - t > self.timing.record_window => {
                Recorded::GaveUp(t + self.timing.record_window)
            }
            Some((_, ends)) => Recorded::RetryAt(ends),
        };
        match outcome {
            Recorded::RetryAt(w) | Recorded::GaveUp(w) if w > hard => Recorded::Killed,
            other => other,
        }
    }

    /// Applies `write` when a `record()` attempt of run `i` succeeds; else waits, gives up or dies.
    fn recorded(
        &self,
        s: &mut State,
        i: u8,
        phase: Phase,
        write: impl FnOnce(&mut Option<Claim>),
    ) -> (Phase, Ms) {
        let run = s.runs[usize::from(i)];
        match self.record(s, run.at, run.hard) {
            Recorded::Now => {
                write(&mut s.claim);
                (Phase::Done, run.at)
            }
            Recorded::RetryAt(w) => (phase, w),
            Recorded::GaveUp(w) => (Phase::Done, w),
            Recorded::Killed => (Phase::Dead, run.hard),
        }
    }

    fn run_actions(&self, s: &State, i: u8, actions: &mut Vec<Action>) {
        let run = s.runs[usize::from(i)];
        let faults = self.faults_allowed(s);
        let slows: &[bool] = if self.world.slow_calls {
            &[false, true]
        } else {
            &[false]
        };
        match run.phase {
            Phase::Scheduled => {
                actions.push(Action::Begin {
                    run: i,
                    late: false,
                });
                if self.world.late_starts && self.latest_start(run.hard) > run.at {
                    actions.push(Action::Begin { run: i, late: true });
                }
            }
            Phase::Ready => {
                for &slow in slows {
                    actions.push(Action::Claim {
                        run: i,
                        slow,
                        lost: false,
                    });
                }
                if faults && s.lost_claims > 0 {
                    actions.push(Action::Claim {
                        run: i,
                        slow: false,
                        lost: true,
                    });
                }
            }
            Phase::Claimed => {
                for &slow in slows {
                    actions.push(Action::Send {
                        run: i,
                        slow,
                        fails: false,
                    });
                }
                if faults && s.send_failures > 0 {
                    actions.push(Action::Send {
                        run: i,
                        slow: false,
                        fails: true,
                    });
                }
            }
            Phase::SendFailed => {
                actions.push(Action::Enqueue {
                    run: i,
                    lost: false,
                });
                if faults && s.lost_enqueues > 0 {
                    actions.push(Action::Enqueue { run: i, lost: true });
                }
            }
            Phase::Sent | Phase::Queued => actions.push(Action::Complete { run: i }),
            Phase::Releasing => actions.push(Action::Release { run: i }),
            Phase::Done | Phase::Dead => {}
        }
        if faults
            && s.crashes > 0
            && matches!(
                run.phase,
                Phase::Ready
                    | Phase::Claimed
                    | Phase::Sent
                    | Phase::SendFailed
                    | Phase::Queued
                    | Phase::Releasing
            )
        {
            actions.push(Action::Crash { run: i });
        }
    }

    /// When the worker would handle the earliest queued copy.
    fn delivery_time(&self, s: &State, late: bool) -> Option<Ms> {
        let visible = *s.queue.first()?;
        let t = s.now.max(visible);
        let t = if late { t.max(self.world.starts_at) } else { t };
        (t <= self.next_run_step(s)).then_some(t)
    }

    fn step_run(&self, s: &mut State, i: u8, action: Action) {
        let idx = usize::from(i);
        let run = s.runs[idx];
        let t = run.at;
        s.now = t;
        let (phase, at) = match action {
            Action::Begin { late, .. } => {
                if s.cancelled || t >= self.world.starts_at {
                    (Phase::Done, t)
                } else {
                    let start = if late { self.latest_start(run.hard) } else { t };
                    let fits = start <= self.latest_start(run.hard);
                    (if fits { Phase::Ready } else { Phase::Done }, start)
                }
            }
            Action::Claim { slow, lost, .. } => {
                let end = t + if slow { self.timing.store_call } else { 0 };
                let claimable = match s.claim {
                    None => true,
                    Some(c) => c.status == Status::InProgress && c.lease_until <= t,
                };
                if self.store_down(s, t) {
                    (Phase::Done, t)
                } else if !claimable {
                    (Phase::Done, end)
                } else {
                    s.claim = Some(Claim {
                        status: Status::InProgress,
                        owner: Owner::Run(i),
                        lease_until: self.lease_until(&run, t),
                        acquired_at: t,
                    });
                    if lost {
                        s.lost_claims -= 1;
                        (Phase::Done, end)
                    } else {
                        (Phase::Claimed, end)
                    }
                }
            }
            Action::Send { slow, fails, .. } => {
                let end = t + if slow { self.timing.send } else { 0 };
                if fails {
                    s.send_failures -= 1;
                    (Phase::SendFailed, end)
                } else {
                    s.delivered += 1;
                    (Phase::Sent, end)
                }
            }
            Action::Enqueue { lost, .. } => {
                s.queue.push(t);
                s.queue.sort_unstable();
                if lost {
                    // The call times out: hand_to_queue sees a failure and releases the claim.
                    s.lost_enqueues -= 1;
                    (Phase::Releasing, t + self.timing.enqueue)
                } else {
                    (Phase::Queued, t)
                }
            }
            Action::Release { .. } => self.recorded(s, i, Phase::Releasing, |claim| {
                if claim.is_some_and(|c| c.owner == Owner::Run(i) && c.status == Status::InProgress)
                {
                    *claim = None;
                }
            }),
            Action::Complete { .. } => {
                let result = if run.phase == Phase::Sent {
                    Status::Sent
                } else {
                    Status::Queued
                };
                self.recorded(s, i, run.phase, |claim| {
                    if let Some(c) = claim.as_mut()
                        && c.owner == Owner::Run(i)
                        && c.status == Status::InProgress
                    {
                        c.status = result;
                    }
                })
            }
            Action::Crash { .. } => {
                s.crashes -= 1;
                if run.phase == Phase::Sent {
                    s.unknowable += 1;
                }
                (Phase::Dead, t)
            }
            _ => unreachable!("not a run action"),
        };
        // Work past the hard deadline is cut there: its effect happened, its answer is lost.
        let (phase, at) = if at > run.hard {
            (Phase::Dead, run.hard)
        } else {
            (phase, at)
        };
        s.runs[idx].phase = phase;
        s.runs[idx].at = at;
    }

    fn deliver(&self, s: &mut State, t: Ms) {
        s.now = t;
        let too_late = s.cancelled || t >= self.world.starts_at;
        if self.protocol.worker_rechecks_appointment && too_late {
            s.expired = true;
            s.queue.remove(0);
            return;
        }
        if self.protocol.worker_takes_reminder_claim {
            match s.claim {
                Some(c) if c.status == Status::Sent => {
                    s.queue.remove(0);
                    return;
                }
                Some(c) if c.status == Status::InProgress && c.lease_until > t => {
                    // Comes back when the lease has passed.
                    s.queue[0] = c.lease_until;
                    s.queue.sort_unstable();
                    return;
                }
                Some(c) if c.status == Status::Queued => {}
                _ => {
                    s.claim = Some(Claim {
                        status: Status::Sent,
                        owner: Owner::Worker,
                        lease_until: t + self.timing.lease_extension,
                        acquired_at: t,
                    });
                }
            }
        }
        s.queue.remove(0);
        if !s.email_sent {
            s.email_sent = true;
            s.delivered += 1;
            if too_late {
                s.stale += 1;
            }
        }
    }

    fn quiescent(&self, s: &State) -> bool {
        let mut actions = Vec::new();
        self.actions(s, &mut actions);
        actions.is_empty()
    }
}

impl Model for ReminderModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        let runs = self
            .world
            .runs
            .iter()
            .map(|&start| Run {
                phase: Phase::Scheduled,
                at: start,
                hard: start + self.timing.timeout,
            })
            .collect();
        vec![State {
            now: 0,
            claim: None,
            queue: Vec::new(),
            email_sent: false,
            delivered: 0,
            unknowable: 0,
            stale: 0,
            expired: false,
            cancelled: false,
            outage_from: None,
            runs,
            lost_enqueues: self.world.lost_enqueues,
            lost_claims: self.world.lost_claims,
            send_failures: self.world.send_failures,
            crashes: self.world.crashes,
        }]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        let next = self.next_run_step(s);
        for (i, run) in s.runs.iter().enumerate() {
            if run.at == next && !matches!(run.phase, Phase::Done | Phase::Dead) {
                self.run_actions(s, u8::try_from(i).unwrap(), actions);
            }
        }
        if self.delivery_time(s, false).is_some() {
            actions.push(Action::Deliver { late: false });
        }
        if self.world.late_worker
            && s.queue
                .first()
                .is_some_and(|&v| v.max(s.now) < self.world.starts_at)
            && self.delivery_time(s, true).is_some()
        {
            actions.push(Action::Deliver { late: true });
        }
        if self.faults_allowed(s) && self.world.store_outage > 0 && s.outage_from.is_none() {
            actions.push(Action::OutageStarts);
        }
        if self.world.cancellation && !s.cancelled && s.now < self.world.starts_at {
            actions.push(Action::Cancel);
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut s = last.clone();
        match action {
            Action::Begin { run, .. }
            | Action::Claim { run, .. }
            | Action::Send { run, .. }
            | Action::Enqueue { run, .. }
            | Action::Complete { run }
            | Action::Release { run }
            | Action::Crash { run } => self.step_run(&mut s, run, action),
            Action::OutageStarts => s.outage_from = Some(s.now),
            Action::Cancel => s.cancelled = true,
            Action::Deliver { late } => {
                let t = self.delivery_time(&s, late)?;
                self.deliver(&mut s, t);
            }
        }
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("no reminder delivered twice", |_, s: &State| {
                s.delivered <= 1 + s.unknowable
            }),
            Property::always("no stale queued reminder", |_, s: &State| s.stale == 0),
            Property::always("every lease ends", |m: &Self, s: &State| {
                s.claim.is_none_or(|c| {
                    c.status != Status::InProgress
                        || c.lease_until
                            <= c.acquired_at
                                + m.timing.timeout
                                + m.timing.lease_extension.max(m.timing.old_lease_cap)
                })
            }),
            Property::always(
                "due reminder delivered or expired",
                |m: &Self, s: &State| {
                    !m.quiescent(s) || s.delivered >= 1 || s.expired || s.cancelled
                },
            ),
        ]
    }
}

fn explore(
    name: &str,
    protocol: Protocol,
    world: World,
) -> shared::testing::model::Outcome<ReminderModel> {
    check(name, ReminderModel::new(protocol, world), None)
}

fn first_counterexample(
    name: &str,
    protocol: Protocol,
    world: World,
    property: &'static str,
) -> (String, Vec<Action>) {
    let outcome = check(name, ReminderModel::new(protocol, world), Some(property));
    let trace = outcome.counterexample(property);
    println!("counterexample to \"{property}\":\n{trace}");
    (trace, outcome.counterexample_actions(property))
}

#[test]
fn timing_is_read_from_the_code() {
    let t = Timing::from_code();
    assert_eq!(
        (
            t.store_call,
            t.send,
            t.enqueue,
            t.margin,
            t.lease_extension,
            t.reminder_budget,
            t.timeout
        ),
        (1_500, 5_000, 2_000, 5_000, 16_500, 11_500, 120_000)
    );
    assert_eq!(t.record_window, 900, "3 rounds x (20 + 40 + 80 + 160) ms");
    assert_eq!(t.interval, 300_000);
}

/// Issue 14's 1,001 deliveries: the moto scenario's SQS budget (2 s) cut a `SendMessage` that
/// moto stored; `hand_to_queue` released the claim, the next round sent the reminder directly
/// and the queued copy reached the customer too.
#[test]
fn old_protocol_sends_twice_when_an_enqueue_answer_is_lost() {
    let timing = Timing::from_code();
    let world = World {
        lost_enqueues: 1,
        send_failures: 1,
        ..World::calm(&timing)
    };
    let (_, actions) = first_counterexample(
        "reminder/old/lost-enqueue",
        OLD,
        world,
        "no reminder delivered twice",
    );
    assert!(
        actions.contains(&Action::Enqueue { run: 0, lost: true })
            || actions.contains(&Action::Enqueue { run: 1, lost: true })
    );
    assert!(actions.contains(&Action::Deliver { late: false }));
}

/// Issue 14's first window: `record()` gives up after ~0.9 s of fast failures, the claim stays
/// `IN_PROGRESS` until its lease, and the next run sends again.
#[test]
fn old_protocol_sends_twice_when_completion_gives_up() {
    let timing = Timing::from_code();
    let world = World {
        store_outage: 2_000,
        ..World::calm(&timing)
    };
    let (_, actions) = first_counterexample(
        "reminder/old/outage",
        OLD,
        world,
        "no reminder delivered twice",
    );
    assert!(actions.contains(&Action::OutageStarts));
}

/// Issue 14's second window, with no fault at all: a reminder started just inside the margin
/// with a lease equal to the deadline is killed after its send and before its completion.
#[test]
fn old_protocol_sends_twice_when_a_reminder_starts_near_the_deadline() {
    let timing = Timing::from_code();
    let world = World {
        slow_calls: true,
        late_starts: true,
        ..World::calm(&timing)
    };
    let (_, actions) = first_counterexample(
        "reminder/old/deadline",
        OLD,
        world,
        "no reminder delivered twice",
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Begin { late: true, .. }))
    );
}

/// Issue 14's stale window: a queued reminder is delivered after a cancellation or the start.
#[test]
fn old_protocol_delivers_a_queued_reminder_after_cancellation() {
    let timing = Timing::from_code();
    let world = World {
        send_failures: 1,
        cancellation: true,
        ..World::calm(&timing)
    };
    first_counterexample("reminder/old/stale", OLD, world, "no stale queued reminder");
}

#[test]
fn fixed_protocol_holds_under_every_fault() {
    let timing = Timing::from_code();
    let outcome = explore("reminder/fixed/stormy", FIXED, World::stormy(&timing));
    outcome.assert_holds();
    assert!(outcome.explored.unique > 1_000);
}

/// Issue 14's list alone does not close the 1,001: the worker must not send a queued reminder
/// the run may still send directly.
#[test]
fn fixed_protocol_without_the_worker_taking_the_claim_still_duplicates() {
    let timing = Timing::from_code();
    let world = World {
        lost_enqueues: 1,
        send_failures: 1,
        ..World::calm(&timing)
    };
    let protocol = Protocol {
        worker_takes_reminder_claim: false,
        ..FIXED
    };
    first_counterexample(
        "reminder/fixed-without-worker-claim",
        protocol,
        world,
        "no reminder delivered twice",
    );
}

/// Assumption: a DynamoDB outage ends before the completion window (from the send to the hard
/// deadline) does. A longer one kills the run before it can record the send.
#[test]
fn fixed_protocol_breaks_when_an_outage_outlasts_the_completion_window() {
    let timing = Timing::from_code();
    let world = World {
        store_outage: timing.margin + timing.reminder_needs() + 1,
        slow_calls: true,
        late_starts: true,
        ..World::calm(&timing)
    };
    first_counterexample(
        "reminder/fixed/long-outage",
        FIXED,
        world,
        "no reminder delivered twice",
    );
}

/// Dropping "started only when claim + send + completion fit" brings the deadline kill back.
#[test]
fn fixed_protocol_needs_the_start_check() {
    let timing = Timing::from_code();
    let world = World {
        slow_calls: true,
        late_starts: true,
        ..World::calm(&timing)
    };
    let protocol = Protocol {
        start_only_if_fits: false,
        ..FIXED
    };
    first_counterexample(
        "reminder/fixed-without-start-check",
        protocol,
        world,
        "no reminder delivered twice",
    );
}

/// Dropping the worker's re-check brings stale reminders back.
#[test]
fn fixed_protocol_needs_the_worker_recheck() {
    let timing = Timing::from_code();
    let world = World {
        send_failures: 1,
        late_worker: true,
        ..World::calm(&timing)
    };
    let protocol = Protocol {
        worker_rechecks_appointment: false,
        ..FIXED
    };
    first_counterexample(
        "reminder/fixed-without-recheck",
        protocol,
        world,
        "no stale queued reminder",
    );
}

/// Deeper bound: three concurrent runs and the next scheduled one, every fault.
#[test]
#[ignore = "deep bound: make model-deep"]
fn fixed_protocol_holds_at_the_deep_bound() {
    let timing = Timing::from_code();
    let world = World {
        runs: vec![0, 0, 0, timing.interval],
        ..World::stormy(&timing)
    };
    explore("reminder/fixed/deep", FIXED, world).assert_holds();
}
