//! When a reminder is due: pure rules over an appointment's start and the current time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::deadline::to_delta;
use shared::email_job::Lead;

/// The two reminders an appointment gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReminderKind {
    /// The day before (24 h lead).
    DayBefore,
    /// An hour before (1 h lead).
    HourBefore,
}

impl ReminderKind {
    /// Both kinds.
    pub const ALL: [Self; 2] = [Self::DayBefore, Self::HourBefore];

    /// How long before the start the reminder becomes due.
    pub fn lead(self) -> Duration {
        match self {
            Self::DayBefore => Duration::from_secs(24 * 3600),
            Self::HourBefore => Duration::from_secs(3600),
        }
    }

    /// Name used in claim keys and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DayBefore => "24h",
            Self::HourBefore => "1h",
        }
    }

    /// The lead as the email contract carries it.
    pub fn email_lead(self) -> Lead {
        match self {
            Self::DayBefore => Lead::hours(24),
            Self::HourBefore => Lead::hours(1),
        }
    }
}

/// What a run should do about one reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not yet (more than the lead remains), or already past and handled by the other kind.
    NotDue,
    /// Send it (if nobody has).
    Due,
    /// Its window closed within the last schedule interval: counted once as skipped.
    JustTooLate,
}

/// The due rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueRules {
    /// No 24 h reminder when less than this remains (default 12 h).
    pub min_remaining_for_day_before: Duration,
    /// How often runs happen; a reminder whose window closed within this long is reported as
    /// skipped by exactly one run.
    pub schedule_interval: Duration,
}

impl Default for DueRules {
    fn default() -> Self {
        Self {
            min_remaining_for_day_before: Duration::from_secs(12 * 3600),
            schedule_interval: Duration::from_secs(300),
        }
    }
}

impl DueRules {
    /// The verdict for `kind` of an appointment starting at `starts_at`, at `now`.
    ///
    /// Due when `now >= starts_at - lead` and not too late: the 24 h reminder needs at least
    /// `min_remaining_for_day_before` left, the 1 h one must come before the start. A run that
    /// was skipped is caught up by the next, since due is a window, not an instant.
    pub fn verdict(
        &self,
        kind: ReminderKind,
        starts_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Verdict {
        let remaining = starts_at - now;
        let earliest = match kind {
            ReminderKind::DayBefore => to_delta(self.min_remaining_for_day_before),
            ReminderKind::HourBefore => chrono::TimeDelta::zero(),
        };
        if remaining > to_delta(kind.lead()) {
            Verdict::NotDue
        } else if remaining > earliest {
            Verdict::Due
        } else if kind == ReminderKind::DayBefore
            && remaining > earliest - to_delta(self.schedule_interval)
        {
            Verdict::JustTooLate
        } else {
            Verdict::NotDue
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Tz;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn local(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    const RULES: DueRules = DueRules {
        min_remaining_for_day_before: Duration::from_secs(12 * 3600),
        schedule_interval: Duration::from_secs(300),
    };

    #[test]
    fn day_before_window() {
        let start = at("2026-06-10T15:00:00Z");
        let v = |now| RULES.verdict(ReminderKind::DayBefore, start, at(now));
        assert_eq!(v("2026-06-09T14:59:59Z"), Verdict::NotDue);
        assert_eq!(v("2026-06-09T15:00:00Z"), Verdict::Due);
        assert_eq!(
            v("2026-06-10T02:59:59Z"),
            Verdict::Due,
            "12 h and a second left"
        );
        assert_eq!(
            v("2026-06-10T03:00:00Z"),
            Verdict::JustTooLate,
            "not 12 h before"
        );
        assert_eq!(v("2026-06-10T03:04:59Z"), Verdict::JustTooLate);
        assert_eq!(
            v("2026-06-10T03:05:00Z"),
            Verdict::NotDue,
            "reported once only"
        );
        assert_eq!(
            v("2026-06-10T12:00:00Z"),
            Verdict::NotDue,
            "never 3 h before"
        );
    }

    #[test]
    fn hour_before_window() {
        let start = at("2026-06-10T15:00:00Z");
        let v = |now| RULES.verdict(ReminderKind::HourBefore, start, at(now));
        assert_eq!(v("2026-06-10T13:59:59Z"), Verdict::NotDue);
        assert_eq!(v("2026-06-10T14:00:00Z"), Verdict::Due);
        assert_eq!(v("2026-06-10T14:59:59Z"), Verdict::Due);
        assert_eq!(
            v("2026-06-10T15:00:00Z"),
            Verdict::NotDue,
            "not after the start"
        );
    }

    #[test]
    fn a_skipped_run_is_caught_up() {
        let start = at("2026-06-10T15:00:00Z");
        // The 14:00 and 14:05 runs never happened; the 14:10 run still sends.
        assert_eq!(
            RULES.verdict(ReminderKind::HourBefore, start, at("2026-06-10T14:10:00Z")),
            Verdict::Due
        );
    }

    #[test]
    fn dst_spring_forward_in_new_york() {
        // 2026-03-08 02:00 EST jumps to 03:00 EDT. A 09:00 EDT appointment on March 8 is
        // 13:00 UTC; the day-before reminder is due from 13:00 UTC on March 7 (08:00 EST),
        // i.e. 23 hours of local wall time earlier, but exactly 24 real hours.
        let ny: Tz = "America/New_York".parse().unwrap();
        let start = local(ny, 2026, 3, 8, 9, 0);
        assert_eq!(start, at("2026-03-08T13:00:00Z"));
        let due_from = local(ny, 2026, 3, 7, 8, 0);
        assert_eq!(
            RULES.verdict(ReminderKind::DayBefore, start, due_from),
            Verdict::Due
        );
        let just_before = due_from - chrono::TimeDelta::seconds(1);
        assert_eq!(
            RULES.verdict(ReminderKind::DayBefore, start, just_before),
            Verdict::NotDue
        );
    }

    #[test]
    fn dst_fall_back_in_new_york() {
        // 2026-11-01 02:00 EDT falls back to 01:00 EST: 01:30 happens twice. An appointment at
        // the second 01:30 (EST, 06:30 UTC) gets its hour reminder at 05:30 UTC (the first 01:30).
        let start = at("2026-11-01T06:30:00Z");
        assert_eq!(
            RULES.verdict(ReminderKind::HourBefore, start, at("2026-11-01T05:30:00Z")),
            Verdict::Due
        );
        assert_eq!(
            RULES.verdict(ReminderKind::HourBefore, start, at("2026-11-01T05:29:59Z")),
            Verdict::NotDue
        );
    }

    #[test]
    fn non_whole_hour_zone() {
        // Asia/Kathmandu is UTC+05:45: a 10:00 local start is 04:15 UTC.
        let ktm: Tz = "Asia/Kathmandu".parse().unwrap();
        let start = local(ktm, 2026, 6, 10, 10, 0);
        assert_eq!(start, at("2026-06-10T04:15:00Z"));
        assert_eq!(
            RULES.verdict(ReminderKind::HourBefore, start, at("2026-06-10T03:15:00Z")),
            Verdict::Due
        );
        assert_eq!(
            RULES.verdict(ReminderKind::HourBefore, start, at("2026-06-10T03:14:59Z")),
            Verdict::NotDue
        );
    }

    #[test]
    fn minimum_is_configurable() {
        let rules = DueRules {
            min_remaining_for_day_before: Duration::from_secs(6 * 3600),
            ..RULES
        };
        let start = at("2026-06-10T15:00:00Z");
        assert_eq!(
            rules.verdict(ReminderKind::DayBefore, start, at("2026-06-10T08:00:00Z")),
            Verdict::Due
        );
    }
}
