//! A fresh deployment's worth of resources in the local services for one run of the function
//! binaries: tables, the email queue with its DLQ, a verified sender and the secrets in moto's
//! Secrets Manager, with the environment variables the template gives the functions (secrets as
//! `<NAME>_SECRET_ARN`). Used by the runtime tests and `bench-lambda`.

use std::collections::BTreeMap;

use shared::testing::fixtures;
use shared::testing::provision::put_secret;
use shared::testing::unique_name;

/// The webhook secret the stack's functions verify with.
pub const WEBHOOK_SECRET: &str = "whsec_runtime_test_current";

/// The resources and the functions' variables.
#[derive(Debug, Clone)]
pub struct Stack {
    /// SDK configuration for the local services (moto).
    pub aws: aws_config::SdkConfig,
    /// The functions' environment (without the Lambda runtime's own variables).
    pub vars: BTreeMap<String, String>,
    /// The secrets' values by variable name (`REDIS_URL`, ...), as stored in moto.
    pub secrets: BTreeMap<String, String>,
}

impl Stack {
    /// Creates the resources; the functions reach Redis at `redis_url` (stored as a secret).
    /// Panics with the missing service's name when the local services are not running.
    #[allow(clippy::panic)]
    pub async fn new(redis_url: &str) -> Self {
        let aws = fixtures::moto().await;
        let mut vars = BTreeMap::new();
        for (var, table) in [
            ("USERS_TABLE", "UsersTable"),
            ("CLAIMS_TABLE", "ClaimsTable"),
            ("BILLING_TABLE", "BillingTable"),
            ("APPOINTMENTS_TABLE", "AppointmentsTable"),
            ("EMAILS_TABLE", "EmailsTable"),
        ] {
            vars.insert(var.to_owned(), fixtures::table(&aws, table).await);
        }
        let (queue, _dlq) = fixtures::email_queue_with_dlq(&aws).await;
        fixtures::verify_sender(&aws, "example.com").await;
        let client = aws_sdk_secretsmanager::Client::new(&aws);
        let mut secrets = BTreeMap::new();
        for (name, value) in [
            ("REDIS_URL", redis_url),
            ("STRIPE_WEBHOOK_SECRETS", WEBHOOK_SECRET),
            ("STRIPE_API_KEY", "sk_test_runtime_unused"),
            ("LOG_HASH_KEY", "runtime-test-log-hash-key-0123456789"),
            (
                "DEVICE_COOKIE_KEY",
                "runtime-test-device-cookie-key-0123456789",
            ),
        ] {
            let arn = put_secret(&client, &unique_name(name), value)
                .await
                .unwrap_or_else(|e| panic!("secret {name} in moto: {e}"));
            vars.insert(format!("{name}_SECRET_ARN"), arn);
            secrets.insert(name.to_owned(), value.to_owned());
        }
        for (var, value) in [
            ("EMAIL_QUEUE_URL", queue.url.as_str()),
            ("APPOINTMENTS_INDEX", "by-start-day"),
            ("SENDER_EMAIL", "no-reply@example.com"),
            ("ADMIN_EMAIL", "admin@example.com"),
            ("BUSINESS_TIME_ZONE", "America/New_York"),
            ("STRIPE_MODE", "test"),
            ("EMAIL_CONCURRENCY", "2"),
            ("DEADLINE_MARGIN_MS", "3000"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ] {
            vars.insert(var.to_owned(), value.to_owned());
        }
        for var in [
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            let value = std::env::var(var).unwrap_or_else(|_| {
                panic!("{var} is not set: start the local services (`make services-up`, then `source .local/services/env`)")
            });
            vars.insert(var.to_owned(), value);
        }
        Self { aws, vars, secrets }
    }

    /// The variables, minus `names`.
    pub fn without(&self, names: &[&str]) -> Vec<(String, String)> {
        self.vars
            .iter()
            .filter(|(k, _)| !names.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
