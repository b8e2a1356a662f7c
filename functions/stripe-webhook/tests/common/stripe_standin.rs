//! A local stand-in for the Stripe API: a small HTTP/1.1 server on 127.0.0.1 serving
//! `GET /v1/events` (newest first, paginated with `starting_after`, `created[gte]` honoured),
//! `GET /v1/subscriptions/:id` and `GET /v1/customers/:id`, with Stripe's error shape for
//! unknown objects. The real async-stripe adapter is pointed at it through its base URL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Events per page (small, so reconciliation must paginate).
pub const PAGE: usize = 3;

#[derive(Debug, Default)]
struct Objects {
    events: Vec<Value>,
    subscriptions: HashMap<String, Value>,
    customers: HashMap<String, Value>,
}

/// The running stand-in.
#[derive(Debug, Clone)]
pub struct StripeStandIn {
    /// Base URL for async-stripe (`http://127.0.0.1:<port>/`).
    pub url: String,
    objects: Arc<Mutex<Objects>>,
    /// Requests served.
    pub requests: Arc<AtomicU32>,
}

impl StripeStandIn {
    /// Starts serving on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let me = Self {
            url,
            objects: Arc::default(),
            requests: Arc::default(),
        };
        let server = me.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move { server.serve(stream).await });
            }
        });
        me
    }

    /// Adds an event (a whole Stripe event body).
    pub fn add_event(&self, body: &str) {
        let value: Value = serde_json::from_str(body).unwrap();
        self.objects.lock().unwrap().events.push(value);
    }

    /// Sets a subscription object.
    pub fn put_subscription(&self, object: Value) {
        let id = object["id"].as_str().unwrap().to_owned();
        self.objects
            .lock()
            .unwrap()
            .subscriptions
            .insert(id, object);
    }

    /// Sets a customer object.
    pub fn put_customer(&self, object: Value) {
        let id = object["id"].as_str().unwrap().to_owned();
        self.objects.lock().unwrap().customers.insert(id, object);
    }

    async fn serve(&self, mut stream: TcpStream) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        self.requests.fetch_add(1, Ordering::SeqCst);
        let head = String::from_utf8_lossy(&buf).into_owned();
        let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let (status, body) = self.route(&target);
        let reason = if status == 200 { "OK" } else { "Not Found" };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    fn route(&self, target: &str) -> (u16, String) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query: HashMap<String, String> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.replace("%5B", "[").replace("%5D", "]"), v.to_owned()))
            .collect();
        let objects = self.objects.lock().unwrap();
        let found = |object: Option<&Value>| match object {
            Some(o) => (200, o.to_string()),
            None => (
                404,
                json!({"error": {"type": "invalid_request_error", "code": "resource_missing",
                                 "message": "No such object"}})
                .to_string(),
            ),
        };
        if let Some(id) = path.strip_prefix("/v1/subscriptions/") {
            return found(objects.subscriptions.get(id));
        }
        if let Some(id) = path.strip_prefix("/v1/customers/") {
            return found(objects.customers.get(id));
        }
        if path == "/v1/events" {
            return (200, Self::events_page(&objects.events, &query).to_string());
        }
        found(None)
    }

    fn events_page(events: &[Value], query: &HashMap<String, String>) -> Value {
        let gte: i64 = query
            .get("created[gte]")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        // Newest first; later additions first within a second, as Stripe lists them.
        let mut listed: Vec<&Value> = events
            .iter()
            .rev()
            .filter(|e| e["created"].as_i64().unwrap_or(0) >= gte)
            .collect();
        listed.sort_by_key(|e| std::cmp::Reverse(e["created"].as_i64().unwrap_or(0)));
        let start = query.get("starting_after").map_or(0, |after| {
            listed
                .iter()
                .position(|e| e["id"].as_str() == Some(after.as_str()))
                .map_or(listed.len(), |i| i + 1)
        });
        let page: Vec<&Value> = listed.iter().skip(start).take(PAGE).copied().collect();
        json!({"object": "list", "url": "/v1/events", "data": page,
               "has_more": start + page.len() < listed.len()})
    }
}
