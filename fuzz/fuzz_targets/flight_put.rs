//! libFuzzer entry for the `flight_put` target; the body (and its invariants) is in `../harness.rs`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Arrow's IPC decoder panics on some malformed input; `bind_first_row` catches that and
    // refuses the parameters. libfuzzer-sys aborts on *any* panic, caught or not, so this target
    // takes the hook back: a panic our code handles is a refusal, one that escapes the body
    // still reaches libfuzzer-sys's own catch and is a crash.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| std::panic::set_hook(Box::new(|info| eprintln!("(handled) {info}"))));
    harness::flight_put(data)
});
