//! `reminder-cron` function: configuration and event handler (to be completed by its issue).

use shared::config::{ConfigError, Env};

/// Configuration read once at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    /// DynamoDB table of claims.
    pub claims_table: String,
}

impl Config {
    /// Reads every variable, reporting all problems together.
    pub fn from_env(mut env: Env) -> Result<Self, ConfigError> {
        let claims_table = env.required("CLAIMS_TABLE");
        env.finish()?;
        Ok(Self {
            claims_table: shared::config::take(claims_table, "CLAIMS_TABLE")?,
        })
    }
}

/// Handles one invocation.
pub async fn handle(_config: &Config, _event: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "status": "not implemented yet" })
}
