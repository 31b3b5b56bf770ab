//! Trino-compatible SQL functions and planner rewrites, so Athena queries run unchanged.
