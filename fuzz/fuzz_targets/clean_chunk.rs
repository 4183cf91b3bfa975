#![no_main]
//! Fuzz target `clean_chunk`: see `sotto_fuzz::harness::clean_chunk` (fuzz/src/harness.rs) for the input layout and invariants.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sotto_fuzz::harness::clean_chunk(data));
