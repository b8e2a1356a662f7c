//! Plain HTTP ↔ API Gateway HTTP API (payload 2.0) events: the request is built as the JSON
//! API Gateway would send and parsed by `lambda_http` itself, so the handlers see exactly
//! what they see in Lambda (raw body, headers, cookies, `sourceIp` from the peer address,
//! `isBase64Encoded` for bodies that are not UTF-8).

use std::net::SocketAddr;

use base64::Engine as _;
use chrono::Utc;
use lambda_http::http::HeaderMap;
use lambda_http::{Body, Request};
use serde_json::{Map, Value, json};

/// One plain HTTP request, as received.
#[derive(Debug, Clone)]
pub struct PlainRequest<'a> {
    /// Method (`POST`).
    pub method: &'a str,
    /// Path without the query.
    pub path: &'a str,
    /// Query string without `?`.
    pub query: &'a str,
    /// Headers.
    pub headers: &'a HeaderMap,
    /// Raw body bytes.
    pub body: &'a [u8],
    /// The client's address.
    pub peer: SocketAddr,
}

/// The API Gateway v2 event JSON for `request`, with request id `request_id`.
pub fn event_json(request: &PlainRequest<'_>, request_id: &str) -> Value {
    let mut headers: Map<String, Value> = Map::new();
    let mut cookies: Vec<Value> = Vec::new();
    for name in request.headers.keys() {
        let values: Vec<&str> = request
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if name.as_str() == "cookie" {
            cookies.extend(
                values
                    .iter()
                    .flat_map(|v| v.split(';'))
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Value::String(c.to_owned())),
            );
        } else {
            headers.insert(name.as_str().to_owned(), Value::String(values.join(",")));
        }
    }
    let (body, is_base64) = match std::str::from_utf8(request.body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(request.body),
            true,
        ),
    };
    let now = Utc::now();
    let user_agent = headers
        .get("user-agent")
        .cloned()
        .unwrap_or_else(|| Value::String(String::new()));
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.peer.ip().to_string(),
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": is_base64,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !request.body.is_empty() {
        event["body"] = Value::String(body);
    }
    event
}

/// The `lambda_http` request for `request`, parsed from its API Gateway event.
pub fn to_lambda(request: &PlainRequest<'_>, request_id: &str) -> Result<Request, String> {
    let event = event_json(request, request_id).to_string();
    lambda_http::request::from_str(&event).map_err(|e| format!("event not accepted: {e}"))
}

/// The bytes of a handler's response body.
pub fn body_bytes(body: &Body) -> Vec<u8> {
    match body {
        Body::Text(t) => t.as_bytes().to_vec(),
        Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;

    use super::*;

    fn sample<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> PlainRequest<'a> {
        PlainRequest {
            method: "POST",
            path: "/auth/login",
            query: "a=1",
            headers,
            body,
            peer: "127.0.0.7:5555".parse().unwrap(),
        }
    }

    #[test]
    fn source_ip_raw_body_headers_and_cookies_reach_the_handler() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("x-forwarded-for", "6.6.6.6".parse().unwrap());
        headers.insert("cookie", "a=1; b=2".parse().unwrap());
        let body = br#"{"email":"x@y.z"}"#;
        let request = to_lambda(&sample(&headers, body), "req-1").unwrap();
        assert_eq!(request.raw_http_path(), "/auth/login");
        assert_eq!(request.headers()["content-type"], "application/json");
        assert_eq!(request.headers()["cookie"], "a=1; b=2");
        assert_eq!(body_bytes(request.body()), body.to_vec());
        match request.request_context() {
            RequestContext::ApiGatewayV2(ctx) => {
                assert_eq!(ctx.http.source_ip.as_deref(), Some("127.0.0.7"));
                assert_eq!(ctx.request_id.as_deref(), Some("req-1"));
            }
            other => panic!("not a v2 context: {other:?}"),
        }
    }

    #[test]
    fn non_utf8_bodies_travel_base64_and_arrive_as_bytes() {
        let headers = HeaderMap::new();
        let body = [0xff, 0x00, 0x80, b'a'];
        let event = event_json(&sample(&headers, &body), "r");
        assert_eq!(event["isBase64Encoded"], true);
        let request = to_lambda(&sample(&headers, &body), "r").unwrap();
        assert_eq!(body_bytes(request.body()), body.to_vec());
    }
}
