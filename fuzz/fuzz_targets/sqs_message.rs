//! libFuzzer entry for the `sqs_message` target; the body (and its invariants) is in `../harness.rs`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::sqs_message(data));
