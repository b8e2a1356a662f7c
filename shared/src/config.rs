//! Typed configuration: every variable read once at cold start, every problem reported at once.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// A secret value that never prints itself, not even a prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProblem {
    /// A required variable is absent or empty.
    Missing(String),
    /// A variable is present but not valid; the value is not repeated (it may be secret).
    Invalid {
        /// Variable name.
        name: String,
        /// What was expected.
        expected: String,
    },
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(name) => write!(f, "{name} is missing"),
            Self::Invalid { name, expected } => write!(f, "{name} is invalid: expected {expected}"),
        }
    }
}

/// Every configuration problem found, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ConfigError {
    /// The problems, in the order the variables were read.
    pub problems: Vec<ConfigProblem>,
}

/// Reads variables from a source and collects problems instead of stopping at the first.
///
/// ```
/// use shared::config::Env;
/// let mut env = Env::from_pairs([("TABLE", "claims"), ("LIMIT", "five")]);
/// let table = env.required("TABLE");
/// let limit: Option<u32> = env.parsed_or("LIMIT", 5, "a whole number");
/// let missing = env.required("QUEUE_URL");
/// let err = env.finish().unwrap_err();
/// assert_eq!(err.problems.len(), 2);
/// # let _ = (table, limit, missing);
/// ```
#[derive(Debug)]
pub struct Env {
    vars: HashMap<String, String>,
    problems: Vec<ConfigProblem>,
}

impl Env {
    /// Reads the process environment.
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars())
    }

    /// Reads the given pairs (for tests and the local stack).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            problems: Vec::new(),
        }
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A required string; records a problem when absent.
    pub fn required(&mut self, name: &str) -> Option<String> {
        let value = self.raw(name).map(str::to_owned);
        if value.is_none() {
            self.problems.push(ConfigProblem::Missing(name.to_owned()));
        }
        value
    }

    /// An optional string.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.raw(name).map(str::to_owned)
    }

    /// A required secret.
    pub fn secret(&mut self, name: &str) -> Option<Secret<String>> {
        self.required(name).map(Secret::new)
    }

    /// A required secret key of at least [`MIN_KEY_BYTES`] bytes (an HMAC key).
    pub fn key(&mut self, name: &str) -> Option<Secret<String>> {
        let key = self.secret(name)?;
        if key.expose().len() < MIN_KEY_BYTES {
            self.invalid(name, "a random key of at least 32 bytes");
            return None;
        }
        Some(key)
    }

    /// `LOG_HASH_KEY` (a [`Self::key`]), installed at once as the process-wide key of
    /// [`crate::telemetry::log_hash`]; every function reads it at cold start.
    pub fn log_hash_key(&mut self) -> Option<Secret<String>> {
        let key = self.key("LOG_HASH_KEY")?;
        crate::telemetry::install_log_hash_key(key.expose());
        Some(key)
    }

    /// A required comma-separated list of secrets (for rotation), at least one.
    pub fn secret_list(&mut self, name: &str) -> Option<Vec<Secret<String>>> {
        let raw = self.required(name)?;
        let list = split_secret_list(&raw);
        if list.is_empty() {
            self.invalid(name, "a comma-separated list of secrets");
            return None;
        }
        Some(list)
    }

    /// A value parsed with `FromStr`, or `default` when absent.
    pub fn parsed_or<T: FromStr>(&mut self, name: &str, default: T, expected: &str) -> Option<T> {
        match self.raw(name) {
            None => Some(default),
            Some(raw) => match raw.parse() {
                Ok(v) => Some(v),
                Err(_) => {
                    self.invalid(name, expected);
                    None
                }
            },
        }
    }

    /// A required value parsed with `FromStr`.
    pub fn parsed<T: FromStr>(&mut self, name: &str, expected: &str) -> Option<T> {
        let raw = self.required(name)?;
        match raw.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                self.invalid(name, expected);
                None
            }
        }
    }

    /// Records that `name` is invalid (for checks beyond parsing).
    pub fn invalid(&mut self, name: &str, expected: &str) {
        self.problems.push(ConfigProblem::Invalid {
            name: name.to_owned(),
            expected: expected.to_owned(),
        });
    }

    /// `Ok` when nothing was wrong, else every problem found.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }
}

/// Shortest accepted secret key ([`Env::key`]).
pub const MIN_KEY_BYTES: usize = 32;
/// The secrets of a comma-separated list (blanks dropped), as [`Env::secret_list`] reads them.
pub fn split_secret_list(raw: &str) -> Vec<Secret<String>> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Secret::new(s.to_owned()))
        .collect()
}

/// Unwraps a field that [`Env`] has validated; only call after `finish()` returned `Ok`.
///
/// Returns a config error instead of panicking if misused.
pub fn take<T>(value: Option<T>, name: &str) -> Result<T, ConfigError> {
    value.ok_or_else(|| ConfigError {
        problems: vec![ConfigProblem::Missing(name.to_owned())],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("whsec_abcdef".to_owned());
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(format!("{s}"), "[redacted]");
        assert!(!format!("{s:?} {s}").contains("whsec"));
    }

    #[test]
    fn every_problem_is_reported_together() {
        let mut env = Env::from_pairs([("A", "x"), ("N", "notanumber"), ("EMPTY", "  ")]);
        assert_eq!(env.required("A").as_deref(), Some("x"));
        assert_eq!(env.required("EMPTY"), None);
        assert_eq!(env.parsed::<u32>("N", "a number"), None);
        assert_eq!(env.secret("SECRET"), None);
        let err = env.finish().unwrap_err();
        assert_eq!(
            err.problems,
            vec![
                ConfigProblem::Missing("EMPTY".into()),
                ConfigProblem::Invalid {
                    name: "N".into(),
                    expected: "a number".into()
                },
                ConfigProblem::Missing("SECRET".into()),
            ]
        );
        assert_eq!(
            err.to_string(),
            "invalid configuration: EMPTY is missing; N is invalid: expected a number; SECRET is missing"
        );
    }

    #[test]
    fn invalid_secret_value_is_not_echoed() {
        let mut env = Env::from_pairs([("LIMIT", "sk_live_123")]);
        let _ = env.parsed::<u32>("LIMIT", "a number");
        let msg = env.finish().unwrap_err().to_string();
        assert!(!msg.contains("sk_live"), "{msg}");
    }

    #[test]
    fn secret_lists_split_on_commas() {
        let mut env = Env::from_pairs([("S", "a, b,,c")]);
        let list = env.secret_list("S").unwrap();
        assert_eq!(
            list.iter().map(|s| s.expose().as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert!(env.finish().is_ok());
    }

    #[test]
    fn keys_need_32_bytes_and_short_ones_are_not_echoed() {
        let mut env = Env::from_pairs([("K", "short-key"), ("L", &"k".repeat(32))]);
        assert!(env.key("K").is_none());
        assert_eq!(env.key("L").map(|k| k.expose().len()), Some(32));
        let msg = env.finish().unwrap_err().to_string();
        assert_eq!(
            msg,
            "invalid configuration: K is invalid: expected a random key of at least 32 bytes"
        );
    }

    #[test]
    fn defaults_apply_when_absent() {
        let mut env = Env::from_pairs::<&str, &str>([]);
        assert_eq!(env.parsed_or("X", 7u32, "n"), Some(7));
        assert!(env.finish().is_ok());
    }
}
