//! Analysis: what runs many queries and makes sense of them — reports (built-in and saved),
//! their HTML page, and the detections behind `alerts`.

pub mod alerts;
pub mod html;
pub mod report;
pub mod sigma;
