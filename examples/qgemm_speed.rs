//! The batched Q8_0 prefill kernel alone: GOP/s (1 multiply-accumulate = 2 operations) of
//! the run-time-selected kernel, the scalar reference and candle's `QMatMul` (a `vec_dot`
//! per token and weight row), on SmolLM2-135M's projection shapes for a 300-token prompt
//! and on a shape small enough to stay in L1 (the compute-bound rate).
//!
//! `RAYON_NUM_THREADS=1 cargo run --release --example qgemm_speed`

use std::time::Instant;

use sotto::generate::testing::Q8Gemm;

fn rate(g: &mut Q8Gemm, f: fn(&mut Q8Gemm) -> sotto::Result<()>) -> f64 {
    f(g).unwrap(); // warm up
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t0 = Instant::now();
        f(g).unwrap();
        best = best.min(t0.elapsed().as_secs_f64());
    }
    2.0 * g.macs() as f64 / best / 1e9
}

fn main() {
    let shapes = [
        ("L1-resident 64×256, 64 tokens", 64, 256, 64),
        ("q/o 576×576, 300 tokens", 576, 576, 300),
        ("k/v 192×576, 300 tokens", 192, 576, 300),
        ("gate/up 1536×576, 300 tokens", 1536, 576, 300),
        ("down 576×1536, 300 tokens", 576, 1536, 300),
    ];
    let kernel = Q8Gemm::new(32, 32, 1, 1).unwrap().kernel();
    println!("| shape | {kernel} GOP/s | scalar GOP/s | candle QMatMul GOP/s |");
    println!("|---|---|---|---|");
    for (name, n, k, m) in shapes {
        let mut g = Q8Gemm::new(n, k, m, 7).unwrap();
        let fast = rate(&mut g, Q8Gemm::run);
        let scalar = rate(&mut g, Q8Gemm::run_scalar);
        let candle = rate(&mut g, Q8Gemm::run_candle);
        println!("| {name} | {fast:.1} | {scalar:.1} | {candle:.1} |");
    }
}
