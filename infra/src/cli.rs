//! Command-line parsing: subcommands and their flags (no argument ever carries a secret).

use crate::settings::Backend;

/// Usage text shown by `bundle help` and after every usage error.
pub const USAGE: &str = "\
usage: bundle <command> [flags]

  dev [--backend memory|services] [--port N] [--reminder-interval SECS] [--no-demo]
        run the local stack on 127.0.0.1 (default port 3000, memory backend)
  create-user EMAIL [--name NAME]     password read from stdin or a prompt, never an argument
  import-users FILE                   load a Supabase auth.users export (CSV or JSON); idempotent
  stripe-send TYPE|FILE [--id EVT]    sign a sample Stripe event and POST it to the stack
        types: every event type stripe-webhook handles (see its README)
  run-reminders                       run reminder-cron now
  redrive-dlq                         move the email dead-letter queue back to the queue
  list-ambiguous                      email jobs whose send outcome is unknown (AMBIGUOUS)
  replay-stripe-event EVT_ID          reprocess a stored unparsed or failed Stripe event
  reconcile-stripe [--since WHEN]     process Stripe events missed here (WHEN: unix seconds or
                                      RFC 3339; default: the stored checkpoint)
  provision [--prefix P]              create template.yaml's tables and queues at AWS_ENDPOINT_URL

  Ops commands talk to the running stack (either backend): --url http://127.0.0.1:3000
  (or BUNDLE_URL).";

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the local stack.
    Dev {
        /// `--backend`.
        backend: Option<Backend>,
        /// `--port`.
        port: Option<u16>,
        /// `--reminder-interval`.
        reminder_interval: Option<u64>,
        /// `--no-demo`.
        no_demo: bool,
    },
    /// Create a user (password from stdin).
    CreateUser {
        /// Email.
        email: String,
        /// Display name.
        name: Option<String>,
        /// Stack URL.
        url: Option<String>,
    },
    /// Import users from a Supabase `auth.users` export.
    ImportUsers {
        /// The export file.
        file: String,
        /// Stack URL.
        url: Option<String>,
    },
    /// Sign and send a Stripe event.
    StripeSend {
        /// Event type or file path.
        what: String,
        /// Event id override.
        id: Option<String>,
        /// Stack URL.
        url: Option<String>,
    },
    /// Run reminders now.
    RunReminders {
        /// Stack URL.
        url: Option<String>,
    },
    /// Redrive the email DLQ.
    RedriveDlq {
        /// Stack URL.
        url: Option<String>,
    },
    /// List the `AMBIGUOUS` email jobs.
    ListAmbiguous {
        /// Stack URL.
        url: Option<String>,
    },
    /// Replay a stored Stripe event.
    ReplayStripeEvent {
        /// Event id.
        id: String,
        /// Stack URL.
        url: Option<String>,
    },
    /// Process the Stripe events since a time that were never completed here.
    ReconcileStripe {
        /// `--since`, Unix seconds.
        since: Option<i64>,
        /// Stack URL.
        url: Option<String>,
    },
    /// Provision tables and queues.
    Provision {
        /// Resource name prefix.
        prefix: Option<String>,
    },
    /// Show usage.
    Help,
}

struct Args {
    positional: Vec<String>,
    flags: Vec<(String, Option<String>)>,
}

/// Flags that take no value.
const SWITCHES: &[&str] = &["--no-demo"];

fn split(args: &[String]) -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut flags = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if let Some(flag) = arg.strip_prefix("--") {
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            if SWITCHES.contains(&name.as_str()) {
                flags.push((name, None));
            } else {
                let value = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| format!("{name} needs a value"))?,
                };
                flags.push((name, Some(value)));
            }
        } else {
            positional.push(arg.clone());
        }
    }
    Ok(Args { positional, flags })
}

impl Args {
    fn take(&mut self, name: &str) -> Option<String> {
        let pos = self.flags.iter().position(|(n, _)| n == name)?;
        self.flags.remove(pos).1
    }

    fn switch(&mut self, name: &str) -> bool {
        let before = self.flags.len();
        self.flags.retain(|(n, _)| n != name);
        before != self.flags.len()
    }

    fn done(self, command: &str, max_positional: usize) -> Result<(), String> {
        if let Some((flag, _)) = self.flags.first() {
            return Err(format!("`{command}` has no flag {flag}"));
        }
        if self.positional.len() > max_positional {
            return Err(format!(
                "`{command}`: unexpected argument `{}`",
                self.positional[max_positional]
            ));
        }
        Ok(())
    }

    fn one(&self, command: &str, what: &str) -> Result<String, String> {
        self.positional
            .first()
            .cloned()
            .ok_or_else(|| format!("`{command}` needs {what}"))
    }
}

fn number<T: std::str::FromStr>(flag: &str, raw: Option<String>) -> Result<Option<T>, String> {
    raw.map(|r| {
        r.parse()
            .map_err(|_| format!("{flag} {r:?} is not a valid number"))
    })
    .transpose()
}

/// Parses the arguments after the program name. Errors name the problem; the caller adds
/// the usage line.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    let mut a = split(rest)?;
    let cmd = command.as_str();
    let parsed = match cmd {
        "dev" => {
            let backend = a
                .take("--backend")
                .map(|b| Backend::parse(&b))
                .transpose()?;
            let port = number("--port", a.take("--port"))?;
            let reminder_interval = number("--reminder-interval", a.take("--reminder-interval"))?;
            let no_demo = a.switch("--no-demo");
            a.done(cmd, 0)?;
            Command::Dev {
                backend,
                port,
                reminder_interval,
                no_demo,
            }
        }
        "create-user" => {
            if a.flags.iter().any(|(n, _)| n == "--password") {
                return Err(
                    "`create-user` never takes a password argument (it would stay in your shell history); \
                     fix: pipe it on stdin or type it at the prompt"
                        .into(),
                );
            }
            let email = a.one(cmd, "an email address")?;
            let name = a.take("--name");
            let url = a.take("--url");
            a.done(cmd, 1)?;
            Command::CreateUser { email, name, url }
        }
        "import-users" => {
            let file = a.one(cmd, "an export file (CSV or JSON)")?;
            let url = a.take("--url");
            a.done(cmd, 1)?;
            Command::ImportUsers { file, url }
        }
        "stripe-send" => {
            let what = a.one(cmd, "an event type or a file")?;
            let id = a.take("--id");
            let url = a.take("--url");
            a.done(cmd, 1)?;
            Command::StripeSend { what, id, url }
        }
        "run-reminders" => {
            let url = a.take("--url");
            a.done(cmd, 0)?;
            Command::RunReminders { url }
        }
        "redrive-dlq" => {
            let url = a.take("--url");
            a.done(cmd, 0)?;
            Command::RedriveDlq { url }
        }
        "list-ambiguous" => {
            let url = a.take("--url");
            a.done(cmd, 0)?;
            Command::ListAmbiguous { url }
        }
        "replay-stripe-event" => {
            let id = a.one(cmd, "a Stripe event id (evt_...)")?;
            let url = a.take("--url");
            a.done(cmd, 1)?;
            Command::ReplayStripeEvent { id, url }
        }
        "reconcile-stripe" => {
            let since = a.take("--since").map(|w| since_seconds(&w)).transpose()?;
            let url = a.take("--url");
            a.done(cmd, 0)?;
            Command::ReconcileStripe { since, url }
        }
        "provision" => {
            let prefix = a.take("--prefix");
            a.done(cmd, 0)?;
            Command::Provision { prefix }
        }
        "help" | "--help" | "-h" => Command::Help,
        other => {
            return Err(format!(
                "unknown subcommand `{other}`; fix: run `bundle help` for the list (e.g. `bundle dev`)"
            ));
        }
    };
    Ok(parsed)
}

/// `--since`: Unix seconds or an RFC 3339 time.
fn since_seconds(raw: &str) -> Result<i64, String> {
    raw.parse::<i64>()
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(raw)
                .ok()
                .map(|t| t.timestamp())
        })
        .ok_or_else(|| {
            format!(
                "--since {raw:?} is not a time; fix: pass Unix seconds or e.g. 2026-01-01T00:00:00Z"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn subcommands_and_flags() {
        assert_eq!(
            parse(&args("dev --backend services --port=0 --no-demo")).unwrap(),
            Command::Dev {
                backend: Some(Backend::Services),
                port: Some(0),
                reminder_interval: None,
                no_demo: true
            }
        );
        assert_eq!(
            parse(&args("replay-stripe-event evt_1 --url http://x")).unwrap(),
            Command::ReplayStripeEvent {
                id: "evt_1".into(),
                url: Some("http://x".into())
            }
        );
        assert_eq!(
            parse(&args("reconcile-stripe --since 2026-01-01T00:00:00Z")).unwrap(),
            Command::ReconcileStripe {
                since: Some(1_767_225_600),
                url: None
            }
        );
        assert!(parse(&args("reconcile-stripe --since yesterday")).is_err());
        assert_eq!(
            parse(&args("import-users users.csv")).unwrap(),
            Command::ImportUsers {
                file: "users.csv".into(),
                url: None
            }
        );
        assert!(parse(&args("import-users")).is_err());
        assert_eq!(parse(&[]).unwrap(), Command::Help);
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = parse(&args("deploy")).unwrap_err();
        assert!(
            e.contains("unknown subcommand `deploy`") && e.contains("fix:"),
            "{e}"
        );
        let e = parse(&args("create-user a@b.c --password hunter2")).unwrap_err();
        assert!(e.contains("stdin") && !e.contains("hunter2"), "{e}");
        assert!(
            parse(&args("dev --backend cloud"))
                .unwrap_err()
                .contains("fix:")
        );
        assert!(
            parse(&args("dev --port"))
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(parse(&args("run-reminders extra")).is_err());
        assert_eq!(
            parse(&args("list-ambiguous --url http://127.0.0.1:3000")).unwrap(),
            Command::ListAmbiguous {
                url: Some("http://127.0.0.1:3000".into())
            }
        );
    }
}
