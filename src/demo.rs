//! Synthetic demo data: a month of events for a small company across all four sources.
