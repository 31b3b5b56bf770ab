//! `auditlake sql`: the interactive shell (rustyline) and its non-interactive twin.
//!
//! Every statement and meta-command goes through `Session::run_item`, the one path: SQL runs
//! on the session's `Engine`; meta-commands such as `\d` are catalog queries on that same
//! engine, not a second implementation.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};

use crate::error::{Error, Result};
use crate::faces::exec::{PrintOptions, run_and_print};
use crate::faces::output::{Format, TableOptions};
use crate::query::engine::{Engine, EngineOptions};
use crate::query::views;

/// One unit of input: a SQL statement or a backslash meta-command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Sql(String),
    Meta(String),
}

/// What to do after an item.
#[derive(Debug, PartialEq)]
pub enum Flow {
    Continue,
    Quit,
}

/// The meta-commands, with their help text (`\?`).
pub const META_COMMANDS: &[(&str, &str)] = &[
    ("\\d", "list views and tables with a one-line description"),
    ("\\d NAME", "columns and types of a view or table"),
    (
        "\\format FORMAT",
        "output format: table, csv, json, ndjson, tctl",
    ),
    (
        "\\timing on|off",
        "print elapsed time, rows, bytes read, partitions and files pruned",
    ),
    (
        "\\tenant [T|*]",
        "scope the session to tenant T (* for all); without argument, show it",
    ),
    (
        "\\days [N|off]",
        "only the last N days of partitions; without argument, show it",
    ),
    ("\\rows N", "rows shown in a table before 'N more rows'"),
    (
        "\\engine [local|athena]",
        "where SQL runs: the local lake or Athena (needs `sql --config F` and a tenant)",
    ),
    (
        "\\alerts [NAME]",
        "run the detections (or one) over the session's scope",
    ),
    ("\\reports", "list reports"),
    ("\\report NAME", "run a report"),
    (
        "\\o [FILE]",
        "send output to FILE (no argument: back to the terminal)",
    ),
    ("\\i FILE", "run the statements of a file"),
    ("\\?", "this help"),
    ("\\q", "quit"),
];

/// Splits a script into items: a line starting with `\` at the start of a statement is a
/// meta-command; everything else accumulates until a top-level `;`.
pub fn split_script(text: &str) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut buf = String::new();
    for line in text.lines() {
        if buf.trim().is_empty() && line.trim_start().starts_with('\\') {
            buf.clear();
            items.push(Item::Meta(line.trim().to_string()));
            continue;
        }
        buf.push_str(line);
        buf.push('\n');
        if ends_statement(&buf) {
            items.extend(
                crate::query::statements::split(&buf)?
                    .into_iter()
                    .map(Item::Sql),
            );
            buf.clear();
        }
    }
    if !buf.trim().is_empty() {
        items.extend(
            crate::query::statements::split(&buf)?
                .into_iter()
                .map(Item::Sql),
        );
    }
    Ok(items)
}

/// Does the text end with a top-level `;` (not inside a string or comment)?
pub fn ends_statement(text: &str) -> bool {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    match Tokenizer::new(&GenericDialect {}, text).tokenize() {
        Ok(tokens) => {
            tokens
                .iter()
                .rev()
                .find(|t| !matches!(t, Token::Whitespace(_)))
                == Some(&Token::SemiColon)
        }
        // An unterminated string or comment: not finished yet.
        Err(_) => false,
    }
}

/// A shell session: the engine, its scope and the display settings.
pub struct Session {
    engine: Engine,
    base: EngineOptions,
    pub format: Format,
    pub timing: bool,
    pub table: TableOptions,
    out_file: Option<(PathBuf, std::fs::File)>,
    completions: Arc<RwLock<Completions>>,
    /// The config's Athena settings (`sql --config F`), for `\engine athena`.
    athena_cfg: Option<crate::config::IdentityActivityCenter>,
    /// Set while `\engine athena` is on.
    athena: Option<crate::query::athena::Athena>,
}

impl Session {
    pub async fn new(opts: EngineOptions, format: Format) -> Result<Session> {
        let engine = Engine::new(opts.clone()).await?;
        let completions = Arc::new(RwLock::new(Completions::load(&engine).await));
        Ok(Session {
            engine,
            base: opts,
            format,
            timing: false,
            table: TableOptions::default(),
            out_file: None,
            completions,
            athena_cfg: None,
            athena: None,
        })
    }

    /// Makes `\engine athena` available with this config's database, table and workgroup.
    pub fn with_athena_config(mut self, cfg: crate::config::IdentityActivityCenter) -> Self {
        self.athena_cfg = Some(cfg);
        self
    }

    /// Switches the engine (`local` or `athena`).
    pub async fn set_engine(&mut self, which: &str) -> Result<()> {
        match which {
            "local" => self.athena = None,
            "athena" => {
                let cfg = self.athena_cfg.as_ref().ok_or_else(|| {
                    Error::Config("start the shell with `--config FILE` to use Athena".into())
                })?;
                let opts = crate::query::athena::Athena::options_from(
                    cfg,
                    self.base.tenant.as_deref(),
                    self.base.days,
                    self.base.limits.timeout,
                )?;
                self.athena = Some(crate::query::athena::Athena::new(opts).await?);
            }
            other => return Err(Error::Sql(format!("\\engine local|athena, not '{other}'"))),
        }
        Ok(())
    }

    fn runner(&self) -> &dyn crate::query::runner::QueryRunner {
        match &self.athena {
            Some(a) => a,
            None => &self.engine,
        }
    }

    async fn rebuild(&mut self) -> Result<()> {
        self.engine = Engine::new(self.base.clone()).await?;
        if self.athena.is_some() {
            self.set_engine("athena").await?;
        }
        Ok(())
    }

    fn write_out(&mut self, text: &str) -> Result<()> {
        let io = |e: std::io::Error| Error::Other(format!("cannot write output: {e}"));
        match &mut self.out_file {
            Some((_, f)) => f.write_all(text.as_bytes()).map_err(io),
            None => {
                if std::io::stdout().is_terminal()
                    && text.lines().count() > terminal_size().1.saturating_sub(2)
                {
                    page(text)
                } else {
                    let mut o = std::io::stdout().lock();
                    o.write_all(text.as_bytes())
                        .and_then(|_| o.flush())
                        .map_err(io)
                }
            }
        }
    }

    /// Runs one item.
    pub async fn run_item(&mut self, item: &Item) -> Result<Flow> {
        match item {
            Item::Sql(sql) => {
                self.run_sql(sql).await?;
                Ok(Flow::Continue)
            }
            Item::Meta(m) => Box::pin(self.meta(m)).await,
        }
    }

    async fn run_sql(&mut self, sql: &str) -> Result<()> {
        let mut opts = PrintOptions::new(self.format);
        opts.table = self.table;
        opts.timing = self.timing;
        if self.out_file.is_none() && std::io::stdout().is_terminal() {
            opts.terminal_width = Some(terminal_size().0);
        }
        let mut buf = Vec::new();
        run_and_print(self.runner(), &[sql.to_string()], &opts, &mut buf).await?;
        self.write_out(&String::from_utf8_lossy(&buf))
    }

    async fn meta(&mut self, line: &str) -> Result<Flow> {
        let mut parts = line.trim().splitn(2, char::is_whitespace);
        let cmd = parts.next().unwrap_or_default();
        let arg = parts.next().map(str::trim).filter(|s| !s.is_empty());
        match (cmd, arg) {
            ("\\q", _) | ("\\quit", _) => return Ok(Flow::Quit),
            ("\\?", _) | ("\\help", _) => {
                let mut s = String::from("meta-commands:\n");
                for (c, h) in META_COMMANDS {
                    s.push_str(&format!("  {c:<16} {h}\n"));
                }
                s.push_str("SQL statements end with ';' and may span lines. Ctrl-C cancels a query, Ctrl-D quits.\n");
                self.write_out(&s)?;
            }
            ("\\d", None) => {
                let values: Vec<String> = views::views()
                    .iter()
                    .map(|v| format!("('{}', '{}')", v.name, v.description.replace('\'', "''")))
                    .chain([format!(
                        "('{}', 'every audit event of every source (the Glue table)')",
                        self.base.table
                    )])
                    .collect();
                let sql = format!(
                    "SELECT t.table_name AS name, lower(t.table_type) AS kind, d.description \
                     FROM information_schema.tables t LEFT JOIN (VALUES {}) AS d(name, description) \
                     ON t.table_name = d.name WHERE t.table_schema = 'public' ORDER BY t.table_name",
                    values.join(", ")
                );
                self.run_sql(&sql).await?;
            }
            ("\\d", Some(name)) => {
                let name = name.trim_end_matches(';').to_lowercase();
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(Error::Sql(format!("not a table or view name: {name}")));
                }
                let sql = format!(
                    "SELECT column_name AS column, data_type AS type, is_nullable AS nullable \
                     FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{name}' \
                     ORDER BY ordinal_position"
                );
                let res = self.engine.execute(&sql).await?;
                if res.stats.rows == 0 {
                    let names = self.engine.view_names();
                    let hint = crate::query::engine::did_you_mean(&name, &names)
                        .map(|s| format!("; did you mean '{s}'?"))
                        .unwrap_or_default();
                    return Err(Error::Sql(format!("unknown table or view '{name}'{hint}")));
                }
                if let Some(v) = views::view(&name) {
                    self.write_out(&format!(
                        "{} — {} (event type {})\n",
                        v.name, v.description, v.event_type
                    ))?;
                }
                self.run_sql(&sql).await?;
            }
            ("\\format", Some(f)) => {
                use clap::ValueEnum;
                self.format = Format::from_str(f, true).map_err(|_| {
                    Error::Sql(format!(
                        "unknown format '{f}' (table, csv, json, ndjson, tctl)"
                    ))
                })?;
            }
            ("\\timing", a) => {
                self.timing = match a {
                    Some("on") => true,
                    Some("off") => false,
                    None => !self.timing,
                    Some(x) => return Err(Error::Sql(format!("\\timing on|off, not '{x}'"))),
                };
                self.write_out(&format!(
                    "timing is {}\n",
                    if self.timing { "on" } else { "off" }
                ))?;
            }
            ("\\tenant", None) => {
                let t = self
                    .base
                    .tenant
                    .clone()
                    .unwrap_or_else(|| "* (all tenants)".into());
                self.write_out(&format!("tenant: {t}\n"))?;
            }
            ("\\tenant", Some(t)) => {
                self.base.tenant = if t == "*" { None } else { Some(t.to_string()) };
                self.rebuild().await?;
                self.write_out(&format!("tenant: {t}\n"))?;
            }
            ("\\days", None) => {
                let d = self
                    .base
                    .days
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "off (all dates)".into());
                self.write_out(&format!("days: {d}\n"))?;
            }
            ("\\days", Some(d)) => {
                self.base.days = if d == "off" {
                    None
                } else {
                    Some(
                        d.parse()
                            .map_err(|_| Error::Sql(format!("\\days N|off, not '{d}'")))?,
                    )
                };
                self.rebuild().await?;
                self.write_out(&format!("days: {d}\n"))?;
            }
            ("\\engine", None) => {
                let e = if self.athena.is_some() {
                    "athena"
                } else {
                    "local"
                };
                self.write_out(&format!("engine: {e}\n"))?;
            }
            ("\\engine", Some(e)) => {
                self.set_engine(e).await?;
                self.write_out(&format!("engine: {e}\n"))?;
            }
            ("\\rows", Some(n)) => {
                self.table.max_rows = n
                    .parse()
                    .map_err(|_| Error::Sql(format!("\\rows N, not '{n}'")))?;
            }
            ("\\alerts", name) => {
                let opts = crate::analysis::alerts::AlertOptions {
                    only: name.map(str::to_string),
                    ..Default::default()
                };
                let alerts = crate::analysis::alerts::run_with(self.runner(), &opts).await?;
                self.write_out(&crate::analysis::alerts::render_text(&alerts))?;
            }
            ("\\reports", _) => {
                let r = crate::analysis::report::builtin();
                let mut text = format!(
                    "{}  {} ({} queries, built in)\n",
                    r.name,
                    r.title,
                    r.queries.len()
                );
                // Saved reports live in the lake, shared with the CLI (`auditlake reports`).
                let lake = self.engine.options().lake.clone();
                let cat = crate::analysis::report::saved(&lake, self.base.tenant.as_deref());
                for n in cat.reports().await? {
                    let s = cat.report(&n).await?;
                    text.push_str(&format!("{n}  {} ({} queries)\n", s.title, s.queries.len()));
                }
                self.write_out(&text)?;
            }
            ("\\report", name) => {
                let lake = self.engine.options().lake.clone();
                let r = crate::analysis::report::resolve(
                    &lake,
                    self.base.tenant.as_deref(),
                    name.unwrap_or(crate::analysis::report::BUILTIN_NAMES[0]),
                )
                .await?;
                let result = crate::analysis::report::run_with(self.runner(), &r).await?;
                self.write_out(&crate::analysis::report::render_text(&result))?;
            }
            ("\\o", None) => self.out_file = None,
            ("\\o", Some(f)) => {
                let file = std::fs::File::create(f).map_err(|e| Error::Io {
                    op: "create",
                    path: f.into(),
                    source: e,
                })?;
                self.out_file = Some((f.into(), file));
            }
            ("\\i", Some(f)) => {
                let text = std::fs::read_to_string(f).map_err(|e| Error::Io {
                    op: "read",
                    path: f.into(),
                    source: e,
                })?;
                for item in split_script(&text)? {
                    if Box::pin(self.run_item(&item)).await? == Flow::Quit {
                        return Ok(Flow::Quit);
                    }
                }
            }
            _ => {
                let names: Vec<String> = META_COMMANDS
                    .iter()
                    .map(|(c, _)| c.split(' ').next().unwrap_or(c).to_string())
                    .collect();
                let hint = crate::query::engine::did_you_mean(cmd, &names)
                    .map(|s| format!("; did you mean {s}?"))
                    .unwrap_or_default();
                return Err(Error::Sql(format!(
                    "unknown or incomplete meta-command '{line}'{hint} (\\? lists them)"
                )));
            }
        }
        Ok(Flow::Continue)
    }
}

/// Runs a script without prompts; stops at the first error.
pub async fn run_script(session: &mut Session, text: &str) -> Result<()> {
    for item in split_script(text)? {
        if session.run_item(&item).await? == Flow::Quit {
            break;
        }
    }
    Ok(())
}

/// The interactive loop.
pub async fn run_interactive(mut session: Session) -> Result<()> {
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut rl: Editor<ShellHelper, DefaultHistory> = Editor::with_config(config)
        .map_err(|e| Error::Other(format!("cannot start the line editor: {e}")))?;
    rl.set_helper(Some(ShellHelper {
        completions: session.completions.clone(),
    }));
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    println!(
        "auditlake {} — SQL over the audit lake. \\? for help, \\q to quit.",
        env!("CARGO_PKG_VERSION")
    );
    loop {
        let prompt = format!(
            "auditlake{}> ",
            session
                .base
                .tenant
                .as_deref()
                .map(|t| format!("[{t}]"))
                .unwrap_or_default()
        );
        let line = match rl.readline(&prompt) {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::Other(format!("line editor: {e}"))),
        };
        if line.trim().is_empty() {
            continue;
        }
        let _ = rl.add_history_entry(line.as_str());
        if let Some(h) = &history {
            // Saved after every entry so a crash or kill keeps it.
            let _ = rl.save_history(h);
        }
        let items = match split_script(&line) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("error: {e}");
                continue;
            }
        };
        for item in items {
            let run = session.run_item(&item);
            tokio::select! {
                r = run => match r {
                    Ok(Flow::Quit) => return Ok(()),
                    Ok(Flow::Continue) => {}
                    Err(e) => { eprintln!("error: {e}"); break; }
                },
                _ = tokio::signal::ctrl_c() => {
                    // Dropping the query future drops its stream, which stops DataFusion's tasks.
                    eprintln!("query cancelled");
                    break;
                }
            }
        }
    }
    Ok(())
}

fn history_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("AUDITLAKE_HISTORY") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    let dir = base.join("auditlake");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("history"))
}

/// (columns, rows) of the terminal, from the kernel; (100, 40) when unknown.
pub fn terminal_size() -> (usize, usize) {
    #[cfg(unix)]
    {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes a winsize into the struct we own; fd 1 may not be a tty,
        // in which case the call fails and we fall back.
        let ok = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } == 0;
        if ok && ws.ws_col > 0 && ws.ws_row > 0 {
            return (ws.ws_col as usize, ws.ws_row as usize);
        }
    }
    (100, 40)
}

/// Shows long output through `$PAGER` (default `less -FRX`), falling back to plain output.
fn page(text: &str) -> Result<()> {
    let pager = std::env::var("PAGER").unwrap_or_else(|_| "less -FRXS".into());
    let mut parts = pager.split_whitespace();
    let Some(prog) = parts.next() else {
        return Ok(());
    };
    match std::process::Command::new(prog)
        .args(parts)
        .stdin(std::process::Stdio::piped())
        .spawn()
    {
        Ok(mut child) => {
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(text.as_bytes());
            }
            let _ = child.wait();
            Ok(())
        }
        Err(_) => {
            print!("{text}");
            Ok(())
        }
    }
}

/// What completion knows: keywords, views, tables, columns per view, functions, meta-commands.
#[derive(Debug, Default)]
pub struct Completions {
    pub tables: Vec<String>,
    pub columns: std::collections::BTreeMap<String, Vec<String>>,
    pub functions: Vec<String>,
}

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "LIMIT",
    "HAVING",
    "DISTINCT",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "BETWEEN",
    "JOIN",
    "LEFT",
    "RIGHT",
    "INNER",
    "OUTER",
    "ON",
    "UNION",
    "ALL",
    "WITH",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST",
    "INTERVAL",
    "DATE",
    "TIMESTAMP",
    "DESC",
    "ASC",
    "COUNT",
    "EXPLAIN",
    "ANALYZE",
    "DESCRIBE",
    "SHOW",
    "TABLES",
    "COLUMNS",
    "NULLS",
    "LAST",
    "FIRST",
    "OVER",
    "PARTITION",
];

impl Completions {
    pub async fn load(engine: &Engine) -> Completions {
        let ctx = engine.context();
        let mut c = Completions::default();
        let mut tables = engine.view_names();
        tables.push(engine.options().table.clone());
        for t in &tables {
            if let Ok(df) = ctx.table(t.as_str()).await {
                c.columns.insert(
                    t.clone(),
                    df.schema()
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect(),
                );
            }
        }
        c.tables = tables;
        let state = ctx.state();
        let mut f: Vec<String> = state.scalar_functions().keys().cloned().collect();
        f.extend(state.aggregate_functions().keys().cloned());
        f.extend(state.window_functions().keys().cloned());
        // Internal rewrite targets (`__trino_…`) are not for typing.
        f.retain(|n| !n.starts_with("__"));
        f.sort();
        f.dedup();
        c.functions = f;
        c
    }

    /// Candidates for the word ending at `pos` in `line`: (start of the word, candidates).
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '\\'))
            .map_or(0, |i| i + 1);
        let word = &before[start..];
        if word.starts_with('\\') {
            let mut v: Vec<String> = META_COMMANDS
                .iter()
                .map(|(c, _)| c.split(' ').next().unwrap_or(c).to_string())
                .filter(|c| c.starts_with(word))
                .collect();
            v.dedup();
            return (start, v);
        }
        if word.is_empty() {
            return (start, vec![]);
        }
        let lw = word.to_lowercase();
        let upper = word.chars().next().is_some_and(|c| c.is_uppercase());
        let mut out: Vec<String> = Vec::new();
        // Columns of the views the statement names come first: that is what one types most.
        let lower_line = line.to_lowercase();
        for (t, cols) in &self.columns {
            let named = lower_line
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|w| w == t);
            if named {
                out.extend(cols.iter().filter(|c| c.starts_with(&lw)).cloned());
            }
        }
        out.extend(self.tables.iter().filter(|t| t.starts_with(&lw)).cloned());
        out.extend(
            KEYWORDS
                .iter()
                .filter(|k| k.to_lowercase().starts_with(&lw))
                .map(|k| {
                    if upper {
                        k.to_string()
                    } else {
                        k.to_lowercase()
                    }
                }),
        );
        out.extend(
            self.functions
                .iter()
                .filter(|f| f.starts_with(&lw))
                .cloned(),
        );
        let mut seen = std::collections::HashSet::new();
        out.retain(|c| seen.insert(c.clone()));
        (start, out)
    }
}

/// The rustyline helper: completion from `Completions`, `;`-terminated multi-line input.
pub struct ShellHelper {
    completions: Arc<RwLock<Completions>>,
}

impl Completer for ShellHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, cands) = self
            .completions
            .read()
            .map(|c| c.complete(line, pos))
            .unwrap_or_default();
        Ok((
            start,
            cands
                .into_iter()
                .map(|c| Pair {
                    display: c.clone(),
                    replacement: c,
                })
                .collect(),
        ))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

impl Validator for ShellHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        if input.trim().is_empty() || input.trim_start().starts_with('\\') || ends_statement(input)
        {
            Ok(ValidationResult::Valid(None))
        } else {
            Ok(ValidationResult::Incomplete)
        }
    }
}

impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_split_into_statements_and_meta_commands() {
        let items = split_script("\\timing on\nSELECT 1;\nSELECT\n  'a;b' -- ; not here\n;\n\\d cert_create\nSELECT 2; SELECT 3;").unwrap();
        assert_eq!(items.len(), 6, "{items:?}");
        assert_eq!(items[0], Item::Meta("\\timing on".into()));
        assert!(matches!(&items[2], Item::Sql(s) if s.contains("'a;b'")));
        assert_eq!(items[3], Item::Meta("\\d cert_create".into()));
    }

    #[test]
    fn statement_end_ignores_strings_and_comments() {
        assert!(ends_statement("SELECT 1;"));
        assert!(ends_statement("SELECT 1;  \n"));
        assert!(!ends_statement("SELECT ';"));
        assert!(!ends_statement("SELECT 1 -- ;"));
        assert!(!ends_statement("SELECT 1"));
    }

    #[test]
    fn completes_columns_of_named_views_first() {
        let mut c = Completions {
            tables: vec!["cert_create".into(), "session_start".into()],
            ..Default::default()
        };
        c.columns.insert(
            "cert_create".into(),
            vec!["identity_user".into(), "identity_client_ip".into()],
        );
        c.columns
            .insert("session_start".into(), vec!["login".into()]);
        c.functions = vec!["json_extract_scalar".into()];
        let (start, v) = c.complete("SELECT ident FROM cert_create", 12);
        assert_eq!(start, 7);
        assert_eq!(
            v,
            vec!["identity_user".to_string(), "identity_client_ip".into()]
        );
        assert_eq!(
            c.complete("SELECT * FROM cert_c", 20).1,
            vec!["cert_create".to_string()]
        );
        assert!(
            c.complete("select json_ex", 14)
                .1
                .contains(&"json_extract_scalar".to_string())
        );
        assert!(c.complete("\\fo", 3).1.contains(&"\\format".to_string()));
        assert_eq!(c.complete("SEL", 3).1, vec!["SELECT".to_string()]);
    }
}
