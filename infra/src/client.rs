//! A minimal HTTP/1.1 client for the ops commands (they talk to the running stack).

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Default stack URL.
pub const DEFAULT_URL: &str = "http://127.0.0.1:3000";

/// The stack URL: `--url`, else `BUNDLE_URL`, else the default.
pub fn stack_url(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var("BUNDLE_URL").ok())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

fn authority(url: &str) -> Result<&str, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported (the stack is local)"))?;
    Ok(rest.split('/').next().unwrap_or(rest))
}

/// POSTs `body` to `base` + `path` with `headers`; returns status and body text.
pub async fn post(
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(u16, String), String> {
    let host = authority(base)?;
    let stream = TcpStream::connect(host).await.map_err(|e| {
        format!(
            "no local stack answers at {base} ({e}); fix: start it with `make dev` (or pass --url)"
        )
    })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{base}: {e}"))?;
    tokio::spawn(connection);
    let mut request = hyper::Request::post(path).header("host", host);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("{base}{path}: {e}"))?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{base}{path}: {e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_local_http_urls() {
        assert_eq!(
            super::authority("http://127.0.0.1:3000/x").unwrap(),
            "127.0.0.1:3000"
        );
        assert!(super::authority("https://example.com").is_err());
    }
}
