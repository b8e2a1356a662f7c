//! Password verification with Argon2id (OWASP parameters), behind a small port so tests can
//! count how many attempts reach the expensive step.

use std::fmt;
use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

/// OWASP Password Storage Cheat Sheet: Argon2id, 19 MiB, 2 iterations, 1 lane.
pub const M_COST_KIB: u32 = 19_456;
/// Iterations.
pub const T_COST: u32 = 2;
/// Lanes.
pub const P_COST: u32 = 1;

/// Why a hash could not be produced.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Checks a password against a stored PHC hash.
pub trait PasswordVerifier: Send + Sync + fmt::Debug {
    /// `true` when `password` matches `stored`. With `None` (unknown email) a dummy hash of
    /// the same cost is verified, so the answer takes as long, and `false` is returned.
    fn verify(&self, password: &str, stored: Option<&str>) -> bool;
}

/// Argon2id with OWASP parameters and a precomputed dummy hash.
#[derive(Debug, Clone)]
pub struct Argon2Passwords {
    dummy: Arc<str>,
}

fn argon2() -> Argon2<'static> {
    // The constants are valid parameters; fall back to the crate defaults (the same OWASP
    // values) rather than panic.
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl Argon2Passwords {
    /// Builds the verifier, hashing a random dummy password once (at cold start).
    pub fn new() -> Result<Self, HashError> {
        let mut random = [0u8; 24];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
        let dummy = hash_password(&hex::encode(random))?;
        Ok(Self {
            dummy: dummy.into(),
        })
    }
}

/// Hashes a password to a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub fn hash_password(password: &str) -> Result<String, HashError> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

impl PasswordVerifier for Argon2Passwords {
    fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        match stored {
            Some(phc) => argon2().verify_password(password.as_bytes(), phc).is_ok(),
            None => {
                let _ = argon2().verify_password(password.as_bytes(), &*self.dummy);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_use_owasp_argon2id_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let p = Argon2Passwords::new().unwrap();
        assert!(p.verify("correct horse", Some(&hash)));
        assert!(!p.verify("wrong horse", Some(&hash)));
        assert!(!p.verify("correct horse", None));
        assert!(!p.verify("x", Some("not a phc string")));
    }
}
