//! Lambda's log controls: the function's `LoggingConfig` reaches the code as
//! `AWS_LAMBDA_LOG_LEVEL` (`TRACE` … `FATAL`) and `AWS_LAMBDA_LOG_FORMAT` (`JSON` or `Text`).
//! `RUST_LOG`, when set, overrides the level (local runs, a debugging session).

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (Lambda's JSON log format; the default).
    Json,
    /// Plain text lines.
    Text,
}

/// The level filter and format to log with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogControls {
    /// A filter directive (`info`, `warn,login=debug`, ...), as `tracing_subscriber`'s
    /// `Targets` reads it.
    pub filter: String,
    /// Line format.
    pub format: LogFormat,
}

impl LogControls {
    /// From the process environment.
    pub fn from_process() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// From variables given by `var`: `RUST_LOG`, else `AWS_LAMBDA_LOG_LEVEL`, else `info`;
    /// `AWS_LAMBDA_LOG_FORMAT=Text` (any case) for text, JSON otherwise.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let filter = set("RUST_LOG")
            .or_else(|| {
                set("AWS_LAMBDA_LOG_LEVEL").and_then(|l| lambda_level(&l).map(str::to_owned))
            })
            .unwrap_or_else(|| "info".to_owned());
        let format = match set("AWS_LAMBDA_LOG_FORMAT") {
            Some(f) if f.trim().eq_ignore_ascii_case("text") => LogFormat::Text,
            _ => LogFormat::Json,
        };
        Self { filter, format }
    }
}

/// The `tracing` level of a Lambda application log level (`FATAL` has no own level: `error`).
fn lambda_level(raw: &str) -> Option<&'static str> {
    match raw.trim().to_ascii_uppercase().as_str() {
        "TRACE" => Some("trace"),
        "DEBUG" => Some("debug"),
        "INFO" => Some("info"),
        "WARN" => Some("warn"),
        "ERROR" | "FATAL" => Some("error"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn controls(pairs: &[(&str, &str)]) -> LogControls {
        LogControls::from_vars(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn lambda_level_and_format_are_honoured() {
        assert_eq!(
            controls(&[
                ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
                ("AWS_LAMBDA_LOG_FORMAT", "JSON")
            ]),
            LogControls {
                filter: "warn".into(),
                format: LogFormat::Json
            }
        );
        assert_eq!(
            controls(&[
                ("AWS_LAMBDA_LOG_LEVEL", "FATAL"),
                ("AWS_LAMBDA_LOG_FORMAT", "Text")
            ]),
            LogControls {
                filter: "error".into(),
                format: LogFormat::Text
            }
        );
        assert_eq!(
            controls(&[("AWS_LAMBDA_LOG_LEVEL", "debug")]).filter,
            "debug"
        );
    }

    #[test]
    fn rust_log_overrides_the_lambda_level() {
        let c = controls(&[
            ("RUST_LOG", "login=trace,warn"),
            ("AWS_LAMBDA_LOG_LEVEL", "ERROR"),
        ]);
        assert_eq!(c.filter, "login=trace,warn");
        assert_eq!(c.format, LogFormat::Json);
    }

    #[test]
    fn defaults_are_info_and_json() {
        let expected = LogControls {
            filter: "info".into(),
            format: LogFormat::Json,
        };
        assert_eq!(controls(&[]), expected);
        assert_eq!(
            controls(&[("AWS_LAMBDA_LOG_LEVEL", "LOUD"), ("RUST_LOG", " ")]),
            expected,
            "an unknown level or a blank RUST_LOG falls back"
        );
    }
}
