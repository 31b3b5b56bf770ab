//! libFuzzer entry for the `gram_index` target; the body (and its invariants) is in `../harness.rs`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::gram_index(data));
