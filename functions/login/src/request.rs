//! Parsing the sign-in request: route, content type, size, JSON shape, client address.
//! Every failure is a client-safe [`Problem`] naming what is wrong (a `4xx`).

use lambda_http::http::{Method, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde::Deserialize;
use shared::error::{ErrorClass, Problem};

use crate::client_ip::ClientIp;

/// The route this function serves.
pub const PATH: &str = "/auth/login";
/// Largest accepted body.
pub const MAX_BODY_BYTES: usize = 8 * 1024;
/// Longest accepted email (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest accepted password, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A well-formed sign-in attempt.
#[derive(Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Trimmed, lower-cased email.
    pub email: String,
    /// The password as sent.
    pub password: String,
    /// The client address from the request context.
    pub ip: ClientIp,
    /// The API Gateway request id, if any (correlation).
    pub request_id: Option<String>,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("email", &shared::telemetry::log_hash(&self.email))
            .field("ip", &self.ip.key())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct RawBody {
    email: Option<serde_json::Value>,
    password: Option<serde_json::Value>,
}

fn bad(detail: &str) -> Problem {
    Problem::validation(detail)
}

/// Checks route and method: `404` for another path, `405` for another method.
pub fn route(request: &Request) -> Result<(), Problem> {
    // The path as the client sent it, without a named stage's prefix.
    let raw = request.raw_http_path();
    let path = if raw.is_empty() {
        request.uri().path()
    } else {
        raw
    };
    if path != PATH && path != "/auth/login/" {
        return Err(
            Problem::new(ErrorClass::Validation, "no such endpoint").with_status(404, "Not found")
        );
    }
    if request.method() != Method::POST {
        return Err(Problem::new(
            ErrorClass::Validation,
            "only POST is allowed on /auth/login",
        )
        .with_status(405, "Method not allowed"));
    }
    Ok(())
}

/// The client address from the API Gateway request context (never from a header).
pub fn client_ip(request: &Request) -> Result<(ClientIp, Option<String>), Problem> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = request.request_context_ref() else {
        return Err(bad("the request has no API Gateway context"));
    };
    let ip = ctx
        .http
        .source_ip
        .as_deref()
        .and_then(ClientIp::parse)
        .ok_or_else(|| bad("the request context has no valid source IP"))?;
    Ok((ip, ctx.request_id.clone()))
}

fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().eq_ignore_ascii_case("application/json"))
        .unwrap_or(false)
}

fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

fn text_field(value: Option<serde_json::Value>, name: &str) -> Result<String, Problem> {
    match value {
        None | Some(serde_json::Value::Null) => Err(bad(&format!("\"{name}\" is required"))),
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(_) => Err(bad(&format!("\"{name}\" must be a string"))),
    }
}

/// Parses and validates the whole request (route first, then address, then body).
pub fn parse(request: &Request) -> Result<Attempt, Problem> {
    route(request)?;
    if !is_json(request) {
        return Err(bad("Content-Type must be application/json"));
    }
    let bytes = body_bytes(request.body());
    if bytes.len() > MAX_BODY_BYTES {
        return Err(bad("the body is larger than 8 KiB"));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(bad("the body is empty"));
    }
    let raw: RawBody = match serde_json::from_slice::<serde_json::Value>(bytes) {
        Err(_) => return Err(bad("the body is not valid JSON")),
        Ok(v) if !v.is_object() => return Err(bad("the body must be a JSON object")),
        Ok(v) => serde_json::from_value(v).map_err(|_| bad("the body must be a JSON object"))?,
    };
    let email = text_field(raw.email, "email")?.trim().to_lowercase();
    let password = text_field(raw.password, "password")?;
    if email.is_empty() {
        return Err(bad("\"email\" is empty"));
    }
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(bad("\"email\" is too long"));
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control()) => {}
        _ => return Err(bad("\"email\" is not an email address")),
    }
    if password.is_empty() {
        return Err(bad("\"password\" is empty"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(bad("\"password\" is too long"));
    }
    let (ip, request_id) = client_ip(request)?;
    Ok(Attempt {
        email,
        password,
        ip,
        request_id,
    })
}
