//! Faces: how people and programs reach the engine — the CLI, the interactive shell, the Flight
//! SQL server — and the printers they share. Nothing below `faces` imports from it.

pub mod cli;
pub mod exec;
pub mod flight;
pub mod output;
pub mod repl;
