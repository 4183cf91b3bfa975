#![no_main]
//! Fuzz target `embedder_load`: see `sotto_fuzz::harness::embedder_load` (fuzz/src/harness.rs) for the input layout and invariants.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::harness::embedder_load(data));
