//! The Lambda deadline, minus a safety margin: work that cannot finish in time is handed back.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::SharedClock;

/// When this invocation must have answered, with a margin kept in reserve.
#[derive(Debug, Clone)]
pub struct Deadline {
    hard: DateTime<Utc>,
    margin: Duration,
    clock: SharedClock,
}

impl Deadline {
    /// A deadline at `hard`, keeping `margin` free before it.
    pub fn new(hard: DateTime<Utc>, margin: Duration, clock: SharedClock) -> Self {
        Self {
            hard,
            margin,
            clock,
        }
    }

    /// From the Lambda context's deadline (milliseconds since the epoch).
    ///
    /// Lambda always sends a wall-clock time. A value before 2001 cannot be one: `cargo lambda
    /// watch` (1.9) sends a fixed `600000`, meaning ten minutes, so such a value is read as a
    /// duration from now rather than as a deadline long past (which would hand every piece of
    /// work back unstarted).
    pub fn from_epoch_millis(millis: u64, margin: Duration, clock: SharedClock) -> Self {
        if millis < PLAUSIBLE_EPOCH_MILLIS {
            return Self::after(Duration::from_millis(millis), margin, clock);
        }
        let hard = i64::try_from(millis)
            .ok()
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .unwrap_or_else(|| clock.now());
        Self::new(hard, margin, clock)
    }

    /// A deadline `budget` from now (for the local stack and tests).
    pub fn after(budget: Duration, margin: Duration, clock: SharedClock) -> Self {
        let hard = clock.now() + to_delta(budget);
        Self::new(hard, margin, clock)
    }

    /// Time left before the margin starts; zero once inside it.
    pub fn remaining(&self) -> Duration {
        let soft = self.hard - to_delta(self.margin);
        (soft - self.clock.now()).to_std().unwrap_or(Duration::ZERO)
    }

    /// Whether the margin has been reached: start no new work.
    pub fn is_reached(&self) -> bool {
        self.remaining().is_zero()
    }

    /// Whether `work` still fits before the margin.
    pub fn has_time_for(&self, work: Duration) -> bool {
        self.remaining() >= work
    }

    /// The hard deadline (what a claim lease should not outlive by much).
    pub fn hard(&self) -> DateTime<Utc> {
        self.hard
    }

    /// A lease end: the hard deadline, but never more than `cap` from now.
    pub fn lease_until(&self, cap: Duration) -> DateTime<Utc> {
        self.hard.min(self.clock.now() + to_delta(cap))
    }

    /// The clock this deadline reads.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }
}

/// 2001-09-09 in milliseconds since the epoch: no Lambda deadline is earlier.
const PLAUSIBLE_EPOCH_MILLIS: u64 = 1_000_000_000_000;

/// Converts a std duration to a chrono delta, saturating.
pub fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn margin_is_kept_before_the_deadline() {
        let clock = ManualClock::at("2026-01-01T00:00:00Z");
        let hard = clock.shared().now() + TimeDelta::seconds(10);
        let d = Deadline::new(hard, Duration::from_secs(2), clock.shared());
        assert_eq!(d.remaining(), Duration::from_secs(8));
        assert!(d.has_time_for(Duration::from_secs(8)));
        assert!(!d.has_time_for(Duration::from_secs(9)));
        clock.advance(Duration::from_secs(8));
        assert!(d.is_reached());
        clock.advance(Duration::from_secs(5));
        assert_eq!(d.remaining(), Duration::ZERO);
    }

    #[test]
    fn lease_is_capped() {
        let clock = ManualClock::at("2026-01-01T00:00:00Z");
        let now = clock.shared().now();
        let d = Deadline::after(Duration::from_secs(900), Duration::ZERO, clock.shared());
        assert_eq!(
            d.lease_until(Duration::from_secs(60)),
            now + TimeDelta::seconds(60)
        );
        assert_eq!(d.lease_until(Duration::from_secs(3600)), d.hard());
    }

    #[test]
    fn epoch_millis_are_read() {
        let clock = ManualClock::at("2026-01-01T00:00:00Z");
        let ms = clock.shared().now().timestamp_millis() as u64 + 3000;
        let d = Deadline::from_epoch_millis(ms, Duration::from_millis(500), clock.shared());
        assert_eq!(d.remaining(), Duration::from_millis(2500));
    }

    #[test]
    fn an_implausible_deadline_is_read_as_a_duration() {
        let clock = ManualClock::at("2026-01-01T00:00:00Z");
        let now = clock.shared().now();
        let d = Deadline::from_epoch_millis(600_000, Duration::from_secs(3), clock.shared());
        assert_eq!(d.hard(), now + TimeDelta::seconds(600));
        assert_eq!(d.remaining(), Duration::from_secs(597));
    }
}
