//! `auditlake sql`: the interactive shell and its non-interactive twin (`-c`, piped scripts).
//!
//! `script` cuts input into statements and meta-commands, `command` is the meta-command table
//! (help, completion and parsing from one list), `session` runs every item through one path,
//! `complete` answers Tab, `interactive` is the line-editor loop.

mod command;
mod complete;
mod interactive;
mod script;
mod session;

pub use command::{COMMANDS, CommandSpec, MAX_DAYS, MetaCommand};
pub use complete::Completions;
pub use interactive::{run_interactive, terminal_size};
pub use script::{Item, ends_statement, split_script};
pub use session::{Flow, Session, run_script};
