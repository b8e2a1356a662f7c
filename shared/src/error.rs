//! Error classes and their single mapping to HTTP answers (RFC 9457 problem+json).
//!
//! Every error in the bundle is reduced to an [`ErrorClass`], decided from typed sources
//! (SDK error kinds, HTTP statuses, io error kinds), never from message text.

use std::time::Duration;

use serde::Serialize;

/// What kind of failure an error is; drives retries, HTTP status and alerting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The caller sent something malformed; retrying the same input will not help.
    Validation,
    /// Authentication failed (bad credentials, bad signature).
    Auth,
    /// The caller is over a rate limit.
    RateLimited,
    /// A passing fault (throttling, 5xx, timeout); retry later.
    Transient,
    /// A dependency is down (circuit open, unreachable); retry later.
    DependencyDown,
    /// The function is misconfigured; an operator must act.
    Config,
    /// Retrying will never help (rejected message, unknown resource).
    Permanent,
}

impl ErrorClass {
    /// Whether a later attempt of the same work may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::Transient | Self::DependencyDown | Self::RateLimited
        )
    }

    /// Stable lower-case name, used in logs and metric dimensions.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validation => "validation",
            Self::Auth => "auth",
            Self::RateLimited => "rate_limited",
            Self::Transient => "transient",
            Self::DependencyDown => "dependency_down",
            Self::Config => "config",
            Self::Permanent => "permanent",
        }
    }

    /// The HTTP status this class answers with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::Validation => 400,
            Self::Auth => 401,
            Self::RateLimited => 429,
            Self::Transient | Self::DependencyDown => 503,
            Self::Config | Self::Permanent => 500,
        }
    }

    /// Classify an HTTP status returned by a dependency.
    pub fn from_http_status(status: u16) -> Self {
        match status {
            429 => Self::Transient,
            408 => Self::Transient,
            401 | 403 => Self::Config,
            400..=499 => Self::Permanent,
            500..=599 => Self::Transient,
            _ => Self::Transient,
        }
    }

    /// Classify an io error by its kind.
    pub fn from_io_kind(kind: std::io::ErrorKind) -> Self {
        use std::io::ErrorKind as K;
        match kind {
            K::ConnectionRefused
            | K::NotConnected
            | K::AddrNotAvailable
            | K::HostUnreachable
            | K::NetworkUnreachable => Self::DependencyDown,
            K::PermissionDenied | K::NotFound => Self::Config,
            K::InvalidInput | K::InvalidData => Self::Permanent,
            _ => Self::Transient,
        }
    }
}

/// Anything that can say which [`ErrorClass`] it belongs to.
pub trait Classify {
    /// The class of this error.
    fn class(&self) -> ErrorClass;
}

impl Classify for std::io::Error {
    fn class(&self) -> ErrorClass {
        ErrorClass::from_io_kind(self.kind())
    }
}

/// A failure as answered to a client: a class, a public detail, and an optional retry hint.
///
/// `detail` is shown to the client; internal causes belong in logs, not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Class of the failure (decides status and type).
    pub class: ErrorClass,
    /// Short human-readable title.
    pub title: String,
    /// Client-safe explanation of this occurrence.
    pub detail: String,
    /// Seconds the client should wait, sent as `Retry-After`.
    pub retry_after: Option<Duration>,
    /// Overrides the class's status (for example 404, 405, 409, 413, 415).
    pub status_override: Option<u16>,
}

impl Problem {
    /// A problem of `class` with a client-safe `detail`.
    pub fn new(class: ErrorClass, detail: impl Into<String>) -> Self {
        Self {
            class,
            title: default_title(class).to_owned(),
            detail: detail.into(),
            retry_after: None,
            status_override: None,
        }
    }

    /// A `400` for malformed input.
    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(ErrorClass::Validation, detail)
    }

    /// A `503` asking the client to come back after `retry_after`.
    pub fn unavailable(detail: impl Into<String>, retry_after: Duration) -> Self {
        Self::new(ErrorClass::DependencyDown, detail).retry_after(retry_after)
    }

    /// Sets the `Retry-After` hint.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Answers with `status` instead of the class's default (keeps the class for metrics).
    pub fn with_status(mut self, status: u16, title: impl Into<String>) -> Self {
        self.status_override = Some(status);
        self.title = title.into();
        self
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        self.status_override
            .unwrap_or_else(|| self.class.http_status())
    }

    /// `Retry-After` in whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.map(ceil_secs)
    }

    /// The RFC 9457 JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "type": format!("https://errors.bundle.local/{}", self.class.as_str().replace('_', "-")),
            "title": self.title,
            "status": self.status(),
            "detail": self.detail,
        });
        if let (Some(secs), Some(map)) = (self.retry_after_secs(), body.as_object_mut()) {
            map.insert("retry_after".into(), secs.into());
        }
        body
    }
}

/// Whole seconds, rounded up, never below 1: what `Retry-After` should say for `d`.
pub fn ceil_secs(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

fn default_title(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Validation => "Invalid request",
        ErrorClass::Auth => "Unauthorized",
        ErrorClass::RateLimited => "Too many requests",
        ErrorClass::Transient => "Temporarily unavailable",
        ErrorClass::DependencyDown => "Service unavailable",
        ErrorClass::Config => "Server misconfigured",
        ErrorClass::Permanent => "Request could not be processed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_map_to_statuses() {
        assert_eq!(ErrorClass::Validation.http_status(), 400);
        assert_eq!(ErrorClass::Auth.http_status(), 401);
        assert_eq!(ErrorClass::RateLimited.http_status(), 429);
        assert_eq!(ErrorClass::Transient.http_status(), 503);
        assert_eq!(ErrorClass::DependencyDown.http_status(), 503);
        assert_eq!(ErrorClass::Config.http_status(), 500);
        assert_eq!(ErrorClass::Permanent.http_status(), 500);
    }

    #[test]
    fn dependency_statuses_are_classified() {
        assert_eq!(ErrorClass::from_http_status(429), ErrorClass::Transient);
        assert_eq!(ErrorClass::from_http_status(503), ErrorClass::Transient);
        assert_eq!(ErrorClass::from_http_status(400), ErrorClass::Permanent);
        assert_eq!(ErrorClass::from_http_status(403), ErrorClass::Config);
    }

    #[test]
    fn io_kinds_are_classified() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(refused.class(), ErrorClass::DependencyDown);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(reset.class(), ErrorClass::Transient);
    }

    #[test]
    fn problem_body_is_rfc9457_with_rounded_retry_after() {
        let p = Problem::unavailable("storage is down", Duration::from_millis(1500));
        assert_eq!(p.status(), 503);
        assert_eq!(p.retry_after_secs(), Some(2));
        let body = p.body();
        assert_eq!(body["status"], 503);
        assert_eq!(body["detail"], "storage is down");
        assert_eq!(body["type"], "https://errors.bundle.local/dependency-down");
        assert_eq!(body["retry_after"], 2);
    }

    #[test]
    fn status_override_keeps_class() {
        let p = Problem::validation("too large").with_status(413, "Payload too large");
        assert_eq!(p.status(), 413);
        assert_eq!(p.class, ErrorClass::Validation);
        assert_eq!(p.body()["title"], "Payload too large");
    }
}
