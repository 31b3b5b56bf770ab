//! The shell's meta-commands: one table (`COMMANDS`) from which `\?` help, Tab completion and
//! parsing (`MetaCommand::from_str`) all come, so the three can never disagree (the shape of
//! datafusion-cli's `command.rs`).

use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::faces::output::Format;
use crate::tenant::TenantId;

/// Largest `\days N` accepted: about 273 years, far more than any lake holds, and small enough
/// that "N days ago" is always a valid date.
pub const MAX_DAYS: u32 = 100_000;

/// What a command's argument completes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgCompletion {
    /// Nothing (a number, a file name, free text).
    None,
    /// One of these words.
    Words(&'static [&'static str]),
    /// A view or table name.
    Tables,
    /// A detection name.
    Detections,
}

/// One row of the command table.
#[derive(Debug)]
pub struct CommandSpec {
    /// What one types, e.g. `\d`.
    pub name: &'static str,
    /// Other spellings that parse to the same command (not offered by completion).
    pub aliases: &'static [&'static str],
    /// The argument as help shows it, e.g. `[NAME]`.
    pub args: &'static str,
    pub help: &'static str,
    pub completes: ArgCompletion,
}

/// Every meta-command, in help order.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "\\d",
        aliases: &[],
        args: "[NAME]",
        help: "list views and tables with a one-line description; with NAME, its columns and types",
        completes: ArgCompletion::Tables,
    },
    CommandSpec {
        name: "\\format",
        aliases: &[],
        args: "[FORMAT]",
        help: "output format: table, csv, json, ndjson, tctl; without argument, show it",
        completes: ArgCompletion::Words(&["table", "csv", "json", "ndjson", "tctl"]),
    },
    CommandSpec {
        name: "\\timing",
        aliases: &[],
        args: "[on|off]",
        help: "print elapsed time, rows, bytes read, partitions and files pruned",
        completes: ArgCompletion::Words(&["on", "off"]),
    },
    CommandSpec {
        name: "\\tenant",
        aliases: &[],
        args: "[T|*]",
        help: "scope the session to tenant T (* for all); without argument, show it",
        completes: ArgCompletion::None,
    },
    CommandSpec {
        name: "\\days",
        aliases: &[],
        args: "[N|off]",
        help: "only the last N days of partitions (1 to 100000); without argument, show it",
        completes: ArgCompletion::Words(&["off"]),
    },
    CommandSpec {
        name: "\\rows",
        aliases: &[],
        args: "[N]",
        help: "rows shown in a table before 'N more rows'; without argument, show it",
        completes: ArgCompletion::None,
    },
    CommandSpec {
        name: "\\engine",
        aliases: &[],
        args: "[local|athena]",
        help: "where SQL runs: the local lake or Athena (needs `sql --config F` and a tenant)",
        completes: ArgCompletion::Words(&["local", "athena"]),
    },
    CommandSpec {
        name: "\\alerts",
        aliases: &[],
        args: "[NAME]",
        help: "run the detections (or one) over the session's scope",
        completes: ArgCompletion::Detections,
    },
    CommandSpec {
        name: "\\reports",
        aliases: &[],
        args: "",
        help: "list reports",
        completes: ArgCompletion::None,
    },
    CommandSpec {
        name: "\\report",
        aliases: &[],
        args: "[NAME]",
        help: "run a report (default: the built-in Privileged Access Report)",
        completes: ArgCompletion::None,
    },
    CommandSpec {
        name: "\\o",
        aliases: &[],
        args: "[FILE]",
        help: "send output to FILE (no argument: back to the terminal)",
        completes: ArgCompletion::None,
    },
    CommandSpec {
        name: "\\i",
        aliases: &[],
        args: "FILE",
        help: "run the statements of a file",
        completes: ArgCompletion::None,
    },
    CommandSpec {
        name: "\\?",
        aliases: &["\\help"],
        args: "",
        help: "this help",
        completes: ArgCompletion::None,
    },
    CommandSpec {
        name: "\\q",
        aliases: &["\\quit"],
        args: "",
        help: "quit",
        completes: ArgCompletion::None,
    },
];

/// `\tenant`'s argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantArg {
    /// `*`: every tenant.
    All,
    One(TenantId),
}

/// `\days`' argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaysArg {
    Off,
    Last(u32),
}

/// `\engine`'s argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    Local,
    Athena,
}

impl EngineChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineChoice::Local => "local",
            EngineChoice::Athena => "athena",
        }
    }
}

/// A parsed meta-command line; `None` arguments mean "show the current value".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaCommand {
    ListTables,
    Describe(String),
    Format(Option<Format>),
    /// `None` toggles.
    Timing(Option<bool>),
    Tenant(Option<TenantArg>),
    Days(Option<DaysArg>),
    Rows(Option<usize>),
    Engine(Option<EngineChoice>),
    Alerts(Option<String>),
    Reports,
    Report(Option<String>),
    Output(Option<PathBuf>),
    Include(PathBuf),
    Help,
    Quit,
}

impl MetaCommand {
    /// The table row this command came from.
    pub fn spec(&self) -> &'static CommandSpec {
        let name = match self {
            MetaCommand::ListTables | MetaCommand::Describe(_) => "\\d",
            MetaCommand::Format(_) => "\\format",
            MetaCommand::Timing(_) => "\\timing",
            MetaCommand::Tenant(_) => "\\tenant",
            MetaCommand::Days(_) => "\\days",
            MetaCommand::Rows(_) => "\\rows",
            MetaCommand::Engine(_) => "\\engine",
            MetaCommand::Alerts(_) => "\\alerts",
            MetaCommand::Reports => "\\reports",
            MetaCommand::Report(_) => "\\report",
            MetaCommand::Output(_) => "\\o",
            MetaCommand::Include(_) => "\\i",
            MetaCommand::Help => "\\?",
            MetaCommand::Quit => "\\q",
        };
        lookup(name).unwrap_or(&COMMANDS[0])
    }
}

/// The row a typed command name (or alias) belongs to.
pub fn lookup(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|c| c.name == name || c.aliases.contains(&name))
}

/// The names completion offers for a word starting with `\`.
pub fn names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|c| c.name)
}

/// `\?`'s text.
pub fn help_text() -> String {
    let mut s = String::from("meta-commands:\n");
    for c in COMMANDS {
        let usage = if c.args.is_empty() {
            c.name.to_string()
        } else {
            format!("{} {}", c.name, c.args)
        };
        s.push_str(&format!("  {usage:<24} {}\n", c.help));
    }
    s.push_str(
        "SQL statements end with ';' and may span lines. Ctrl-C cancels a query, Ctrl-D quits.\n",
    );
    s
}

fn usage_error(spec: &CommandSpec, got: &str) -> Error {
    Error::Sql(format!("{} {}, not '{got}'", spec.name, spec.args))
}

/// A view or table name as `\d NAME` accepts it: letters, digits and `_` (it goes into a
/// catalog query, so nothing else may pass).
fn table_name(arg: &str) -> Result<String> {
    let name = arg.trim_end_matches(';').to_lowercase();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::Sql(format!("not a table or view name: {name}")));
    }
    Ok(name)
}

impl FromStr for MetaCommand {
    type Err = Error;

    fn from_str(line: &str) -> Result<MetaCommand> {
        let mut parts = line.trim().splitn(2, char::is_whitespace);
        let cmd = parts.next().unwrap_or_default();
        let arg = parts.next().map(str::trim).filter(|s| !s.is_empty());
        let Some(spec) = lookup(cmd) else {
            let names: Vec<String> = names().map(str::to_string).collect();
            let hint = crate::query::engine::did_you_mean(cmd, &names)
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default();
            return Err(Error::Sql(format!(
                "unknown meta-command '{line}'{hint} (\\? lists them)"
            )));
        };
        Ok(match (spec.name, arg) {
            ("\\d", None) => MetaCommand::ListTables,
            ("\\d", Some(n)) => MetaCommand::Describe(table_name(n)?),
            ("\\format", None) => MetaCommand::Format(None),
            ("\\format", Some(f)) => {
                use clap::ValueEnum;
                MetaCommand::Format(Some(Format::from_str(f, true).map_err(|_| {
                    Error::Sql(format!(
                        "unknown format '{f}' (table, csv, json, ndjson, tctl)"
                    ))
                })?))
            }
            ("\\timing", None) => MetaCommand::Timing(None),
            ("\\timing", Some("on")) => MetaCommand::Timing(Some(true)),
            ("\\timing", Some("off")) => MetaCommand::Timing(Some(false)),
            ("\\tenant", None) => MetaCommand::Tenant(None),
            ("\\tenant", Some("*")) => MetaCommand::Tenant(Some(TenantArg::All)),
            ("\\tenant", Some(t)) => MetaCommand::Tenant(Some(TenantArg::One(
                t.parse::<TenantId>().map_err(Error::Sql)?,
            ))),
            ("\\days", None) => MetaCommand::Days(None),
            ("\\days", Some("off")) => MetaCommand::Days(Some(DaysArg::Off)),
            ("\\days", Some(d)) => {
                let n: u64 = d.parse().map_err(|_| usage_error(spec, d))?;
                match u32::try_from(n) {
                    Ok(n) if (1..=MAX_DAYS).contains(&n) => {
                        MetaCommand::Days(Some(DaysArg::Last(n)))
                    }
                    _ => {
                        return Err(Error::Sql(format!(
                            "\\days {d} is out of range: N is 1 to {MAX_DAYS} days (or off)"
                        )));
                    }
                }
            }
            ("\\rows", None) => MetaCommand::Rows(None),
            ("\\rows", Some(n)) => {
                MetaCommand::Rows(Some(n.parse().map_err(|_| usage_error(spec, n))?))
            }
            ("\\engine", None) => MetaCommand::Engine(None),
            ("\\engine", Some("local")) => MetaCommand::Engine(Some(EngineChoice::Local)),
            ("\\engine", Some("athena")) => MetaCommand::Engine(Some(EngineChoice::Athena)),
            ("\\alerts", a) => MetaCommand::Alerts(a.map(str::to_string)),
            ("\\reports", None) => MetaCommand::Reports,
            ("\\report", a) => MetaCommand::Report(a.map(str::to_string)),
            ("\\o", a) => MetaCommand::Output(a.map(PathBuf::from)),
            ("\\i", Some(f)) => MetaCommand::Include(PathBuf::from(f)),
            ("\\?", None) => MetaCommand::Help,
            ("\\q", None) => MetaCommand::Quit,
            (_, Some(a)) => return Err(usage_error(spec, a)),
            (_, None) => {
                return Err(Error::Sql(format!(
                    "incomplete meta-command '{line}': {} {}",
                    spec.name, spec.args
                )));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of the table parses to a command that points back at that row: help,
    /// completion and parsing come from one table.
    #[test]
    fn every_row_parses_back_to_itself() {
        let sample = |c: &CommandSpec| match c.name {
            "\\i" => format!("{} f.sql", c.name),
            _ => c.name.to_string(),
        };
        for c in COMMANDS {
            let m: MetaCommand = sample(c).parse().unwrap();
            assert_eq!(m.spec().name, c.name);
            assert!(help_text().contains(c.help));
            for a in c.aliases {
                assert_eq!(a.parse::<MetaCommand>().unwrap().spec().name, c.name);
            }
            if let ArgCompletion::Words(ws) = c.completes {
                for w in ws {
                    let m: MetaCommand = format!("{} {w}", c.name).parse().unwrap();
                    assert_eq!(m.spec().name, c.name, "{w}");
                }
            }
        }
    }

    #[test]
    fn arguments_are_checked() {
        assert_eq!(
            "\\d Cert_Create;".parse::<MetaCommand>().unwrap(),
            MetaCommand::Describe("cert_create".into())
        );
        assert!("\\d x'--".parse::<MetaCommand>().is_err());
        assert_eq!(
            "\\days 7".parse::<MetaCommand>().unwrap(),
            MetaCommand::Days(Some(DaysArg::Last(7)))
        );
        for bad in [
            "\\days 4000000000",
            "\\days 100001",
            "\\days 0",
            "\\days -1",
        ] {
            let e = bad.parse::<MetaCommand>().unwrap_err().to_string();
            assert!(e.contains("\\days"), "{bad}: {e}");
        }
        assert!("\\tenant ../x".parse::<MetaCommand>().is_err());
        assert!("\\timing maybe".parse::<MetaCommand>().is_err());
        assert!("\\q now".parse::<MetaCommand>().is_err());
        let e = "\\fromat csv"
            .parse::<MetaCommand>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean \\format"), "{e}");
    }
}
