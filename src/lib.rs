//! auditlake: an audit-log lake for security teams — sources in, Athena-compatible Parquet out,
//! queried through one engine by every face (CLI, REPL, Flight SQL, reports, alerts).

pub mod alerts;
pub mod athena;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod consume;
pub mod demo;
pub mod demo_cli;
pub mod doctor;
pub mod engine;
pub mod enrich;
pub mod error;
pub mod flight;
pub mod html;
pub mod ingest;
pub mod lake;
pub mod output;
pub mod repl;
pub mod report;
pub mod saved;
pub mod schema;
pub mod source;
pub mod sync;
pub mod udf;
