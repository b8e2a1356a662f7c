//! Users moved from the replaced system: a Supabase `auth.users` export (CSV with a header
//! row, or JSON: an array of row objects) becomes users whose bcrypt hash is kept as is and
//! upgraded to Argon2id at their first sign-in. Columns read: `id`, `email`,
//! `encrypted_password`, `raw_user_meta_data` (name from `full_name` or `name`), optional
//! `created_at`. Idempotent: an email already registered is left unchanged. A bad row is
//! rejected with its line number and a reason that never quotes a hash.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::password::is_bcrypt;
use crate::request::MAX_EMAIL_CHARS;
use crate::users::{StoreError, User, UserStore};

/// Longest accepted user id.
const MAX_ID_CHARS: usize = 128;
/// Longest accepted display name (longer ones are cut).
const MAX_NAME_CHARS: usize = 200;

/// The export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated with a header row (`psql \copy ... csv header`, the dashboard export).
    Csv,
    /// A JSON array of row objects.
    Json,
}

impl Format {
    /// JSON when the text starts with `[`, else CSV.
    pub fn sniff(text: &str) -> Self {
        if text.trim_start().starts_with('[') {
            Self::Json
        } else {
            Self::Csv
        }
    }
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// 1-based line of the file where the row starts.
    pub line: u64,
    /// What is wrong (never the value of a hash).
    pub reason: String,
}

/// The rows of an export, checked.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Valid rows with their line.
    pub users: Vec<(u64, User)>,
    /// Invalid rows.
    pub rejected: Vec<Rejected>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Users created.
    pub created: usize,
    /// Rows whose email was already registered (left as they are).
    pub unchanged: usize,
    /// Rows not imported, with their line and reason.
    pub rejected: Vec<Rejected>,
}

/// Parses an export; `Err` when the file as a whole is unreadable (no header, not JSON).
pub fn parse(text: &str, format: Format, now: DateTime<Utc>) -> Result<Parsed, String> {
    let rows = match format {
        Format::Csv => csv_rows(text)?,
        Format::Json => json_rows(text)?,
    };
    let mut parsed = Parsed::default();
    for (line, row) in rows {
        match row.and_then(|fields| user_from(&fields, now)) {
            Ok(user) => parsed.users.push((line, user)),
            Err(reason) => parsed.rejected.push(Rejected { line, reason }),
        }
    }
    Ok(parsed)
}

/// Creates every valid user whose email is not registered yet.
pub async fn import(users: &dyn UserStore, parsed: Parsed) -> Result<Report, StoreError> {
    let mut report = Report {
        rejected: parsed.rejected,
        ..Report::default()
    };
    for (_, user) in parsed.users {
        match users.create_user(&user).await {
            Ok(()) => report.created += 1,
            Err(StoreError::Conflict(_)) => report.unchanged += 1,
            Err(e) => return Err(e),
        }
    }
    report.rejected.sort_by_key(|r| r.line);
    Ok(report)
}

type Fields = HashMap<String, String>;
type Row = (u64, Result<Fields, String>);

fn csv_rows(text: &str) -> Result<Vec<Row>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|_| "the CSV header row is unreadable".to_owned())?
        .iter()
        .map(str::to_owned)
        .collect();
    for needed in ["id", "email", "encrypted_password"] {
        if !header.iter().any(|h| h == needed) {
            return Err(format!("the CSV header has no `{needed}` column"));
        }
    }
    Ok(reader
        .records()
        .map(|record| match record {
            Ok(r) => {
                let line = r.position().map_or(0, csv::Position::line);
                let fields = header
                    .iter()
                    .cloned()
                    .zip(r.iter().map(str::to_owned))
                    .collect();
                (line, Ok(fields))
            }
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                (line, Err("not a well-formed CSV row".to_owned()))
            }
        })
        .collect())
}

/// The top-level elements of a JSON array with the line each starts on.
fn json_rows(text: &str) -> Result<Vec<Row>, String> {
    let values: Vec<Value> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON array of rows: {e}"))?;
    let lines = element_lines(text);
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let line = lines.get(i).copied().unwrap_or(0);
            let fields = match value {
                Value::Object(map) => Ok(map
                    .into_iter()
                    .map(|(k, v)| {
                        let text = match v {
                            Value::String(s) => s,
                            Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        (k, text)
                    })
                    .collect()),
                _ => Err("not a JSON object".to_owned()),
            };
            (line, fields)
        })
        .collect())
}

/// Line numbers (1-based) where each element of the outer JSON array starts.
fn element_lines(text: &str) -> Vec<u64> {
    let (mut line, mut depth, mut in_string, mut escaped) = (1u64, 0usize, false, false);
    let mut starts = Vec::new();
    let mut expecting = false;
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if expecting && !c.is_whitespace() && c != ']' {
            starts.push(line);
            expecting = false;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                expecting = depth == 1;
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expecting = true,
            _ => {}
        }
    }
    starts
}

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map_or("", |v| v.trim())
}

fn user_from(fields: &Fields, now: DateTime<Utc>) -> Result<User, String> {
    let id = field(fields, "id");
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
        return Err("`id` is empty or too long".into());
    }
    let email = field(fields, "email").to_lowercase();
    if !is_email(&email) {
        return Err("`email` is not an email address".into());
    }
    let hash = field(fields, "encrypted_password");
    if hash.is_empty() {
        return Err("`encrypted_password` is empty (a user without a password)".into());
    }
    let bcrypt = is_bcrypt(hash) && hash.len() == 60;
    if !bcrypt && !hash.starts_with("$argon2id$") {
        return Err("`encrypted_password` is not a bcrypt or Argon2id hash".into());
    }
    let name = name_from(field(fields, "raw_user_meta_data"))?
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    Ok(User {
        id: id.to_owned(),
        name: name.chars().take(MAX_NAME_CHARS).collect(),
        password_hash: hash.to_owned(),
        created_at: created_at(field(fields, "created_at")).unwrap_or(now),
        email,
    })
}

fn is_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && email.chars().count() <= MAX_EMAIL_CHARS
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// `full_name` or `name` from the metadata JSON; `Ok(None)` when it names nobody.
fn name_from(meta: &str) -> Result<Option<String>, String> {
    if meta.is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(meta)
        .map_err(|_| "`raw_user_meta_data` is not a JSON object".to_owned())?;
    if !value.is_object() {
        return Err("`raw_user_meta_data` is not a JSON object".into());
    }
    Ok(["full_name", "name"]
        .iter()
        .find_map(|k| value[*k].as_str().map(str::trim).filter(|n| !n.is_empty()))
        .map(str::to_owned))
}

/// RFC 3339 or PostgreSQL's text form (`2024-01-02 03:04:05.123456+00`).
fn created_at(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .or_else(|_| DateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_elements_are_located_by_line() {
        let text = "[\n  {\"a\": \"x,]\"},\n  {\"b\": [1, 2]},\n\n  7\n]";
        assert_eq!(element_lines(text), vec![2, 3, 5]);
        assert_eq!(element_lines("[]"), Vec::<u64>::new());
    }

    #[test]
    fn supabase_timestamps_parse() {
        let t = created_at("2024-01-02 03:04:05.123456+00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-01-02T03:04:05.123456+00:00");
        assert!(created_at("2024-01-02T03:04:05Z").is_some());
        assert!(created_at("yesterday").is_none());
    }
}
