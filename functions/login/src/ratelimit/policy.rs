//! The sign-in rate-limit policy: per client IP first, then per account (or, for a trusted
//! device, per device), each counted up front (so a concurrent burst cannot slip past a "peek
//! then count" gap); and the IETF draft `RateLimit-Policy` / `RateLimit` headers.

use std::time::Duration;

use lambda_http::http::{HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};
use shared::error::ceil_secs;
use shared::ratelimit::{CheckMode, Decision, RateCheck, RateRule};

use crate::client_ip::ClientIp;
use crate::device::Device;

/// The two limits applied to every sign-in attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Attempts per client IP (IPv6: per /64) per window.
    pub per_ip: RateRule,
    /// Attempts per account (or per trusted device) since its last successful sign-in, per
    /// window.
    pub per_account: RateRule,
}

/// Whose counter an attempt that passed the IP limit is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    /// The account named by the email (no valid device cookie).
    Account(&'a str),
    /// A device holding a valid cookie for that account.
    Device(&'a Device),
}

impl Principal<'_> {
    /// Its counter key.
    pub fn key(&self) -> String {
        match self {
            Self::Account(email) => LoginLimits::account_key(email),
            Self::Device(device) => LoginLimits::device_key(device),
        }
    }

    /// `account` or `device` (logs and metric dimension).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Account(_) => "account",
            Self::Device(_) => "device",
        }
    }
}

impl LoginLimits {
    /// Redis key of an IP counter; one hash tag per key (cluster-safe).
    pub fn ip_key(ip: &ClientIp) -> String {
        format!("rl:{{ip:{}}}", ip.key())
    }

    /// Redis key of an account counter: the email is hashed, never stored in the limiter.
    pub fn account_key(email: &str) -> String {
        format!(
            "rl:{{acct:{}}}",
            hex::encode(Sha256::digest(email.as_bytes()))
        )
    }

    /// Redis key of a trusted device's counter (the cookie's random nonce).
    pub fn device_key(device: &Device) -> String {
        format!("rl:{{dev:{}}}", device.id)
    }

    /// The first check of every attempt: its client IP.
    pub fn ip_check(&self, ip: &ClientIp) -> RateCheck {
        RateCheck {
            key: Self::ip_key(ip),
            rule: self.per_ip,
            mode: CheckMode::Count,
        }
    }

    /// The second check, made only when the IP allowed the attempt (so attempts refused by
    /// the IP limit never count against an account).
    pub fn principal_check(&self, principal: &Principal<'_>) -> RateCheck {
        RateCheck {
            key: principal.key(),
            rule: self.per_account,
            mode: CheckMode::Count,
        }
    }
}

/// `RateLimit-Policy: 5;w=900` and `RateLimit: limit=5, remaining=N, reset=S` for the IP
/// counter (the account counter is never disclosed).
pub fn rate_limit_headers(headers: &mut HeaderMap, rule: RateRule, ip: &Decision) {
    let policy = format!("{};w={}", rule.limit, rule.window.as_secs());
    let reset = if ip.reset_after.is_zero() {
        0
    } else {
        ceil_secs(ip.reset_after)
    };
    let state = format!(
        "limit={}, remaining={}, reset={}",
        ip.limit, ip.remaining, reset
    );
    for (name, value) in [("ratelimit-policy", policy), ("ratelimit", state)] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

/// `Retry-After` for a denied counter: the true time left in its window, at least 1 s.
pub fn retry_after(d: &Decision) -> Duration {
    d.reset_after.max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(allowed: bool, count: u32) -> Decision {
        Decision {
            allowed,
            count,
            limit: 5,
            remaining: 5u32.saturating_sub(count),
            reset_after: Duration::from_millis(899_200),
        }
    }

    #[test]
    fn keys_use_one_hash_tag_each_and_hide_the_email() {
        let ip = ClientIp::parse("2001:db8::1").unwrap();
        assert_eq!(LoginLimits::ip_key(&ip), "rl:{ip:2001:db8:0:0::/64}");
        let k = LoginLimits::account_key("jane@example.com");
        assert!(k.starts_with("rl:{acct:") && k.ends_with('}'), "{k}");
        assert!(!k.contains("jane"));
        let device = Device { id: "AbC".into() };
        assert_eq!(Principal::Device(&device).key(), "rl:{dev:AbC}");
        assert_eq!(Principal::Account("jane@example.com").key(), k);
    }

    #[test]
    fn headers_follow_the_ietf_draft() {
        let mut h = HeaderMap::new();
        let rule = RateRule {
            limit: 5,
            window: Duration::from_secs(900),
        };
        rate_limit_headers(&mut h, rule, &decision(true, 2));
        assert_eq!(h["ratelimit-policy"], "5;w=900");
        assert_eq!(h["ratelimit"], "limit=5, remaining=3, reset=900");
    }
}
