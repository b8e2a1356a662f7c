//! `login` function: `POST /auth/login`.
//!
//! The story of one attempt: parse (4xx problem+json on anything malformed) → count the
//! client IP and the account in one rate-limiter round trip (Redis, else DynamoDB, else 503)
//! → look the user up (503 if storage is down, never 401) → verify the Argon2id hash (a dummy
//! one for unknown emails) → on success store the session (SHA-256 of the token), clear the
//! account counter, queue the sign-in notice, answer 200 with the token and a cookie.

pub mod client_ip;
pub mod config;
pub mod notice;
pub mod password;
pub mod ratelimit;
pub mod request;
pub mod session;
pub mod users;

use std::sync::Arc;

use chrono::SecondsFormat;
use lambda_http::http::{HeaderValue, header};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::claims::ClaimStore;
use shared::clock::SharedClock;
use shared::error::{Classify, ErrorClass, Problem};
use shared::metrics::{Metric, Metrics};
use shared::queue::EmailQueue;
use shared::ratelimit::{Decision, RateLimiter};
use shared::telemetry::{CorrelationId, log_hash};

pub use crate::config::{Config, Settings};
use crate::password::PasswordVerifier;
use crate::ratelimit::{LoginLimits, LoginVerdict, rate_limit_headers};
use crate::request::Attempt;
use crate::session::SessionToken;
use crate::users::{Session, UserStore};

/// Detail of every failed sign-in (unknown email, wrong password, account limited).
pub const UNAUTHORIZED_DETAIL: &str = "the email or password is incorrect";

/// The sign-in service: its ports and settings.
#[derive(Debug, Clone)]
pub struct Login {
    /// Users and sessions.
    pub users: Arc<dyn UserStore>,
    /// The rate-limit chain (Redis → DynamoDB in production).
    pub limiter: Arc<dyn RateLimiter>,
    /// Password verification.
    pub passwords: Arc<dyn PasswordVerifier>,
    /// Claims (sign-in notice dedup).
    pub claims: Arc<dyn ClaimStore>,
    /// Email queue (sign-in notice).
    pub queue: Arc<dyn EmailQueue>,
    /// Time source.
    pub clock: SharedClock,
    /// Reliability counters.
    pub metrics: Metrics,
    /// Limits and lifetimes.
    pub settings: Settings,
}

fn problem(p: &Problem) -> Response<Body> {
    let mut response = shared::http::problem(p);
    if p.status() == 405 {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

impl Login {
    /// Handles one API Gateway request; every expected failure is an `Ok` answer.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        match request::parse(&request) {
            Ok(attempt) => self.sign_in(attempt).await,
            Err(p) => {
                tracing::info!(status = p.status(), detail = %p.detail, "sign-in request rejected");
                problem(&p)
            }
        }
    }

    fn unavailable(&self, what: &str, class: ErrorClass) -> Response<Body> {
        tracing::error!(
            dependency = what,
            class = class.as_str(),
            "sign-in unavailable"
        );
        problem(&Problem::unavailable(
            "sign-in is temporarily unavailable; retry later",
            self.settings.unavailable_retry_after,
        ))
    }

    fn with_limits(&self, mut response: Response<Body>, ip: &Decision) -> Response<Body> {
        rate_limit_headers(response.headers_mut(), self.settings.limits.per_ip, ip);
        response
    }

    /// The one answer for unknown email, wrong password and a limited account.
    fn unauthorized(&self, ip: &Decision) -> Response<Body> {
        self.with_limits(
            problem(&Problem::new(ErrorClass::Auth, UNAUTHORIZED_DETAIL)),
            ip,
        )
    }

    async fn sign_in(&self, attempt: Attempt) -> Response<Body> {
        let email_hash = log_hash(&attempt.email);
        let ip_hash = log_hash(attempt.ip.key());
        let checks = self.settings.limits.checks(&attempt.ip, &attempt.email);
        let decisions = match self.limiter.check(&checks).await {
            Ok(d) => d,
            Err(e) => return self.unavailable("rate limiter", e.class()),
        };
        let Some(verdict) = LoginLimits::verdict(&decisions) else {
            return self.unavailable("rate limiter", ErrorClass::Permanent);
        };
        let ip = match verdict {
            LoginVerdict::Proceed { ip } => ip,
            LoginVerdict::IpLimited { ip } => {
                tracing::info!(ip = %ip_hash, "sign-in refused: IP over its limit");
                self.metrics.count(Metric::RateLimitDenied, 1.0, Some("ip"));
                let p = Problem::new(
                    ErrorClass::RateLimited,
                    "too many sign-in attempts from this address; retry later",
                )
                .retry_after(ratelimit::policy_retry_after(&ip));
                return self.with_limits(problem(&p), &ip);
            }
            LoginVerdict::AccountLimited { ip } => {
                tracing::info!(email = %email_hash, "sign-in refused: account over its limit");
                self.metrics
                    .count(Metric::RateLimitDenied, 1.0, Some("account"));
                return self.unauthorized(&ip);
            }
        };

        let user = match self.users.find_user(&attempt.email).await {
            Ok(u) => u,
            Err(e) => return self.unavailable("users", e.class()),
        };
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let passwords = Arc::clone(&self.passwords);
        let password = attempt.password.clone();
        let verified =
            tokio::task::spawn_blocking(move || passwords.verify(&password, stored.as_deref()))
                .await;
        let user = match (verified, user) {
            (Ok(true), Some(user)) => user,
            (Ok(_), _) => {
                tracing::info!(email = %email_hash, ip = %ip_hash, "sign-in failed");
                return self.unauthorized(&ip);
            }
            (Err(e), _) => {
                tracing::error!(error = %e, "password verification crashed");
                return problem(&Problem::new(ErrorClass::Permanent, "sign-in failed"));
            }
        };

        let now = self.clock.now();
        let token = SessionToken::generate();
        let session = Session {
            token_sha256: token.sha256_hex(),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: session::expiry(now, self.settings.session_ttl),
        };
        if let Err(e) = self.users.create_session(&session).await {
            return self.unavailable("sessions", e.class());
        }
        if let Err(e) = self
            .limiter
            .reset(&LoginLimits::account_key(&attempt.email))
            .await
        {
            tracing::warn!(class = e.class().as_str(), email = %email_hash, "account counter not cleared");
        }
        let correlation = attempt
            .request_id
            .as_deref()
            .map_or_else(CorrelationId::random, CorrelationId::from_upstream);
        let job = notice::job(&user, &attempt.ip, now, correlation);
        let outcome = notice::queue_notice(
            self.claims.as_ref(),
            self.queue.as_ref(),
            &self.metrics,
            &job,
            &user.id,
            &attempt.ip,
            now,
        )
        .await;
        tracing::info!(user_id = %user.id, ip = %ip_hash, notice = ?outcome, "signed in");

        let body = json!({
            "user": { "id": user.id, "email": user.email, "name": user.name },
            "session": {
                "token": token.expose(),
                "expires_at": session.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            },
        });
        let mut response = shared::http::json(200, &body, "application/json");
        if let Ok(cookie) =
            HeaderValue::from_str(&session::cookie(&token, self.settings.session_ttl))
        {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        self.with_limits(response, &ip)
    }
}
