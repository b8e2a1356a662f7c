//! A small circuit breaker: after repeated failures, stop calling a dependency for a while.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::SharedClock;
use crate::deadline::to_delta;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: DateTime<Utc> },
    HalfOpen,
}

/// Closed → open after `threshold` consecutive failures; open for `cool_down`; then one
/// probe call is let through (half-open): success closes, failure re-opens.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cool_down: Duration,
    clock: SharedClock,
    state: Mutex<State>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cool_down: Duration, clock: SharedClock) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_down,
            clock,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call may be attempted now. In half-open state only one probe is allowed.
    pub fn allow(&self) -> bool {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if self.clock.now() >= until => {
                *state = State::HalfOpen;
                true
            }
            State::Open { .. } | State::HalfOpen => false,
        }
    }

    /// Records a successful call.
    pub fn record_success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    /// Records a failed call.
    pub fn record_failure(&self) {
        let mut state = self.lock();
        let failures = match *state {
            State::Closed { failures } => failures + 1,
            State::HalfOpen | State::Open { .. } => self.threshold,
        };
        *state = if failures >= self.threshold {
            State::Open {
                until: self.clock.now() + to_delta(self.cool_down),
            }
        } else {
            State::Closed { failures }
        };
    }

    /// Whether the breaker is currently refusing calls.
    pub fn is_open(&self) -> bool {
        matches!(*self.lock(), State::Open { until } if self.clock.now() < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn opens_after_threshold_and_probes_after_cool_down() {
        let clock = ManualClock::at("2026-01-01T00:00:00Z");
        let b = CircuitBreaker::new(3, Duration::from_secs(30), clock.shared());
        for _ in 0..2 {
            assert!(b.allow());
            b.record_failure();
        }
        assert!(!b.is_open());
        b.record_failure();
        assert!(b.is_open());
        assert!(!b.allow());
        clock.advance(Duration::from_secs(30));
        assert!(b.allow(), "one probe after cool down");
        assert!(!b.allow(), "only one probe at a time");
        b.record_failure();
        assert!(!b.allow(), "failed probe re-opens");
        clock.advance(Duration::from_secs(31));
        assert!(b.allow());
        b.record_success();
        assert!(b.allow() && b.allow(), "closed again");
    }

    #[test]
    fn success_resets_the_count() {
        let clock = ManualClock::at("2026-01-01T00:00:00Z");
        let b = CircuitBreaker::new(2, Duration::from_secs(5), clock.shared());
        b.record_failure();
        b.record_success();
        b.record_failure();
        assert!(!b.is_open());
    }
}
