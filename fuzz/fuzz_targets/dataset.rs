#![no_main]
//! Fuzz target `dataset`: see `sotto_fuzz::harness::dataset` (fuzz/src/harness.rs) for the input layout and invariants.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::harness::dataset(data));
