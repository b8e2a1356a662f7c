//! Every malformed input gets a 4xx application/problem+json naming the problem; none a 5xx,
//! none reaches the rate limiter or the password hash.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Backend, Parts, body_json, event_json, header, request, stack};
use shared::metrics::Metric;

struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Option<String>,
    ip: &'static str,
    status: u16,
    detail: &'static str,
}

fn case(name: &'static str, body: &str, detail: &'static str) -> Case {
    Case {
        name,
        method: "POST",
        path: "/auth/login",
        content_type: Some("application/json"),
        body: Some(body.to_owned()),
        ip: "198.51.100.7",
        status: 400,
        detail,
    }
}

fn cases() -> Vec<Case> {
    let ok = r#"{"email":"a@b.co","password":"pw"}"#;
    vec![
        case(
            "not json",
            "email=a@b.co&password=pw",
            "the body is not valid JSON",
        ),
        case(
            "truncated json",
            r#"{"email":"a@b.co","password":"#,
            "the body is not valid JSON",
        ),
        case("empty body", "", "the body is empty"),
        case("whitespace body", "  \n ", "the body is empty"),
        case(
            "array",
            r#"["a@b.co","pw"]"#,
            "the body must be a JSON object",
        ),
        case("string", r#""a@b.co""#, "the body must be a JSON object"),
        case("null", "null", "the body must be a JSON object"),
        case(
            "missing email",
            r#"{"password":"pw"}"#,
            "\"email\" is required",
        ),
        case(
            "missing password",
            r#"{"email":"a@b.co"}"#,
            "\"password\" is required",
        ),
        case(
            "null email",
            r#"{"email":null,"password":"pw"}"#,
            "\"email\" is required",
        ),
        case(
            "numeric email",
            r#"{"email":42,"password":"pw"}"#,
            "\"email\" must be a string",
        ),
        case(
            "object password",
            r#"{"email":"a@b.co","password":{"$ne":""}}"#,
            "\"password\" must be a string",
        ),
        case(
            "empty email",
            r#"{"email":"   ","password":"pw"}"#,
            "\"email\" is empty",
        ),
        case(
            "empty password",
            r#"{"email":"a@b.co","password":""}"#,
            "\"password\" is empty",
        ),
        case(
            "no at sign",
            r#"{"email":"ab.co","password":"pw"}"#,
            "\"email\" is not an email address",
        ),
        case(
            "two at signs",
            r#"{"email":"a@b@c.co","password":"pw"}"#,
            "\"email\" is not an email address",
        ),
        case(
            "inner space",
            r#"{"email":"a b@c.co","password":"pw"}"#,
            "\"email\" is not an email address",
        ),
        case(
            "no local part",
            r#"{"email":"@c.co","password":"pw"}"#,
            "\"email\" is not an email address",
        ),
        case(
            "long email",
            &format!(r#"{{"email":"{}@b.co","password":"pw"}}"#, "a".repeat(300)),
            "\"email\" is too long",
        ),
        case(
            "long password",
            &format!(r#"{{"email":"a@b.co","password":"{}"}}"#, "p".repeat(2000)),
            "\"password\" is too long",
        ),
        case(
            "oversized body",
            &format!(
                r#"{{"email":"a@b.co","password":"pw","pad":"{}"}}"#,
                "x".repeat(9000)
            ),
            "the body is larger than 8 KiB",
        ),
        Case {
            content_type: None,
            ..case(
                "no content type",
                ok,
                "Content-Type must be application/json",
            )
        },
        Case {
            content_type: Some("text/plain"),
            ..case(
                "wrong content type",
                ok,
                "Content-Type must be application/json",
            )
        },
        Case {
            content_type: Some("application/x-www-form-urlencoded"),
            ..case(
                "form content type",
                ok,
                "Content-Type must be application/json",
            )
        },
        Case {
            ip: "not-an-ip",
            ..case(
                "bad source ip",
                ok,
                "the request context has no valid source IP",
            )
        },
        Case {
            method: "GET",
            status: 405,
            ..case("GET", ok, "only POST is allowed on /auth/login")
        },
        Case {
            method: "PUT",
            status: 405,
            ..case("PUT", ok, "only POST is allowed on /auth/login")
        },
        Case {
            path: "/auth/logout",
            status: 404,
            ..case("other path", ok, "no such endpoint")
        },
        Case {
            body: None,
            ..case("absent body", "", "the body is empty")
        },
    ]
}

#[tokio::test]
async fn every_malformed_input_is_a_4xx_problem() {
    let s = stack(Backend::Memory, Parts::default()).await;
    let cases = cases();
    assert!(cases.len() >= 20);
    for c in &cases {
        let ev = event_json(c.method, c.path, c.content_type, c.body.as_deref(), c.ip);
        let r = s.login.handle(request(&ev)).await;
        assert_eq!(r.status().as_u16(), c.status, "{}", c.name);
        assert_eq!(
            header(&r, "content-type"),
            "application/problem+json",
            "{}",
            c.name
        );
        let v = body_json(&r);
        assert_eq!(v["status"], c.status, "{}", c.name);
        assert_eq!(v["detail"], c.detail, "{}", c.name);
        if c.status == 405 {
            assert_eq!(header(&r, "allow"), "POST");
        }
    }
    assert_eq!(s.passwords.calls(), 0);
    assert_eq!(s.sink.total(Metric::RateLimitDenied), 0.0);
    // None was counted against the IP: a well-formed attempt still has its full allowance.
    let r = s
        .login
        .handle(common::login_request("a@b.co", "pw", "198.51.100.7"))
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(header(&r, "ratelimit"), "limit=5, remaining=4, reset=900");
}

#[tokio::test]
async fn a_request_without_api_gateway_context_is_400() {
    let s = stack(Backend::Memory, Parts::default()).await;
    let mut req = lambda_http::Request::new(lambda_http::Body::Text(
        r#"{"email":"a@b.co","password":"pw"}"#.into(),
    ));
    *req.method_mut() = lambda_http::http::Method::POST;
    *req.uri_mut() = "/auth/login".parse().unwrap();
    req.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    let r = s.login.handle(req).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        body_json(&r)["detail"],
        "the request has no API Gateway context"
    );
}
