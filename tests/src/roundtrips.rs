//! A TCP proxy that counts network round trips between a function and one service (moto or
//! Redis): an exchange starts when the client sends after the service last answered on that
//! connection, and lasts until the service's last byte before the client's next send. A Redis
//! pipeline or one HTTP request/response is one exchange; TCP and TLS handshakes are not
//! counted (the services here are plain TCP on loopback).
//!
//! [`Exchanges::sequential`] merges exchanges that overlap in time (concurrent calls, on any
//! connection of any proxy): the number of waits one after another, what a request's latency
//! grows with.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request and its answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The service the proxy stands for.
    pub service: &'static str,
    /// What was asked: the AWS operation (`X-Amz-Target`, else method and path) or the
    /// Redis commands.
    pub what: String,
    /// The client's first byte.
    pub sent: Instant,
    /// The service's last byte so far (`None`: no answer yet).
    pub answered: Option<Instant>,
}

/// Every exchange seen by a set of proxies, in order of their start.
#[derive(Debug, Clone, Default)]
pub struct Exchanges(Arc<Mutex<Vec<Exchange>>>);

impl Exchanges {
    /// A position to count from.
    pub fn mark(&self) -> usize {
        self.0.lock().map(|e| e.len()).unwrap_or_default()
    }

    /// The exchanges started since `mark`.
    pub fn since(&self, mark: usize) -> Vec<Exchange> {
        self.0
            .lock()
            .map(|e| e.get(mark..).unwrap_or_default().to_vec())
            .unwrap_or_default()
    }

    fn start(&self, service: &'static str, request: &[u8], at: Instant) -> Option<usize> {
        let mut all = self.0.lock().ok()?;
        all.push(Exchange {
            service,
            what: describe(request),
            sent: at,
            answered: None,
        });
        Some(all.len() - 1)
    }

    fn answer(&self, index: usize, at: Instant) {
        if let Ok(mut all) = self.0.lock()
            && let Some(exchange) = all.get_mut(index)
        {
            exchange.answered = Some(at);
        }
    }

    /// How many of `exchanges` happened one after another: overlapping ones count once.
    pub fn sequential(exchanges: &[Exchange]) -> usize {
        waits(exchanges).len()
    }

    /// How long `exchanges` kept the caller waiting: the length of their union in time.
    pub fn waited(exchanges: &[Exchange]) -> Duration {
        waits(exchanges)
            .iter()
            .map(|(s, e)| e.duration_since(*s))
            .sum()
    }

    /// The waits one after another, each as the exchanges it overlapped: `a`, `{b | c}`, ...
    pub fn sequence(exchanges: &[Exchange]) -> String {
        let mut sorted: Vec<&Exchange> = exchanges.iter().collect();
        sorted.sort_by_key(|e| e.sent);
        let mut groups: Vec<(Instant, Vec<String>)> = Vec::new();
        for e in sorted {
            let label = format!("{} {}", e.service, e.what);
            let end = e.answered.unwrap_or(e.sent);
            match groups.last_mut() {
                Some((until, labels)) if e.sent <= *until => {
                    *until = (*until).max(end);
                    labels.push(label);
                }
                _ => groups.push((end, vec![label])),
            }
        }
        groups
            .into_iter()
            .map(|(_, labels)| match labels.as_slice() {
                [one] => one.clone(),
                many => format!("{{{}}}", many.join(" | ")),
            })
            .collect::<Vec<_>>()
            .join(" → ")
    }
}

/// The merged time spans of `exchanges`, in order.
fn waits(exchanges: &[Exchange]) -> Vec<(Instant, Instant)> {
    let mut spans: Vec<(Instant, Instant)> = exchanges
        .iter()
        .map(|e| (e.sent, e.answered.unwrap_or(e.sent)))
        .collect();
    spans.sort();
    let mut merged: Vec<(Instant, Instant)> = Vec::new();
    for (start, finish) in spans {
        match merged.last_mut() {
            Some((_, end)) if start <= *end => *end = (*end).max(finish),
            _ => merged.push((start, finish)),
        }
    }
    merged
}

/// A short name for the request that starts with `bytes`.
fn describe(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    if text.starts_with('*') {
        // RESP: `*N` arrays of `$len` bulk strings; the first string of each array is the command.
        let mut commands = Vec::new();
        let mut lines = text.split("\r\n");
        while let Some(line) = lines.next() {
            if line.starts_with('*') {
                lines.next();
                if let Some(name) = lines.next() {
                    commands.push(name.to_ascii_uppercase());
                }
            }
        }
        return commands.join("+");
    }
    let mut lines = text.lines();
    let request_line = lines.next().unwrap_or_default();
    lines
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-amz-target").then(|| {
                value
                    .trim()
                    .rsplit('.')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
        })
        .unwrap_or_else(|| {
            let mut parts = request_line.split_whitespace();
            let method = parts.next().unwrap_or_default();
            let path = parts
                .next()
                .unwrap_or_default()
                .split('?')
                .next()
                .unwrap_or_default();
            format!("{method} {path}")
        })
}

/// A counting proxy on 127.0.0.1 in front of `upstream` (stops when dropped).
#[derive(Debug)]
pub struct CountingProxy {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingProxy {
    /// Starts the proxy; exchanges are recorded in `log` under `service`.
    pub async fn start(
        service: &'static str,
        upstream: SocketAddr,
        log: Exchanges,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        relay(service, client, server, log).await;
                    }
                });
            }
        });
        Ok(Self { addr, task })
    }

    /// The proxy's address.
    pub fn address(&self) -> SocketAddr {
        self.addr
    }
}

/// Which exchange of this connection is open and whether it has been answered.
#[derive(Debug, Default)]
struct Turn {
    current: Option<usize>,
    answered: bool,
}

async fn relay(service: &'static str, client: TcpStream, server: TcpStream, log: Exchanges) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let turn = Arc::new(Mutex::new(Turn::default()));
    let (up_turn, up_log) = (turn.clone(), log.clone());
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = client_read.read(&mut buf).await {
            if n == 0 {
                break;
            }
            if let Ok(mut t) = up_turn.lock()
                && (t.current.is_none() || t.answered)
            {
                t.current = up_log.start(service, &buf[..n], Instant::now());
                t.answered = false;
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = server_read.read(&mut buf).await {
            if n == 0 {
                break;
            }
            if let Ok(mut t) = turn.lock()
                && let Some(index) = t.current
            {
                log.answer(index, Instant::now());
                t.answered = true;
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn overlapping_exchanges_count_once_in_the_sequence() {
        let t = Instant::now();
        let e = |sent, answered| Exchange {
            service: "x",
            what: String::new(),
            sent: at(t, sent),
            answered: Some(at(t, answered)),
        };
        // 0-10 and 5-12 overlap (one wait), 20-30 alone, 40-50 and 45-60 and 55-58 overlap.
        let all = [
            e(0, 10),
            e(5, 12),
            e(20, 30),
            e(40, 50),
            e(45, 60),
            e(55, 58),
        ];
        assert_eq!(Exchanges::sequential(&all), 3);
        assert_eq!(Exchanges::waited(&all), Duration::from_millis(12 + 10 + 20));
        assert_eq!(Exchanges::sequential(&all[2..3]), 1);
        assert_eq!(Exchanges::sequential(&[]), 0);
    }

    #[tokio::test]
    async fn a_request_answer_pair_is_one_exchange_and_a_pipeline_too() {
        // An echo service: every read is answered at once.
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = echo.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let log = Exchanges::default();
        let proxy = CountingProxy::start("echo", upstream, log.clone())
            .await
            .unwrap();
        let mut conn = TcpStream::connect(proxy.address()).await.unwrap();
        let mark = log.mark();
        let mut buf = [0u8; 64];
        for message in [
            &b"*1\r\n$4\r\nping\r\n"[..],
            b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nDEL\r\n$1\r\nb\r\n",
            b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\n\r\n{}",
        ] {
            conn.write_all(message).await.unwrap();
            let mut got = 0;
            while got < message.len() {
                got += conn.read(&mut buf[got..]).await.unwrap();
            }
        }
        let seen = log.since(mark);
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(
            seen.iter()
                .all(|e| e.answered.is_some() && e.service == "echo")
        );
        assert_eq!(Exchanges::sequential(&seen), 3);
        let what: Vec<&str> = seen.iter().map(|e| e.what.as_str()).collect();
        assert_eq!(what, ["PING", "GET+DEL", "PutItem"]);
        assert_eq!(
            Exchanges::sequence(&seen),
            "echo PING → echo GET+DEL → echo PutItem"
        );
    }
}
