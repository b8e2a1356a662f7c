//! `login` function: `POST /auth/login`.
//!
//! The story of one attempt: parse (4xx problem+json on anything malformed) → count the
//! client IP (429 over its limit) → only then count the account, or the device when the
//! request carries a valid device cookie for this account → look the user up (503 if storage
//! is down, never 401; skipped when limited) → verify the password (a dummy hash for unknown
//! emails and for a limited account or device, so every 401 takes as long) → on success upgrade an old hash,
//! store the session (SHA-256 of the token), clear the counter that was counted, queue the
//! sign-in notice, answer 200 with the session and a fresh device cookie.

pub mod app;
pub mod client_ip;
pub mod config;
pub mod device;
pub mod import;
pub mod notice;
pub mod password;
pub mod ratelimit;
pub mod request;
pub mod session;
pub mod users;

use std::sync::Arc;

use chrono::SecondsFormat;
use lambda_http::http::{HeaderMap, HeaderValue, header};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::claims::ClaimStore;
use shared::clock::SharedClock;
use shared::error::{Classify, ErrorClass, Problem};
use shared::metrics::{Metric, Metrics};
use shared::queue::EmailQueue;
use shared::ratelimit::{Decision, RateCheck, RateLimiter};
use shared::telemetry::{CorrelationId, log_hash};

pub use crate::config::{Config, Settings};
use crate::device::DeviceCookies;
use crate::password::{PasswordVerifier, Verified};
use crate::ratelimit::{Principal, rate_limit_headers};
use crate::request::Attempt;
use crate::session::SessionToken;
use crate::users::{Session, User, UserStore};

/// Detail of every failed sign-in (unknown email, wrong password, account limited).
pub const UNAUTHORIZED_DETAIL: &str = "the email or password is incorrect";

/// The sign-in service: its ports and settings (built by [`App::from_aws`] in Lambda, or
/// [`App::build`] from ready ports in tests and the local stack).
#[derive(Debug, Clone)]
pub struct App {
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
    /// Device cookies (issue and verify).
    pub devices: DeviceCookies,
    /// Time source.
    pub clock: SharedClock,
    /// Reliability counters.
    pub metrics: Metrics,
    /// Limits and lifetimes.
    pub settings: Settings,
}

/// How the counters admitted an attempt that passed the IP limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// Go on to the password check.
    Open,
    /// The account (or device) is over its limit: answered like a wrong password, as slowly.
    Limited,
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

impl App {
    /// Handles one API Gateway request; every expected failure is an `Ok` answer.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        match request::parse(&request) {
            Ok(attempt) => self.sign_in(attempt, request.headers()).await,
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

    /// The one answer for unknown email, wrong password and a limited account or device.
    fn unauthorized(&self, ip: &Decision) -> Response<Body> {
        self.with_limits(
            problem(&Problem::new(ErrorClass::Auth, UNAUTHORIZED_DETAIL)),
            ip,
        )
    }

    /// Counts one counter; a limiter failure is the `503` answer.
    async fn count(&self, check: RateCheck) -> Result<Decision, Response<Body>> {
        match self.limiter.check(std::slice::from_ref(&check)).await {
            Ok(decisions) => decisions
                .first()
                .copied()
                .ok_or_else(|| self.unavailable("rate limiter", ErrorClass::Permanent)),
            Err(e) => Err(self.unavailable("rate limiter", e.class())),
        }
    }

    /// The IP counter (`429` over its limit), then, only for an attempt the IP limit allowed,
    /// the account's or device's counter.
    async fn admit(
        &self,
        attempt: &Attempt,
        principal: &Principal<'_>,
    ) -> Result<(Decision, Admission), Response<Body>> {
        let limits = &self.settings.limits;
        let ip = self.count(limits.ip_check(&attempt.ip)).await?;
        if !ip.allowed {
            tracing::info!(ip = %log_hash(attempt.ip.key()), "sign-in refused: IP over its limit");
            self.metrics.count(Metric::RateLimitDenied, 1.0, Some("ip"));
            let p = Problem::new(
                ErrorClass::RateLimited,
                "too many sign-in attempts from this address; retry later",
            )
            .retry_after(ratelimit::policy_retry_after(&ip));
            return Err(self.with_limits(problem(&p), &ip));
        }
        let own = self.count(limits.principal_check(principal)).await?;
        if own.allowed {
            return Ok((ip, Admission::Open));
        }
        let email = log_hash(&attempt.email);
        match principal {
            Principal::Account(_) => {
                tracing::info!(email = %email, "sign-in refused: account over its limit");
            }
            Principal::Device(_) => {
                tracing::info!(email = %email, "sign-in refused: device over its limit");
            }
        }
        self.metrics
            .count(Metric::RateLimitDenied, 1.0, Some(principal.kind()));
        Ok((ip, Admission::Limited))
    }

    /// Verifies on a blocking thread; a limited attempt spends the same time on the dummy
    /// hash and fails.
    async fn check_password(
        &self,
        password: &str,
        user: Option<&User>,
        admission: Admission,
    ) -> Result<Verified, Response<Body>> {
        let stored = user.map(|u| u.password_hash.clone());
        let passwords = Arc::clone(&self.passwords);
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || match admission {
            Admission::Open => passwords.verify(&password, stored.as_deref()),
            Admission::Limited => {
                passwords.waste(&password);
                Verified::No
            }
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "password verification crashed");
            problem(&Problem::new(ErrorClass::Permanent, "sign-in failed"))
        })
    }

    /// Replaces a bcrypt or weaker Argon2 hash by a current Argon2id one, conditionally on
    /// the hash read (concurrent sign-ins upgrade it once). Never fails the sign-in.
    async fn upgrade_hash(&self, user: &User, password: &str) {
        let passwords = Arc::clone(&self.passwords);
        let password = password.to_owned();
        let new_hash = match tokio::task::spawn_blocking(move || passwords.hash(&password)).await {
            Ok(Ok(hash)) => hash,
            Ok(Err(e)) => return tracing::warn!(error = %e, "password hash not upgraded"),
            Err(e) => return tracing::warn!(error = %e, "password hash not upgraded"),
        };
        let replaced = self
            .users
            .replace_password_hash(&user.email, &user.password_hash, &new_hash)
            .await;
        match replaced {
            Ok(true) => tracing::info!(user_id = %user.id, "password hash upgraded to argon2id"),
            Ok(false) => tracing::info!(user_id = %user.id, "password hash already upgraded"),
            Err(e) => {
                tracing::warn!(user_id = %user.id, class = e.class().as_str(), "password hash not upgraded");
            }
        }
    }

    async fn sign_in(&self, attempt: Attempt, headers: &HeaderMap) -> Response<Body> {
        let device = self
            .devices
            .from_headers(headers, &attempt.email, self.clock.now());
        let principal = device
            .as_ref()
            .map_or(Principal::Account(&attempt.email), Principal::Device);
        let (ip, admission) = match self.admit(&attempt, &principal).await {
            Ok(admitted) => admitted,
            Err(response) => return response,
        };
        // A limited attempt reads no user: under attack it costs no storage read, and it
        // differs from a wrong password by one key lookup, a few percent of the hash time.
        let user = match admission {
            Admission::Limited => None,
            Admission::Open => match self.users.find_user(&attempt.email).await {
                Ok(u) => u,
                Err(e) => return self.unavailable("users", e.class()),
            },
        };
        let verified = match self
            .check_password(&attempt.password, user.as_ref(), admission)
            .await
        {
            Ok(v) => v,
            Err(response) => return response,
        };
        match (verified, user) {
            (Verified::No, _) | (_, None) => {
                tracing::info!(
                    email = %log_hash(&attempt.email),
                    ip = %log_hash(attempt.ip.key()),
                    device = device.is_some(),
                    "sign-in failed"
                );
                self.unauthorized(&ip)
            }
            (verified, Some(user)) => {
                if verified == Verified::YesRehash {
                    self.upgrade_hash(&user, &attempt.password).await;
                }
                self.signed_in(&attempt, &user, &principal, &ip).await
            }
        }
    }

    /// After a verified password: session, counter cleared, notice queued, `200`.
    async fn signed_in(
        &self,
        attempt: &Attempt,
        user: &User,
        principal: &Principal<'_>,
        ip: &Decision,
    ) -> Response<Body> {
        let now = self.clock.now();
        let token = SessionToken::generate();
        let session = Session {
            token_sha256: token.sha256_hex(),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: session::expiry(now, self.settings.session_ttl),
        };
        // The session write and the counter reset are independent: one wait for both. A
        // trusted device clears its own counter only: the owner signing in must not hand
        // strangers a fresh batch of guesses against the account.
        let counter = principal.key();
        let (created, reset) = tokio::join!(
            self.users.create_session(&session),
            self.limiter.reset(&counter)
        );
        if let Err(e) = reset {
            tracing::warn!(
                class = e.class().as_str(),
                counter = principal.kind(),
                "counter not cleared"
            );
        }
        if let Err(e) = created {
            return self.unavailable("sessions", e.class());
        }
        let correlation = attempt
            .request_id
            .as_deref()
            .map_or_else(CorrelationId::random, CorrelationId::from_upstream);
        let job = notice::job(user, &attempt.ip, now, correlation);
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
        tracing::info!(
            user_id = %user.id,
            ip = %log_hash(attempt.ip.key()),
            device = matches!(principal, Principal::Device(_)),
            notice = ?outcome,
            "signed in"
        );
        let body = json!({
            "user": { "id": user.id, "email": user.email, "name": user.name },
            "session": {
                "token": token.expose(),
                "expires_at": session.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            },
        });
        let mut response = shared::http::json(200, &body, "application/json");
        let device_cookie = self
            .devices
            .set_cookie(&self.devices.issue(&attempt.email, now));
        let cookies = [
            session::cookie(&token, self.settings.session_ttl),
            device_cookie,
        ];
        for cookie in cookies {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        self.with_limits(response, ip)
    }
}
