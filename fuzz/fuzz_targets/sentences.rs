#![no_main]
//! Fuzz target `sentences`: see `sotto_fuzz::harness::sentences` (fuzz/src/harness.rs) for the input layout and invariants.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::harness::sentences(data));
