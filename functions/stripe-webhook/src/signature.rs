//! `Stripe-Signature` verification: `t=<unix seconds>,v1=<hex hmac>[,v1=...]`, HMAC-SHA256 over
//! `"<t>.<raw body>"`, any configured secret (rotation), any `v1`, constant-time comparison,
//! timestamp within a tolerance in both directions. Pure: the caller passes the time. With a
//! [`RefreshableSecret`], [`Verifier::verify_rotating`] re-reads the secrets from Secrets
//! Manager (at most once a minute) when a signature matches none, so a rotation needs no
//! redeploy.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use shared::config::{Secret, split_secret_list};
use shared::secrets::RefreshableSecret;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Longest header we look at; anything longer is malformed.
const MAX_HEADER_LEN: usize = 4096;
/// Most `v1` entries we compare (Stripe sends one per active secret).
const MAX_SIGNATURES: usize = 8;

/// Why a signature was refused. The reason goes to logs and metrics, never the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header.
    #[error("missing signature header")]
    Missing,
    /// The header cannot be read (no or several `t`, bad number, too long, not text).
    #[error("malformed signature header")]
    Malformed,
    /// The header carries no well-formed `v1` signature.
    #[error("no v1 signature")]
    NoSignature,
    /// No `v1` matches any configured secret.
    #[error("signature mismatch")]
    Mismatch,
    /// The timestamp is further than the tolerance from now (either direction).
    #[error("timestamp outside tolerance")]
    OutsideTolerance,
}

/// A parsed header: the signed timestamp and the well-formed `v1` signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// The `t=` value (Unix seconds).
    pub timestamp: i64,
    /// Each `v1=` value, decoded (32 bytes each).
    pub signatures: Vec<[u8; 32]>,
}

/// Parses a `Stripe-Signature` header. Unknown schemes (`v0`, ...) are ignored; `v1` values
/// that are not 64 hex characters are ignored; a missing or repeated `t` is malformed.
pub fn parse_header(header: &str) -> Result<SignatureHeader, SignatureError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(SignatureError::Malformed);
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed);
                }
                let t: i64 = value.parse().map_err(|_| SignatureError::Malformed)?;
                timestamp = Some(t);
            }
            "v1" => {
                let mut sig = [0u8; 32];
                if hex::decode_to_slice(value, &mut sig).is_ok()
                    && signatures.len() < MAX_SIGNATURES
                {
                    signatures.push(sig);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    Ok(SignatureHeader {
        timestamp,
        signatures,
    })
}

/// The HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`.
pub fn compute(secret: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return [0u8; 32],
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// A full `Stripe-Signature` header value for `body` (fixtures, tests, replays).
pub fn sign_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(compute(secret, timestamp, body))
    )
}

/// Verifies signatures against several secrets within a tolerance.
#[derive(Debug, Clone)]
pub struct Verifier {
    secrets: Vec<Secret<String>>,
    tolerance: Duration,
    /// Where newer secrets come from (a comma-separated list, like `secrets`).
    rotation: Option<Arc<RefreshableSecret>>,
}

impl Verifier {
    /// Stripe's default tolerance.
    pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

    /// A verifier accepting any of `secrets` (old and new during a rotation).
    pub fn new(secrets: Vec<Secret<String>>, tolerance: Duration) -> Self {
        Self {
            secrets,
            tolerance,
            rotation: None,
        }
    }

    /// The same verifier, re-reading its secrets from `rotation` (when given) on a mismatch.
    pub fn rotating(self, rotation: Option<Arc<RefreshableSecret>>) -> Self {
        Self { rotation, ..self }
    }

    /// The current secrets: the latest re-read ones, else those from the cold start.
    fn current_secrets(&self) -> Vec<Secret<String>> {
        match self.rotation.as_ref().and_then(|r| r.latest()) {
            Some(latest) => split_secret_list(latest.expose()),
            None => self.secrets.clone(),
        }
    }

    /// As [`Verifier::verify`]; on a mismatch, re-reads the secrets (see the module docs) and
    /// checks once more with the newer ones.
    pub async fn verify_rotating(
        &self,
        header: Option<&[u8]>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<i64, SignatureError> {
        let first = self.verify(header, body, now);
        match &self.rotation {
            Some(rotation)
                if first == Err(SignatureError::Mismatch) && rotation.refresh().await =>
            {
                self.verify(header, body, now)
            }
            _ => first,
        }
    }

    /// Checks `header` over the exact `body` at `now`; returns the signed timestamp.
    pub fn verify(
        &self,
        header: Option<&[u8]>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<i64, SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let header = std::str::from_utf8(header).map_err(|_| SignatureError::Malformed)?;
        let parsed = parse_header(header)?;
        let mut matched = subtle::Choice::from(0u8);
        for secret in &self.current_secrets() {
            let expected = compute(secret.expose(), parsed.timestamp, body);
            for candidate in &parsed.signatures {
                matched |= expected.ct_eq(candidate);
            }
        }
        if !bool::from(matched) {
            return Err(SignatureError::Mismatch);
        }
        let age = now.timestamp().abs_diff(parsed.timestamp);
        if age > self.tolerance.as_secs() {
            return Err(SignatureError::OutsideTolerance);
        }
        Ok(parsed.timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const OLD: &str = "whsec_old_secret";
    const NEW: &str = "whsec_new_secret";
    const T: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    fn verifier(secrets: &[&str]) -> Verifier {
        Verifier::new(
            secrets
                .iter()
                .map(|s| Secret::new((*s).to_owned()))
                .collect(),
            Verifier::DEFAULT_TOLERANCE,
        )
    }

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).unwrap()
    }

    fn sig(secret: &str) -> String {
        hex::encode(compute(secret, T, BODY))
    }

    fn check(v: &Verifier, header: &str, now: i64) -> Result<i64, SignatureError> {
        v.verify(Some(header.as_bytes()), BODY, at(now))
    }

    #[test]
    fn one_or_two_v1_in_either_order() {
        let v = verifier(&[NEW]);
        let good = sig(NEW);
        let other = sig("whsec_someone_else");
        assert_eq!(check(&v, &format!("t={T},v1={good}"), T), Ok(T));
        assert_eq!(check(&v, &format!("t={T},v1={good},v1={other}"), T), Ok(T));
        assert_eq!(check(&v, &format!("t={T},v1={other},v1={good}"), T), Ok(T));
        assert_eq!(check(&v, &format!("v1={good},t={T}"), T), Ok(T));
        assert_eq!(
            check(&v, &format!("t={T},v1={other}"), T),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn secret_rotation_old_new_both() {
        let header_old = format!("t={T},v1={}", sig(OLD));
        let header_new = format!("t={T},v1={}", sig(NEW));
        let both = verifier(&[OLD, NEW]);
        assert_eq!(check(&both, &header_old, T), Ok(T));
        assert_eq!(check(&both, &header_new, T), Ok(T));
        let old_only = verifier(&[OLD]);
        assert_eq!(check(&old_only, &header_old, T), Ok(T));
        assert_eq!(
            check(&old_only, &header_new, T),
            Err(SignatureError::Mismatch)
        );
        let new_only = verifier(&[NEW]);
        assert_eq!(check(&new_only, &header_new, T), Ok(T));
        assert_eq!(
            check(&new_only, &header_old, T),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn tolerance_applies_in_both_directions() {
        let v = verifier(&[NEW]);
        let header = format!("t={T},v1={}", sig(NEW));
        for now in [T - 299, T + 299, T - 300, T + 300] {
            assert_eq!(check(&v, &header, now), Ok(T), "now = t{:+}", now - T);
        }
        for now in [T - 301, T + 301, T + 86_400] {
            assert_eq!(
                check(&v, &header, now),
                Err(SignatureError::OutsideTolerance),
                "now = t{:+}",
                now - T
            );
        }
    }

    #[test]
    fn malformed_headers_are_rejected_without_panic() {
        let v = verifier(&[NEW]);
        let good = sig(NEW);
        let cases: Vec<(String, SignatureError)> = vec![
            (String::new(), SignatureError::Malformed),
            (",,,".into(), SignatureError::Malformed),
            (format!("v1={good}"), SignatureError::Malformed),
            (format!("t={T}"), SignatureError::NoSignature),
            (format!("t={T},v0={good}"), SignatureError::NoSignature),
            (
                format!("t={T},v1=zz{}", &good[2..]),
                SignatureError::NoSignature,
            ),
            (
                format!("t={T},v1={}", &good[1..]),
                SignatureError::NoSignature,
            ),
            (format!("t={T},v1="), SignatureError::NoSignature),
            (format!("t={T},v1={good}00"), SignatureError::NoSignature),
            (format!("t={T},t={T},v1={good}"), SignatureError::Malformed),
            (format!("t=,v1={good}"), SignatureError::Malformed),
            (format!("t=abc,v1={good}"), SignatureError::Malformed),
            (
                format!("t=99999999999999999999999,v1={good}"),
                SignatureError::Malformed,
            ),
            (
                format!("t={T},v1={}", "a".repeat(5000)),
                SignatureError::Malformed,
            ),
            (format!("t={},v1={good}", T + 1), SignatureError::Mismatch),
        ];
        for (header, expected) in cases {
            assert_eq!(check(&v, &header, T), Err(expected), "{header}");
        }
        // Upper-case hex decodes to the same bytes (Stripe sends lower case).
        let upper = format!("t={T},v1={}", good.to_uppercase());
        assert_eq!(check(&v, &upper, T), Ok(T));
        assert_eq!(v.verify(None, BODY, at(T)), Err(SignatureError::Missing));
        assert_eq!(
            v.verify(Some(&[0xff, 0xfe]), BODY, at(T)),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn one_changed_body_byte_is_rejected() {
        let v = verifier(&[NEW]);
        let header = format!("t={T},v1={}", sig(NEW));
        for i in 0..BODY.len() {
            let mut body = BODY.to_vec();
            body[i] ^= 0x01;
            assert_eq!(
                v.verify(Some(header.as_bytes()), &body, at(T)),
                Err(SignatureError::Mismatch),
                "byte {i}"
            );
        }
    }

    /// The secret Secrets Manager holds now (a stand-in for it; moto in tests/).
    #[derive(Debug)]
    struct Current(std::sync::Mutex<String>);

    #[async_trait::async_trait]
    impl shared::secrets::SecretSource for Current {
        async fn read(&self) -> Result<Secret<String>, shared::secrets::SecretError> {
            Ok(Secret::new(self.0.lock().unwrap().clone()))
        }
    }

    #[tokio::test]
    async fn a_mismatch_re_reads_the_secrets_once_a_minute() {
        let stored = Arc::new(Current(std::sync::Mutex::new(OLD.to_owned())));
        let clock = shared::clock::ManualClock::new(at(T));
        let rotation = Arc::new(RefreshableSecret::new(
            stored.clone(),
            RefreshableSecret::MIN_INTERVAL,
            clock.shared(),
        ));
        let v = verifier(&[OLD]).rotating(Some(rotation));
        let new = format!("t={T},v1={}", sig(NEW));
        let old = format!("t={T},v1={}", sig(OLD));
        assert_eq!(
            v.verify_rotating(Some(new.as_bytes()), BODY, at(T)).await,
            Err(SignatureError::Mismatch),
            "re-read, still the old secret only"
        );
        *stored.0.lock().unwrap() = format!("{NEW},{OLD}");
        assert_eq!(
            v.verify_rotating(Some(new.as_bytes()), BODY, at(T)).await,
            Err(SignatureError::Mismatch),
            "no second re-read within the minute"
        );
        clock.advance(Duration::from_secs(60));
        assert_eq!(
            v.verify_rotating(Some(new.as_bytes()), BODY, at(T)).await,
            Ok(T)
        );
        assert_eq!(
            v.verify_rotating(Some(old.as_bytes()), BODY, at(T)).await,
            Ok(T)
        );
    }

    /// Property: for random secrets, bodies and times, a signed body verifies, a flipped byte
    /// or a foreign secret does not, and random headers never panic.
    #[test]
    fn property_sign_then_verify() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..500 {
            let secret: String = (0..rng.random_range(1..40))
                .map(|_| rng.random_range(b'!'..=b'~') as char)
                .collect();
            let body: Vec<u8> = (0..rng.random_range(0..300))
                .map(|_| rng.random())
                .collect();
            let t = rng.random_range(0..4_000_000_000i64);
            let skew = rng.random_range(-300..=300i64);
            let v = Verifier::new(
                vec![Secret::new(secret.clone())],
                Verifier::DEFAULT_TOLERANCE,
            );
            let header = sign_header(&secret, t, &body);
            assert_eq!(
                v.verify(Some(header.as_bytes()), &body, at(t + skew)),
                Ok(t)
            );
            if !body.is_empty() {
                let mut tampered = body.clone();
                let i = rng.random_range(0..tampered.len());
                tampered[i] ^= 1 << rng.random_range(0..8);
                assert_eq!(
                    v.verify(Some(header.as_bytes()), &tampered, at(t)),
                    Err(SignatureError::Mismatch)
                );
            }
            let foreign = Verifier::new(
                vec![Secret::new(format!("{secret}x"))],
                Verifier::DEFAULT_TOLERANCE,
            );
            assert_eq!(
                foreign.verify(Some(header.as_bytes()), &body, at(t)),
                Err(SignatureError::Mismatch)
            );
            let garbage: Vec<u8> = (0..rng.random_range(0..120))
                .map(|_| rng.random())
                .collect();
            assert!(v.verify(Some(&garbage), &body, at(t)).is_err());
        }
    }
}
