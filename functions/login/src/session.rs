//! Session tokens: 256 random bits, sent once to the client; only their SHA-256 is stored.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "session";

/// A freshly issued bearer token (never logged, never stored).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken([redacted])")
    }
}

impl SessionToken {
    /// 32 bytes from the OS-seeded generator, base64url without padding (43 characters).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The token as sent to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Hex SHA-256 of the token: what the store keeps.
    pub fn sha256_hex(&self) -> String {
        sha256_hex(&self.0)
    }
}

/// Hex SHA-256 of a token as presented by a client.
pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The session's end, in whole seconds (what DynamoDB TTL stores).
pub fn expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    let end = now + shared::deadline::to_delta(ttl);
    DateTime::from_timestamp(end.timestamp(), 0).unwrap_or(end)
}

/// `Set-Cookie` value for the session.
pub fn cookie(token: &SessionToken, ttl: Duration) -> String {
    format!(
        "{COOKIE_NAME}={}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age={}",
        token.expose(),
        ttl.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_and_unique() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a, b);
        let raw = URL_SAFE_NO_PAD.decode(a.expose()).unwrap();
        assert_eq!(raw.len(), 32);
        assert_eq!(a.sha256_hex().len(), 64);
        assert_eq!(a.sha256_hex(), sha256_hex(a.expose()));
        assert_eq!(format!("{a:?}"), "SessionToken([redacted])");
    }

    #[test]
    fn cookie_has_the_required_attributes() {
        let t = SessionToken::generate();
        let c = cookie(&t, Duration::from_secs(604_800));
        assert!(c.starts_with(&format!("session={}; ", t.expose())));
        for attr in [
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=604800",
        ] {
            assert!(c.contains(attr), "{c}");
        }
    }
}
