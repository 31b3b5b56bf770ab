//! auditlake: an audit-log lake for security teams. The modules follow the data flow — core
//! types at the root, then `ingest → lake`, `lake → query → analysis → faces` — and imports
//! only ever point down that list (`tests/it/shape.rs` proves it).

// Core: shared by every stage.
pub mod aws;
pub mod config;
pub mod error;
pub mod schema;
pub mod tenant;

// Stages, in flow order.
pub mod analysis;
pub mod ingest;
pub mod lake;
pub mod query;

// Who uses the stages: people and programs, operators, and the demo.
pub mod demo;
pub mod faces;
pub mod ops;
