//! The ops commands: each calls the running stack (whichever backend it runs on).

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use chrono::Utc;
use serde_json::json;
use stripe_webhook::signature::sign_header;

use crate::client;
use crate::settings::LocalSettings;
use crate::stripe_samples;

fn print_answer(status: u16, body: &str) -> Result<(), String> {
    let pretty = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_owned());
    println!("{status}\n{pretty}");
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("the stack answered {status}"))
    }
}

async fn op(url: Option<String>, path: &str, body: Vec<u8>) -> Result<(), String> {
    let base = client::stack_url(url);
    let (status, text) =
        client::post(&base, path, &[("content-type", "application/json")], body).await?;
    print_answer(status, &text)
}

/// `run-reminders`.
pub async fn run_reminders(url: Option<String>) -> Result<(), String> {
    op(url, "/_local/ops/run-reminders", Vec::new()).await
}

/// `redrive-dlq`.
pub async fn redrive_dlq(url: Option<String>) -> Result<(), String> {
    op(url, "/_local/ops/redrive-dlq", Vec::new()).await
}

/// `list-ambiguous`.
pub async fn list_ambiguous(url: Option<String>) -> Result<(), String> {
    op(url, "/_local/ops/list-ambiguous", Vec::new()).await
}

/// `replay-stripe-event`.
pub async fn replay(id: &str, url: Option<String>) -> Result<(), String> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "{id:?} is not a Stripe event id; fix: pass one like evt_1NaBc..."
        ));
    }
    op(url, &format!("/_local/ops/replay/{id}"), Vec::new()).await
}

/// `reconcile-stripe`.
pub async fn reconcile_stripe(since: Option<i64>, url: Option<String>) -> Result<(), String> {
    let body = json!({ "since": since }).to_string().into_bytes();
    op(url, "/_local/ops/reconcile-stripe", body).await
}

/// Reads the password: a hidden prompt on a terminal, else the first line of stdin.
fn read_password() -> Result<String, String> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if terminal {
        eprint!("password (not echoed): ");
        let _ = std::io::stderr().flush();
        let _ = std::process::Command::new("stty").arg("-echo").status();
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if terminal {
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
    }
    read.map_err(|e| format!("reading the password: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(
            "no password given; fix: printf '%s\\n' \"$PASSWORD\" | bundle create-user EMAIL"
                .into(),
        );
    }
    Ok(password)
}

/// `create-user`.
pub async fn create_user(
    email: &str,
    name: Option<String>,
    url: Option<String>,
) -> Result<(), String> {
    let password = read_password()?;
    let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_owned());
    let body = json!({ "email": email, "name": name, "password": password }).to_string();
    op(url, "/_local/ops/users", body.into_bytes()).await
}

/// `import-users`: sends the export to the stack, which parses and imports it; prints the
/// counts and each rejected row's line and reason (never a hash).
pub async fn import_users(file: &str, url: Option<String>) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let content_type = match login::import::Format::sniff(&text) {
        login::import::Format::Json => "application/json",
        login::import::Format::Csv => "text/csv",
    };
    let base = client::stack_url(url);
    let (status, body) = client::post(
        &base,
        "/_local/ops/import-users",
        &[("content-type", content_type)],
        text.into_bytes(),
    )
    .await?;
    print_answer(status, &body)
}

/// `stripe-send`: a sample event by type, or a file (a Stripe event or an `events/` fixture).
pub async fn stripe_send(
    what: &str,
    id: Option<String>,
    url: Option<String>,
    settings: &LocalSettings,
) -> Result<(), String> {
    let now = Utc::now().timestamp();
    let body = if std::path::Path::new(what).is_file() {
        let text = std::fs::read_to_string(what).map_err(|e| format!("{what}: {e}"))?;
        stripe_samples::body_from_file(&text).map_err(|e| format!("{what}: {e}"))?
    } else {
        let id = id.unwrap_or_else(|| format!("evt_local_{}", Utc::now().timestamp_millis()));
        stripe_samples::event(what, &id, now).ok_or_else(|| {
            format!(
                "no sample for `{what}` and no such file; fix: use one of {}",
                stripe_samples::types().collect::<Vec<_>>().join(", ")
            )
        })?
    };
    let signature = sign_header(settings.signing_secret(), now, body.as_bytes());
    let base = client::stack_url(url);
    let (status, text) = client::post(
        &base,
        "/stripe/webhook",
        &[
            ("content-type", "application/json"),
            ("stripe-signature", &signature),
        ],
        body.into_bytes(),
    )
    .await?;
    print_answer(status, &text)
}
