//! Query: the `events` table over the lake, the Access Monitoring views, the Trino functions,
//! and the two engines (local DataFusion, Athena) behind one `QueryRunner`.

pub mod accel;
pub mod athena;
pub mod cells;
pub mod engine;
pub mod file_stats;
pub mod footer_counts;
pub mod lazy_views;
pub mod memory;
pub mod reader;
pub mod relations;
pub mod runner;
pub mod statements;
pub mod table;
pub mod udf;
pub mod view_counts;
pub mod views;
