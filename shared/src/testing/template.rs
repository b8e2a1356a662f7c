//! Reads the DynamoDB tables and SQS queues declared in `template.yaml`.

use std::path::{Path, PathBuf};

use serde_norway::Value;

/// Error reading the template.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The YAML is not valid.
    #[error("template.yaml is not valid YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    /// A resource or property is not as expected.
    #[error("template.yaml: {0}")]
    Shape(String),
}

/// The parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    root: Value,
}

/// Finds `template.yaml` from the current directory or any parent.
pub fn locate() -> Option<PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        let candidate = dir.join("template.yaml");
        if candidate.is_file() {
            return Some(candidate);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// The binary each function of the template is packaged from, by logical id: sam builds a
/// function with `make build-<LogicalId>` (`BuildMethod: makefile`), whose recipe runs
/// `lambda-build.sh <binary> ...` (read from the Makefile next to the template).
pub fn function_binaries() -> Result<std::collections::BTreeMap<String, String>, TemplateError> {
    let path = locate()
        .map(|t| t.with_file_name("Makefile"))
        .ok_or_else(|| TemplateError::Shape("template.yaml not found".into()))?;
    let text = std::fs::read_to_string(&path).map_err(|e| TemplateError::Io(path.clone(), e))?;
    let mut binaries = std::collections::BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(id) = line
            .strip_prefix("build-")
            .and_then(|l| l.strip_suffix(':'))
        else {
            continue;
        };
        let binary = lines.next().and_then(|recipe| {
            recipe
                .split_whitespace()
                .skip_while(|w| !w.ends_with("lambda-build.sh"))
                .nth(1)
        });
        if let Some(binary) = binary {
            binaries.insert(id.to_owned(), binary.to_owned());
        }
    }
    Ok(binaries)
}

impl Template {
    /// Loads the repository's template.
    pub fn load() -> Result<Self, TemplateError> {
        let path = locate().ok_or_else(|| {
            TemplateError::Shape("template.yaml not found above the current directory".into())
        })?;
        Self::from_path(&path)
    }

    /// Loads a template file.
    pub fn from_path(path: &Path) -> Result<Self, TemplateError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| TemplateError::Io(path.to_owned(), e))?;
        Self::parse(&text)
    }

    /// Parses template text.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        Ok(Self {
            root: serde_norway::from_str(text)?,
        })
    }

    /// The whole document.
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// Logical ids of resources of `kind` (e.g. `AWS::DynamoDB::Table`), in file order.
    pub fn resources_of(&self, kind: &str) -> Vec<String> {
        self.root["Resources"]
            .as_mapping()
            .map(|m| {
                m.iter()
                    .filter(|(_, r)| r["Type"].as_str() == Some(kind))
                    .filter_map(|(id, _)| id.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A resource's `Properties`.
    pub fn properties(&self, logical_id: &str) -> Result<&Value, TemplateError> {
        let props = &self.root["Resources"][logical_id]["Properties"];
        if props.is_null() {
            return Err(TemplateError::Shape(format!(
                "{logical_id} has no Properties"
            )));
        }
        Ok(props)
    }

    /// Resolves `!Ref Parameter` to the parameter's default; other values as they are.
    pub fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        if let Value::Tagged(tagged) = value
            && tagged.tag == "Ref"
            && let Some(name) = tagged.value.as_str()
        {
            let param = &self.root["Parameters"][name]["Default"];
            if !param.is_null() {
                return param;
            }
        }
        value
    }

    /// A scalar property as text (numbers included), resolving parameter references.
    pub fn scalar(&self, value: &Value) -> Option<String> {
        match self.resolve(value) {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// The logical id a `!GetAtt X.Arn` / `!Ref X` points to.
    pub fn referenced_resource(value: &Value) -> Option<String> {
        let Value::Tagged(tagged) = value else {
            return None;
        };
        let target = tagged.value.as_str()?;
        match () {
            _ if tagged.tag == "GetAtt" => target.split('.').next().map(str::to_owned),
            _ if tagged.tag == "Ref" => Some(target.to_owned()),
            _ => None,
        }
    }
}
