//! The error every storage-like adapter (DynamoDB, SQS, Redis) returns.

use crate::error::{Classify, ErrorClass};
use crate::timeout::TimedOut;

/// A boxed error source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The call ran out of its time budget and was cancelled.
    #[error(transparent)]
    Timeout(#[from] TimedOut),
    /// A conditional write was refused: the caller no longer owns the record or its state moved.
    #[error("condition failed: {0}")]
    Conflict(String),
    /// The backend answered with an error or could not be reached.
    #[error("{dependency} failed ({})", class.as_str())]
    Backend {
        /// Which dependency.
        dependency: &'static str,
        /// Its class, from the typed error.
        class: ErrorClass,
        /// The underlying error (for logs).
        #[source]
        source: BoxError,
    },
    /// A stored record could not be read back (missing or mistyped attribute).
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// A backend error of `class`.
    pub fn backend(
        dependency: &'static str,
        class: ErrorClass,
        source: impl Into<BoxError>,
    ) -> Self {
        Self::Backend {
            dependency,
            class,
            source: source.into(),
        }
    }
}

impl Classify for StoreError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Timeout(t) => t.class(),
            Self::Conflict(_) => ErrorClass::Transient,
            Self::Backend { class, .. } => *class,
            Self::Corrupt(_) => ErrorClass::Permanent,
        }
    }
}
