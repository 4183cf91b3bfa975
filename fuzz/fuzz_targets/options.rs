#![no_main]
//! Fuzz target `options`: see `sotto_fuzz::harness::options` (fuzz/src/harness.rs) for the input layout and invariants.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::harness::options(data));
