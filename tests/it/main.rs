//! The one integration-test binary (it links once): modules per area, sharing `common`.

mod alerts;
mod athena;
mod common;
mod consume;
mod demo;
mod differential;
mod flight;
mod fusion;
mod ingest;
mod isolation;
mod output;
mod pruning;
mod repl;
mod reports;
mod s3;
mod schema;
mod slt;
