//! `make bench-lambda`: the release binaries run the way Lambda runs them, each under the Lambda
//! Runtime API emulator (`scenario_tests::emulator`) against the local services, next to a
//! hello-world `lambda_runtime` binary built in the same run. Per function it prints:
//!
//! - init: from `exec` to the first `GET …/invocation/next`, median of the cold starts, as
//!   deployed (secrets read from Secrets Manager) and with the secrets given as plain variables,
//!   whose ratio to the hello world's is the cold-start goal (the cold starts of all binaries
//!   are interleaved, so machine noise hits them alike);
//! - the first request's latency (new connections) and the warm p50 / p99 of the next ones;
//! - network round trips per request, counted by proxies in front of moto and Redis
//!   (`scenario_tests::roundtrips`): how many happen one after another, and the total per service;
//! - peak RSS (`VmHWM`) after the warm invocations, binary size and `zip -9` size (and the arm64
//!   package's, when `--arm64-dir` holds cargo-lambda's `<function>/bootstrap`).
//!
//! usage: bench-lambda --release-dir DIR [--arm64-dir DIR] [--cold N] [--warm N]
//! Needs the local services' environment (`source .local/services/env`).

mod workload;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use scenario_tests::emulator::{FunctionProcess, Outcome, RuntimeApi};
use scenario_tests::roundtrips::{CountingProxy, Exchange, Exchanges};
use scenario_tests::stack::Stack;
use workload::Workload;

const ALL: [Workload; 5] = [
    Workload::Hello,
    Workload::Login,
    Workload::Webhook,
    Workload::Reminders,
    Workload::EmailRetry,
];

#[derive(Debug)]
struct Args {
    release_dir: PathBuf,
    arm64_dir: Option<PathBuf>,
    cold: usize,
    warm: usize,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        release_dir: PathBuf::new(),
        arm64_dir: None,
        cold: 9,
        warm: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let count = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--release-dir" => args.release_dir = PathBuf::from(&value),
            "--arm64-dir" => args.arm64_dir = Some(PathBuf::from(&value)),
            "--cold" => args.cold = count()?.max(1),
            "--warm" => args.warm = count()?.max(2),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.release_dir.as_os_str().is_empty() {
        return Err(
            "usage: bench-lambda --release-dir DIR [--arm64-dir DIR] [--cold N] [--warm N]".into(),
        );
    }
    Ok(args)
}

/// Everything measured for one binary.
#[derive(Debug, Default)]
struct Measured {
    init_ms: Vec<f64>,
    /// Init with the secrets as plain variables: everything but the secrets read.
    init_plain_ms: Vec<f64>,
    init_trips: Vec<usize>,
    init_sequence: String,
    sequence: String,
    first_ms: f64,
    warm_ms: Vec<f64>,
    sequential: Vec<usize>,
    by_service: BTreeMap<&'static str, Vec<usize>>,
    peak_rss_kib: u64,
    binary: u64,
    zip: u64,
    arm64: Option<(u64, u64)>,
}

struct Bench {
    stack: Stack,
    log: Exchanges,
    _proxies: [CountingProxy; 2],
}

async fn address_of(url: &str) -> Result<SocketAddr, String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    tokio::net::lookup_host(host_port)
        .await
        .map_err(|e| format!("{url}: {e}"))?
        .next()
        .ok_or(format!("{url}: no address"))
}

impl Bench {
    /// A fresh stack whose functions reach moto and Redis through counting proxies.
    async fn new() -> Result<Self, String> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                format!("{name} is not set: start the local services (`make services-up`) and `source .local/services/env`")
            })
        };
        let (aws_url, redis_url) = (var("AWS_ENDPOINT_URL")?, var("REDIS_URL")?);
        let log = Exchanges::default();
        let aws = CountingProxy::start("aws", address_of(&aws_url).await?, log.clone())
            .await
            .map_err(|e| format!("proxy: {e}"))?;
        let redis = CountingProxy::start("redis", address_of(&redis_url).await?, log.clone())
            .await
            .map_err(|e| format!("proxy: {e}"))?;
        let mut stack = Stack::new(&format!("redis://{}", redis.address())).await;
        stack.vars.insert(
            "AWS_ENDPOINT_URL".into(),
            format!("http://{}", aws.address()),
        );
        Ok(Self {
            stack,
            log,
            _proxies: [aws, redis],
        })
    }

    fn spawn(
        &self,
        binary: &Path,
        api: &RuntimeApi,
        vars: &[(String, String)],
    ) -> Result<FunctionProcess, String> {
        let name = binary.file_name().unwrap_or_default().to_string_lossy();
        FunctionProcess::spawn(binary, &name, vars, api)
            .map_err(|e| format!("{}: {e}", binary.display()))
    }

    /// Time from `exec` to the first poll, and the exchanges before it.
    async fn init(
        &self,
        binary: &Path,
        vars: &[(String, String)],
    ) -> Result<(Duration, Vec<Exchange>), String> {
        let api = RuntimeApi::start().await.map_err(|e| e.to_string())?;
        let mark = self.log.mark();
        let process = self.spawn(binary, &api, vars)?;
        let Some(polled) = api.first_poll(Duration::from_secs(30)).await else {
            return Err(format!(
                "{} never asked for an event:\n{}",
                binary.display(),
                process.output()
            ));
        };
        let exchanges = self
            .log
            .since(mark)
            .into_iter()
            .filter(|e| e.answered.is_some_and(|a| a <= polled))
            .collect();
        Ok((polled.duration_since(process.started()), exchanges))
    }

    /// The function's variables: its own secrets only, as ARNs or (`plain`) as values.
    fn vars(&self, workload: Workload, plain: bool) -> Vec<(String, String)> {
        let mine = |k: &str| {
            k.strip_suffix("_SECRET_ARN")
                .is_none_or(|name| !plain && workload.secrets().contains(&name))
        };
        let mut vars: Vec<(String, String)> = self
            .stack
            .vars
            .iter()
            .filter(|(k, _)| mine(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if plain {
            vars.extend(workload.secrets().iter().map(|name| {
                let value = self.stack.secrets.get(*name).cloned().unwrap_or_default();
                ((*name).to_owned(), value)
            }));
        }
        vars
    }

    /// One cold start as deployed (secrets read from Secrets Manager) and one with the secrets
    /// given as plain variables (no network at init): the difference is the secrets read.
    async fn cold_start(
        &self,
        binary: &Path,
        workload: Workload,
        into: &mut Measured,
    ) -> Result<(), String> {
        let (init, exchanges) = self.init(binary, &self.vars(workload, false)).await?;
        into.init_ms.push(init.as_secs_f64() * 1000.0);
        into.init_trips.push(Exchanges::sequential(&exchanges));
        into.init_sequence = Exchanges::sequence(&exchanges);
        let (plain, _) = self.init(binary, &self.vars(workload, true)).await?;
        into.init_plain_ms.push(plain.as_secs_f64() * 1000.0);
        Ok(())
    }

    /// `runs` invocations on one warm process.
    async fn warm(
        &self,
        binary: &Path,
        workload: Workload,
        runs: usize,
        into: &mut Measured,
    ) -> Result<(), String> {
        workload.prepare(&self.stack).await?;
        let api = RuntimeApi::start().await.map_err(|e| e.to_string())?;
        let process = self.spawn(binary, &api, &self.vars(workload, false))?;
        api.first_poll(Duration::from_secs(30))
            .await
            .ok_or_else(|| format!("no first poll:\n{}", process.output()))?;
        for i in 0..runs {
            let event = workload.event(&self.stack, i).await?;
            let mark = self.log.mark();
            let started = Instant::now();
            let outcome = api.invoke(event, workload.timeout()).await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            match &outcome {
                Some(Outcome::Response(answer)) if workload.succeeded(answer) => {}
                other => {
                    return Err(format!(
                        "{} invocation {i}: unexpected answer {other:?}\n{}",
                        workload.binary(),
                        process.output()
                    ));
                }
            }
            let exchanges = self.log.since(mark);
            if i == 0 {
                into.first_ms = ms;
                continue;
            }
            into.warm_ms.push(ms);
            into.sequential.push(Exchanges::sequential(&exchanges));
            into.sequence = Exchanges::sequence(&exchanges);
            for service in ["aws", "redis"] {
                let n = exchanges.iter().filter(|e| e.service == service).count();
                into.by_service.entry(service).or_default().push(n);
            }
        }
        into.peak_rss_kib = peak_rss_kib(process.pid())?;
        Ok(())
    }
}

fn peak_rss_kib(pid: Option<u32>) -> Result<u64, String> {
    let pid = pid.ok_or("the process is gone")?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM".to_owned())
}

/// The size of `binary` and of its `zip -9` archive (as Lambda's package holds it).
fn sizes(binary: &Path) -> Result<(u64, u64), String> {
    let size = std::fs::metadata(binary)
        .map_err(|e| format!("{}: {e}", binary.display()))?
        .len();
    let zip = std::env::temp_dir().join(format!("bench-lambda-{}.zip", std::process::id()));
    let _ = std::fs::remove_file(&zip);
    let status = std::process::Command::new("zip")
        .args(["-q", "-9", "-j"])
        .arg(&zip)
        .arg(binary)
        .status()
        .map_err(|e| format!("zip (install it: apt-get install zip): {e}"))?;
    if !status.success() {
        return Err(format!("zip of {} failed", binary.display()));
    }
    let zipped = std::fs::metadata(&zip).map_err(|e| e.to_string())?.len();
    let _ = std::fs::remove_file(&zip);
    Ok((size, zipped))
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 0.5)
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn median_count(values: &[usize]) -> usize {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn mb(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / 1_000_000.0)
}

fn report(args: &Args, results: &[(Workload, Measured)]) {
    let hello = results
        .iter()
        .find(|(w, _)| *w == Workload::Hello)
        .map_or(f64::NAN, |(_, m)| median(&m.init_plain_ms));
    println!(
        "bench-lambda: {} cold starts per binary (interleaved), {} invocations per function; {}\n",
        args.cold,
        args.warm,
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "| function | request | init ms, median (min-max) | init, secrets as plain variables, ms | that vs hello | init round trips | first request ms | warm p50 ms | warm p99 ms | round trips in sequence (AWS + Redis in all) | peak RSS MB | binary MB | zip MB | arm64 binary MB | arm64 zip MB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (workload, m) in results {
        let init = median(&m.init_ms);
        let lo = m.init_ms.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = m.init_ms.iter().copied().fold(0.0, f64::max);
        let service = |s: &str| median_count(m.by_service.get(s).map_or(&[][..], |v| v));
        let (arm_bin, arm_zip) = m
            .arm64
            .map_or(("-".into(), "-".into()), |(b, z)| (mb(b), mb(z)));
        let local = median(&m.init_plain_ms);
        println!(
            "| {} | {} | {init:.1} ({lo:.1}-{hi:.1}) | {local:.1} | {:.2}x | {} | {:.1} | {:.1} | {:.1} | {} ({} + {}) | {:.1} | {} | {} | {arm_bin} | {arm_zip} |",
            workload.binary(),
            workload.request(),
            local / hello,
            median_count(&m.init_trips),
            m.first_ms,
            median(&m.warm_ms),
            percentile(&m.warm_ms, 0.99),
            median_count(&m.sequential),
            service("aws"),
            service("redis"),
            m.peak_rss_kib as f64 / 1024.0,
            mb(m.binary),
            mb(m.zip),
        );
    }
    println!(
        "\nRound trips, one after another (`{{a | b}}`: concurrent), of the last cold start and the last warm request:"
    );
    for (workload, m) in results.iter().filter(|(w, _)| *w != Workload::Hello) {
        println!(
            "- {} init: {}",
            workload.binary(),
            or_none(&m.init_sequence)
        );
        println!("- {} request: {}", workload.binary(), or_none(&m.sequence));
    }
}

fn or_none(sequence: &str) -> &str {
    if sequence.is_empty() {
        "none"
    } else {
        sequence
    }
}

async fn bench(args: &Args) -> Result<Vec<(Workload, Measured)>, String> {
    let bench = Bench::new().await?;
    let mut results: Vec<(Workload, Measured)> =
        ALL.iter().map(|w| (*w, Measured::default())).collect();
    for (workload, m) in &mut results {
        let binary = args.release_dir.join(workload.binary());
        (m.binary, m.zip) = sizes(&binary)?;
        if let Some(dir) = &args.arm64_dir {
            let bootstrap = dir.join(workload.binary()).join("bootstrap");
            if bootstrap.is_file() {
                m.arm64 = Some(sizes(&bootstrap)?);
            }
        }
    }
    eprintln!("cold starts: {} rounds", args.cold);
    for _ in 0..args.cold {
        for (workload, m) in &mut results {
            bench
                .cold_start(&args.release_dir.join(workload.binary()), *workload, m)
                .await?;
        }
    }
    for (workload, m) in &mut results {
        eprintln!("warm: {} x {}", workload.binary(), args.warm);
        let binary = args.release_dir.join(workload.binary());
        bench.warm(&binary, *workload, args.warm, m).await?;
    }
    Ok(results)
}

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match args() {
        Ok(args) => bench(&args).await.map(|results| report(&args, &results)),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-lambda: {e}");
            ExitCode::FAILURE
        }
    }
}
