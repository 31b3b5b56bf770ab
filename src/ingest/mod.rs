//! Ingest: outside records in, lake rows out — decoders per source, GeoIP enrichment, the file
//! pipeline (`ingest`) and the SQS service (`consume`, `publish`).

pub mod collect;
pub mod enrich;
pub mod files;
pub mod reader;
pub mod source;
pub mod sqs;

pub use crate::lake::spill::DEFAULT_MAX_SPILL_BYTES;
pub use collect::Collector;
pub use files::*;
pub use reader::{Input, Limits};
