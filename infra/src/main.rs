//! `bundle`: the local stack (`bundle dev`) and the ops commands; `bundle help` lists them.

use std::process::ExitCode;

use infra::cli::{self, Command, USAGE};
use infra::settings::LocalSettings;
use infra::{dev, ops, provision};
use shared::config::Env;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bundle: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let env = match command {
        Command::Dev { .. } => local_env().await,
        _ => Env::from_process(),
    };
    let settings = match LocalSettings::local_defaults().apply_env(|k| env.optional(k)) {
        Ok(s) => s,
        Err(problems) => {
            for p in problems {
                eprintln!("bundle: {p}");
            }
            return ExitCode::from(2);
        }
    };
    match run(command, settings, env).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bundle: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The environment the local stack reads: secrets named by `<NAME>_SECRET_ARN` (as
/// `bundle provision` stores them in moto) are read from Secrets Manager, as the Lambda
/// binaries read them; without such variables the process environment as it is.
async fn local_env() -> Env {
    if std::env::vars().any(|(k, _)| k.ends_with(shared::secrets::ARN_SUFFIX)) {
        shared::secrets::process_env(&shared::aws::load_config().await).await
    } else {
        Env::from_process()
    }
}

async fn run(command: Command, mut settings: LocalSettings, env: Env) -> Result<(), String> {
    match command {
        Command::Dev {
            backend,
            port,
            reminder_interval,
            no_demo,
        } => {
            settings.backend = backend.unwrap_or(settings.backend);
            settings.port = port.unwrap_or(settings.port);
            if let Some(secs) = reminder_interval {
                settings.reminder_interval = std::time::Duration::from_secs(secs);
            }
            settings.seed_demo = !no_demo;
            init_logs();
            dev::run(settings, env).await
        }
        Command::CreateUser { email, name, url } => ops::create_user(&email, name, url).await,
        Command::ImportUsers { file, url } => ops::import_users(&file, url).await,
        Command::StripeSend { what, id, url } => ops::stripe_send(&what, id, url, &settings).await,
        Command::RunReminders { url } => ops::run_reminders(url).await,
        Command::RedriveDlq { url } => ops::redrive_dlq(url).await,
        Command::ListAmbiguous { url } => ops::list_ambiguous(url).await,
        Command::ReplayStripeEvent { id, url } => ops::replay(&id, url).await,
        Command::ReconcileStripe { since, url } => ops::reconcile_stripe(since, url).await,
        Command::Provision { prefix } => provision::provision(prefix).await,
        Command::Help => {
            println!("{USAGE}");
            Ok(())
        }
    }
}

/// Function logs as in Lambda (JSON), at `warn` unless `RUST_LOG` asks for more: the stack's
/// own one-line summaries are the readable story.
fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        shared::telemetry::init_tracing();
    } else {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::WARN)
            .with_target(false)
            .without_time()
            .try_init();
    }
}
