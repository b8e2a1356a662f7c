//! `stripe-webhook` function: configuration and HTTP handler (to be completed by its issue).

use lambda_http::{Body, Request, Response};
use shared::config::{ConfigError, Env};
use shared::error::{ErrorClass, Problem};

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

/// Handles one API Gateway request.
pub async fn handle(_config: &Config, _request: Request) -> Response<Body> {
    shared::http::problem(
        &Problem::new(ErrorClass::Permanent, "not implemented yet")
            .with_status(501, "Not implemented"),
    )
}
