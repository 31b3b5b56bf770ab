//! The one integration-test binary (it links once): modules per area, sharing `common`.

mod common;
mod differential;
mod ingest;
mod isolation;
mod pruning;
mod s3;
mod schema;
mod slt;
