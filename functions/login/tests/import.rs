//! `auth.users` import: the sample Supabase exports under `tests/fixtures/` (CSV and JSON,
//! each with bad rows) loaded into the in-memory store and DynamoDB (moto): exact counts,
//! rejected rows with their line, idempotent on a second run, and an imported bcrypt user
//! signs in and is upgraded to Argon2id.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Backend, Parts, ip, login_request, stack};
use login::import::{self, Format, Rejected};

const CSV: &str = include_str!("fixtures/supabase-users.csv");
const JSON: &str = include_str!("fixtures/supabase-users.json");
/// The password of every valid user in the sample exports.
const SAMPLE_PASSWORD: &str = "moved-over-password";

fn rejected(lines: &[(u64, &str)]) -> Vec<Rejected> {
    lines
        .iter()
        .map(|(line, reason)| Rejected {
            line: *line,
            reason: (*reason).to_owned(),
        })
        .collect()
}

/// Makes the sample's emails unique to this run (tests share Redis and moto).
fn unique(text: &str, tag: &str) -> String {
    text.replace("@example.com", &format!("@{tag}.example.com"))
        .replace("@Example.com", &format!("@{tag}.Example.com"))
}

async fn import_sample(backend: Backend, text: &str, expected: Vec<Rejected>) {
    let s = stack(backend, Parts::default()).await;
    let tag = shared::testing::unique_name("imp").replace('-', "");
    let text = unique(text, &tag);
    let format = Format::sniff(&text);
    let now = chrono::Utc::now();
    let first = import::import(s.users.as_ref(), import::parse(&text, format, now).unwrap())
        .await
        .unwrap();
    assert_eq!((first.created, first.unchanged), (4, 0), "{first:?}");
    assert_eq!(first.rejected, expected);
    let again = import::import(s.users.as_ref(), import::parse(&text, format, now).unwrap())
        .await
        .unwrap();
    assert_eq!((again.created, again.unchanged), (0, 4), "idempotent");
    assert_eq!(again.rejected, expected);
    let report = serde_json::to_string(&first).unwrap();
    assert!(!report.contains("$2"), "no hash in the report: {report}");

    let grace = format!("grace@{tag}.example.com");
    let user = s.users.find_user(&grace).await.unwrap().unwrap();
    assert_eq!(user.name, "Grace Hopper");
    assert_eq!(user.id, "2b1c1e4e-3d0e-4b8a-9a55-000000000002");
    assert!(user.password_hash.starts_with("$2a$10$"));
    let r = s
        .login
        .handle(login_request(&grace, SAMPLE_PASSWORD, &ip()))
        .await;
    assert_eq!(r.status(), 200, "{}", common::body_text(&r));
    let upgraded = s.users.find_user(&grace).await.unwrap().unwrap();
    assert!(upgraded.password_hash.starts_with("$argon2id$"));
    let linus = s
        .users
        .find_user(&format!("linus@{tag}.example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        linus.name, "linus",
        "no name in the metadata: the email's local part"
    );
}

fn csv_rejections() -> Vec<Rejected> {
    rejected(&[
        (4, "`email` is not an email address"),
        (
            5,
            "`encrypted_password` is empty (a user without a password)",
        ),
        (6, "`encrypted_password` is not a bcrypt or Argon2id hash"),
        (7, "`id` is empty or too long"),
        (8, "`raw_user_meta_data` is not a JSON object"),
        (12, "not a well-formed CSV row"),
    ])
}

fn json_rejections() -> Vec<Rejected> {
    rejected(&[
        (4, "`email` is not an email address"),
        (
            5,
            "`encrypted_password` is empty (a user without a password)",
        ),
        (6, "`encrypted_password` is not a bcrypt or Argon2id hash"),
        (7, "`id` is empty or too long"),
        (8, "`raw_user_meta_data` is not a JSON object"),
        (13, "not a JSON object"),
    ])
}

#[tokio::test]
async fn csv_export_with_bad_rows_memory() {
    import_sample(Backend::Memory, CSV, csv_rejections()).await;
}

#[tokio::test]
async fn csv_export_with_bad_rows_dynamodb() {
    import_sample(Backend::Real, CSV, csv_rejections()).await;
}

#[tokio::test]
async fn json_export_with_bad_rows_memory() {
    import_sample(Backend::Memory, JSON, json_rejections()).await;
}

#[tokio::test]
async fn json_export_with_bad_rows_dynamodb() {
    import_sample(Backend::Real, JSON, json_rejections()).await;
}

#[test]
fn unreadable_files_are_refused_as_a_whole() {
    let now = chrono::Utc::now();
    let e = import::parse("name,mail\nx,y\n", Format::Csv, now).unwrap_err();
    assert_eq!(e, "the CSV header has no `id` column");
    assert!(import::parse("[{]", Format::Json, now).is_err());
}
