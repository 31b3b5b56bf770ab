//! The one integration-test binary (it links once): modules per area, sharing `common`.

// Test code may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod accel;
mod alerts;
mod athena;
mod catalog;
mod common;
mod compaction;
mod consume;
mod demo;
mod differential;
mod file_stats;
mod flight;
mod footer_counts;
mod fusion;
mod fuzz;
mod glue;
mod grams;
mod hostile_flight;
mod hostile_ingest;
mod ingest;
mod isolation;
mod output;
mod pruning;
mod repl;
mod reports;
mod s3;
mod schema;
mod shape;
mod sigma;
mod slt;
mod statements;
mod view_counts;
