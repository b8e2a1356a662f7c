//! A small Lambda Runtime API emulator (the HTTP interface a custom runtime such as
//! lambda_runtime talks to) and a way to run a function binary under it, as Lambda does:
//! `AWS_LAMBDA_RUNTIME_API` points at the emulator, which hands out events on
//! `GET /2018-06-01/runtime/invocation/next` (with the `Lambda-Runtime-*` headers) and
//! collects `…/response`, `…/error` and `/runtime/init/error`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch};

const PREFIX: &str = "/2018-06-01/runtime";

/// What the function reported for one invocation (or for its cold start).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST …/response` with this JSON body.
    Response(Value),
    /// `POST …/error` or `/runtime/init/error` with `{errorType, errorMessage}`.
    Error {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        error_message: String,
    },
}

struct Invocation {
    id: String,
    payload: Value,
    deadline_ms: u128,
}

struct State {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: watch::Sender<Option<Outcome>>,
    /// When the function first asked for an event (the end of its cold start).
    first_poll: watch::Sender<Option<Instant>>,
}

/// The emulator: an HTTP server on 127.0.0.1 (stops when dropped).
#[derive(Debug)]
pub struct RuntimeApi {
    addr: SocketAddr,
    send: mpsc::UnboundedSender<Invocation>,
    state: Arc<State>,
    next_id: AtomicU64,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("State")
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

fn outcome_of_error(body: &[u8]) -> Outcome {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    Outcome::Error {
        error_type: v["errorType"].as_str().unwrap_or_default().to_owned(),
        error_message: v["errorMessage"].as_str().unwrap_or_default().to_owned(),
    }
}

async fn route(state: Arc<State>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().strip_prefix(PREFIX).unwrap_or_default();
    match (parts.method, path) {
        (Method::GET, "/invocation/next") => {
            state.first_poll.send_if_modified(|first| {
                let unset = first.is_none();
                if unset {
                    *first = Some(Instant::now());
                }
                unset
            });
            let Some(invocation) = state.queue.lock().await.recv().await else {
                return reply(StatusCode::GONE, "emulator stopped");
            };
            let mut response = reply(StatusCode::OK, invocation.payload.to_string());
            let headers = response.headers_mut();
            let id = invocation.id.clone();
            for (name, value) in [
                ("lambda-runtime-aws-request-id", id),
                (
                    "lambda-runtime-deadline-ms",
                    invocation.deadline_ms.to_string(),
                ),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:emulated".to_owned(),
                ),
                (
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned(),
                ),
                ("content-type", "application/json".to_owned()),
            ] {
                if let Ok(v) = value.parse() {
                    headers.insert(name, v);
                }
            }
            response
        }
        (Method::POST, "/init/error") => {
            state.init_error.send_replace(Some(outcome_of_error(&body)));
            reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        (Method::POST, rest) => {
            let Some((id, kind)) = rest
                .strip_prefix("/invocation/")
                .and_then(|r| r.split_once('/'))
            else {
                return reply(StatusCode::NOT_FOUND, "unknown path");
            };
            let outcome = match kind {
                "response" => {
                    Outcome::Response(serde_json::from_slice(&body).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(&body).into_owned())
                    }))
                }
                "error" => outcome_of_error(&body),
                _ => return reply(StatusCode::NOT_FOUND, "unknown path"),
            };
            let waiter = state.waiting.lock().ok().and_then(|mut w| w.remove(id));
            match waiter {
                Some(tx) => {
                    let _ = tx.send(outcome);
                    reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
                }
                None => reply(StatusCode::BAD_REQUEST, "unknown or answered request id"),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, "unknown path"),
    }
}

impl RuntimeApi {
    /// Starts the emulator on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (send, receive) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            queue: tokio::sync::Mutex::new(receive),
            waiting: Mutex::new(HashMap::new()),
            init_error: watch::channel(None).0,
            first_poll: watch::channel(None).0,
        });
        let shared = state.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(route(state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            send,
            state,
            next_id: AtomicU64::new(1),
            server,
        })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` (`127.0.0.1:<port>`).
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Hands `payload` to the function with a deadline `timeout` from now and waits for its
    /// answer (at most the timeout plus 5 s); `None` when none came.
    pub async fn invoke(&self, payload: Value, timeout: Duration) -> Option<Outcome> {
        let id = format!("req-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        self.state.waiting.lock().ok()?.insert(id.clone(), tx);
        let invocation = Invocation {
            id,
            payload,
            deadline_ms: epoch_ms() + timeout.as_millis(),
        };
        self.send.send(invocation).ok()?;
        tokio::time::timeout(timeout + Duration::from_secs(5), rx)
            .await
            .ok()?
            .ok()
    }

    /// When the function first asked for an event (its cold start is over), waiting up to
    /// `timeout`.
    pub async fn first_poll(&self, timeout: Duration) -> Option<Instant> {
        let mut rx = self.state.first_poll.subscribe();
        let polled = rx.wait_for(Option::is_some);
        tokio::time::timeout(timeout, polled)
            .await
            .ok()?
            .ok()
            .and_then(|v| *v)
    }

    /// The cold-start failure reported on `/runtime/init/error`, waiting up to `timeout`.
    pub async fn init_error(&self, timeout: Duration) -> Option<Outcome> {
        let mut rx = self.state.init_error.subscribe();
        let reported = rx.wait_for(Option::is_some);
        tokio::time::timeout(timeout, reported)
            .await
            .ok()?
            .ok()
            .and_then(|v| v.clone())
    }
}

/// A function binary running under a [`RuntimeApi`]; killed when dropped. Its stdout and
/// stderr (the function's logs) are collected.
#[derive(Debug)]
pub struct FunctionProcess {
    child: tokio::process::Child,
    output: Arc<Mutex<String>>,
    started: Instant,
}

impl FunctionProcess {
    /// Starts `binary` with exactly `vars` plus the Lambda runtime variables for `api`.
    pub fn spawn(
        binary: &std::path::Path,
        name: &str,
        vars: &[(String, String)],
        api: &RuntimeApi,
    ) -> std::io::Result<Self> {
        let mut command = tokio::process::Command::new(binary);
        command
            .env_clear()
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "emulated")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = command.spawn()?;
        let output = Arc::new(Mutex::new(String::new()));
        if let Some(out) = child.stdout.take() {
            collect(out, output.clone());
        }
        if let Some(err) = child.stderr.take() {
            collect(err, output.clone());
        }
        Ok(Self {
            child,
            output,
            started,
        })
    }

    /// When the process was started (just before `exec`).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The process id (`None` once it has been waited for).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Everything the process wrote so far (stdout and stderr, line by line).
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Waits up to `timeout` for the process to exit; its exit code (`None`: still running
    /// or killed by a signal).
    pub async fn exit_code(&mut self, timeout: Duration) -> Option<i32> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()?
            .ok()?
            .code()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

fn collect(stream: impl tokio::io::AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(mut out) = into.lock() {
                out.push_str(&line);
                out.push('\n');
            }
        }
    });
}

/// A workspace binary built in the same profile as the running test (`target/<profile>/`),
/// found next to the test executable's `deps/` directory.
pub fn workspace_binary(name: &str) -> std::io::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| std::io::Error::other("test executable has no target directory"))?;
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(std::io::Error::other(format!(
            "{} not found: build the functions first (`cargo build --workspace --bins`; \
             `make test` builds them with the tests)",
            path.display()
        )))
    }
}
