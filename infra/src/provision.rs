//! `bundle provision`: creates every DynamoDB table and SQS queue declared in `template.yaml`
//! at `AWS_ENDPOINT_URL` (moto), stores the functions' secrets in its Secrets Manager, and
//! prints `export VAR=value` lines for the functions' environment variables that reference
//! them (infra/scripts/services.sh reads them): secrets as `<NAME>_SECRET_ARN`, as in AWS.

use shared::secrets::ARN_SUFFIX;
use shared::testing::provision::{create_all, put_secret};
use shared::testing::services;
use shared::testing::template::Template;

/// Creates the resources with names starting with `prefix` (default `bundle-local-`).
pub async fn provision(prefix: Option<String>) -> Result<(), String> {
    let prefix = prefix.unwrap_or_else(|| "bundle-local-".to_owned());
    let config = services::aws_config().await.map_err(|e| e.to_string())?;
    let template = Template::load().map_err(|e| e.to_string())?;
    let created = create_all(&config, &template, &prefix)
        .await
        .map_err(|e| e.to_string())?;
    let mut exports = env_exports(&template, &created);
    exports.extend(store_secrets(&config, &template, &prefix).await?);
    for (var, value) in exports {
        println!("export {var}={value}");
    }
    Ok(())
}

/// Local values of the secrets: the variable itself when set, else a local default.
fn local_secret_value(name: &str) -> Result<String, String> {
    let default = match name {
        // The fixtures' documented test secret (events/stripe-webhook/).
        "STRIPE_WEBHOOK_SECRETS" => Some("whsec_test_secret"),
        // Customer look-ups fail with it (as with any unknown customer).
        "STRIPE_API_KEY" => Some("sk_test_local_unused"),
        // Local-only keys (32 bytes); real deployments keep random ones in Secrets Manager.
        "LOG_HASH_KEY" => Some("local-log-hash-key-0123456789abcdef"),
        "DEVICE_COOKIE_KEY" => Some("local-device-cookie-key-0123456789abcdef"),
        _ => None,
    };
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| default.map(str::to_owned))
        .ok_or_else(|| {
            format!("{name} is not set, so its secret cannot be stored; fix: export {name}=...")
        })
}

/// Stores every secret the functions name (`<NAME>_SECRET_ARN`) as `<prefix><NAME>`;
/// returns `(<NAME>_SECRET_ARN, ARN)` pairs.
async fn store_secrets(
    config: &aws_config::SdkConfig,
    template: &Template,
    prefix: &str,
) -> Result<Vec<(String, String)>, String> {
    let client = aws_sdk_secretsmanager::Client::new(config);
    let mut stored = Vec::new();
    for var in secret_variables(template) {
        let name = var.trim_end_matches(ARN_SUFFIX);
        let value = local_secret_value(name)?;
        let arn = put_secret(&client, &format!("{prefix}{name}"), &value)
            .await
            .map_err(|e| e.to_string())?;
        stored.push((var, arn));
    }
    Ok(stored)
}

/// Every `<NAME>_SECRET_ARN` variable of the template's functions, sorted and unique.
pub fn secret_variables(template: &Template) -> Vec<String> {
    let mut vars = std::collections::BTreeSet::new();
    for function in template.resources_of("AWS::Serverless::Function") {
        let Ok(props) = template.properties(&function) else {
            continue;
        };
        for (name, _) in props["Environment"]["Variables"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            if let Some(name) = name.as_str().filter(|n| n.ends_with(ARN_SUFFIX)) {
                vars.insert(name.to_owned());
            }
        }
    }
    vars.into_iter().collect()
}

/// `(VAR, value)` for every function environment variable that is a plain value, a `!Ref` to
/// a created resource or a `!Ref` to a parameter (its default); sorted and unique.
pub fn env_exports(template: &Template, created: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = std::collections::BTreeMap::new();
    for function in template.resources_of("AWS::Serverless::Function") {
        let Ok(props) = template.properties(&function) else {
            continue;
        };
        let Some(vars) = props["Environment"]["Variables"].as_mapping() else {
            continue;
        };
        for (name, value) in vars {
            let Some(name) = name.as_str() else { continue };
            let created_ref = Template::referenced_resource(value)
                .and_then(|id| created.iter().find(|(c, _)| *c == id))
                .map(|(_, v)| v.clone());
            // Parameters resolve to their defaults; secret ARNs (no default) are stored by
            // `store_secrets`.
            let resolved = created_ref.or_else(|| match template.resolve(value) {
                serde_norway::Value::Tagged(_) => None,
                plain => template.scalar(plain),
            });
            if let Some(v) = resolved {
                out.insert(name.to_owned(), v);
            }
        }
    }
    out.into_iter().collect()
}
