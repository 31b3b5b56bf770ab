//! Operations: checks of a deployment against its infrastructure.

pub mod doctor;
pub mod glue;
