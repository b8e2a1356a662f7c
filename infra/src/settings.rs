//! What the local stack is configured with: flags first, then environment variables, then
//! local defaults. Every problem is reported together, each with a one-line fix.

use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;

/// Default HTTP port.
pub const DEFAULT_PORT: u16 = 3000;
/// Webhook signing secret used when `STRIPE_WEBHOOK_SECRETS` is not set (local only).
pub const LOCAL_WEBHOOK_SECRET: &str = "whsec_local_dev_secret";
/// Sender address used when `SENDER_EMAIL` is not set.
pub const LOCAL_SENDER: &str = "bookings@example.com";
/// Admin address used when `ADMIN_EMAIL` is not set.
pub const LOCAL_ADMIN: &str = "admin@example.com";

/// Which adapters the functions get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded in-memory adapters (no services needed).
    Memory,
    /// DynamoDB/SQS/SES at `AWS_ENDPOINT_URL` (or real AWS) and Redis at `REDIS_URL`.
    Services,
}

impl Backend {
    /// Parses `memory` or `services`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "memory" => Ok(Self::Memory),
            "services" => Ok(Self::Services),
            other => Err(format!(
                "unknown backend `{other}`; fix: use --backend memory (default) or --backend services"
            )),
        }
    }

    /// `memory` or `services`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Services => "services",
        }
    }
}

/// Settings of one local stack.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// Adapters.
    pub backend: Backend,
    /// Port on 127.0.0.1 (0 picks a free one).
    pub port: u16,
    /// Seconds between scheduled reminder runs (0 turns the schedule off).
    pub reminder_interval: Duration,
    /// Where the in-memory mailer writes `.eml` files.
    pub outbox: PathBuf,
    /// Webhook signing secrets (the first one signs `stripe-send`).
    pub webhook_secrets: Vec<String>,
    /// Sender address (a verified identity).
    pub sender: String,
    /// Admin alert address.
    pub admin_email: String,
    /// Business time zone.
    pub time_zone: Tz,
    /// Email worker backoff base and cap (short locally, so retries are visible).
    pub email_backoff: (Duration, Duration),
    /// Whether demo data is seeded on start.
    pub seed_demo: bool,
    /// Whether emails and events are printed to stdout.
    pub announce: bool,
    /// Whether the email worker polls the queue in the background.
    pub run_worker: bool,
}

impl LocalSettings {
    /// Local defaults on the memory backend, port 3000.
    pub fn local_defaults() -> Self {
        Self {
            backend: Backend::Memory,
            port: DEFAULT_PORT,
            reminder_interval: Duration::from_secs(60),
            outbox: PathBuf::from(".local/outbox"),
            webhook_secrets: vec![LOCAL_WEBHOOK_SECRET.to_owned()],
            sender: LOCAL_SENDER.to_owned(),
            admin_email: LOCAL_ADMIN.to_owned(),
            time_zone: chrono_tz::America::New_York,
            email_backoff: (Duration::from_secs(2), Duration::from_secs(30)),
            seed_demo: true,
            announce: true,
            run_worker: true,
        }
    }

    /// Applies the environment (`BUNDLE_BACKEND`, `BUNDLE_PORT`, `REMINDER_INTERVAL_SECONDS`,
    /// `STRIPE_WEBHOOK_SECRETS`, `SENDER_EMAIL`, `ADMIN_EMAIL`, `BUSINESS_TIME_ZONE`,
    /// `EMAIL_BACKOFF_BASE_SECONDS`, `EMAIL_BACKOFF_CAP_SECONDS`); every problem at once.
    pub fn apply_env(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        if let Some(b) = var("BUNDLE_BACKEND") {
            match Backend::parse(&b) {
                Ok(b) => self.backend = b,
                Err(e) => problems.push(format!("BUNDLE_BACKEND: {e}")),
            }
        }
        let number = |name: &str, fix: &str, problems: &mut Vec<String>| -> Option<u64> {
            let raw = var(name)?;
            match raw.trim().parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    problems.push(format!("{name}={raw:?} is not a whole number; fix: {fix}"));
                    None
                }
            }
        };
        if let Some(p) = number("BUNDLE_PORT", "export BUNDLE_PORT=3000", &mut problems) {
            match u16::try_from(p) {
                Ok(p) => self.port = p,
                Err(_) => {
                    problems.push("BUNDLE_PORT is above 65535; fix: export BUNDLE_PORT=3000".into())
                }
            }
        }
        let interval_fix = "export REMINDER_INTERVAL_SECONDS=60";
        if let Some(s) = number("REMINDER_INTERVAL_SECONDS", interval_fix, &mut problems) {
            self.reminder_interval = Duration::from_secs(s);
        }
        let base_fix = "export EMAIL_BACKOFF_BASE_SECONDS=2";
        if let Some(s) = number("EMAIL_BACKOFF_BASE_SECONDS", base_fix, &mut problems) {
            self.email_backoff.0 = Duration::from_secs(s);
        }
        let cap_fix = "export EMAIL_BACKOFF_CAP_SECONDS=30";
        if let Some(s) = number("EMAIL_BACKOFF_CAP_SECONDS", cap_fix, &mut problems) {
            self.email_backoff.1 = Duration::from_secs(s);
        }
        if let Some(list) = var("STRIPE_WEBHOOK_SECRETS") {
            let secrets: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if secrets.is_empty() {
                problems.push(
                    "STRIPE_WEBHOOK_SECRETS is empty; fix: unset it (local secret) or export STRIPE_WEBHOOK_SECRETS=whsec_..."
                        .into(),
                );
            } else {
                self.webhook_secrets = secrets;
            }
        }
        if let Some(s) = var("SENDER_EMAIL") {
            self.sender = s;
        }
        if let Some(s) = var("ADMIN_EMAIL") {
            self.admin_email = s;
        }
        if let Some(z) = var("BUSINESS_TIME_ZONE") {
            match z.parse::<Tz>() {
                Ok(z) => self.time_zone = z,
                Err(_) => problems.push(format!(
                    "BUSINESS_TIME_ZONE={z:?} is not an IANA zone; fix: export BUSINESS_TIME_ZONE=America/New_York"
                )),
            }
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(problems)
        }
    }

    /// The secret `stripe-send` signs with.
    pub fn signing_secret(&self) -> &str {
        self.webhook_secrets
            .first()
            .map_or(LOCAL_WEBHOOK_SECRET, String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_every_problem_is_reported() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let ok = LocalSettings::local_defaults()
            .apply_env(env(&[
                ("BUNDLE_BACKEND", "services"),
                ("BUNDLE_PORT", "4000"),
                ("STRIPE_WEBHOOK_SECRETS", "whsec_a, whsec_b"),
            ]))
            .unwrap();
        assert_eq!(ok.backend, Backend::Services);
        assert_eq!(ok.port, 4000);
        assert_eq!(ok.signing_secret(), "whsec_a");
        let err = LocalSettings::local_defaults()
            .apply_env(env(&[
                ("BUNDLE_BACKEND", "cloud"),
                ("BUNDLE_PORT", "x"),
                ("BUSINESS_TIME_ZONE", "Mars/Base"),
            ]))
            .unwrap_err();
        assert_eq!(err.len(), 3, "{err:?}");
        assert!(err.iter().all(|e| e.contains("fix:")), "{err:?}");
    }
}
