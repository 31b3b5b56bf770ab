//! libFuzzer entry for the `flight_handle` target; the body (and its invariants) is in `../harness.rs`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::flight_handle(data));
