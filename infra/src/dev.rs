//! `bundle dev`: builds the stack, seeds the demo data, serves HTTP, runs the email worker
//! and the reminder schedule, and prints what to try.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use shared::config::Env;
use tokio::task::JoinHandle;

use crate::demo::{self, Seeded};
use crate::settings::LocalSettings;
use crate::stack::Stack;
use crate::{scheduler, server, worker_loop};

/// A running stack; its tasks stop when it is dropped.
#[derive(Debug)]
pub struct Running {
    /// The stack.
    pub stack: Arc<Stack>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The demo data, when seeded.
    pub seeded: Option<Seeded>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts the stack: binds first (so a taken port fails before any work), then builds the
/// ports (services resource names from `env`), seeds, and spawns the server, the worker loop
/// and the schedule.
pub async fn start(settings: LocalSettings, env: Env) -> Result<Running, String> {
    let listener = server::bind(settings.port).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("listener address: {e}"))?;
    let stack = Arc::new(Stack::build(settings.clone(), env).await?);
    let seeded = if settings.seed_demo {
        Some(demo::seed(&stack.ports, chrono::Utc::now()).await?)
    } else {
        None
    };
    let mut tasks = vec![tokio::spawn(server::serve(listener, stack.clone()))];
    if settings.run_worker {
        tasks.push(tokio::spawn(worker_loop::run(stack.clone())));
    }
    tasks.push(tokio::spawn(scheduler::run(
        stack.clone(),
        settings.reminder_interval,
    )));
    Ok(Running {
        stack,
        addr,
        seeded,
        tasks,
    })
}

fn banner(running: &Running, started: Instant) {
    let url = running.url();
    let settings = &running.stack.settings;
    println!(
        "bundle dev: local stack ready at {url} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("  backend      {}", running.stack.ports.description);
    println!(
        "  reminders    every {} s (now: bundle run-reminders)",
        settings.reminder_interval.as_secs()
    );
    println!("  status page  {url}/_local");
    if let Some(seeded) = &running.seeded {
        println!("demo data:");
        for line in &seeded.lines {
            println!("  {line}");
        }
    }
    println!("try:");
    println!(
        "  curl -si {url}/auth/login -H 'content-type: application/json' -d '{{\"email\":\"{}\",\"password\":\"{}\"}}'",
        demo::USER_EMAIL,
        demo::USER_PASSWORD
    );
    println!("  cargo run -q -p infra --bin bundle -- stripe-send checkout.session.completed");
    println!("Ctrl-C stops it. Emails, webhook events and reminder runs are printed below.");
}

/// Runs until Ctrl-C; services resource names and secrets from `env`.
pub async fn run(settings: LocalSettings, env: Env) -> Result<(), String> {
    let started = Instant::now();
    let running = start(settings, env).await?;
    banner(&running, started);
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("waiting for Ctrl-C: {e}"))?;
    println!("bundle dev: stopped");
    Ok(())
}
