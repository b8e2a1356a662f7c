//! The Lambda runtime side of the four binaries: stable error types for the runtime
//! (`errorType` / `errorMessage` through lambda_runtime's [`Diagnostic`]), cold-start failures
//! reported to `/runtime/init/error`, and event loops that answer a malformed event instead of
//! panicking. Every `errorType` is listed in docs/RUNBOOK.md ("Error types").

use std::fmt;
use std::future::Future;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::http::header::SET_COOKIE;
use lambda_http::http::{HeaderValue, Method, Request as HttpRequest};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, RequestExt, Response};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::ConfigError;
use crate::error::Problem;

/// `errorType` of a cold start stopped by missing or invalid configuration (or secrets).
pub const CONFIG_INVALID: &str = "ConfigInvalid";
/// `errorType` of a cold start stopped by anything else (a client that cannot be built).
pub const INIT_FAILED: &str = "InitFailed";
/// `errorType` of an event that does not have the shape the function expects.
pub const INVALID_EVENT: &str = "InvalidEvent";

/// A failure reported to the Lambda runtime: a stable type naming what failed and a message
/// free of secrets and personal data (callers build it from typed errors, never from payloads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Stable `errorType`, e.g. `ReminderRunFailed`.
    pub error_type: &'static str,
    /// `errorMessage`.
    pub message: String,
}

impl Failure {
    /// A failure of `error_type` with `message`.
    pub fn new(error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            error_type,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl std::error::Error for Failure {}

impl From<Failure> for Diagnostic {
    fn from(failure: Failure) -> Self {
        Diagnostic {
            error_type: failure.error_type.to_owned(),
            error_message: failure.message,
        }
    }
}

/// Configuration problems never echo values (see [`crate::config`]), so the message lists
/// every problem as it is.
impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Self::new(CONFIG_INVALID, e.to_string())
    }
}

impl From<lambda_runtime::Error> for Failure {
    fn from(e: lambda_runtime::Error) -> Self {
        Self::new(INIT_FAILED, e.to_string())
    }
}

/// Passes a cold-start step's value through; on failure logs it, reports it to the runtime's
/// `/runtime/init/error` (so Lambda shows the reason, not just "Runtime exited") and returns
/// it for `main` to exit with.
pub async fn init<T, E: Into<Failure>>(step: Result<T, E>) -> Result<T, Failure> {
    match step {
        Ok(value) => Ok(value),
        Err(e) => {
            let failure = e.into();
            tracing::error!(error_type = failure.error_type, error = %failure.message, "cold start failed");
            report_init_error(&failure).await;
            Err(failure)
        }
    }
}

/// Posts `failure` to `/runtime/init/error` when running under a Runtime API.
async fn report_init_error(failure: &Failure) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let sent = async {
        let client = lambda_runtime_api_client::PooledClient::builder()
            .with_endpoint(format!("http://{api}").parse()?)
            .build();
        let body = serde_json::to_vec(&Diagnostic::from(failure.clone()))?;
        let request = HttpRequest::builder()
            .method(Method::POST)
            .uri("/2018-06-01/runtime/init/error")
            .header("lambda-runtime-function-error-type", failure.error_type)
            .header("content-type", "application/json")
            .body(lambda_runtime_api_client::body::Body::from(body))?;
        client.call(request).await?;
        Ok::<(), lambda_runtime::Error>(())
    };
    if let Err(e) = sent.await {
        tracing::error!(error = %e, "could not report the cold-start failure to the runtime");
    }
}

/// Runs `handler` for every event of type `E`. An event that does not deserialize is answered
/// with an [`INVALID_EVENT`] failure naming only where the shape broke (never event content).
pub async fn run<E, R, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    E: DeserializeOwned,
    R: Serialize,
    F: Fn(LambdaEvent<E>) -> Fut,
    Fut: Future<Output = Result<R, Failure>>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let LambdaEvent { payload, context } = event;
            let payload = E::deserialize(payload).map_err(|e| invalid_event(&e))?;
            handler(LambdaEvent::new(payload, context)).await
        },
    ))
    .await
}

fn invalid_event(e: &serde_json::Error) -> Failure {
    // The position only: serde's message can quote event content.
    Failure::new(
        INVALID_EVENT,
        format!(
            "the event does not have the expected shape ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ),
    )
}

/// Runs an API Gateway (HTTP API) function: `handler` answers every request it gets (its
/// expected failures are responses, DESIGN.md); an event that cannot become a request (a body
/// marked base64 that is not, a shape that is not an HTTP API event) is answered `400`
/// problem+json here, where `lambda_http` would panic or fail the invocation.
pub async fn run_http<F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let LambdaEvent { payload, context } = event;
            let trace_id = context.xray_trace_id.clone();
            let response = match http_request(payload) {
                Ok(request) => handler(request.with_lambda_context(context)).await,
                Err(detail) => {
                    tracing::warn!(detail, "refused a malformed HTTP event");
                    crate::http::problem(&Problem::validation(detail))
                }
            };
            Ok::<_, Failure>(api_gateway_response(response, trace_id.as_deref()))
        },
    ))
    .await
}

/// The request an API Gateway HTTP API (payload 2.0) event describes, or why there is none.
pub fn http_request(payload: serde_json::Value) -> Result<Request, &'static str> {
    use base64::Engine;
    if payload["isBase64Encoded"].as_bool() == Some(true)
        && let Some(body) = payload["body"].as_str()
        && base64::engine::general_purpose::STANDARD
            .decode(body)
            .is_err()
    {
        return Err("the body is marked as base64 but is not valid base64");
    }
    let event: LambdaRequest =
        serde_json::from_value(payload).map_err(|_| "not an API Gateway HTTP API event")?;
    // Backstop: the conversion still unwraps on some inputs (an unparsable host or query).
    std::panic::catch_unwind(|| Request::from(event))
        .map_err(|_| "the request line or headers cannot be read")
}

/// The HTTP API (payload 2.0) form of `response`: `Set-Cookie` headers become `cookies`, a
/// binary body is sent base64 encoded.
pub fn api_gateway_response(
    response: Response<Body>,
    trace_id: Option<&str>,
) -> ApiGatewayV2httpResponse {
    let (parts, body) = response.into_parts();
    let mut headers = parts.headers;
    let cookies = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    headers.remove(SET_COOKIE);
    if let Some(value) = trace_id.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert("x-amzn-trace-id", value);
    }
    let mut answer = ApiGatewayV2httpResponse::default();
    answer.status_code = i64::from(parts.status.as_u16());
    answer.is_base64_encoded = matches!(body, Body::Binary(_));
    answer.body = (!matches!(body, Body::Empty)).then_some(body);
    answer.headers = headers;
    answer.cookies = cookies;
    answer
}
