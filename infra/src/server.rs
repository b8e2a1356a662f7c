//! The HTTP server on 127.0.0.1: `POST /auth/login` and `POST /stripe/webhook` become API
//! Gateway v2 events for the real handlers; `/_local` is the status page and `/_local/ops/*`
//! the endpoints the ops commands call.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::Body;
use serde_json::Value;
use shared::error::{ErrorClass, Problem};
use tokio::net::TcpListener;

use crate::apigw::{self, PlainRequest};
use crate::stack::{OpResult, Stack};

/// Largest request body read (API Gateway's payload limit); handlers apply their own limits.
pub const MAX_BODY: usize = 10 * 1024 * 1024;

/// Binds 127.0.0.1:`port` (0 = any free port), with a one-line fix when it is taken.
pub async fn bind(port: u16) -> Result<TcpListener, String> {
    TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "port {port} is already in use (another `bundle dev`?); fix: bundle dev --port {} (or export BUNDLE_PORT={})",
                port.saturating_add(1),
                port.saturating_add(1)
            )
        } else {
            format!("cannot listen on 127.0.0.1:{port}: {e}; fix: choose another port with --port")
        }
    })
}

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, stack: Arc<Stack>) {
    let counter = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("http   accept failed: {e}");
                continue;
            }
        };
        let stack = stack.clone();
        let counter = counter.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let stack = stack.clone();
                let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
                async move { Ok::<_, Infallible>(route(&stack, request, peer, n).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type HttpResponse = hyper::Response<Full<Bytes>>;

fn from_lambda(response: lambda_http::Response<Body>) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let bytes = apigw::body_bytes(&body);
    hyper::Response::from_parts(parts, Full::new(Bytes::from(bytes)))
}

fn problem(status: u16, title: &str, detail: &str) -> HttpResponse {
    let class = ErrorClass::from_http_status(status);
    from_lambda(shared::http::problem(
        &Problem::new(class, detail).with_status(status, title),
    ))
}

fn op_answer(result: OpResult) -> HttpResponse {
    match result {
        Ok(value) => from_lambda(shared::http::json(200, &value, "application/json")),
        Err((status, detail)) => problem(status, "Operation failed", &detail),
    }
}

fn html(text: String) -> HttpResponse {
    let mut response = hyper::Response::new(Full::new(Bytes::from(text)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

async fn route(
    stack: &Stack,
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
    n: u64,
) -> HttpResponse {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return problem(413, "Payload too large", "the body is over 10 MiB"),
    };
    let path = parts.uri.path().to_owned();
    let method = parts.method.as_str().to_owned();
    if path == "/auth/login" || path == "/stripe/webhook" {
        let plain = PlainRequest {
            method: &method,
            path: &path,
            query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
            body: &body,
            peer,
        };
        let request = match apigw::to_lambda(&plain, &format!("local-{n}")) {
            Ok(r) => r,
            Err(e) => return problem(400, "Bad request", &e),
        };
        let response = if path == "/auth/login" {
            stack.login(request).await
        } else {
            stack.stripe_webhook(request).await
        };
        return from_lambda(response);
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/_local" | "/_local/") => html(crate::page::render(stack).await),
        ("POST", "/_local/ops/run-reminders") => op_answer(stack.run_reminders("on demand").await),
        ("POST", "/_local/ops/redrive-dlq") => op_answer(stack.redrive_dlq().await),
        ("POST", "/_local/ops/list-ambiguous") => op_answer(stack.list_ambiguous().await),
        ("POST", "/_local/ops/drain-emails") => op_answer(
            stack
                .drain_emails()
                .await
                .map(|n| serde_json::json!({ "handled": n }))
                .map_err(|e| (503, e)),
        ),
        ("POST", "/_local/ops/users") => {
            let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            match (value["email"].as_str(), value["password"].as_str()) {
                (Some(email), Some(password)) => {
                    let name = value["name"].as_str().unwrap_or_default();
                    op_answer(stack.create_user(email, name, password.to_owned()).await)
                }
                _ => problem(
                    400,
                    "Bad request",
                    "expected {\"email\", \"password\", \"name\"}",
                ),
            }
        }
        ("POST", "/_local/ops/reconcile-stripe") => {
            let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            op_answer(stack.reconcile_stripe(value["since"].as_i64()).await)
        }
        ("POST", "/_local/ops/import-users") => match std::str::from_utf8(&body) {
            Ok(text) => op_answer(stack.import_users(text).await),
            Err(_) => problem(400, "Bad request", "the export is not UTF-8 text"),
        },
        ("POST", p) if p.starts_with("/_local/ops/replay/") => {
            let id = p.trim_start_matches("/_local/ops/replay/");
            op_answer(stack.replay_stripe_event(id).await)
        }
        (_, p) if p.starts_with("/_local") => problem(
            404,
            "Not found",
            "no such local endpoint; see `bundle help`",
        ),
        _ => problem(
            404,
            "Not found",
            "routes: POST /auth/login, POST /stripe/webhook, GET /_local",
        ),
    }
}
