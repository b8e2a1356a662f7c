//! When a reminder is due: pure rules over an appointment's start and the current time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::deadline::to_delta;
use shared::email_job::Lead;

/// One reminder an appointment gets, described by its lead: everything else (claim-key tag,
/// wire name, due window) is derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReminderKind {
    /// How long before the start the reminder becomes due.
    pub lead: Duration,
    /// No reminder of this kind with less than this left before the start (zero: until the
    /// start itself). A reminder whose window closed is reported once as skipped.
    pub min_remaining: Duration,
}

const HOUR: u64 = 3600;

impl ReminderKind {
    /// The day before: 24 h lead, sent only with at least 12 h left.
    pub const DAY_BEFORE: Self = Self {
        lead: Duration::from_secs(24 * HOUR),
        min_remaining: Duration::from_secs(12 * HOUR),
    };
    /// An hour before: 1 h lead, sent until the start.
    pub const HOUR_BEFORE: Self = Self {
        lead: Duration::from_secs(HOUR),
        min_remaining: Duration::ZERO,
    };

    /// The lead as the email contract carries it (its wire name is `reminder_<lead>`).
    pub fn email_lead(self) -> Lead {
        Lead::minutes(u32::try_from(self.lead.as_secs() / 60).unwrap_or(u32::MAX))
    }

    /// The tag in claim keys and logs: the lead as `24h`, `1h`, `90m`.
    pub fn tag(self) -> String {
        self.email_lead().to_string()
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRules {
    /// The reminders every appointment gets, longest lead first.
    pub kinds: Vec<ReminderKind>,
    /// How often runs happen; a reminder whose window closed within this long is reported as
    /// skipped by exactly one run.
    pub schedule_interval: Duration,
}

impl Default for DueRules {
    fn default() -> Self {
        Self {
            kinds: vec![ReminderKind::DAY_BEFORE, ReminderKind::HOUR_BEFORE],
            schedule_interval: crate::tuning::SCHEDULE_INTERVAL,
        }
    }
}

impl DueRules {
    /// The longest lead: how far ahead a run looks.
    pub fn horizon(&self) -> Duration {
        self.kinds
            .iter()
            .map(|k| k.lead)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// The verdict for `kind` of an appointment starting at `starts_at`, at `now`.
    ///
    /// Due when `now >= starts_at - lead` and not too late: at least `min_remaining` left
    /// (and always before the start). A run that was skipped is caught up by the next, since
    /// due is a window, not an instant.
    pub fn verdict(
        &self,
        kind: ReminderKind,
        starts_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Verdict {
        let remaining = starts_at - now;
        let earliest = to_delta(kind.min_remaining);
        if remaining > to_delta(kind.lead) {
            Verdict::NotDue
        } else if remaining >= earliest && remaining > chrono::TimeDelta::zero() {
            Verdict::Due
        } else if !kind.min_remaining.is_zero()
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

    const DAY: ReminderKind = ReminderKind::DAY_BEFORE;
    const HOUR: ReminderKind = ReminderKind::HOUR_BEFORE;

    fn rules() -> DueRules {
        DueRules::default()
    }

    #[test]
    fn day_before_window() {
        let start = at("2026-06-10T15:00:00Z");
        let v = |now| rules().verdict(DAY, start, at(now));
        assert_eq!(v("2026-06-09T14:59:59Z"), Verdict::NotDue);
        assert_eq!(v("2026-06-09T15:00:00Z"), Verdict::Due);
        assert_eq!(
            v("2026-06-10T02:59:59Z"),
            Verdict::Due,
            "12 h and a second left"
        );
        assert_eq!(
            v("2026-06-10T03:00:00Z"),
            Verdict::Due,
            "at least 12 h left: exactly 12 h is still in"
        );
        assert_eq!(
            v("2026-06-10T03:00:01Z"),
            Verdict::JustTooLate,
            "less than 12 h left"
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
        let v = |now| rules().verdict(HOUR, start, at(now));
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
            rules().verdict(HOUR, start, at("2026-06-10T14:10:00Z")),
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
        assert_eq!(rules().verdict(DAY, start, due_from), Verdict::Due);
        let just_before = due_from - chrono::TimeDelta::seconds(1);
        assert_eq!(rules().verdict(DAY, start, just_before), Verdict::NotDue);
    }

    #[test]
    fn dst_fall_back_in_new_york() {
        // 2026-11-01 02:00 EDT falls back to 01:00 EST: 01:30 happens twice. An appointment at
        // the second 01:30 (EST, 06:30 UTC) gets its hour reminder at 05:30 UTC (the first 01:30).
        let start = at("2026-11-01T06:30:00Z");
        assert_eq!(
            rules().verdict(HOUR, start, at("2026-11-01T05:30:00Z")),
            Verdict::Due
        );
        assert_eq!(
            rules().verdict(HOUR, start, at("2026-11-01T05:29:59Z")),
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
            rules().verdict(HOUR, start, at("2026-06-10T03:15:00Z")),
            Verdict::Due
        );
        assert_eq!(
            rules().verdict(HOUR, start, at("2026-06-10T03:14:59Z")),
            Verdict::NotDue
        );
    }

    #[test]
    fn minimum_is_configurable() {
        let day = ReminderKind {
            min_remaining: Duration::from_secs(6 * 3600),
            ..DAY
        };
        let start = at("2026-06-10T15:00:00Z");
        assert_eq!(
            rules().verdict(day, start, at("2026-06-10T08:00:00Z")),
            Verdict::Due
        );
    }

    #[test]
    fn tags_and_wire_names_come_from_the_lead() {
        assert_eq!((DAY.tag(), HOUR.tag()), ("24h".into(), "1h".into()));
        let wire = |kind: ReminderKind| {
            shared::email_job::Email::Reminder(shared::email_job::Reminder {
                lead: kind.email_lead(),
                appointment_id: "a".into(),
                customer_name: "c".into(),
                service: "s".into(),
                starts_at: at("2026-06-10T15:00:00Z"),
                time_zone: None,
                meeting_link: None,
                version: None,
            })
            .template_name()
            .into_owned()
        };
        assert_eq!(
            (wire(DAY), wire(HOUR)),
            ("reminder_24h".into(), "reminder_1h".into())
        );
        let ninety = ReminderKind {
            lead: Duration::from_secs(90 * 60),
            min_remaining: Duration::ZERO,
        };
        assert_eq!(ninety.tag(), "90m");
        assert_eq!(rules().horizon(), DAY.lead);
    }
}
