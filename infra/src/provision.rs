//! `bundle provision`: creates every DynamoDB table and SQS queue declared in `template.yaml`
//! at `AWS_ENDPOINT_URL` (moto) and prints `export VAR=value` lines for the functions'
//! environment variables that reference them (infra/scripts/services.sh reads them).

use shared::testing::provision::create_all;
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
    for (var, value) in env_exports(&template, &created) {
        println!("export {var}={value}");
    }
    Ok(())
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
            // Parameters resolve to their defaults; `!Sub` secrets are left to the caller.
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
