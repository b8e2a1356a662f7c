//! Reaching the local services. A missing service is a failure that says how to start it,
//! never a silent skip.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const HOW: &str = "start the local services with `make services-up && source .local/services/env`, \
                   or run the whole suite with `make test`";

/// Error text for a service that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{service} is not reachable ({why}); {HOW}")]
pub struct Unreachable {
    service: &'static str,
    why: String,
}

fn reachable(service: &'static str, url: &str) -> Result<(), Unreachable> {
    let authority = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split('/')
        .next()
        .unwrap_or_default();
    let addr = authority
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| Unreachable {
            service,
            why: format!("cannot resolve {authority}"),
        })?;
    TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map(|_| ())
        .map_err(|e| Unreachable {
            service,
            why: format!("{addr}: {e}"),
        })
}

/// The moto endpoint (`AWS_ENDPOINT_URL`), checked to answer.
pub fn moto_endpoint() -> Result<String, Unreachable> {
    let url = std::env::var("AWS_ENDPOINT_URL").map_err(|_| Unreachable {
        service: "moto_server (AWS_ENDPOINT_URL)",
        why: "AWS_ENDPOINT_URL is not set".into(),
    })?;
    reachable("moto_server (AWS_ENDPOINT_URL)", &url)?;
    Ok(url)
}

/// SDK config pointed at moto; fails with instructions when moto is not reachable.
pub async fn aws_config() -> Result<aws_config::SdkConfig, Unreachable> {
    moto_endpoint()?;
    Ok(crate::aws::load_config().await)
}

/// The Redis URL (`REDIS_URL`), checked to answer.
pub fn redis_url() -> Result<String, Unreachable> {
    let url = std::env::var("REDIS_URL").map_err(|_| Unreachable {
        service: "redis-server (REDIS_URL)",
        why: "REDIS_URL is not set".into(),
    })?;
    reachable("redis-server (REDIS_URL)", &url)?;
    Ok(url)
}
