//! The sample events in `events/login/` (API Gateway HTTP API, payload v2) fed to the handler.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Backend, Parts, body_json, header, seed_user, stack};

fn event(name: &str) -> lambda_http::Request {
    let path = format!("{}/../../events/login/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test]
async fn sample_events_get_their_answers() {
    let s = stack(Backend::Memory, Parts::default()).await;
    seed_user(&s, "jane@example.com", "Jane").await;

    let ok = s.login.handle(event("success.json")).await;
    assert_eq!(ok.status(), 200, "{}", common::body_text(&ok));
    assert_eq!(body_json(&ok)["user"]["email"], "jane@example.com");
    assert!(header(&ok, "set-cookie").starts_with("session="));

    let wrong = s.login.handle(event("wrong_password.json")).await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(header(&wrong, "content-type"), "application/problem+json");

    let bad = s.login.handle(event("malformed_body.json")).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(body_json(&bad)["detail"], "the body is not valid JSON");

    // The x-forwarded-for header is ignored: the limit is on the context's sourceIp.
    // (The window is read off a real clock: on a loaded machine a second may have passed.)
    let ratelimit = header(&wrong, "ratelimit");
    let reset: u64 = ratelimit
        .strip_prefix("limit=5, remaining=3, reset=")
        .unwrap_or_else(|| panic!("{ratelimit}"))
        .parse()
        .unwrap();
    assert!((890..=900).contains(&reset), "{ratelimit}");
}

#[tokio::test]
async fn a_named_stage_does_not_change_the_route() {
    let s = stack(Backend::Memory, Parts::default()).await;
    let path = format!(
        "{}/../../events/login/wrong_password.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut ev: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    ev["requestContext"]["stage"] = "prod".into();
    let req = lambda_http::request::from_str(&ev.to_string()).unwrap();
    assert_eq!(req.uri().path(), "/prod/auth/login");
    assert_eq!(s.login.handle(req).await.status(), 401);
}
