//! Renders an [`EmailJob`] into an [`OutgoingEmail`] with a real template engine (minijinja).
//!
//! Templates live in `shared/templates/` and are embedded at build time. The HTML part is
//! auto-escaped (`.html` templates); the text part is plain text. The template is chosen by
//! the job's [`Email`] variant, never inferred from text. Values are prepared here (money from
//! integer minor units, instants in the job's `time_zone` or the business zone, with the zone
//! named; a reminder's "today" / "tomorrow" / "in 1 hour" from the real distance to its start),
//! so templates only place them. Unusable values are a [`RenderError`], which is permanent:
//! retrying cannot fix a job's data.
//!
//! # Adding an email
//!
//! 1. `shared/src/email_job.rs`: a variant of [`Email`] with its data struct, and its arms in
//!    `Email::template_name`, `Email::is_critical`, `Email::data` and `Email::from_wire`;
//! 2. `shared/templates/<name>.txt` and `<name>.html` (the HTML one extends `layout.html`);
//! 3. here: the two files in [`SOURCES`], a function preparing the variant's subject and the
//!    values its templates place, and its arm in [`render`].
//!
//! Producers then build the variant. The compiler points at every `match` that lacks an arm.

mod format;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::{Environment, UndefinedBehavior};

pub use self::format::{local_time, money};
use crate::email_job::{
    AdminAlert, DepositConfirmation, Email, EmailJob, OrderConfirmation, PaymentFailed, Reminder,
    SignInNotice,
};
use crate::error::{Classify, ErrorClass};
use crate::mailer::OutgoingEmail;

/// Why a job could not be rendered. Names fields, never their values (they may be personal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A field has an unusable value.
    #[error("{template}: field `{field}` must be {expected}")]
    Invalid {
        /// Template name.
        template: &'static str,
        /// Field name.
        field: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// The recipient is not a single plausible address.
    #[error("invalid recipient address")]
    Recipient,
    /// The template engine failed (a bug in a template).
    #[error("template engine: {0}")]
    Engine(String),
}

impl Classify for RenderError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Permanent
    }
}

/// Every template file, by name.
pub const SOURCES: [(&str, &str); 13] = [
    ("layout.html", include_str!("../../templates/layout.html")),
    (
        "sign_in_notice.txt",
        include_str!("../../templates/sign_in_notice.txt"),
    ),
    (
        "sign_in_notice.html",
        include_str!("../../templates/sign_in_notice.html"),
    ),
    (
        "order_confirmation.txt",
        include_str!("../../templates/order_confirmation.txt"),
    ),
    (
        "order_confirmation.html",
        include_str!("../../templates/order_confirmation.html"),
    ),
    (
        "deposit_confirmation.txt",
        include_str!("../../templates/deposit_confirmation.txt"),
    ),
    (
        "deposit_confirmation.html",
        include_str!("../../templates/deposit_confirmation.html"),
    ),
    (
        "payment_failed.txt",
        include_str!("../../templates/payment_failed.txt"),
    ),
    (
        "payment_failed.html",
        include_str!("../../templates/payment_failed.html"),
    ),
    ("reminder.txt", include_str!("../../templates/reminder.txt")),
    (
        "reminder.html",
        include_str!("../../templates/reminder.html"),
    ),
    (
        "admin_alert.txt",
        include_str!("../../templates/admin_alert.txt"),
    ),
    (
        "admin_alert.html",
        include_str!("../../templates/admin_alert.html"),
    ),
];

static ENV: LazyLock<Result<Environment<'static>, String>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in SOURCES {
        env.add_template(name, source).map_err(|e| e.to_string())?;
    }
    Ok(env)
});

/// Checks what the data types cannot: non-empty text, currencies, zones, links.
struct Check {
    template: &'static str,
}

impl Check {
    fn invalid(&self, field: &'static str, expected: &'static str) -> RenderError {
        RenderError::Invalid {
            template: self.template,
            field,
            expected,
        }
    }

    /// Trimmed, non-empty text.
    fn text(&self, field: &'static str, value: &str) -> Result<String, RenderError> {
        match value.trim() {
            "" => Err(self.invalid(field, "a non-empty string")),
            text => Ok(text.to_owned()),
        }
    }

    fn money(&self, cents: u64, currency: &str) -> Result<String, RenderError> {
        i64::try_from(cents)
            .ok()
            .and_then(|c| money(c, currency))
            .ok_or_else(|| self.invalid("currency", "an ISO 4217 code"))
    }

    fn time_zone(&self, zone: Option<&str>, default: Tz) -> Result<Tz, RenderError> {
        match zone.map(str::trim).filter(|z| !z.is_empty()) {
            None => Ok(default),
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| self.invalid("time_zone", "an IANA time zone name")),
        }
    }

    /// An http(s) link, or empty when there is none.
    fn link(&self, link: Option<&str>) -> Result<String, RenderError> {
        match link.map(str::trim).filter(|l| !l.is_empty()) {
            None => Ok(String::new()),
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                Ok(url.to_owned())
            }
            Some(_) => Err(self.invalid("meeting_link", "an http(s) URL")),
        }
    }
}

/// Keeps a subject on one line and short.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

fn recipient_ok(to: &str) -> bool {
    let Some((local, domain)) = to.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.contains('@')
        && to.len() <= 254
        && !to
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | ';' | '<' | '>'))
}

/// How far off a start is for a reader at `now` in `tz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// Within 90 minutes: "in 1 hour" (45-90 minutes) or "in N minutes".
    Soon(i64),
    /// Later: the number of local calendar days between now and the start (0 = today).
    Days(i64),
}

impl When {
    /// The distance from `now` to `starts_at` as read in `tz`.
    pub fn of(starts_at: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> Self {
        let minutes = (starts_at - now).num_minutes();
        if minutes <= 90 {
            return Self::Soon(minutes.max(0));
        }
        let local = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
        Self::Days((local(starts_at) - local(now)).num_days())
    }

    /// "in 1 hour", "in 20 minutes", "today", "tomorrow", "in 3 days".
    pub fn label(&self) -> String {
        match *self {
            Self::Soon(45..) => "in 1 hour".to_owned(),
            Self::Soon(m) if m <= 1 => "now".to_owned(),
            Self::Soon(m) => format!("in {m} minutes"),
            Self::Days(..=0) => "today".to_owned(),
            Self::Days(1) => "tomorrow".to_owned(),
            Self::Days(d) => format!("in {d} days"),
        }
    }
}

/// What a template needs: its file (without extension), its subject and the values it places.
struct Prepared {
    file: &'static str,
    subject: String,
    values: Vec<(&'static str, String)>,
}

fn sign_in_notice(d: &SignInNotice, default_tz: Tz) -> Result<Prepared, RenderError> {
    let c = Check {
        template: "sign_in_notice",
    };
    let tz = c.time_zone(d.time_zone.as_deref(), default_tz)?;
    Ok(Prepared {
        file: "sign_in_notice",
        subject: "New sign-in to your account".to_owned(),
        values: vec![
            ("name", c.text("name", &d.name)?),
            ("ip", c.text("ip", &d.ip)?),
            ("signed_in_at", local_time(d.signed_in_at, tz)),
        ],
    })
}

fn order_confirmation(d: &OrderConfirmation) -> Result<Prepared, RenderError> {
    let c = Check {
        template: "order_confirmation",
    };
    let order = c.text("order_id", &d.order_id)?;
    Ok(Prepared {
        file: "order_confirmation",
        subject: format!("Order {order} confirmed"),
        values: vec![
            ("amount", c.money(d.amount_cents, &d.currency)?),
            ("customer_name", c.text("customer_name", &d.customer_name)?),
            ("order_id", order),
        ],
    })
}

fn deposit_confirmation(d: &DepositConfirmation) -> Result<Prepared, RenderError> {
    let c = Check {
        template: "deposit_confirmation",
    };
    let order = c.text("order_id", &d.order_id)?;
    Ok(Prepared {
        file: "deposit_confirmation",
        subject: format!("Deposit received for order {order}"),
        values: vec![
            ("deposit", c.money(d.deposit_cents, &d.currency)?),
            ("balance", c.money(d.balance_cents, &d.currency)?),
            ("total", c.money(d.total_cents, &d.currency)?),
            ("customer_name", c.text("customer_name", &d.customer_name)?),
            ("order_id", order),
        ],
    })
}

fn payment_failed(d: &PaymentFailed) -> Result<Prepared, RenderError> {
    let c = Check {
        template: "payment_failed",
    };
    let invoice = c.text("invoice_id", &d.invoice_id)?;
    Ok(Prepared {
        file: "payment_failed",
        subject: format!("Payment failed for invoice {invoice}"),
        values: vec![
            ("amount", c.money(d.amount_cents, &d.currency)?),
            ("attempt", d.attempt.to_string()),
            ("customer_name", d.customer_name.trim().to_owned()),
            ("invoice_id", invoice),
        ],
    })
}

fn reminder(d: &Reminder, default_tz: Tz, now: DateTime<Utc>) -> Result<Prepared, RenderError> {
    let c = Check {
        template: "reminder",
    };
    let tz = c.time_zone(d.time_zone.as_deref(), default_tz)?;
    let service = c.text("service", &d.service)?;
    let starts_at = local_time(d.starts_at, tz);
    let when = When::of(d.starts_at, now, tz);
    let subject = match when {
        When::Soon(_) => format!("Starting soon: {service}, {starts_at}"),
        When::Days(_) => format!("Reminder: {service} {}, {starts_at}", when.label()),
    };
    Ok(Prepared {
        file: "reminder",
        subject,
        values: vec![
            (
                "appointment_id",
                c.text("appointment_id", &d.appointment_id)?,
            ),
            ("customer_name", c.text("customer_name", &d.customer_name)?),
            ("service", service),
            ("starts_at", starts_at),
            ("meeting_link", c.link(d.meeting_link.as_deref())?),
            ("when_label", when.label()),
        ],
    })
}

fn admin_alert(d: &AdminAlert) -> Result<Prepared, RenderError> {
    let c = Check {
        template: "admin_alert",
    };
    let job_id = c.text("job_id", &d.job_id)?;
    Ok(Prepared {
        file: "admin_alert",
        subject: format!("[alert] Email {job_id} failed permanently"),
        values: vec![
            ("template", c.text("template", &d.template)?),
            ("reason", c.text("reason", &d.reason)?),
            ("job_id", job_id),
        ],
    })
}

/// Renders `job` as an email from `sender`, as read at `now`, showing times in the job's
/// `time_zone` (else `default_time_zone`).
pub fn render(
    job: &EmailJob,
    sender: &str,
    default_time_zone: Tz,
    now: DateTime<Utc>,
) -> Result<OutgoingEmail, RenderError> {
    if !recipient_ok(&job.to) {
        return Err(RenderError::Recipient);
    }
    let prepared = match &job.email {
        Email::SignInNotice(d) => sign_in_notice(d, default_time_zone)?,
        Email::OrderConfirmation(d) => order_confirmation(d)?,
        Email::DepositConfirmation(d) => deposit_confirmation(d)?,
        Email::PaymentFailed(d) => payment_failed(d)?,
        Email::Reminder(d) => reminder(d, default_time_zone, now)?,
        Email::AdminAlert(d) => admin_alert(d)?,
    };
    let subject = one_line(&prepared.subject);
    let mut values: BTreeMap<&'static str, String> = prepared.values.into_iter().collect();
    values.insert("subject", subject.clone());
    values.insert("reference", job.correlation_id.as_str().to_owned());
    let env = ENV.as_ref().map_err(|e| RenderError::Engine(e.clone()))?;
    let ctx = minijinja::Value::from_pairs(values);
    let part = |ext: &str| {
        env.get_template(&format!("{}.{ext}", prepared.file))
            .and_then(|t| t.render(ctx.clone()))
            .map_err(|e| RenderError::Engine(e.to_string()))
    };
    Ok(OutgoingEmail {
        from: sender.to_owned(),
        to: job.to.clone(),
        subject,
        text: part("txt")?,
        html: part("html")?,
        template: job.email.template_name().into_owned(),
    })
}

#[cfg(test)]
mod tests;
