//! A shell session: the engine (or Athena), its scope, the display settings, and the one path
//! every item takes (`Session::run_item`). SQL goes through `faces::exec::run_and_print`;
//! meta-commands such as `\d` are catalog queries on that same engine, not a second
//! implementation.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use super::command::{DaysArg, EngineChoice, MetaCommand, TenantArg};
use super::complete::Completions;
use super::interactive::{page, terminal_size};
use super::script::{Item, split_script};
use crate::error::{Error, Result};
use crate::faces::exec::{PrintOptions, run_and_print};
use crate::faces::output::{Format, TableOptions};
use crate::query::cells::escape_control;
use crate::query::engine::{Engine, EngineOptions};
use crate::query::views;

/// What to do after an item.
#[derive(Debug, PartialEq)]
pub enum Flow {
    Continue,
    Quit,
}

/// A shell session.
pub struct Session {
    engine: Engine,
    pub(super) base: EngineOptions,
    pub format: Format,
    pub timing: bool,
    pub table: TableOptions,
    out_file: Option<(PathBuf, std::fs::File)>,
    pub(super) completions: Arc<RwLock<Completions>>,
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
            "local" => self.use_engine(EngineChoice::Local).await,
            "athena" => self.use_engine(EngineChoice::Athena).await,
            other => Err(Error::Sql(format!("\\engine local|athena, not '{other}'"))),
        }
    }

    async fn use_engine(&mut self, which: EngineChoice) -> Result<()> {
        match which {
            EngineChoice::Local => self.athena = None,
            EngineChoice::Athena => {
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
            self.use_engine(EngineChoice::Athena).await?;
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
            Item::Meta(m) => {
                let cmd: MetaCommand = m.parse()?;
                Box::pin(self.meta(cmd)).await
            }
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

    async fn meta(&mut self, cmd: MetaCommand) -> Result<Flow> {
        match cmd {
            MetaCommand::Quit => return Ok(Flow::Quit),
            MetaCommand::Help => self.write_out(&super::command::help_text())?,
            MetaCommand::ListTables => {
                let values: Vec<String> = views::views()
                    .iter()
                    .map(|v| format!("('{}', '{}')", v.name, v.description.replace('\'', "''")))
                    .chain([format!(
                        "('{}', 'every audit event of every source (the Glue table)')",
                        self.base.table.replace('\'', "''")
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
            MetaCommand::Describe(name) => {
                // `name` is letters, digits and `_` only (checked when parsed).
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
            MetaCommand::Format(Some(f)) => self.format = f,
            MetaCommand::Format(None) => {
                use clap::ValueEnum;
                let name = self
                    .format
                    .to_possible_value()
                    .map(|v| v.get_name().to_string())
                    .unwrap_or_default();
                self.write_out(&format!("format: {name}\n"))?;
            }
            MetaCommand::Timing(on) => {
                self.timing = on.unwrap_or(!self.timing);
                self.write_out(&format!(
                    "timing is {}\n",
                    if self.timing { "on" } else { "off" }
                ))?;
            }
            MetaCommand::Tenant(None) => {
                let t = self
                    .base
                    .tenant
                    .clone()
                    .unwrap_or_else(|| "* (all tenants)".into());
                self.write_out(&format!("tenant: {t}\n"))?;
            }
            MetaCommand::Tenant(Some(t)) => {
                let shown = match &t {
                    TenantArg::All => "*".to_string(),
                    TenantArg::One(id) => id.to_string(),
                };
                self.base.tenant = match t {
                    TenantArg::All => None,
                    TenantArg::One(id) => Some(id.into_string()),
                };
                self.rebuild().await?;
                self.write_out(&format!("tenant: {shown}\n"))?;
            }
            MetaCommand::Days(None) => {
                let d = self
                    .base
                    .days
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "off (all dates)".into());
                self.write_out(&format!("days: {d}\n"))?;
            }
            MetaCommand::Days(Some(d)) => {
                self.base.days = match d {
                    DaysArg::Off => None,
                    DaysArg::Last(n) => Some(n),
                };
                self.rebuild().await?;
                let shown = self
                    .base
                    .days
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "off".into());
                self.write_out(&format!("days: {shown}\n"))?;
            }
            MetaCommand::Engine(None) => {
                let e = if self.athena.is_some() {
                    "athena"
                } else {
                    "local"
                };
                self.write_out(&format!("engine: {e}\n"))?;
            }
            MetaCommand::Engine(Some(e)) => {
                self.use_engine(e).await?;
                self.write_out(&format!("engine: {}\n", e.as_str()))?;
            }
            MetaCommand::Rows(Some(n)) => self.table.max_rows = n,
            MetaCommand::Rows(None) => {
                let n = self.table.max_rows;
                self.write_out(&format!("rows: {n}\n"))?;
            }
            MetaCommand::Alerts(only) => {
                let opts = crate::analysis::alerts::AlertOptions {
                    only,
                    ..Default::default()
                };
                let run = crate::analysis::alerts::run_filtered(
                    self.runner(),
                    &crate::analysis::alerts::detections()?,
                    &opts,
                )
                .await?;
                self.write_out(&crate::analysis::alerts::render_text(&run))?;
            }
            MetaCommand::Reports => {
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
                    text.push_str(&format!(
                        "{}  {} ({} queries)\n",
                        escape_control(&n),
                        escape_control(&s.title),
                        s.queries.len()
                    ));
                }
                self.write_out(&text)?;
            }
            MetaCommand::Report(name) => {
                let lake = self.engine.options().lake.clone();
                let r = crate::analysis::report::resolve(
                    &lake,
                    self.base.tenant.as_deref(),
                    name.as_deref()
                        .unwrap_or(crate::analysis::report::BUILTIN_NAMES[0]),
                )
                .await?;
                // The shell records its runs like the CLI and Flight (one run-and-record path).
                let by = crate::analysis::report::RunBy {
                    who: crate::lake::store::current_user(),
                    tenant: self.base.tenant.clone(),
                    days: self.base.days,
                };
                let result =
                    crate::analysis::report::run_and_record(self.runner(), &r, &lake, &by).await?;
                self.write_out(&crate::analysis::report::render_text(&result))?;
            }
            MetaCommand::Output(None) => self.out_file = None,
            MetaCommand::Output(Some(f)) => {
                let file = std::fs::File::create(&f).map_err(|e| Error::io("create", &f, e))?;
                self.out_file = Some((f, file));
            }
            MetaCommand::Include(f) => {
                let text = std::fs::read_to_string(&f).map_err(|e| Error::io("read", &f, e))?;
                for item in split_script(&text)? {
                    if Box::pin(self.run_item(&item)).await? == Flow::Quit {
                        return Ok(Flow::Quit);
                    }
                }
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
