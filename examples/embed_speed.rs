//! Embedding throughput of all-MiniLM-L6-v2, candle vs the packed encoder (f32, int8), in
//! one process and interleaved, plus the GEMM kernel alone (GFLOP/s per instruction set)
//! and a per-op breakdown of the packed forward pass.
//!
//! `RAYON_NUM_THREADS=1 cargo run --release --example embed_speed [-- ROUNDS]`
//!
//! Sentences are the browser benchmark's (`tests/browser/bench.mjs`): 100 distinct
//! ~30-word sentences (≈ 40 word pieces), embedded in batches of 16. Timings on a shared
//! machine: compare ratios within one run.

use std::time::Instant;

use sotto::embed::bert::{BertEmbedder, BertOptions, Kernels, Quantize};
use sotto::embed::kernels::{self, Epilogue, I8Scratch, Isa, PackedF32, PackedI8};
use sotto::embed::Embedder;

/// The same generator as `sentences()` in tests/browser/bench.mjs.
fn sentences(n: usize, seed: u64) -> Vec<String> {
    let vocab: Vec<&str> = "the a of to and in is that for on with as by it this from at be are was an which or can its more has been also their into when used than other most some such these only new two may over first after about through where between many those both each under however while during within without because before since against among around".split(' ').collect();
    let content: Vec<&str> = "river stone cloud lantern copper meadow signal harbor violet engine orbit candle willow marble thunder glacier pepper canyon falcon saddle ember quartz tunnel beacon velvet mosaic anchor basalt cobalt fern library protocol compiler garden market theory window kernel planet museum".split(' ').collect();
    let mut x = seed;
    let mut rnd = |m: usize| {
        x = (x * 48271) % 2147483647;
        (x / 65536) as usize % m
    };
    (0..n)
        .map(|i| {
            let words: Vec<&str> = (0..30)
                .map(|j| if j % 3 == 1 { vocab[rnd(vocab.len())] } else { content[rnd(content.len())] })
                .collect();
            format!("{} {i}.", words.join(" "))
        })
        .collect()
}

fn load(kernels: Kernels, quantize: Quantize) -> BertEmbedder {
    let dir = sotto::native::models_dir().join(sotto::native::DEFAULT_EMBEDDER);
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()));
    let options = BertOptions { kernels, quantize, ..BertOptions::default() };
    BertEmbedder::from_bytes_with(
        "all-MiniLM-L6-v2",
        &read("model.safetensors"),
        &read("tokenizer.json"),
        &read("config.json"),
        options,
    )
    .expect("load all-MiniLM-L6-v2 (scripts/fetch-models.sh)")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let d: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    d / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt())
}

fn gemm_bench() {
    println!("\nGEMM alone (m × n × k, 1 thread), GFLOP/s:");
    let shapes = [(640usize, 1152usize, 384usize), (640, 384, 384), (640, 1536, 384), (640, 384, 1536)];
    print!("{:>18}", "shape");
    for isa in Isa::available().into_iter().filter(|i| *i != Isa::Scalar) {
        print!(" {:>12} {:>12}", format!("{} f32", isa.name()), format!("{} i8", isa.name()));
    }
    println!();
    for (m, n, k) in shapes {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        let w: Vec<f32> = (0..n * k).map(|i| ((i * 104729) % 1000) as f32 / 1000.0 - 0.5).collect();
        let b = vec![0.1f32; n];
        let pf = PackedF32::new(&w, &b, n, k);
        let pi = PackedI8::new(&w, &b, n, k).expect("fits");
        let mut out = vec![0f32; m * n];
        let mut s = I8Scratch::default();
        print!("{:>18}", format!("{m}×{n}×{k}"));
        let flops = 2.0 * (m * n * k) as f64;
        for isa in Isa::available().into_iter().filter(|i| *i != Isa::Scalar) {
            let mut tf = Vec::new();
            let mut ti = Vec::new();
            for _ in 0..7 {
                let t = Instant::now();
                kernels::gemm_f32(isa, &a, m, &pf, &mut out, Epilogue::None);
                tf.push(t.elapsed().as_secs_f64());
                let t = Instant::now();
                kernels::gemm_i8(isa, &a, m, &pi, &mut out, Epilogue::None, &mut s);
                ti.push(t.elapsed().as_secs_f64());
            }
            print!(" {:>12.1} {:>12.1}", flops / median(tf) / 1e9, flops / median(ti) / 1e9);
        }
        println!();
    }
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let texts = sentences(100, 7 + 16);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    // A second argument picks one model (for a profiler): candle, f32 or int8.
    let only = std::env::args().nth(2);
    if let Some(which) = only.as_deref() {
        let (k, q) = match which {
            "candle" => (Kernels::Candle, Quantize::None),
            "int8" => (Kernels::Packed, Quantize::Int8),
            _ => (Kernels::Packed, Quantize::None),
        };
        let m = load(k, q);
        for _ in 0..rounds {
            m.embed_batch(&refs).unwrap();
        }
        return;
    }
    let models = [
        ("candle f32", load(Kernels::Candle, Quantize::None)),
        ("packed f32", load(Kernels::Packed, Quantize::None)),
        ("packed int8", load(Kernels::Packed, Quantize::Int8)),
    ];
    let tokens: usize = refs.iter().map(|t| models[0].1.token_ids(t).unwrap().len()).sum();
    println!(
        "{} sentences, {:.1} word pieces each on average, batch 16; kernel {}",
        refs.len(),
        tokens as f64 / refs.len() as f64,
        models[1].1.kernel_name()
    );
    let baseline = models[0].1.embed_batch(&refs).unwrap();
    let mut per_s: Vec<Vec<f64>> = vec![Vec::new(); models.len()];
    let mut batch1: Vec<Vec<f64>> = vec![Vec::new(); models.len()];
    for _ in 0..rounds {
        for (i, (_, m)) in models.iter().enumerate() {
            let t = Instant::now();
            let v = m.embed_batch(&refs).unwrap();
            per_s[i].push(refs.len() as f64 / t.elapsed().as_secs_f64());
            assert_eq!(v.len(), refs.len());
            let t = Instant::now();
            for s in &refs[..20] {
                m.embed(s).unwrap();
            }
            batch1[i].push(20.0 / t.elapsed().as_secs_f64());
        }
    }
    println!(
        "{:>12} {:>16} {:>16} {:>10} {:>22}",
        "", "batch 16 sent/s", "batch 1 sent/s", "× candle", "min cos vs candle"
    );
    let base = median(per_s[0].clone());
    for (i, (name, m)) in models.iter().enumerate() {
        let v = m.embed_batch(&refs).unwrap();
        let min_cos = v.iter().zip(&baseline).map(|(a, b)| cosine(a, b)).fold(1f32, f32::min);
        let med = median(per_s[i].clone());
        println!("{name:>12} {med:>16.1} {:>16.1} {:>10.2} {min_cos:>22.6}", median(batch1[i].clone()), med / base);
    }
    gemm_bench();
}
