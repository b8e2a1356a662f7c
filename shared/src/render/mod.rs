//! Renders an [`EmailJob`] into an [`OutgoingEmail`] with a real template engine (minijinja).
//!
//! Templates live in `shared/templates/` and are embedded at build time. The HTML part is
//! auto-escaped (`.html` templates); the text part is plain text. Values are prepared here
//! (money from integer minor units, instants in the job's `time_zone` or the business zone,
//! with the zone named), so templates only place them. Missing or invalid data is a
//! [`RenderError`], which is permanent: retrying cannot fix the job's data.

mod format;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

pub use self::format::{local_time, money};
use crate::email_job::{EmailJob, EmailTemplate};
use crate::error::{Classify, ErrorClass};
use crate::mailer::OutgoingEmail;

/// Why a job could not be rendered. Names fields, never their values (they may be personal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A required field is absent or null.
    #[error("{template}: missing field `{field}`")]
    Missing {
        /// Template name.
        template: &'static str,
        /// Field name.
        field: &'static str,
    },
    /// A field has the wrong type or an unusable value.
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

static ENV: LazyLock<Result<Environment<'static>, String>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let sources = [
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
    for (name, source) in sources {
        env.add_template(name, source).map_err(|e| e.to_string())?;
    }
    Ok(env)
});

/// The snake_case name of a template (as in job JSON and file names).
pub fn template_name(template: EmailTemplate) -> &'static str {
    match template {
        EmailTemplate::SignInNotice => "sign_in_notice",
        EmailTemplate::OrderConfirmation => "order_confirmation",
        EmailTemplate::DepositConfirmation => "deposit_confirmation",
        EmailTemplate::PaymentFailed => "payment_failed",
        EmailTemplate::Reminder24h => "reminder_24h",
        EmailTemplate::Reminder1h => "reminder_1h",
        EmailTemplate::AdminAlert => "admin_alert",
    }
}

/// Reads typed fields of a job's data, with errors naming the field.
struct Fields<'a> {
    template: &'static str,
    data: &'a Value,
}

impl Fields<'_> {
    fn raw(&self, field: &'static str) -> Result<&Value, RenderError> {
        match self.data.get(field) {
            None | Some(Value::Null) => Err(RenderError::Missing {
                template: self.template,
                field,
            }),
            Some(v) => Ok(v),
        }
    }

    fn invalid(&self, field: &'static str, expected: &'static str) -> RenderError {
        RenderError::Invalid {
            template: self.template,
            field,
            expected,
        }
    }

    /// A non-empty string (integers are accepted and shown as written).
    fn text(&self, field: &'static str) -> Result<String, RenderError> {
        let text = match self.raw(field)? {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            _ => return Err(self.invalid(field, "a string")),
        };
        if text.is_empty() {
            return Err(self.invalid(field, "a non-empty string"));
        }
        Ok(text)
    }

    fn opt_text(&self, field: &'static str) -> Result<Option<String>, RenderError> {
        match self.data.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.text(field).map(Some),
        }
    }

    fn cents(&self, field: &'static str) -> Result<i64, RenderError> {
        self.raw(field)?
            .as_i64()
            .filter(|c| *c >= 0)
            .ok_or_else(|| self.invalid(field, "a non-negative integer amount in minor units"))
    }

    fn money(&self, field: &'static str, currency: &str) -> Result<String, RenderError> {
        money(self.cents(field)?, currency)
            .ok_or_else(|| self.invalid("currency", "an ISO 4217 code"))
    }

    fn instant(&self, field: &'static str) -> Result<DateTime<Utc>, RenderError> {
        let text = self.text(field)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.to_utc())
            .map_err(|_| self.invalid(field, "an RFC 3339 instant"))
    }

    fn time_zone(&self, default: Tz) -> Result<Tz, RenderError> {
        match self.opt_text("time_zone")? {
            None => Ok(default),
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| self.invalid("time_zone", "an IANA time zone name")),
        }
    }

    fn link(&self, field: &'static str) -> Result<Option<String>, RenderError> {
        match self.opt_text(field)? {
            Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
                Err(self.invalid(field, "an http(s) URL"))
            }
            other => Ok(other),
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

/// Renders `job` as an email from `sender`, showing times in the job's `time_zone` (else
/// `default_time_zone`).
pub fn render(
    job: &EmailJob,
    sender: &str,
    default_time_zone: Tz,
) -> Result<OutgoingEmail, RenderError> {
    if !recipient_ok(&job.to) {
        return Err(RenderError::Recipient);
    }
    let name = template_name(job.template);
    let f = Fields {
        template: name,
        data: &job.data,
    };
    let mut ctx: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut put = |k: &'static str, v: String| ctx.insert(k, v);
    let (file, subject) = match job.template {
        EmailTemplate::SignInNotice => {
            let tz = f.time_zone(default_time_zone)?;
            put("name", f.text("name")?);
            put("ip", f.text("ip")?);
            put("signed_in_at", local_time(f.instant("signed_in_at")?, tz));
            ("sign_in_notice", "New sign-in to your account".to_owned())
        }
        EmailTemplate::OrderConfirmation => {
            let order = f.text("order_id")?;
            let currency = f.text("currency")?;
            put("amount", f.money("amount_cents", &currency)?);
            put("customer_name", f.text("customer_name")?);
            put("order_id", order.clone());
            ("order_confirmation", format!("Order {order} confirmed"))
        }
        EmailTemplate::DepositConfirmation => {
            let order = f.text("order_id")?;
            let currency = f.text("currency")?;
            put("deposit", f.money("deposit_cents", &currency)?);
            put("balance", f.money("balance_cents", &currency)?);
            put("total", f.money("total_cents", &currency)?);
            put("customer_name", f.text("customer_name")?);
            put("order_id", order.clone());
            (
                "deposit_confirmation",
                format!("Deposit received for order {order}"),
            )
        }
        EmailTemplate::PaymentFailed => {
            let invoice = f.text("invoice_id")?;
            let currency = f.text("currency")?;
            put("amount", f.money("amount_cents", &currency)?);
            put("attempt", f.text("attempt")?);
            put("customer_name", f.text("customer_name")?);
            put("invoice_id", invoice.clone());
            (
                "payment_failed",
                format!("Payment failed for invoice {invoice}"),
            )
        }
        EmailTemplate::Reminder24h | EmailTemplate::Reminder1h => {
            let tz = f.time_zone(default_time_zone)?;
            let service = f.text("service")?;
            let starts_at = local_time(f.instant("starts_at")?, tz);
            put("appointment_id", f.text("appointment_id")?);
            put("customer_name", f.text("customer_name")?);
            put("service", service.clone());
            put("starts_at", starts_at.clone());
            put("meeting_link", f.link("meeting_link")?.unwrap_or_default());
            let (label, subject) = if job.template == EmailTemplate::Reminder24h {
                (
                    "tomorrow",
                    format!("Reminder: {service} tomorrow, {starts_at}"),
                )
            } else {
                (
                    "in one hour",
                    format!("Starting soon: {service}, {starts_at}"),
                )
            };
            put("when_label", label.to_owned());
            ("reminder", subject)
        }
        EmailTemplate::AdminAlert => {
            let job_id = f.text("job_id")?;
            put("job_id", job_id.clone());
            put("template", f.text("template")?);
            put("reason", f.text("reason")?);
            (
                "admin_alert",
                format!("[alert] Email {job_id} failed permanently"),
            )
        }
    };
    let subject = one_line(&subject);
    put("subject", subject.clone());
    put("reference", job.correlation_id.as_str().to_owned());
    let env = ENV.as_ref().map_err(|e| RenderError::Engine(e.clone()))?;
    let ctx = minijinja::Value::from_pairs(ctx);
    let part = |ext: &str| {
        env.get_template(&format!("{file}.{ext}"))
            .and_then(|t| t.render(ctx.clone()))
            .map_err(|e| RenderError::Engine(e.to_string()))
    };
    Ok(OutgoingEmail {
        from: sender.to_owned(),
        to: job.to.clone(),
        subject,
        text: part("txt")?,
        html: part("html")?,
    })
}

#[cfg(test)]
mod tests;
