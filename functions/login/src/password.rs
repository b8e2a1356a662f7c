//! Password verification behind a small port (so tests can count how many attempts reach the
//! expensive step): Argon2id with OWASP parameters for our own hashes, bcrypt for users moved
//! from the replaced system (`$2a$`/`$2b$`/`$2y$`, as Supabase Auth stores them). A match on a
//! hash that is not Argon2id at the configured cost asks for a rehash.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use argon2::password_hash::PasswordHasher as _;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

/// OWASP Password Storage Cheat Sheet: Argon2id, 19 MiB, 2 iterations, 1 lane.
pub const M_COST_KIB: u32 = 19_456;
/// Iterations.
pub const T_COST: u32 = 2;
/// Lanes.
pub const P_COST: u32 = 1;

/// The hash verified for unknown emails and limited accounts: an Argon2id hash of the
/// configured cost of a random password nobody knows, embedded so a cold start computes no
/// hash (a unit test checks its parameters match the constants above).
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$YGdu/NZwHNyDXdEp5C+pJw$F3h0qMoikJsgOTeUP5zzvqypc0gdeqqRUJpi/HVxZgQ";

/// Why a hash could not be produced.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The password does not match (or there was no stored hash).
    No,
    /// It matches, and the stored hash is current.
    Yes,
    /// It matches, but the stored hash is bcrypt or weaker Argon2: store a new hash.
    YesRehash,
}

impl Verified {
    /// Whether the password matched.
    pub fn matched(self) -> bool {
        self != Self::No
    }
}

/// Checks passwords against stored hashes and produces new ones.
pub trait PasswordVerifier: Send + Sync + fmt::Debug {
    /// Checks `password` against `stored`. With `None` (unknown email) the dummy hash is
    /// verified, so the answer takes as long, and [`Verified::No`] is returned.
    fn verify(&self, password: &str, stored: Option<&str>) -> Verified;

    /// Spends the time of one verification without looking at any stored hash (a limited
    /// account answers as slowly as a wrong password).
    fn waste(&self, password: &str);

    /// A fresh Argon2id hash of `password` at the configured cost.
    fn hash(&self, password: &str) -> Result<String, HashError>;
}

/// Argon2id (OWASP parameters) and bcrypt, with the embedded dummy hash.
///
/// Verification reuses one Argon2 memory area (19 MiB at the configured cost) instead of
/// allocating a fresh one per hash: a fresh area per call ends up cached by the allocator in
/// each thread's arena (tokio's blocking threads), which is how a warm function reached 87 MB.
/// Lambda hands an instance one request at a time, so the lock is never contended there.
#[derive(Debug, Default)]
pub struct Argon2Passwords {
    memory: Mutex<Vec<Block>>,
}

impl Argon2Passwords {
    /// A verifier whose memory area is allocated at the first verification.
    pub fn new() -> Self {
        Self::default()
    }
}

fn argon2() -> Argon2<'static> {
    // The constants are valid parameters; fall back to the crate defaults (the same OWASP
    // values) rather than panic.
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password to a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub fn hash_password(password: &str) -> Result<String, HashError> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `stored` is a bcrypt hash (`$2a$`, `$2b$`, `$2y$`).
pub fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| stored.starts_with(prefix))
}

/// Whether an Argon2 PHC hash is Argon2id v1.3 with at least the configured cost.
fn is_current(hash: &PasswordHash) -> bool {
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    hash.algorithm == Algorithm::Argon2id.ident()
        && hash.version == Some(Version::V0x13.into())
        && params.m_cost() >= M_COST_KIB
        && params.t_cost() >= T_COST
        && params.p_cost() >= P_COST
}

/// Recomputes the Argon2 hash of `password` with the stored hash's algorithm, version,
/// parameters and salt in `memory` (grown when the hash needs more) and compares in constant
/// time.
fn verify_argon2(memory: &Mutex<Vec<Block>>, password: &str, stored: &str) -> Verified {
    let Ok(hash) = PasswordHash::new(stored) else {
        return Verified::No;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Verified::No;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(hash.algorithm.as_str()),
        hash.version
            .map_or(Ok(Version::default()), Version::try_from),
        Params::try_from(&hash),
    ) else {
        return Verified::No;
    };
    let mut computed = [0u8; 64];
    let Some(out) = computed.get_mut(..expected.len()) else {
        return Verified::No;
    };
    let blocks = params.block_count();
    let mut memory = memory.lock().unwrap_or_else(PoisonError::into_inner);
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt.as_ref(),
        out,
        &mut memory[..blocks],
    );
    if hashed.is_err() || !bool::from(out.ct_eq(expected.as_ref())) {
        Verified::No
    } else if is_current(&hash) {
        Verified::Yes
    } else {
        Verified::YesRehash
    }
}

impl PasswordVerifier for Argon2Passwords {
    fn verify(&self, password: &str, stored: Option<&str>) -> Verified {
        match stored {
            Some(hash) if is_bcrypt(hash) => match bcrypt::verify(password, hash) {
                Ok(true) => Verified::YesRehash,
                _ => Verified::No,
            },
            Some(hash) => verify_argon2(&self.memory, password, hash),
            None => {
                self.waste(password);
                Verified::No
            }
        }
    }

    fn waste(&self, password: &str) {
        let _ = verify_argon2(&self.memory, password, DUMMY_HASH);
    }

    fn hash(&self, password: &str) -> Result<String, HashError> {
        hash_password(password)
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
        let p = Argon2Passwords::new();
        assert_eq!(p.verify("correct horse", Some(&hash)), Verified::Yes);
        assert_eq!(p.verify("wrong horse", Some(&hash)), Verified::No);
        assert_eq!(p.verify("correct horse", None), Verified::No);
        assert_eq!(p.verify("x", Some("not a phc string")), Verified::No);
    }

    #[test]
    fn the_dummy_hash_has_the_configured_cost() {
        let hash = PasswordHash::new(DUMMY_HASH).unwrap();
        assert!(is_current(&hash), "{DUMMY_HASH}");
        let params = Params::try_from(&hash).unwrap();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (M_COST_KIB, T_COST, P_COST)
        );
        assert_eq!(hash.hash.map(|h| h.len()), Some(32));
    }

    #[test]
    fn bcrypt_hashes_of_every_prefix_verify_and_ask_for_a_rehash() {
        let p = Argon2Passwords::new();
        let parts = bcrypt::hash_with_salt("hunter2!", 4, [7u8; 16]).unwrap();
        for version in [
            bcrypt::Version::TwoA,
            bcrypt::Version::TwoB,
            bcrypt::Version::TwoY,
        ] {
            let stored = parts.format_for_version(version);
            assert!(is_bcrypt(&stored), "{stored}");
            assert_eq!(p.verify("hunter2!", Some(&stored)), Verified::YesRehash);
            assert_eq!(p.verify("hunter3!", Some(&stored)), Verified::No);
        }
    }

    #[test]
    fn weaker_argon2_parameters_ask_for_a_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw")
        .unwrap()
        .to_string();
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"pw")
            .unwrap()
            .to_string();
        let p = Argon2Passwords::new();
        assert_eq!(p.verify("pw", Some(&weak)), Verified::YesRehash);
        assert_eq!(p.verify("pw", Some(&argon2i)), Verified::YesRehash);
        assert_eq!(p.verify("px", Some(&weak)), Verified::No);
    }

    /// The reused memory area gives the answers argon2's own verifier gives, for hashes of
    /// every algorithm, version, cost and output length, in any order (the area grows and is
    /// reused partly).
    #[test]
    fn reused_memory_verifies_as_the_argon2_crate_does() {
        use argon2::password_hash::PasswordVerifier as _;
        let hashes: Vec<String> = [
            (Algorithm::Argon2id, Version::V0x13, 64, 1, 1, 32),
            (
                Algorithm::Argon2id,
                Version::V0x13,
                M_COST_KIB,
                T_COST,
                P_COST,
                32,
            ),
            (Algorithm::Argon2i, Version::V0x13, 256, 2, 2, 16),
            (Algorithm::Argon2d, Version::V0x10, 128, 1, 1, 64),
            (Algorithm::Argon2id, Version::V0x13, 32, 3, 4, 24),
        ]
        .into_iter()
        .map(|(algorithm, version, m, t, p, len)| {
            Argon2::new(algorithm, version, Params::new(m, t, p, Some(len)).unwrap())
                .hash_password(b"pw")
                .unwrap()
                .to_string()
        })
        .collect();
        let p = Argon2Passwords::new();
        for stored in hashes.iter().chain(hashes.iter().rev()) {
            let reference = PasswordHash::new(stored).unwrap();
            for guess in ["pw", "pW", ""] {
                let expected = argon2()
                    .verify_password(guess.as_bytes(), &reference)
                    .is_ok();
                assert_eq!(
                    p.verify(guess, Some(stored)).matched(),
                    expected,
                    "{guess} {stored}"
                );
            }
        }
        assert_eq!(
            p.memory.lock().unwrap().len(),
            M_COST_KIB as usize,
            "one area, as large as the largest cost"
        );
    }
}
