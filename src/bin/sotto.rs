//! `sotto` — the native command-line tool: build an index offline, search it,
//! evaluate it against ground truth.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sotto::embed::Quantize;
use sotto::embed::{Embedder, EmbedderInfo};
use sotto::eval::run::snippet;
use sotto::eval::EvalReport;
use sotto::generate::{load_gguf, LoadOptions};
use sotto::index::tree::{SummaryOptions, SummaryTree, TreeParams, SUMMARIES_SECTION};
use sotto::native::{embedder_dir, load_bert_dir_with, models_dir, DEFAULT_EMBEDDER, DEFAULT_GENERATOR};
use sotto::native::{open_sharded, read_manifest_file, write_shards};
use sotto::query::options::fusion_from_parts;
use sotto::query::{Construct, Route, Translate, Tree};
use sotto::rag::ask::AskOptions;
use sotto::rag::partition::{merge_partitions, Partition};
use sotto::rag::persist::read_manifest;
use sotto::rag::shards::{ShardLimits, ShardManifest, ShardParams, ShardSet, ShardedIndex};
use sotto::rag::Progress;
use sotto::{Document, Engine, EngineConfig, Filter, SearchOptions};

#[path = "sotto/eval_cmd.rs"]
mod eval_cmd;
#[path = "sotto/http.rs"]
mod http;

#[derive(Parser)]
#[command(name = "sotto", version, about = "Private retrieval-augmented search and answers, offline")]
struct Cli {
    /// Directory holding the models (default: $SOTTO_MODELS or ~/.cache/sotto/models).
    #[arg(long, global = true)]
    models: Option<PathBuf>,
    /// Embedder weight precision: none (f32) or int8 (faster; vectors within ≈ 0.995
    /// cosine of f32, so indexes built either way stay searchable either way).
    #[arg(long, global = true, default_value = "none")]
    quantize: String,
    /// A sharded index over http:// with a packed file: read shards from it with Range
    /// requests (auto; the shard files if the server does not answer them) or never.
    #[arg(long, global = true, default_value = "auto")]
    pack_reads: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index files and directories (.html, .htm, .md, .markdown, .txt) into an index file.
    Index {
        /// Files or directories. A file's document id is its path relative to the directory given.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output index file.
        #[arg(short, long, required_unless_present = "shards")]
        output: Option<PathBuf>,
        /// Also (or only) write a sharded static index into this directory (see `sotto shard`).
        #[arg(long)]
        shards: Option<PathBuf>,
        /// With --shards: also write the shards as one packed file, read with HTTP Range requests.
        #[arg(long, requires = "shards")]
        pack: bool,
        /// Embedder directory name under the models directory, or a path.
        #[arg(long, default_value = DEFAULT_EMBEDDER)]
        embedder: String,
        /// Maximum tokens per chunk.
        #[arg(long, default_value_t = 256)]
        max_tokens: usize,
        /// Overlap tokens between consecutive chunks.
        #[arg(long, default_value_t = 32)]
        overlap: usize,
        /// Near-duplicate threshold (estimated Jaccard of word shingles).
        #[arg(long, default_value_t = 0.85)]
        near_threshold: f32,
        /// Flat segments with at least this many vectors become HNSW segments.
        #[arg(long)]
        hnsw_threshold: Option<usize>,
        /// Metadata added to every document, key=value (repeatable).
        #[arg(long = "meta")]
        meta: Vec<String>,
        /// Do not embed sentences at index time (config `sentences.at_index_time = false`):
        /// they are embedded the first time a chunk is retrieved for an answer.
        #[arg(long)]
        no_sentence_vectors: bool,
        /// Describe a collection for routing, name=text (repeatable). A document's
        /// collection is its `collection` metadata (`--meta collection=NAME`), else `default`.
        #[arg(long = "describe")]
        describe: Vec<String>,
        /// A document's collection is the first directory of its id (`guide/x.html` →
        /// `guide`), unless `--meta collection=…` names one.
        #[arg(long)]
        collection_by_dir: bool,
        /// Also build the RAPTOR summary tree (as `sotto raptor` does) and store it in the index.
        #[arg(long)]
        raptor: bool,
        /// With --raptor: the generator writes each summary (see `sotto raptor --abstractive`).
        #[arg(long, requires = "raptor")]
        abstractive: bool,
        /// With --abstractive: the GGUF generator (default: SmolLM2-135M-Instruct under the
        /// models directory).
        #[arg(long, requires = "abstractive")]
        generator: Option<PathBuf>,
        /// With --abstractive: most new tokens per summary.
        #[arg(long, default_value_t = 64, requires = "abstractive")]
        summary_tokens: usize,
        /// Map step of a partitioned build: `i/N` (0 ≤ i < N) prepares every document but
        /// embeds and writes only partition i's share (a document's partition is
        /// SHA-256(id) mod N); `sotto merge` joins the N files. Give every task the same inputs.
        #[arg(long, conflicts_with_all = ["shards", "raptor"])]
        partition: Option<String>,
    },
    /// Reduce step of a partitioned build: merge the N partial indexes written by
    /// `index --partition i/N` into the index one `sotto index` over all the documents
    /// writes, without embedding anything again.
    Merge {
        /// The partial index files, every partition once (any order).
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// Output index file.
        #[arg(short, long, required_unless_present = "shards")]
        output: Option<PathBuf>,
        /// Also (or only) write the sharded static index into this directory.
        #[arg(long)]
        shards: Option<PathBuf>,
    },
    /// Add (or rebuild) the RAPTOR summary tree of an existing index, from the chunk vectors
    /// it stores (no chunk is re-embedded; sentences of central chunks are, if the index
    /// has no sentence vectors). A damaged tree section is replaced.
    Raptor {
        /// Index file (rewritten unless --output is given).
        index: PathBuf,
        /// Write the index with its tree here instead of over the input.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Tree parameters as JSON (cluster_size, max_cluster_size, branching,
        /// kmeans_iterations, summary_length, top_nodes, max_levels, max_nodes, seed);
        /// absent keys keep the defaults.
        #[arg(long)]
        params: Option<String>,
        /// Remove the tree instead of building one.
        #[arg(long, conflicts_with = "abstractive")]
        remove: bool,
        /// Abstractive summaries: the local generator rewrites each node's extractive
        /// sentences, copy-constrained (a node whose generation is unusable stays extractive).
        #[arg(long)]
        abstractive: bool,
        /// With --abstractive: the GGUF generator (default: SmolLM2-135M-Instruct under the
        /// models directory).
        #[arg(long, requires = "abstractive")]
        generator: Option<PathBuf>,
        /// With --abstractive: most new tokens per summary.
        #[arg(long, default_value_t = 64, requires = "abstractive")]
        summary_tokens: usize,
    },
    /// Convert an index file into a sharded static index (manifest.json and
    /// content-addressed shards) that a static host serves piece by piece.
    Shard {
        /// Index file.
        index: PathBuf,
        /// Output directory (created; shards already there are kept).
        out: PathBuf,
        /// Also write the shards as one packed file, read with HTTP Range requests.
        #[arg(long)]
        pack: bool,
        /// IVF clusters (default ⌈√chunks⌉).
        #[arg(long)]
        clusters: Option<usize>,
        /// Recall (of the exact top max(10, fusion_candidates) of synthetic queries) the
        /// default nprobe is calibrated for.
        #[arg(long, default_value_t = 0.995)]
        recall_target: f64,
    },
    /// Search an index.
    Search {
        /// Index file, or a sharded index's manifest.json (its directory, or its http:// URL).
        index: PathBuf,
        /// The query.
        query: String,
        /// Number of results.
        #[arg(short, default_value_t = 5)]
        k: usize,
        /// dense, sparse or hybrid.
        #[arg(long, default_value = "hybrid")]
        mode: String,
        /// Fusion for hybrid mode: rrf (default) or weighted.
        #[arg(long)]
        fusion: Option<String>,
        /// Weight of the dense list for weighted fusion (default 0.5).
        #[arg(long)]
        alpha: Option<f32>,
        /// The RRF constant (default 60).
        #[arg(long)]
        rrf_k: Option<f32>,
        /// Filters: key=value, key=v1|v2 (one of), key^=prefix. Repeatable; all must match.
        #[arg(long = "filter")]
        filters: Vec<String>,
        /// Rerank the fused candidates: none or maxsim (best sentence cosine).
        #[arg(long, default_value = "none")]
        rerank: String,
        /// Query translation: none, multi-query[:n], fusion, decompose, step-back, hyde or auto.
        #[arg(long, default_value = "none")]
        translate: String,
        /// Routing to collections: none, or auto (the collections the question matches best).
        #[arg(long, default_value = "none")]
        route: String,
        /// Query construction (a constraint the question names as a filter): off, suggest or apply.
        #[arg(long, default_value = "off")]
        construct: String,
        /// Summary tree retrieval: none, or collapsed (chunks and RAPTOR summary nodes in one pool).
        #[arg(long, default_value = "none")]
        tree: String,
        /// IVF clusters probed on a sharded index (default: the manifest's calibrated nprobe).
        #[arg(long)]
        nprobe: Option<usize>,
        /// Scan every vector exactly (no int8 scan, 1-bit prefilter or HNSW graph).
        #[arg(long)]
        exact: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate against ground truth (JSONL questions or a BEIR directory) over one or
    /// several configurations; optionally answers, an HTML report (--report) and JSON.
    Eval(eval_cmd::EvalArgs),
    /// Answer a question from an index, with engine-computed citations.
    Ask {
        /// Index file.
        index: PathBuf,
        /// The question.
        question: String,
        /// extractive (selected source sentences), generative (a local GGUF model phrases, the engine
        /// attributes) or compose (the model fuses the extractive sentences, copy-constrained).
        #[arg(long, default_value = "extractive")]
        mode: String,
        /// GGUF generator file (default: SmolLM2-135M-Instruct under the models directory).
        #[arg(long)]
        generator: Option<PathBuf>,
        /// Chunks retrieved.
        #[arg(short, default_value_t = 5)]
        k: usize,
        /// Rerank the fused candidates: none or maxsim (best sentence cosine).
        #[arg(long, default_value = "none")]
        rerank: String,
        /// Query translation: none, multi-query[:n], fusion, decompose, step-back, hyde or auto.
        #[arg(long, default_value = "none")]
        translate: String,
        /// Routing to collections: none, or auto (the collections the question matches best).
        #[arg(long, default_value = "none")]
        route: String,
        /// Query construction (a constraint the question names as a filter): off, suggest or apply.
        #[arg(long, default_value = "off")]
        construct: String,
        /// Summary tree retrieval: none, or collapsed (chunks and RAPTOR summary nodes in one pool).
        #[arg(long, default_value = "none")]
        tree: String,
        /// Keep unsupported generated sentences (flagged) instead of dropping them.
        #[arg(long)]
        lenient: bool,
        /// Decoding constraint of a generative answer: none, copy (every word from the sources or a closed list of function words) or bigram (copy, and each content word follows the previous one as in a source sentence).
        #[arg(long, default_value = "none")]
        constrain: String,
        /// Maximum new tokens.
        #[arg(long, default_value_t = 100)]
        max_new_tokens: usize,
        /// Adaptive RAG: the question's class picks no retrieval (meta questions), one step,
        /// or one step per part (comparisons). Not with --translate.
        #[arg(long)]
        adaptive: bool,
        /// Generative answers without the self-check (no second retrieval for unsupported claims).
        #[arg(long)]
        no_self_check: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Rewrite a GGUF with Q4_1/Q5_0/Q5_1 tensors requantized to Q8_0 (candle's fast path).
    Requantize {
        /// Input GGUF.
        input: PathBuf,
        /// Output GGUF.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Fit the retrieval grader on labelled questions (answerable = relevant_docs given,
    /// out of scope = `relevant_docs: []`) and store its calibration in the index manifest.
    Calibrate {
        /// Index file (rewritten with the calibration unless --output is given).
        index: PathBuf,
        /// Question files (JSONL, the `sotto eval` format); at least one out-of-scope question.
        #[arg(required = true)]
        questions: Vec<PathBuf>,
        /// Write the calibrated index here instead of over the input.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// L2 penalty of the logistic regression (on standardised features).
        #[arg(long, default_value_t = 1.0)]
        l2: f64,
        /// Print the fitted calibration as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Rewrite an index file in the current format (a v1 index gets its sentence vectors).
    Upgrade {
        /// Input index file.
        input: PathBuf,
        /// Output index file.
        output: PathBuf,
    },
    /// Show an index's manifest and statistics.
    Info {
        /// Index file, or a sharded index's manifest.json (its directory, or its http:// URL).
        index: PathBuf,
    },
}

fn main() {
    if let Err(e) = run() {
        // The engine's error kind, as the JS side reports it, when the cause is one.
        match e.chain().find_map(|c| c.downcast_ref::<sotto::Error>()) {
            Some(se) => eprintln!("error[{}]: {e:#}", se.kind()),
            None => eprintln!("error: {e:#}"),
        }
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let models = cli.models.clone().unwrap_or_else(models_dir);
    QUANTIZE.set(Quantize::parse(&cli.quantize)?).ok();
    http::PACK_READS.set(cli.pack_reads.parse()?).ok();
    match cli.command {
        Command::Index {
            inputs,
            output,
            shards,
            pack,
            embedder,
            max_tokens,
            overlap,
            near_threshold,
            hnsw_threshold,
            meta,
            no_sentence_vectors,
            describe,
            collection_by_dir,
            raptor,
            abstractive,
            generator,
            summary_tokens,
            partition,
        } => {
            let partition = partition.as_deref().map(Partition::parse).transpose()?;
            let mut config = EngineConfig::default();
            config.sentences.at_index_time = !no_sentence_vectors;
            config.chunk.max_tokens = max_tokens;
            config.chunk.overlap_tokens = overlap;
            config.dedup.near_threshold = near_threshold;
            if let Some(t) = hnsw_threshold {
                config.dense.hnsw_threshold = t;
            }
            config.validate()?;
            let embedder = load_embedder(&models, &embedder)?;
            let extra: Vec<(String, String)> = meta
                .iter()
                .map(|m| m.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).context("--meta wants key=value"))
                .collect::<Result<_>>()?;
            let describe: Vec<(String, String)> = describe
                .iter()
                .map(|m| {
                    m.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).context("--describe wants name=text")
                })
                .collect::<Result<_>>()?;
            for (name, text) in &describe {
                sotto::query::route::validate_collection(name, text)?;
            }
            let summaries = SummaryOptions { abstractive, max_new_tokens: summary_tokens, ..SummaryOptions::default() };
            summaries.validate()?;
            let generator = if abstractive { Some(load_generator(&models, generator)?) } else { None };
            let extras = IndexExtras {
                meta: extra,
                describe,
                collection_by_dir,
                raptor,
                summaries,
                generator,
                shards,
                pack,
                partition,
            };
            index(inputs, output.as_deref(), embedder, config, extras)
        }
        Command::Merge { parts, output, shards } => merge(&models, &parts, output.as_deref(), shards.as_deref()),
        Command::Shard { index, out, pack, clusters, recall_target } => {
            let params = ShardParams { clusters, recall_target, ..ShardParams::default() };
            params.validate()?;
            let engine = open(&models, &index)?;
            let t = Instant::now();
            let set = engine.to_shards(&params)?;
            let set = if pack { set.with_pack()? } else { set };
            let written = write_shards(&out, &set).with_context(|| format!("writing {}", out.display()))?;
            print_shard_set(&set, written, &out, t.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Raptor { index, output, params, remove, abstractive, generator, summary_tokens } => {
            let params: TreeParams = match params {
                Some(p) => serde_json::from_str(&p).context("--params")?,
                None => TreeParams::default(),
            };
            params.validate()?;
            let summaries = SummaryOptions { abstractive, max_new_tokens: summary_tokens, ..SummaryOptions::default() };
            summaries.validate()?;
            let bytes = std::fs::read(&index).with_context(|| format!("reading {}", index.display()))?;
            let manifest = read_manifest(&bytes).with_context(|| format!("reading {}", index.display()))?;
            let embedder = load_embedder(&models, &manifest.embedder.name)?;
            // Without the old tree: a damaged one is replaced, not a reason to stop.
            let mut engine = Engine::from_bytes_without_tree(&bytes, embedder)
                .with_context(|| format!("loading {}", index.display()))?;
            if abstractive {
                engine.set_generator(load_generator(&models, generator)?);
            }
            let before = bytes.len();
            let t = Instant::now();
            let report = if remove {
                None
            } else {
                let bar = progress_bar();
                let r = engine.build_tree_with(&params, &summaries, &mut |p| show_progress(&bar, p), &|| false)?;
                bar.finish_and_clear();
                Some(r)
            };
            let build_s = t.elapsed().as_secs_f64();
            let out = engine.to_bytes()?;
            let path = output.unwrap_or(index);
            std::fs::write(&path, &out).with_context(|| format!("writing {}", path.display()))?;
            if let Some(r) = report.as_ref().filter(|_| abstractive) {
                println!(
                    "abstractive summaries: {} written, {} kept extractive; {} tokens generated ({:.2} s per node)",
                    r.abstractive,
                    r.abstractive_fallbacks,
                    r.generated_tokens,
                    build_s / r.nodes.max(1) as f64
                );
            }
            match report {
                Some(r) => println!(
                    "summary tree over {} chunks: {} nodes {:?} per level; {} sentences and {} summaries embedded; \
                     {build_s:.1} s; {} → {} bytes ({:+.1}%) → {}",
                    r.chunks,
                    r.nodes,
                    r.nodes_per_level,
                    r.sentences_embedded,
                    r.summaries_embedded,
                    before,
                    out.len(),
                    (out.len() as f64 / before as f64 - 1.0) * 100.0,
                    path.display()
                ),
                None => println!("tree removed: {before} → {} bytes → {}", out.len(), path.display()),
            }
            Ok(())
        }
        Command::Search {
            index,
            query,
            k,
            mode,
            fusion,
            alpha,
            rrf_k,
            filters,
            rerank,
            translate,
            route,
            construct,
            tree,
            nprobe,
            exact,
            json,
        } => {
            // Options first: a bad flag is refused before the index and model are read.
            let options = SearchOptions {
                k,
                mode: mode.parse()?,
                fusion: fusion_from_parts(fusion.as_deref(), alpha, rrf_k)?,
                filters: filters.iter().map(|f| Filter::parse(f)).collect::<sotto::Result<_>>()?,
                rerank: rerank.parse()?,
                translate: translate.parse()?,
                route: route.parse()?,
                construct: construct.parse()?,
                tree: tree.parse()?,
                exact,
            };
            options.validate()?;
            if is_sharded(&index) {
                return search_sharded(&models, &index, &query, &options, nprobe, json);
            }
            let engine = open(&models, &index)?;
            let t0 = Instant::now();
            let clock = move || t0.elapsed().as_secs_f64() * 1e3;
            let (hits, trace) = engine.search_traced(&query, &options, &clock)?;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            if json {
                let mut out = serde_json::json!({ "query": query, "took_ms": ms, "hits": hits });
                if options.translate != Translate::None
                    || options.route != Route::None
                    || options.construct != Construct::Off
                    || options.tree != Tree::None
                {
                    out["trace"] = serde_json::to_value(&trace)?;
                }
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                if options.translate != Translate::None {
                    eprintln!("translate: {} ({})", trace.technique.name(), trace.reason);
                    for q in &trace.queries {
                        eprintln!("  [{:?} {} {}] {}", q.source, q.via, q.retriever, snippet(&q.text, 160));
                    }
                    for n in &trace.notes {
                        eprintln!("  note: {n}");
                    }
                }
                print_route(&trace);
                if options.tree != Tree::None {
                    for n in trace.notes.iter().filter(|n| n.starts_with("collapsed tree")) {
                        eprintln!("{n}");
                    }
                    for t in &trace.tree {
                        eprintln!(
                            "  summary node {} (level {}, {:.4}) → chunks {:?}",
                            t.node, t.level, t.score, t.chunks
                        );
                    }
                }
                for h in &hits {
                    let title = h.title.as_deref().unwrap_or("");
                    println!("{:>2}. {:.4}  {}  {}", h.rank, h.score, h.doc_id, title);
                    if !h.heading_path.is_empty() {
                        println!("    § {}", h.heading_path.join(" › "));
                    }
                    println!("    [{}..{}] {}", h.start, h.end, snippet(&h.text, 240));
                }
                if hits.is_empty() {
                    println!("no results");
                }
                eprintln!("{} results in {ms:.1} ms", hits.len());
            }
            Ok(())
        }
        Command::Eval(args) => eval_cmd::run(&models, args),
        Command::Calibrate { index, questions, output, l2, json } => {
            let mut engine = open(&models, &index)?;
            let options = AskOptions::default();
            let mut samples = Vec::new();
            for path in &questions {
                let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
                let ds = sotto::eval::read_jsonl(std::io::BufReader::new(file), false)
                    .with_context(|| format!("reading {}", path.display()))?;
                for q in &ds.questions {
                    samples.push((engine.question_features(&q.question, &options)?, q.answerable()));
                }
            }
            let names: Vec<String> = questions.iter().map(|p| p.display().to_string()).collect();
            let c = sotto::rag::grade::fit(&samples, l2, engine.embedder().info(), &names.join(", "))?;
            let mut confusion = [[0usize; 2]; 2];
            for (f, y) in &samples {
                let abstain = c.grade(c.confidence(f)) == sotto::rag::grade::Grade::Incorrect;
                confusion[usize::from(*y)][usize::from(abstain)] += 1;
            }
            eprintln!(
                "fitted on {} answerable and {} out-of-scope questions: incorrect below {:.3}, correct from {:.3}; \
                 on these same questions {}/{} out-of-scope abstained, {}/{} false abstentions (not a test figure)",
                c.positives,
                c.negatives,
                c.incorrect_below,
                c.correct_from,
                confusion[0][1],
                c.negatives,
                confusion[1][1],
                c.positives
            );
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            }
            engine.set_calibration(c)?;
            let out = output.unwrap_or(index);
            std::fs::write(&out, engine.to_bytes()?).with_context(|| format!("writing {}", out.display()))?;
            eprintln!("calibration written to {}", out.display());
            Ok(())
        }
        Command::Ask {
            index,
            question,
            mode,
            generator,
            k,
            rerank,
            translate,
            route,
            construct,
            tree,
            lenient,
            constrain,
            max_new_tokens,
            adaptive,
            no_self_check,
            json,
        } => {
            let mut options = AskOptions {
                max_new_tokens,
                strict: !lenient,
                constrain: constrain.parse()?,
                adaptive,
                self_check: !no_self_check,
                ..AskOptions::default()
            };
            options.search.k = k;
            options.search.rerank = rerank.parse()?;
            options.search.translate = translate.parse()?;
            options.search.route = route.parse()?;
            options.search.construct = construct.parse()?;
            options.search.tree = tree.parse()?;
            options.mode = mode.parse()?;
            options.validate()?;
            if is_sharded(&index) {
                let ix = open_sharded_index(&models, &index)?;
                let started = Instant::now();
                let clock = move || started.elapsed().as_secs_f64() * 1e3;
                let (answer, trace) = ix.ask(&question, &options, None, &clock)?;
                if json {
                    let out = serde_json::json!({ "answer": answer, "shards": trace, "pack": http::pack_report() });
                    println!("{}", serde_json::to_string_pretty(&out)?);
                } else {
                    println!("{}", answer.answer);
                    for c in &answer.citations {
                        println!("  [{}] {} [{}..{}] {}", c.n, c.doc_id, c.start, c.end, c.heading_path.join(" › "));
                    }
                    eprintln!(
                        "{:.0} ms; {} requests, {:.1} kB in {} rounds",
                        answer.timings.total_ms,
                        trace.requests,
                        trace.bytes as f64 / 1e3,
                        trace.rounds
                    );
                }
                return Ok(());
            }
            let mut engine = open(&models, &index)?;
            if options.mode.uses_generator() {
                engine.set_generator(load_generator(&models, generator)?);
            }
            let started = Instant::now();
            let clock = move || started.elapsed().as_secs_f64() * 1e3;
            let streaming = !json && options.mode.uses_generator();
            if streaming {
                eprint!("generating: ");
            }
            let mut on_text = |t: &str| {
                if streaming {
                    eprint!("{t}");
                }
                true
            };
            let answer = engine.ask(&question, &options, &clock, &mut on_text)?;
            if streaming {
                eprintln!();
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                if let Some(q) = &answer.query {
                    print_route(q);
                }
                println!("{}", answer.answer);
                if answer.fell_back {
                    println!("(no generated sentence was supported by the sources; showing the extractive answer)");
                }
                for d in &answer.dropped {
                    println!("  dropped (support {:.2}): {}", d.support, d.text);
                }
                println!();
                for c in &answer.citations {
                    println!("[{}] {} — {} [{}..{}]", c.n, c.doc_id, c.title.as_deref().unwrap_or(""), c.start, c.end);
                }
                if let Some(r) = &answer.route {
                    eprintln!(
                        "route: {} ({:?}: {}) → {:?}{}",
                        r.classification.class.name(),
                        r.classification.source,
                        r.classification.rule,
                        r.pipeline,
                        if r.parts.is_empty() { String::new() } else { format!(" over {} parts", r.parts.len()) }
                    );
                }
                if let Some(c) = &answer.self_check {
                    eprintln!(
                        "self-check: {} unsupported claim(s) retrieved again, {} source(s) added, supported {} → {}{}",
                        c.claims.len(),
                        c.added_sources,
                        c.supported_before,
                        c.supported_after,
                        if c.rescued { " (kept)" } else { "" }
                    );
                }
                if let Some(g) = &answer.grade {
                    eprintln!(
                        "grade {:?} (confidence {:.3}, {:?}): {}",
                        g.grade,
                        g.confidence,
                        g.calibration,
                        g.actions.join("; ")
                    );
                }
                let t = &answer.timings;
                eprintln!(
                    "retrieve {:.0} ms, select {:.0} ms, prefill {:.0} ms ({} tok, {:.1} tok/s), decode {:.0} ms ({} tok, {:.1} tok/s), total {:.0} ms; support {:.2}",
                    t.retrieve_ms, t.select_ms, t.prefill_ms, t.prompt_tokens, t.prefill_tokens_per_s, t.decode_ms, t.generated_tokens,
                    t.decode_tokens_per_s, t.total_ms, answer.support
                );
            }
            Ok(())
        }
        Command::Requantize { input, output } => {
            let bytes = std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
            let t = Instant::now();
            let out = sotto::generate::gguf::requantize(&bytes)?;
            std::fs::write(&output, &out).with_context(|| format!("writing {}", output.display()))?;
            println!(
                "{} ({:.1} MB) → {} ({:.1} MB) in {:.1} s",
                input.display(),
                bytes.len() as f64 / 1e6,
                output.display(),
                out.len() as f64 / 1e6,
                t.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Upgrade { input, output } => {
            let mut engine = open(&models, &input)?;
            let t = Instant::now();
            let n = engine.upgrade_sentences(&mut |_, _| {}, &|| false)?;
            let out = engine.to_bytes()?;
            std::fs::write(&output, &out).with_context(|| format!("writing {}", output.display()))?;
            println!(
                "{} → {} (format {}, {:.2} MB): sentence vectors for {n} chunks in {:.1} s",
                input.display(),
                output.display(),
                sotto::index::format::FORMAT_VERSION,
                out.len() as f64 / 1e6,
                t.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Info { index } if is_sharded(&index) => {
            let limits = ShardLimits::default();
            let (name, bytes) = sharded_manifest_bytes(&index, &limits)?;
            let m = ShardManifest::parse(&bytes, &limits).with_context(|| format!("reading {name}"))?;
            let mut by_kind: std::collections::BTreeMap<String, (usize, u64)> = std::collections::BTreeMap::new();
            for e in &m.shards {
                let k = by_kind.entry(format!("{:?}", e.kind).to_lowercase()).or_default();
                k.0 += 1;
                k.1 += e.bytes;
            }
            let value = serde_json::json!({
                "format": m.format,
                "format_version": m.format_version,
                "created_by": m.created_by,
                "embedder": m.embedder,
                "corpus_sha256": m.corpus_sha256,
                "documents": m.documents,
                "chunks": m.chunks,
                "bm25": { "n": m.bm25.n, "avgdl": m.bm25.total_len as f64 / f64::from(m.bm25.n.max(1)),
                          "terms": m.bm25.terms, "languages": m.bm25.languages, "dictionary_buckets": m.bm25.dict.len() },
                "ivf": { "clusters": m.ivf.clusters.len(), "default_nprobe": m.ivf.default_nprobe,
                         "calibration_depth": m.ivf.calibration_depth, "calibrated_recall": m.ivf.calibrated_recall },
                "grader": grader_info(m.calibration.as_ref(), &m.embedder),
                "manifest_bytes": bytes.len(),
                "shards": by_kind.iter().map(|(k, (n, b))| (k.clone(), serde_json::json!({ "count": n, "bytes": b }))).collect::<serde_json::Map<_, _>>(),
                "config": m.config,
            });
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(())
        }
        Command::Info { index } => {
            let bytes = std::fs::read(&index).with_context(|| format!("reading {}", index.display()))?;
            let manifest = read_manifest(&bytes)?;
            let grader = grader_info(manifest.calibration.as_ref(), &manifest.embedder);
            let mut value = serde_json::to_value(&manifest)?;
            value["grader"] = grader;
            let sections = sotto::index::format::read_sections(&bytes)?;
            value["tree"] = match sections.get("tree") {
                Some(t) => {
                    let mut tree = SummaryTree::from_bytes(t)?;
                    let summaries = sections.get(SUMMARIES_SECTION);
                    if let Some(s) = summaries {
                        tree = tree.with_summaries(s)?;
                    }
                    let mut per_level = vec![0usize; tree.levels()];
                    for n in tree.nodes() {
                        per_level[n.level as usize - 1] += 1;
                    }
                    let abstractive = tree.abstractive().map(|a| {
                        serde_json::json!({ "generator": a.generator, "max_new_tokens": a.max_new_tokens,
                                            "nodes": tree.abstractive_nodes(), "bytes": summaries.map_or(0, |s| s.len()) })
                    });
                    serde_json::json!({ "nodes": tree.len(), "nodes_per_level": per_level, "bytes": t.len(),
                                        "params": tree.params(), "summaries": if abstractive.is_some() { "abstractive" } else { "extractive" },
                                        "abstractive": abstractive })
                }
                None => serde_json::Value::Null,
            };
            println!("{}", serde_json::to_string_pretty(&value)?);
            if manifest.calibration.is_none() {
                eprintln!("grader: {}", value["grader"]["note"].as_str().unwrap_or_default());
            }
            Ok(())
        }
    }
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {elapsed_precise} eta {eta}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn show_progress(bar: &ProgressBar, p: Progress) {
    let (msg, done, total) = match p {
        Progress::Chunking { done, total } => ("chunking".to_owned(), done, total),
        Progress::Embedding { done, total } => ("embedding".to_owned(), done, total),
        Progress::Tree { level, done, total } => (format!("tree L{level}"), done, total),
        Progress::Summaries { level, done, total } => (format!("summary L{level}"), done, total),
        Progress::Hnsw { done, total } => ("hnsw".to_owned(), done, total),
    };
    bar.set_message(msg);
    bar.set_length(total as u64);
    bar.set_position(done as u64);
}

/// `--quantize`, set once in `main` (every command loads its embedder through
/// [`load_embedder`]).
static QUANTIZE: std::sync::OnceLock<Quantize> = std::sync::OnceLock::new();

fn load_embedder(models: &Path, name: &str) -> Result<Box<dyn Embedder>> {
    let dir = embedder_dir(models, name);
    let quantize = QUANTIZE.get().copied().unwrap_or_default();
    Ok(Box::new(
        load_bert_dir_with(&dir, quantize).with_context(|| format!("loading embedder from {}", dir.display()))?,
    ))
}

/// The GGUF generator at `path`, or the default one under `models`.
fn load_generator(models: &Path, path: Option<PathBuf>) -> Result<Box<dyn sotto::generate::Generator>> {
    let path = path.unwrap_or_else(|| models.join(DEFAULT_GENERATOR));
    let t = Instant::now();
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let g = load_gguf(&bytes, &LoadOptions::default()).with_context(|| format!("loading {}", path.display()))?;
    eprintln!("loaded {} in {:.1} s", path.display(), t.elapsed().as_secs_f64());
    Ok(g)
}

fn open(models: &Path, index: &Path) -> Result<Engine> {
    let bytes = std::fs::read(index).with_context(|| format!("reading {}", index.display()))?;
    let manifest = read_manifest(&bytes).with_context(|| format!("reading {}", index.display()))?;
    let embedder = load_embedder(models, &manifest.embedder.name)?;
    Engine::from_bytes(&bytes, embedder).with_context(|| format!("loading {}", index.display()))
}

const EXTENSIONS: &[&str] = &["html", "htm", "xhtml", "md", "markdown", "txt", "text"];

/// Collect `(document id, path)` pairs: ids are paths relative to the directory given
/// (with `/` separators), or the file name for a file given directly.
fn collect_files(inputs: &[PathBuf]) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            for entry in walkdir::WalkDir::new(input).sort_by_file_name() {
                let entry = entry?;
                let p = entry.path();
                let ext_ok = p
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
                if entry.file_type().is_file() && ext_ok {
                    let rel = p.strip_prefix(input)?;
                    let id = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                    out.push((id, p.to_path_buf()));
                }
            }
        } else if input.is_file() {
            let id = input.file_name().map(|n| n.to_string_lossy().into_owned()).context("file without a name")?;
            out.push((id, input.clone()));
        } else {
            bail!("{} does not exist", input.display());
        }
    }
    Ok(out)
}

/// `sotto merge`: the reduce step of a partitioned build.
fn merge(models: &Path, parts: &[PathBuf], output: Option<&Path>, shards: Option<&Path>) -> Result<()> {
    let started = Instant::now();
    let bytes: Vec<Vec<u8>> = parts
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .collect::<Result<_>>()?;
    let first = read_manifest(&bytes[0]).with_context(|| format!("reading {}", parts[0].display()))?;
    let embedder = load_embedder(models, &first.embedder.name)?;
    let slices: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    let t_merge = Instant::now();
    let mut engine = merge_partitions(&slices, embedder).map_err(|e| {
        let which = match &e {
            sotto::Error::NotPartial { position } => parts.get(*position).map(|p| p.display().to_string()),
            _ => None,
        };
        let names: Vec<String> = parts.iter().map(|p| p.display().to_string()).collect();
        anyhow::Error::new(e).context(which.unwrap_or_else(|| format!("merging {}", names.join(", "))))
    })?;
    let merge_s = t_merge.elapsed().as_secs_f64();
    let t_hnsw = Instant::now();
    engine.build_hnsw();
    let hnsw_s = t_hnsw.elapsed().as_secs_f64();
    let out = engine.to_bytes()?;
    if let Some(output) = output {
        if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(output, &out).with_context(|| format!("writing {}", output.display()))?;
    }
    let stats = engine.stats();
    println!(
        "merged {} partitions → {} documents, {} chunks; dropped {} exact and {} near duplicates; {:.1} s (merge {:.2} s, HNSW {:.1} s); {} → {:.1} MB",
        parts.len(),
        stats.documents,
        stats.chunks,
        stats.exact_duplicates,
        stats.near_duplicates,
        started.elapsed().as_secs_f64(),
        merge_s,
        hnsw_s,
        output.map_or_else(|| "(no index file written)".to_owned(), |o| o.display().to_string()),
        out.len() as f64 / 1e6
    );
    if let Some(dir) = shards {
        let t = Instant::now();
        let set = engine.to_shards(&ShardParams::default())?;
        let written = write_shards(dir, &set).with_context(|| format!("writing {}", dir.display()))?;
        print_shard_set(&set, written, dir, t.elapsed().as_secs_f64());
    }
    Ok(())
}

/// Routing's and construction's part of a trace, on stderr.
fn print_route(trace: &sotto::QueryTrace) {
    if let Some(r) = &trace.route {
        let scores: Vec<String> = r.scores.iter().map(|s| format!("{} {:.3}", s.name, s.score)).collect();
        let chosen = if r.chosen.is_empty() { format!("all ({})", r.note) } else { r.chosen.join(", ") };
        eprintln!("route: {chosen}  [{}]", scores.join(", "));
    }
    if let Some(c) = &trace.construction {
        let verb = if c.applied { "applied" } else { "suggested" };
        for (f, p) in c.filters.iter().zip(&c.phrases) {
            eprintln!("constructed filter ({verb}): {} (from \"{p}\")", sotto::query::construct::describe(f));
        }
        for n in &c.notes {
            eprintln!("  construct: {n}");
        }
    }
}

/// What `sotto index` adds beyond the engine configuration.
struct IndexExtras {
    /// Metadata for every document (`--meta`).
    meta: Vec<(String, String)>,
    /// Collection descriptions (`--describe`).
    describe: Vec<(String, String)>,
    /// A document's collection is its id's first directory (`--collection-by-dir`).
    collection_by_dir: bool,
    /// Build the summary tree too (`--raptor`).
    raptor: bool,
    /// How its summaries are written (`--abstractive`).
    summaries: SummaryOptions,
    /// The generator of abstractive summaries.
    generator: Option<Box<dyn sotto::generate::Generator>>,
    /// Write a sharded index here too (`--shards`).
    shards: Option<PathBuf>,
    /// With it, a packed file (`--pack`).
    pack: bool,
    /// Only this partition's share (`--partition i/N`, the map step).
    partition: Option<Partition>,
}

fn index(
    inputs: Vec<PathBuf>,
    output: Option<&Path>,
    embedder: Box<dyn Embedder>,
    config: EngineConfig,
    extras: IndexExtras,
) -> Result<()> {
    let IndexExtras { meta: extra, describe, collection_by_dir, raptor, summaries, generator, shards, pack, partition } =
        extras;
    let started = Instant::now();
    let files = collect_files(&inputs)?;
    if files.is_empty() {
        bail!("no .html, .md or .txt files found in {inputs:?}");
    }
    let mut docs = Vec::new();
    let mut skipped = 0;
    for (id, path) in files {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let doc = Document::from_bytes(id.clone(), &bytes).and_then(|mut d| {
            d.metadata.insert("source".into(), path.display().to_string());
            if let Some((dir, _)) = id.split_once('/').filter(|_| collection_by_dir) {
                d.metadata.insert("collection".into(), dir.to_owned());
            }
            for (k, v) in &extra {
                d.metadata.insert(k.clone(), v.clone());
            }
            d.validate(&config.limits)?;
            Ok(d)
        });
        match doc {
            Ok(d) => docs.push(d),
            Err(e) => {
                skipped += 1;
                eprintln!("skipping {}: {e}", path.display());
            }
        }
    }
    let mut engine = Engine::with_config(config, embedder)?;
    for (name, text) in &describe {
        engine.set_collection_description(name, text)?;
    }
    if let Some(g) = generator {
        engine.set_generator(g);
    }
    let bar = ProgressBar::new(docs.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {elapsed_precise} eta {eta}")?
            .progress_chars("=> "),
    );
    let mut on_progress = |p: Progress| show_progress(&bar, p);
    let report = match partition {
        Some(p) => engine.add_documents_partition(docs, p, &mut on_progress, &|| false)?,
        None => engine.add_documents_with(docs, &mut on_progress, &|| false)?,
    };
    let tree_s = if raptor {
        let t = Instant::now();
        let r = engine.build_tree_with(&TreeParams::default(), &summaries, &mut on_progress, &|| false)?;
        eprintln!("summary tree: {} nodes {:?} per level", r.nodes, r.nodes_per_level);
        if summaries.abstractive {
            eprintln!(
                "abstractive summaries: {} written, {} kept extractive; {} tokens generated",
                r.abstractive, r.abstractive_fallbacks, r.generated_tokens
            );
        }
        Some(t.elapsed().as_secs_f64())
    } else {
        None
    };
    bar.finish_and_clear();
    let t_hnsw = Instant::now();
    // A partition's vectors are regrouped by the merge, which builds the HNSW segments.
    if partition.is_none() {
        engine.build_hnsw();
    }
    let hnsw_s = t_hnsw.elapsed().as_secs_f64();
    let bytes = engine.to_bytes()?;
    if let Some(output) = output {
        // `-o OUT/site.sotto --shards OUT/`: the shards' directory may not exist yet.
        if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(output, &bytes).with_context(|| format!("writing {}", output.display()))?;
    }
    if let Some(t) = tree_s {
        eprintln!("summary tree built in {t:.1} s");
    }
    if let Some(p) = engine.partition() {
        println!("partition {}/{} of a corpus of {} documents and {} chunks:", p.index, p.count, p.documents, p.chunks);
    }
    println!(
        "indexed {} documents ({} skipped) → {} chunks; dropped {} exact and {} near duplicates; {:.1} s (HNSW {:.1} s); {} → {:.1} MB",
        report.documents,
        skipped,
        report.chunks,
        report.exact_duplicates,
        report.near_duplicates,
        started.elapsed().as_secs_f64(),
        hnsw_s,
        output.map_or_else(|| "(no index file written)".to_owned(), |o| o.display().to_string()),
        bytes.len() as f64 / 1e6
    );
    if let Some(dir) = shards.as_deref() {
        let t = Instant::now();
        let set = engine.to_shards(&ShardParams::default())?;
        let set = if pack { set.with_pack()? } else { set };
        let written = write_shards(dir, &set).with_context(|| format!("writing {}", dir.display()))?;
        print_shard_set(&set, written, dir, t.elapsed().as_secs_f64());
    }
    Ok(())
}

fn print_eval(reports: &[EvalReport]) {
    println!(
        "{:<34} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} | {:>6} {:>6} {:>6} {:>6} | {:>7} {:>7} {:>7}",
        "config",
        "R@1",
        "R@5",
        "R@10",
        "P@5",
        "MRR",
        "nDCG",
        "fR@5",
        "cH@5",
        "cP@5",
        "cMRR",
        "cnDCG",
        "p50 ms",
        "p95 ms",
        "max ms"
    );
    for r in reports {
        let g = |m: &std::collections::BTreeMap<usize, f64>, k| m.get(&k).copied().unwrap_or(f64::NAN);
        println!(
            "{:<34} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} | {:>6.3} {:>6.3} {:>6.3} {:>6.3} | {:>7.1} {:>7.1} {:>7.1}",
            r.config,
            g(&r.doc.recall, 1),
            g(&r.doc.recall, 5),
            g(&r.doc.recall, 10),
            g(&r.doc.precision, 5),
            r.doc.mrr,
            r.doc.ndcg_at_10,
            g(&r.doc.full_recall, 5),
            g(&r.chunk.hit, 5),
            g(&r.chunk.precision, 5),
            r.chunk.mrr,
            r.chunk.ndcg_at_10,
            r.latency_ms.p50,
            r.latency_ms.p95,
            r.latency_ms.max
        );
    }
    println!("(document level: R = recall@k where any relevant document counts, fR = share of relevant documents found; c = chunk level)");
}

/// What `sotto info` says of an index's grader calibration.
fn grader_info(calibration: Option<&sotto::rag::grade::Calibration>, embedder: &EmbedderInfo) -> serde_json::Value {
    use sotto::rag::grade::CalibrationSource;
    match sotto::rag::grade::calibration_for(calibration, embedder) {
        (CalibrationSource::Index, c) => {
            serde_json::json!({ "calibration": "index", "fitted_on": c.map(|c| c.fitted_on) })
        }
        (CalibrationSource::ShippedDefault, _) => serde_json::json!({
            "calibration": "shipped_default",
            "note": "no calibration in this index: the defaults shipped for all-MiniLM-L6-v2 are used"
        }),
        (CalibrationSource::Uncalibrated, _) => serde_json::json!({
            "calibration": "uncalibrated",
            "note": "no calibration for this embedder: ask abstains on a fixed cosine floor; run `sotto calibrate`"
        }),
    }
}

/// Whether `path` names a sharded index: a directory, a `.json` manifest, or an
/// `http://` URL of one.
pub(crate) fn is_sharded(path: &Path) -> bool {
    path.to_str().is_some_and(http::is_url) || path.is_dir() || path.extension().is_some_and(|e| e == "json")
}

/// The bytes of a sharded index's manifest (a directory, a file or an `http://` URL).
fn sharded_manifest_bytes(path: &Path, limits: &ShardLimits) -> Result<(String, Vec<u8>)> {
    if let Some(url) = path.to_str().filter(|s| http::is_url(s)) {
        return Ok((url.to_owned(), http::fetch_manifest(url, limits.max_manifest_bytes)?));
    }
    let file = if path.is_dir() { path.join(sotto::rag::shards::MANIFEST_NAME) } else { path.to_path_buf() };
    let bytes = read_manifest_file(&file, limits.max_manifest_bytes)?;
    Ok((file.display().to_string(), bytes))
}

/// Open a sharded index with the embedder its manifest names: shards from the manifest's
/// directory, or over HTTP next to its URL.
pub(crate) fn open_sharded_index(models: &Path, path: &Path) -> Result<ShardedIndex> {
    let limits = ShardLimits::default();
    let (name, bytes) = sharded_manifest_bytes(path, &limits)?;
    let manifest = ShardManifest::parse(&bytes, &limits).with_context(|| format!("reading {name}"))?;
    let embedder = load_embedder(models, &manifest.embedder.name)?;
    if http::is_url(&name) {
        let source = http::HttpSource::new(&name, &manifest, limits.max_shard_bytes);
        return ShardedIndex::open(&bytes, embedder, Box::new(source), limits)
            .with_context(|| format!("opening {name}"));
    }
    open_sharded(Path::new(&name), embedder, limits).with_context(|| format!("opening {name}"))
}

fn print_shard_set(set: &ShardSet, written: usize, dir: &Path, secs: f64) {
    let m = &set.manifest;
    let mut by_kind: std::collections::BTreeMap<String, (usize, usize)> = std::collections::BTreeMap::new();
    for (e, (_, b)) in m.shards.iter().zip(&set.shards) {
        let s = by_kind.entry(format!("{:?}", e.kind).to_lowercase()).or_default();
        s.0 += 1;
        s.1 += b.len();
    }
    let kinds: Vec<String> = by_kind.iter().map(|(k, (n, b))| format!("{k} {n} ({:.1} kB)", *b as f64 / 1e3)).collect();
    println!(
        "{} chunks → {} shards ({written} new) + manifest {:.1} kB = {:.2} MB in {}; {} clusters, default nprobe {} \
         (calibrated recall@{} {:.3}); {:.1} s",
        m.chunks,
        m.shards.len(),
        set.manifest_bytes.len() as f64 / 1e3,
        set.total_bytes() as f64 / 1e6,
        dir.display(),
        m.ivf.clusters.len(),
        m.ivf.default_nprobe,
        m.ivf.calibration_depth,
        m.ivf.calibrated_recall,
        secs
    );
    println!("  {}", kinds.join(", "));
    if let Some(p) = &m.pack {
        println!(
            "  pack {} ({:.2} MB): the same shards in one file, for HTTP Range reads",
            p.name,
            p.bytes as f64 / 1e6
        );
    }
}

fn search_sharded(
    models: &Path,
    path: &Path,
    query: &str,
    options: &SearchOptions,
    nprobe: Option<usize>,
    json: bool,
) -> Result<()> {
    let ix = open_sharded_index(models, path)?;
    let t0 = Instant::now();
    let (hits, trace) = ix.search(query, options, nprobe)?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    if json {
        let out = serde_json::json!({ "query": query, "took_ms": ms, "hits": hits, "shards": trace, "pack": http::pack_report() });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for h in &hits {
        println!("{:>2}. {:.4}  {}  {}", h.rank, h.score, h.doc_id, h.title.as_deref().unwrap_or(""));
        if !h.heading_path.is_empty() {
            println!("    § {}", h.heading_path.join(" › "));
        }
        println!("    [{}..{}] {}", h.start, h.end, snippet(&h.text, 240));
    }
    if hits.is_empty() {
        println!("no results");
    }
    if !trace.unmatched_terms.is_empty() {
        eprintln!("terms found nowhere (no typo tolerance on a sharded index): {}", trace.unmatched_terms.join(", "));
    }
    eprintln!(
        "{} results in {ms:.1} ms; {} requests, {:.1} kB in {} rounds, {} cached; nprobe {}/{}",
        hits.len(),
        trace.requests,
        trace.bytes as f64 / 1e3,
        trace.rounds,
        trace.cache_hits,
        trace.nprobe,
        trace.clusters
    );
    Ok(())
}
