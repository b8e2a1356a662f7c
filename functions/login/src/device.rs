//! Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): a browser
//! that signed in to an account gets a signed, user-bound cookie; an attempt presenting a
//! valid one for the account it names is limited per device instead of by the account
//! counter, so strangers failing against the account cannot lock its owner out.
//!
//! Value: `v1.<subject>.<nonce>.<expires>.<mac>` (base64url without padding; `expires` in
//! epoch seconds). `subject` is a keyed hash of the email (the cookie does not reveal it),
//! `nonce` 128 random bits naming the device, `mac` the HMAC-SHA256 of everything before it.
//! Anything that does not verify (tampered, expired, another account's, oversized, too many
//! cookies, bad base64) counts as no cookie at all.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::digest::InvalidLength;
use hmac::{Hmac, Mac};
use lambda_http::http::{HeaderMap, header};
use rand::RngCore;
use sha2::Sha256;
use shared::config::Secret;

/// Name of the device cookie.
pub const COOKIE_NAME: &str = "device";
/// Default lifetime of a device cookie (180 days).
pub const DEFAULT_TTL: Duration = Duration::from_secs(180 * 24 * 3600);
/// Longest device cookie value looked at (a valid one is about 110 characters).
const MAX_VALUE_CHARS: usize = 256;
/// Largest `Cookie` header data looked at; beyond it the request carries no device cookie.
const MAX_COOKIE_BYTES: usize = 8 * 1024;
/// Most cookie pairs looked at.
const MAX_PAIRS: usize = 64;
const VERSION: &str = "v1";

type HmacSha256 = Hmac<Sha256>;

/// A device whose cookie verified for the account of the attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The cookie's nonce (base64url): the device's rate-limit identity.
    pub id: String,
}

/// Issues and verifies device cookies with one key.
#[derive(Clone)]
pub struct DeviceCookies {
    mac: HmacSha256,
    ttl: Duration,
}

impl std::fmt::Debug for DeviceCookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCookies")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl DeviceCookies {
    /// Cookies signed with `key` (`DEVICE_COOKIE_KEY`), valid for `ttl`. HMAC takes keys of
    /// any length, so the error cannot happen in practice.
    pub fn new(key: &Secret<String>, ttl: Duration) -> Result<Self, InvalidLength> {
        let mac = HmacSha256::new_from_slice(key.expose().as_bytes())?;
        Ok(Self { mac, ttl })
    }

    /// A random key (the local stack and tests; cookies then last as long as the process).
    pub fn random_key() -> Secret<String> {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Secret::new(hex::encode(key))
    }

    fn mac(&self) -> HmacSha256 {
        self.mac.clone()
    }

    /// The keyed account identity written in the cookie (16 bytes, base64url).
    fn subject(&self, email: &str) -> String {
        let mut mac = self.mac();
        mac.update(b"device-subject\0");
        mac.update(email.as_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
    }

    fn signature(&self, signed: &str) -> HmacSha256 {
        let mut mac = self.mac();
        mac.update(b"device-cookie\0");
        mac.update(signed.as_bytes());
        mac
    }

    /// A new cookie value for a successful sign-in to `email`.
    pub fn issue(&self, email: &str, now: DateTime<Utc>) -> String {
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let expires = now.timestamp().saturating_add(ttl_secs(self.ttl));
        let signed = format!(
            "{VERSION}.{}.{}.{expires}",
            self.subject(email),
            URL_SAFE_NO_PAD.encode(nonce)
        );
        let mac = self.signature(&signed).finalize().into_bytes();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    /// `Set-Cookie` value carrying `value`.
    pub fn set_cookie(&self, value: &str) -> String {
        format!(
            "{COOKIE_NAME}={value}; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age={}",
            ttl_secs(self.ttl)
        )
    }

    /// The device named by `value` when it is authentic, unexpired and issued for `email`.
    pub fn verify(&self, value: &str, email: &str, now: DateTime<Utc>) -> Option<Device> {
        if value.len() > MAX_VALUE_CHARS {
            return None;
        }
        let (signed, mac) = value.rsplit_once('.')?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        self.signature(signed).verify_slice(&mac).ok()?;
        let mut parts = signed.split('.');
        let (version, subject, nonce, expires) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let expires: i64 = expires.parse().ok()?;
        let fresh = parts.next().is_none() && version == VERSION && expires > now.timestamp();
        (fresh && subject == self.subject(email)).then(|| Device {
            id: nonce.to_owned(),
        })
    }

    /// The first device cookie in `headers` that verifies for `email`, if any.
    pub fn from_headers(
        &self,
        headers: &HeaderMap,
        email: &str,
        now: DateTime<Utc>,
    ) -> Option<Device> {
        device_values(headers).find_map(|value| self.verify(value, email, now))
    }
}

fn ttl_secs(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)
}

/// The `device=` values in the request's `Cookie` headers, within the size limits (none at
/// all when the headers are larger than [`MAX_COOKIE_BYTES`]).
fn device_values(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    let cookies = headers.get_all(header::COOKIE);
    let total: usize = cookies.iter().map(|v| v.len()).sum();
    cookies
        .iter()
        .filter(move |_| total <= MAX_COOKIE_BYTES)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .take(MAX_PAIRS)
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    fn cookies() -> DeviceCookies {
        DeviceCookies::new(&Secret::new("k".repeat(32)), DEFAULT_TTL).unwrap()
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::COOKIE, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn a_cookie_verifies_only_for_its_account_key_and_lifetime() {
        let c = cookies();
        let now = Utc::now();
        let value = c.issue("jane@example.com", now);
        assert!(!value.contains("jane"), "{value}");
        let device = c.verify(&value, "jane@example.com", now).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&device.id).unwrap().len(), 16);
        assert_eq!(c.verify(&value, "john@example.com", now), None);
        let later = now + chrono::Duration::days(181);
        assert_eq!(c.verify(&value, "jane@example.com", later), None);
        let other_key = DeviceCookies::new(&Secret::new("x".repeat(32)), DEFAULT_TTL).unwrap();
        assert_eq!(other_key.verify(&value, "jane@example.com", now), None);
        assert_ne!(
            c.issue("jane@example.com", now),
            value,
            "a fresh nonce each time"
        );
    }

    #[test]
    fn tampering_with_any_part_is_detected() {
        let c = cookies();
        let now = Utc::now();
        let value = c.issue("jane@example.com", now);
        let parts: Vec<&str> = value.split('.').collect();
        for i in 0..parts.len() {
            let mut changed = parts.clone();
            let replaced = if i == 3 {
                "99999999999".to_owned()
            } else {
                format!("A{}", &parts[i][1..])
            };
            changed[i] = &replaced;
            let tampered = changed.join(".");
            if tampered != value {
                assert_eq!(c.verify(&tampered, "jane@example.com", now), None, "{i}");
            }
        }
        for bad in ["", "v1", "....", "v1.a.b.c.!!!", "%%%", &"a".repeat(300)] {
            assert_eq!(c.verify(bad, "jane@example.com", now), None, "{bad}");
        }
    }

    #[test]
    fn the_set_cookie_line_has_the_required_attributes() {
        let c = cookies();
        let line = c.set_cookie("VALUE");
        assert_eq!(
            line,
            "device=VALUE; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=15552000"
        );
    }

    #[test]
    fn cookies_are_found_among_others_and_oversized_headers_are_ignored() {
        let c = cookies();
        let now = Utc::now();
        let good = c.issue("jane@example.com", now);
        let found = headers(&[&format!("a=1; device=junk; device={good}; b=2")]);
        assert!(c.from_headers(&found, "jane@example.com", now).is_some());
        let split = headers(&["a=1", &format!("device={good}")]);
        assert!(c.from_headers(&split, "jane@example.com", now).is_some());
        let huge = headers(&[&format!("pad={}; device={good}", "x".repeat(9000))]);
        assert!(c.from_headers(&huge, "jane@example.com", now).is_none());
        let many: String = (0..100).map(|i| format!("c{i}=v; ")).collect();
        let crowded = headers(&[&format!("{many}device={good}")]);
        assert!(c.from_headers(&crowded, "jane@example.com", now).is_none());
    }
}
