//! Display formats for emails: money from integer minor units, instants in a named time zone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Currencies whose amounts have no minor unit (Stripe's zero-decimal list, common part).
const ZERO_DECIMAL: [&str; 16] = [
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];

/// `12345` cents in `usd` → `USD 123.45`; zero-decimal currencies keep whole units
/// (`JPY 12,345`). `None` for a currency that is not three ASCII letters or a negative amount.
pub fn money(minor_units: i64, currency: &str) -> Option<String> {
    if minor_units < 0 || currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic())
    {
        return None;
    }
    let code = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&code.as_str()) {
        return Some(format!("{code} {}", thousands(minor_units)));
    }
    Some(format!(
        "{code} {}.{:02}",
        thousands(minor_units / 100),
        minor_units % 100
    ))
}

fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An instant as people read it in `tz`, with the zone named:
/// `Monday, March 9, 2026 at 10:00 AM EDT (America/New_York)`.
pub fn local_time(at: DateTime<Utc>, tz: Tz) -> String {
    let local = at.with_timezone(&tz);
    format!(
        "{} ({})",
        local.format("%A, %B %-d, %Y at %-I:%M %p %Z"),
        tz.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_from_minor_units() {
        assert_eq!(money(12_345_678, "usd").as_deref(), Some("USD 123,456.78"));
        assert_eq!(money(5, "eur").as_deref(), Some("EUR 0.05"));
        assert_eq!(money(0, "gbp").as_deref(), Some("GBP 0.00"));
        assert_eq!(money(12_345, "jpy").as_deref(), Some("JPY 12,345"));
        assert_eq!(money(-1, "usd"), None);
        assert_eq!(money(1, "us"), None);
        assert_eq!(money(1, "u$d"), None);
    }

    #[test]
    fn times_are_shown_in_the_named_zone_across_dst() {
        let summer = DateTime::parse_from_rfc3339("2026-07-01T14:00:00Z")
            .unwrap()
            .to_utc();
        let winter = DateTime::parse_from_rfc3339("2026-01-15T14:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            local_time(summer, chrono_tz::America::New_York),
            "Wednesday, July 1, 2026 at 10:00 AM EDT (America/New_York)"
        );
        assert_eq!(
            local_time(winter, chrono_tz::America::New_York),
            "Thursday, January 15, 2026 at 9:00 AM EST (America/New_York)"
        );
        assert_eq!(
            local_time(winter, chrono_tz::UTC),
            "Thursday, January 15, 2026 at 2:00 PM UTC (UTC)"
        );
    }
}
