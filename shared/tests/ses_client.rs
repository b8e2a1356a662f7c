//! The SES mailer as `SesMailer::from_aws` builds it, against a local HTTP server that answers
//! every request with a 500: the SDK makes exactly one attempt (its retries are off; every
//! retry of a send is the email queue's), and the failure is retryable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_sesv2::config::{BehaviorVersion, Credentials, Region};
use shared::mailer::{Mailer, OutgoingEmail, SendFailure, SesMailer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Answers every request with `500`; counts the requests.
async fn failing_server() -> (String, Arc<AtomicU32>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicU32::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut read = 0;
                // Read the head and the body (Content-Length) of one request.
                loop {
                    let n = socket.read(&mut buf[read..]).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    read += n;
                    let text = String::from_utf8_lossy(&buf[..read]).to_string();
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let length = text[..head_end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if read >= head_end + 4 + length {
                            break;
                        }
                    }
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let body = r#"{"message":"internal"}"#;
                let answer = format!(
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n\
                     x-amzn-errortype: InternalFailure\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, count)
}

#[tokio::test]
async fn send_email_is_attempted_once_and_a_500_is_retryable() {
    let (url, count) = failing_server().await;
    let aws = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .http_client(shared::aws::https_client())
        .load()
        .await;
    let mailer = SesMailer::from_aws(&aws);
    let email = OutgoingEmail {
        from: "noreply@example.com".into(),
        to: "jane@example.com".into(),
        subject: "s".into(),
        text: "t".into(),
        html: "<p>h</p>".into(),
        template: "sign_in_notice".into(),
    };
    let err = mailer.send(&email).await.unwrap_err();
    assert_eq!(err.kind, SendFailure::Retryable, "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 1, "no SDK retry of SendEmail");

    // The SDK's default client would have tried 3 times: the test can fail.
    let default = SesMailer::new(aws_sdk_sesv2::Client::new(&aws));
    let before = count.load(Ordering::SeqCst);
    let _ = default.send(&email).await;
    assert_eq!(
        count.load(Ordering::SeqCst) - before,
        3,
        "SDK default: 3 attempts"
    );
}
