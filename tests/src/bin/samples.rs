//! Prepares the sample events for a run of the real binaries (infra/scripts/lambda-smoke.sh):
//!
//!   samples seed           create the login sample's user (USERS_TABLE), clear its rate-limit
//!                          counters (REDIS_URL), create the Stripe samples' orders, customer
//!                          and subscription (BILLING_TABLE); existing data is kept
//!   samples resign FILE    print the Stripe sample FILE re-signed at the current time with the
//!                          webhook's first secret, read as the function reads it (Secrets
//!                          Manager via STRIPE_WEBHOOK_SECRETS_SECRET_ARN, else
//!                          STRIPE_WEBHOOK_SECRETS, else whsec_test_secret)

use std::process::ExitCode;

use scenario_tests::samples;

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| {
        format!(
            "{name} is not set; fix: infra/scripts/services.sh start && source .local/services/env"
        )
    })
}

async fn seed() -> Result<(), String> {
    let aws = shared::aws::load_config().await;
    samples::seed_login_user(&aws, &var("USERS_TABLE")?).await?;
    samples::reset_login_limits(&var("REDIS_URL")?).await?;
    samples::seed_billing(&aws, &var("BILLING_TABLE")?).await
}

async fn resign(path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut event: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let env = shared::secrets::process_env(&shared::aws::load_config().await).await;
    let secrets = env.optional("STRIPE_WEBHOOK_SECRETS").unwrap_or_default();
    let secret = secrets
        .split(',')
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or(samples::FIXTURE_SECRET);
    samples::resign_stripe_event(&mut event, secret, chrono::Utc::now());
    println!("{event}");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["seed"] => seed().await,
        ["resign", path] => resign(path).await,
        _ => Err("usage: samples seed | samples resign FILE".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("samples: {e}");
            ExitCode::FAILURE
        }
    }
}
