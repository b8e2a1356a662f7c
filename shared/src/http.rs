//! HTTP answers for the API Gateway functions: the one place a [`Problem`] becomes a response.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};

use crate::error::Problem;

/// Content type of every error answer (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Builds a response with a JSON body; never fails (a bad status falls back to 500).
pub fn json(status: u16, body: &serde_json::Value, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The response for a problem: status, `Retry-After` when set, problem+json body.
pub fn problem(problem: &Problem) -> Response<Body> {
    let mut response = json(problem.status(), &problem.body(), PROBLEM_JSON);
    if let Some(secs) = problem.retry_after_secs() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use std::time::Duration;

    #[test]
    fn problem_responses_carry_type_and_retry_after() {
        let p =
            Problem::new(ErrorClass::RateLimited, "slow down").retry_after(Duration::from_secs(42));
        let r = problem(&p);
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(r.headers()[header::RETRY_AFTER], "42");
        let Body::Text(text) = r.body() else {
            panic!("text body expected")
        };
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["status"], 429);
        assert_eq!(v["detail"], "slow down");
    }
}
