//! The interactive loop: the line editor (rustyline) with history, completion and
//! `;`-terminated multi-line input, Ctrl-C cancelling a running query, and the terminal
//! helpers (size, pager).

use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use super::complete::Completions;
use super::script::{is_complete, split_script};
use super::session::{Flow, Session};
use crate::error::{Error, Result};
use crate::query::cells::escape_control;

/// The interactive loop. A statement may span lines: until it ends with `;` each further line
/// is read under a continuation prompt (`auditlake[acme]-> `, as psql shows `->`), so a
/// half-typed statement never looks like a hung shell; Ctrl-C there drops what was typed.
pub async fn run_interactive(mut session: Session) -> Result<()> {
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut rl: Editor<ShellHelper, DefaultHistory> = Editor::with_config(config)
        .map_err(|e| Error::Other(format!("cannot start the line editor: {e}")))?;
    rl.set_helper(Some(ShellHelper {
        completions: session.completions.clone(),
        before: String::new(),
    }));
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    println!(
        "auditlake {} — SQL over the audit lake. \\? for help, \\q to quit.",
        env!("CARGO_PKG_VERSION")
    );
    // The lines of a statement typed so far.
    let mut pending = String::new();
    loop {
        let scope = session
            .base
            .tenant
            .as_deref()
            .map(|t| format!("[{t}]"))
            .unwrap_or_default();
        let prompt = if pending.is_empty() {
            format!("auditlake{scope}> ")
        } else {
            format!("auditlake{scope}-> ")
        };
        if let Some(h) = rl.helper_mut() {
            h.before.clone_from(&pending);
        }
        let line = match rl.readline(&prompt) {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => {
                pending.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::Other(format!("line editor: {e}"))),
        };
        if pending.is_empty() && line.trim().is_empty() {
            continue;
        }
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(&line);
        if !is_complete(&pending) {
            continue;
        }
        let input = std::mem::take(&mut pending);
        // The whole statement is one history entry (rustyline keeps multi-line entries).
        let _ = rl.add_history_entry(input.as_str());
        if let Some(h) = &history {
            // Saved after every entry so a crash or kill keeps it.
            let _ = rl.save_history(h);
        }
        let items = match split_script(&input) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("error: {}", escape_control(&e.to_string()));
                continue;
            }
        };
        for item in items {
            let run = session.run_item(&item);
            tokio::select! {
                r = run => match r {
                    Ok(Flow::Quit) => return Ok(()),
                    Ok(Flow::Continue) => {}
                    Err(e) => { eprintln!("error: {}", escape_control(&e.to_string())); break; }
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

/// Shows long output through `$PAGER` (default `less -FRXS`), falling back to plain output.
pub(super) fn page(text: &str) -> Result<()> {
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

/// The rustyline helper: completion from `Completions`, with the statement's earlier lines as
/// context (a view named on line 1 ranks its columns first on line 2).
pub struct ShellHelper {
    completions: Arc<RwLock<Completions>>,
    before: String,
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
            .map(|c| c.complete_in(&self.before, line, pos))
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

/// Every line is accepted as typed: the loop collects the lines of a statement itself, so it
/// can show the continuation prompt.
impl Validator for ShellHelper {}

impl Helper for ShellHelper {}
