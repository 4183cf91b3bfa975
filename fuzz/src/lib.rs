//! Shared code of Sotto's fuzz targets. The entry points live in `harness.rs`, which
//! `tests/fuzz_regressions.rs` of the main crate includes too (`#[path]`), so a committed
//! regression input goes through exactly the code the fuzzer ran.
pub mod harness;

/// Rust allocations go to dlmalloc (the allocator of Rust's wasm32 std), not glibc's
/// malloc: libFuzzer's timeout handler runs on SIGALRM and calls malloc itself, so with
/// glibc it deadlocks whenever the alarm interrupts the target inside malloc (seen: a job
/// hung for minutes in `WriteToFile` waiting for `main_arena`). With the target on another
/// allocator the handler never waits for a lock the target holds. It also makes memory use
/// closer to the browser's.
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;
