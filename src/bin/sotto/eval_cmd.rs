//! `sotto eval`: evaluate retrieval (and optionally answers) against ground truth over
//! a configuration grid, and write the HTML / JSON report.
//!
//! Sources of questions: a JSONL file (positional), or a BEIR directory (`--beir`).
//! Sources of indexes: a prebuilt index file (positional), reused for the grid entry
//! that matches its embedder and chunking; every other entry is built in memory from
//! `--docs` files or the BEIR corpus, once per (embedder, chunking).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use sotto::eval::beir::{assemble, read_qrels, read_queries, CorpusReader};
use sotto::eval::grid::{run_grid, ChunkSpec, GridConfig, GridProgress, IndexKey, ModeSpec};
use sotto::eval::report::{DatasetSummary, Report};
use sotto::eval::{read_jsonl, Dataset, EvalOptions, EvalReport};
use sotto::generate::{load_gguf, LoadOptions};
use sotto::ingest::chunk::ChunkConfig;
use sotto::native::{embedder_dir, load_bert_dir, DEFAULT_EMBEDDER};
use sotto::rag::answer::AnswerMode;
use sotto::rag::ask::AskOptions;
use sotto::rag::persist::read_manifest;
use sotto::rag::Progress;
use sotto::{Document, Engine, EngineConfig};

/// Arguments of `sotto eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// Index file (or a sharded index's manifest.json, its directory or its http:// URL). With --docs alone, a single positional is the question file.
    index: Option<PathBuf>,
    /// Questions (JSONL: id, question, relevant_docs, optional answers). Not with --beir.
    questions: Option<PathBuf>,
    /// Modes evaluated when no --config is given (comma-separated): dense, sparse,
    /// hybrid (RRF), weighted (alpha 0.5), hybrid-weighted:0.3 …
    #[arg(long, default_value = "dense,sparse,hybrid,weighted")]
    modes: String,
    /// Query translations crossed with the modes (comma-separated): none, multi-query[:n],
    /// fusion, decompose, step-back, hyde, auto. Overrides the grid's `translate`.
    #[arg(long)]
    translate: Option<String>,
    /// Summary tree retrievals crossed with the modes (comma-separated): none, collapsed
    /// (the RAPTOR collapsed tree; needs an index with a tree, skipped for sparse).
    /// Overrides the grid's `tree`.
    #[arg(long)]
    tree: Option<String>,
    /// Rerankings crossed with the modes (comma-separated): none, maxsim (sentence-level
    /// MaxSim over the fused candidates). Overrides the grid's `rerank`.
    #[arg(long)]
    rerank: Option<String>,
    /// Routings crossed with the modes (comma-separated): none, auto (to the collections the
    /// question matches). Overrides the grid's `route`.
    #[arg(long)]
    route: Option<String>,
    /// Query constructions crossed with the modes (comma-separated): off, suggest, apply (a
    /// constraint the question names becomes a filter). Overrides the grid's `construct`.
    #[arg(long)]
    construct: Option<String>,
    /// Configuration grid (JSON: modes, alphas, rrf_k, k, chunking, embedders, chunk_depth,
    /// answers, translate, tree, rerank, route, construct, adaptive).
    #[arg(long)]
    config: Option<PathBuf>,
    /// BEIR dataset directory (corpus.jsonl, queries.jsonl, qrels/<split>.tsv); its corpus is indexed in memory.
    #[arg(long)]
    beir: Option<PathBuf>,
    /// qrels split of --beir.
    #[arg(long, default_value = "test")]
    split: String,
    /// Files or directories to index in memory (as `sotto index`), for grid entries the index file does not match.
    #[arg(long = "docs")]
    docs: Vec<PathBuf>,
    /// Embedder of in-memory indexes when neither the index file nor the grid names one.
    #[arg(long, default_value = DEFAULT_EMBEDDER)]
    embedder: String,
    /// Also answer every question and score the answers: EM, F1, gold answer in the answer
    /// text, citation precision, abstention precision/recall on questions with
    /// `relevant_docs: []`, per-stage latency. `--answers` alone means extractive.
    #[arg(long, value_enum, default_value_t = AnswersArg::None, num_args = 0..=1, default_missing_value = "extractive")]
    answers: AnswersArg,
    /// Answer without the retrieval grader (abstain on the fixed cosine floor, as before it existed).
    #[arg(long)]
    no_grade: bool,
    /// Adaptive RAG for the answers, crossed with the modes (comma-separated): off, on, or
    /// off,on to compare in one run. Overrides the grid's `adaptive`.
    #[arg(long)]
    adaptive: Option<String>,
    /// Generative answers without the self-check (no second retrieval for unsupported claims).
    #[arg(long)]
    no_self_check: bool,
    /// Decoding constraint of generative answers: none, copy or bigram.
    #[arg(long, default_value = "none")]
    constrain: String,
    /// GGUF generator file for `--answers generative|compose` (default: SmolLM2-135M-Instruct under the models directory).
    #[arg(long)]
    generator: Option<PathBuf>,
    /// Write a self-contained HTML report here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Skip malformed lines instead of failing.
    #[arg(long)]
    skip_bad: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// IVF clusters probed on a sharded index (default: the manifest's calibrated nprobe).
    #[arg(long)]
    nprobe: Option<usize>,
}

/// How `sotto eval` answers questions.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AnswersArg {
    /// Retrieval only.
    None,
    /// Extractive answers with citations.
    Extractive,
    /// Generated answers (needs a generator), attributed, extractive fallback.
    Generative,
    /// The extractive sentences fused by the generator (copy-constrained), attributed,
    /// extractive fallback.
    Compose,
}

/// Where in-memory indexes get their documents.
enum Corpus {
    None,
    Beir(PathBuf),
    Files(Vec<PathBuf>),
}

fn open_reader(path: &Path) -> Result<BufReader<File>> {
    Ok(BufReader::with_capacity(1 << 20, File::open(path).with_context(|| format!("opening {}", path.display()))?))
}

fn beir_dataset(dir: &Path, split: &str, skip_bad: bool) -> Result<Dataset> {
    let queries = read_queries(open_reader(&dir.join("queries.jsonl"))?, skip_bad).context("reading queries.jsonl")?;
    let mut qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
    if !qrels_path.is_file() {
        // Some datasets ship one split only.
        let tsvs: Vec<PathBuf> = std::fs::read_dir(dir.join("qrels"))
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "tsv"))
                    .collect()
            })
            .unwrap_or_default();
        match tsvs.as_slice() {
            [only] => qrels_path = only.clone(),
            _ => bail!("{} not found (qrels splits: {tsvs:?})", qrels_path.display()),
        }
    }
    let qrels =
        read_qrels(open_reader(&qrels_path)?, skip_bad).with_context(|| format!("reading {}", qrels_path.display()))?;
    Ok(assemble(&queries, &qrels)?)
}

/// Read `--docs` inputs into documents (invalid files are skipped with a warning, as `sotto index` does).
fn file_documents(inputs: &[PathBuf], config: &EngineConfig) -> sotto::Result<Vec<Document>> {
    let files =
        super::collect_files(inputs).map_err(|e| sotto::Error::Dataset { line: 0, detail: format!("{e:#}") })?;
    let mut docs = Vec::new();
    for (id, path) in files {
        let bytes = std::fs::read(&path)
            .map_err(|e| sotto::Error::Dataset { line: 0, detail: format!("reading {}: {e}", path.display()) })?;
        match Document::from_bytes(id, &bytes).and_then(|d| d.validate(&config.limits).map(|_| d)) {
            Ok(d) => docs.push(d.with_meta("source", path.display().to_string())),
            Err(e) => eprintln!("skipping {}: {e}", path.display()),
        }
    }
    Ok(docs)
}

/// Build an in-memory index for `key` from `corpus`, streaming BEIR corpora in batches.
fn build_index(
    models: &Path,
    key: &IndexKey,
    corpus: &Corpus,
    skip_bad: bool,
    bar: &ProgressBar,
) -> sotto::Result<Engine> {
    let embedder = load_bert_dir(&embedder_dir(models, &key.embedder))?;
    let config = EngineConfig { chunk: key.chunk.chunk_config(), ..EngineConfig::default() };
    let limits = config.limits.clone();
    let mut engine = Engine::new(config, Box::new(embedder));
    let mut on_progress = |p: Progress| {
        if let Progress::Embedding { done, total } = p {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    };
    match corpus {
        Corpus::None => {
            return Err(sotto::Error::InvalidOption {
                name: "docs",
                detail: format!("index {} needs documents: pass --docs or --beir", key.name()),
            })
        }
        Corpus::Files(inputs) => {
            let docs = file_documents(inputs, engine.config())?;
            engine.add_documents_with(docs, &mut on_progress, &|| false)?;
        }
        Corpus::Beir(dir) => {
            let path = dir.join("corpus.jsonl");
            let file = File::open(&path)
                .map_err(|e| sotto::Error::Dataset { line: 0, detail: format!("opening {}: {e}", path.display()) })?;
            let mut reader = CorpusReader::new(BufReader::with_capacity(1 << 20, file));
            let mut batch = Vec::new();
            let mut added = 0usize;
            loop {
                let next = reader.next();
                let done = next.is_none();
                match next {
                    Some(Ok(d)) => match d.validate(&limits) {
                        Ok(()) => batch.push(d),
                        Err(e) => eprintln!("skipping corpus document: {e}"),
                    },
                    Some(Err(sotto::Error::Dataset { line, detail })) if skip_bad && !reader.failed() => {
                        eprintln!("corpus.jsonl: skipped line {line}: {detail}");
                    }
                    Some(Err(sotto::Error::Dataset { line, detail })) => {
                        return Err(sotto::Error::Dataset { line, detail: format!("corpus.jsonl: {detail}") })
                    }
                    Some(Err(e)) => return Err(e),
                    None => {}
                }
                if batch.len() >= 512 || (done && !batch.is_empty()) {
                    added += batch.len();
                    bar.set_message(format!("indexing {} ({added} docs)", key.name()));
                    engine.add_documents_with(std::mem::take(&mut batch), &mut on_progress, &|| false)?;
                }
                if done {
                    break;
                }
            }
        }
    }
    Ok(engine)
}

/// A UTC timestamp (`YYYY-MM-DD HH:MM UTC`) without a date library.
fn utc_now() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

/// Run `sotto eval`.
pub fn run(models: &Path, a: EvalArgs) -> Result<()> {
    // Questions, and where documents come from.
    let (index_path, questions_path) = match (&a.beir, a.docs.is_empty(), a.index.clone(), a.questions.clone()) {
        (Some(_), _, index, None) => (index, None),
        (Some(_), _, _, Some(_)) => bail!("--beir reads its own queries: give at most an index file"),
        (None, false, Some(q), None) => (None, Some(q)),
        (None, _, index, Some(q)) => (index, Some(q)),
        (None, _, _, None) => {
            bail!("give an index file and a question file, or --docs <dir> with a question file, or --beir <dir>")
        }
    };
    let corpus = match (&a.beir, a.docs.is_empty()) {
        (Some(dir), _) => Corpus::Beir(dir.clone()),
        (None, false) => Corpus::Files(a.docs.clone()),
        (None, true) => Corpus::None,
    };
    let (dataset, dataset_name) = match (&a.beir, &questions_path) {
        (Some(dir), _) => (beir_dataset(dir, &a.split, a.skip_bad)?, format!("{} ({})", dir.display(), a.split)),
        (None, Some(q)) => (
            read_jsonl(open_reader(q)?, a.skip_bad).with_context(|| format!("reading {}", q.display()))?,
            q.display().to_string(),
        ),
        (None, None) => bail!("no questions"),
    };
    for bad in &dataset.skipped {
        eprintln!("skipped line {}: {}", bad.line, bad.detail);
    }
    if let Some(p) = index_path.as_deref().filter(|p| super::is_sharded(p)) {
        return run_sharded(models, p, &dataset, &a);
    }

    // The prebuilt index, if any, defines the default grid entry.
    let prebuilt: Option<(IndexKey, Vec<u8>)> = match &index_path {
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            let manifest = read_manifest(&bytes).with_context(|| format!("reading {}", p.display()))?;
            let key = IndexKey {
                embedder: manifest.embedder.name.trim_end_matches(" (cls)").to_owned(),
                chunk: ChunkSpec::from(&manifest.config.chunk),
            };
            Some((key, bytes))
        }
        None => None,
    };
    let default_key = prebuilt
        .as_ref()
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| IndexKey { embedder: a.embedder.clone(), chunk: ChunkSpec::from(&ChunkConfig::default()) });
    let mut grid = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            GridConfig::from_json(&text, &default_key).with_context(|| format!("in {}", p.display()))?
        }
        None => {
            let mut g = GridConfig::single(&default_key);
            g.modes = a
                .modes
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(|m| ModeSpec::parse(m, 60.0, 0.5))
                .collect::<sotto::Result<_>>()?;
            g
        }
    };
    let mut base = EvalOptions::default();
    if let Some(t) = &a.translate {
        grid.translate = comma_list(t, "--translate lists no technique")?;
    }
    if let Some(t) = &a.tree {
        grid.tree = comma_list(t, "--tree lists no tree retrieval")?;
    }
    if let Some(r) = &a.rerank {
        grid.rerank = comma_list(r, "--rerank lists no reranking")?;
    }
    if let Some(r) = &a.route {
        grid.route = comma_list(r, "--route lists no routing")?;
    }
    if let Some(c) = &a.construct {
        grid.construct = comma_list(c, "--construct lists no construction setting")?;
    }
    if let Some(list) = &a.adaptive {
        grid.adaptive = list
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| match t.to_ascii_lowercase().as_str() {
                "on" | "true" | "yes" => Ok(true),
                "off" | "false" | "no" => Ok(false),
                other => {
                    Err(sotto::Error::InvalidOption { name: "adaptive", detail: format!("{other:?} is not on or off") })
                }
            })
            .collect::<sotto::Result<Vec<bool>>>()?;
        grid.adaptive.dedup();
        if grid.adaptive.is_empty() {
            bail!("--adaptive lists neither on nor off");
        }
    }
    grid.validate_adaptive()?;
    let answer_mode = match a.answers {
        AnswersArg::None => None,
        AnswersArg::Extractive => Some(AnswerMode::Extractive),
        AnswersArg::Generative => Some(AnswerMode::Generative),
        AnswersArg::Compose => Some(AnswerMode::Compose),
    };
    let constrain: sotto::rag::answer::Constrain = a.constrain.parse()?;
    if grid.answers && answer_mode.is_none() {
        base.answers =
            Some(AskOptions { grade: !a.no_grade, constrain, self_check: !a.no_self_check, ..AskOptions::default() });
    }
    if let Some(mode) = answer_mode {
        base.answers = Some(AskOptions {
            mode,
            grade: !a.no_grade,
            constrain,
            self_check: !a.no_self_check,
            ..AskOptions::default()
        });
        grid.answers = true;
    }
    // The generator is read once, before any work, and loaded into every engine evaluated.
    let generator_bytes = match a.answers {
        AnswersArg::Generative | AnswersArg::Compose => {
            let path = a.generator.clone().unwrap_or_else(|| models.join(sotto::native::DEFAULT_GENERATOR));
            Some(std::fs::read(&path).with_context(|| format!("reading generator {}", path.display()))?)
        }
        _ => {
            if a.generator.is_some() {
                bail!("--generator is only used with --answers generative or compose");
            }
            None
        }
    };

    // Fail before any work when an index cannot be built: no documents or a missing model file.
    for key in grid.index_keys() {
        if prebuilt.as_ref().is_some_and(|(k, _)| *k == key) {
            continue;
        }
        if matches!(corpus, Corpus::None) {
            bail!(
                "the grid needs index {} but the index file is {}: pass --docs <dir> or --beir <dir> to re-index",
                key.name(),
                default_key.name()
            );
        }
        let dir = embedder_dir(models, &key.embedder);
        for f in ["model.safetensors", "tokenizer.json", "config.json"] {
            let p = dir.join(f);
            if !p.is_file() {
                bail!(
                    "embedder {:?}: missing model file {} (run scripts/fetch-models.sh or pass --models)",
                    key.embedder,
                    p.display()
                );
            }
        }
    }

    let configs = grid.expand().len();
    let total = (configs * dataset.questions.len()) as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:<48} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}")?
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let clock = move || started.elapsed().as_secs_f64() * 1e3;
    let mut prebuilt_slot = prebuilt;
    let mut build = |key: &IndexKey| -> sotto::Result<Engine> {
        let mut engine = if let Some((k, bytes)) = prebuilt_slot.take_if(|(k, _)| k == key) {
            let embedder = load_bert_dir(&embedder_dir(models, &k.embedder))?;
            Engine::from_bytes(&bytes, Box::new(embedder))?
        } else {
            build_index(models, key, &corpus, a.skip_bad, &bar)?
        };
        if let Some(bytes) = &generator_bytes {
            engine.set_generator(load_gguf(bytes, &LoadOptions::default())?);
        }
        Ok(engine)
    };
    let eval_bar = bar.clone();
    let mut progress = |p: GridProgress<'_>| match p {
        GridProgress::Indexing { key, index, indexes } => {
            eval_bar.set_message(format!("index {index}/{indexes}: {}", key.name()));
            eval_bar.set_length(0);
            eval_bar.set_position(0);
            true
        }
        GridProgress::Evaluating { config, run, runs, done, total } => {
            eval_bar.set_message(format!("config {run}/{runs}: {config}"));
            eval_bar.set_length((runs * total) as u64);
            eval_bar.set_position(((run - 1) * total + done) as u64);
            true
        }
    };
    let grid_run = run_grid(&grid, &dataset.questions, &base, &mut build, &clock, &mut progress)?;
    bar.finish_and_clear();

    let mut report = Report::new(
        format!("Sotto evaluation — {dataset_name}"),
        DatasetSummary::new(dataset_name.clone(), &dataset),
        grid_run,
    );
    report.details.push(("generated".into(), utc_now()));
    report.details.push(("command".into(), std::env::args().collect::<Vec<_>>().join(" ")));
    if let Some(p) = &index_path {
        report.details.push(("index file".into(), p.display().to_string()));
    }
    report.details.push(("wall time".into(), format!("{:.1} s", started.elapsed().as_secs_f64())));
    if let Some(path) = &a.report {
        let html = report.to_html();
        std::fs::write(path, &html).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report: {} ({:.0} KB)", path.display(), html.len() as f64 / 1024.0);
    }
    if !report.missing_relevant.is_empty() {
        eprintln!("relevant documents not in the index: {:?}", report.missing_relevant);
    }
    if a.json {
        println!("{}", report.to_json());
        return Ok(());
    }
    let reports: Vec<EvalReport> = report.grid.runs.iter().map(|r| r.report.clone()).collect();
    super::print_eval(&reports);
    let f = |x: Option<f64>| x.map_or("–".to_owned(), |v| format!("{v:.3}"));
    for r in &reports {
        println!(
            "{:<34} questions {} (answerable {}) | all-docs@10 {}",
            r.config,
            r.questions,
            r.answerable,
            f(r.all_docs_at_10)
        );
        if let Some(m) = &r.answers {
            println!(
                "{:<34} answers: gold in top-5 chunks {} | gold in answer {} | EM {} F1 {} citation precision {} abstained {}",
                r.config,
                f(m.containment.get(&5).copied()),
                f(m.answer_containment),
                f(m.exact_match),
                f(m.f1),
                f(m.citation_precision),
                f(m.abstention_rate)
            );
            if let Some(ab) = &m.abstention {
                println!(
                    "{:<34} abstention: {}/{} out-of-scope abstained (recall {}), {}/{} false abstentions (precision {})",
                    r.config,
                    ab.correct,
                    ab.unanswerable,
                    f(ab.recall),
                    ab.false_abstentions,
                    ab.answerable,
                    f(ab.precision)
                );
            }
            if let Some(g) = &m.generated {
                println!(
                    "{:<34} generated: {}/{} answers kept (the rest fell back to extractive) | {}/{} sentences supported ({})",
                    r.config,
                    g.kept,
                    g.answers,
                    g.supported,
                    g.sentences,
                    f(g.support_rate)
                );
            }
            let stage = |s: &str| r.stages.get(s).map_or("–".to_owned(), |l| format!("{:.1}/{:.1}", l.p50, l.p95));
            println!(
                "{:<34} latency p50/p95 ms: retrieve {} select {} generate {} total {}",
                r.config,
                stage("answer.retrieve"),
                stage("answer.select"),
                stage("answer.generate"),
                stage("answer.total")
            );
        }
        for (kind, k) in &r.kinds {
            println!(
                "{:<34}   kind {:<14} n {:>3} (answerable {:>3}) hit@5 {} MRR {} all-docs@10 {} abstained {} gold in answer {}",
                r.config,
                kind,
                k.questions,
                k.answerable,
                f(k.hit_at_5),
                f(k.mrr),
                f(k.all_docs_at_10),
                f(k.abstention_rate),
                f(k.answer_containment)
            );
        }
    }
    for ix in &report.grid.indexes {
        eprintln!(
            "index {}: {} documents, {} chunks, {} exact + {} near duplicates dropped, {:.1} MB text, built in {:.1} s",
            ix.key.name(),
            ix.stats.documents,
            ix.stats.chunks,
            ix.stats.exact_duplicates,
            ix.stats.near_duplicates,
            ix.stats.text_bytes as f64 / 1e6,
            ix.build_ms / 1e3
        );
    }
    Ok(())
}

/// `sotto eval MANIFEST.json QUESTIONS`: retrieval only, document level, with the same
/// definitions as the single-file evaluation (`k` = 30 chunks, documents in first-hit
/// order, R@k = a relevant document in the first k, MRR over answerable questions), plus
/// what each query fetched.
fn run_sharded(models: &Path, path: &Path, dataset: &Dataset, a: &EvalArgs) -> Result<()> {
    use sotto::eval::metrics::{hit_at_k, percentile, reciprocal_rank};
    if a.config.is_some() || a.beir.is_some() || !a.docs.is_empty() {
        bail!("a sharded index is evaluated from its own shards: no --config, --beir or --docs");
    }
    if matches!(a.answers, AnswersArg::Generative | AnswersArg::Compose) {
        bail!("a sharded index answers extractively only: use --answers (extractive)");
    }
    let ix = super::open_sharded_index(models, path)?;
    let defaults = EvalOptions::default();
    println!(
        "{:<28} {:>6} {:>6} {:>6} {:>6} | {:>9} {:>9} {:>8} {:>8} {:>8}",
        "config (sharded)", "R@1", "R@5", "R@10", "MRR", "kB p50", "kB p95", "req p50", "req p95", "ms p50"
    );
    for mode in a.modes.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let (m, fusion) = sotto::Retrieval::parse(mode, 60.0, 0.5)?.mode_and_fusion();
        let options = sotto::SearchOptions {
            k: defaults.chunk_depth.max(10),
            mode: m,
            fusion,
            ..sotto::SearchOptions::default()
        };
        ix.clear_cache();
        let (mut rows, mut kb, mut req, mut ms) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for q in dataset.questions.iter().filter(|q| q.answerable()) {
            let t = Instant::now();
            let (hits, trace) = ix.search(&q.question, &options, a.nprobe)?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            kb.push(trace.bytes as f64 / 1e3);
            req.push(trace.requests as f64);
            let mut seen = std::collections::HashSet::new();
            let rels: Vec<bool> = hits
                .iter()
                .filter(|h| seen.insert(h.doc_id.clone()))
                .map(|h| q.relevant_docs.contains(&h.doc_id))
                .collect();
            rows.push(rels);
        }
        let n = rows.len().max(1) as f64;
        let r = |k| rows.iter().map(|x| hit_at_k(x, k)).sum::<f64>() / n;
        let mrr = rows.iter().map(|x| reciprocal_rank(x, x.len())).sum::<f64>() / n;
        let p = |v: &[f64], q| percentile(v, q).unwrap_or(f64::NAN);
        println!(
            "{:<28} {:>6.3} {:>6.3} {:>6.3} {:>6.3} | {:>9.1} {:>9.1} {:>8.0} {:>8.0} {:>8.1}",
            mode,
            r(1),
            r(5),
            r(10),
            mrr,
            p(&kb, 50.0),
            p(&kb, 95.0),
            p(&req, 50.0),
            p(&req, 95.0),
            p(&ms, 50.0)
        );
    }
    println!(
        "(document level, as `sotto eval` on an index file; bytes and requests per query with the cache cleared \
         before each mode, so later queries reuse shards of earlier ones)"
    );
    if a.answers == AnswersArg::Extractive {
        sharded_answers(&ix, dataset, a)?;
    }
    Ok(())
}

/// Extractive answers on a sharded index, with the default answer options (hybrid), every
/// question asked: abstention against the out-of-scope questions, the gold answer in the
/// answer text, the grade of each answer, and what each answer fetched.
fn sharded_answers(ix: &sotto::rag::shards::ShardedIndex, dataset: &Dataset, a: &EvalArgs) -> Result<()> {
    use sotto::eval::metrics::{contains_answer, percentile};
    use sotto::eval::run::Abstention;
    let options = AskOptions { grade: !a.no_grade, ..AskOptions::default() };
    let clock = || 0.0;
    ix.clear_cache();
    let (mut pairs, mut gold, mut with_gold, mut kb, mut req, mut ms) =
        (Vec::new(), 0, 0, Vec::new(), Vec::new(), Vec::new());
    let mut grades: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for q in &dataset.questions {
        let t = Instant::now();
        let (answer, trace) = ix.ask(&q.question, &options, a.nprobe, &clock)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        kb.push(trace.bytes as f64 / 1e3);
        req.push(trace.requests as f64);
        pairs.push((q.answerable(), answer.abstained));
        let grade = answer.grade.as_ref().map_or("ungraded".to_owned(), |g| format!("{:?}", g.grade).to_lowercase());
        *grades.entry(grade).or_default() += 1;
        if q.answerable() && !q.answers.is_empty() {
            with_gold += 1;
            if !answer.abstained && contains_answer(&answer.answer, &q.answers) {
                gold += 1;
            }
        }
    }
    let ab = Abstention::from_pairs(pairs);
    let p = |v: &[f64], q| percentile(v, q).unwrap_or(f64::NAN);
    println!(
        "answers (sharded, extractive{}): abstention: {}/{} out-of-scope abstained, {}/{} false abstentions | gold in answer {}/{} | grades {:?}",
        if a.no_grade { ", no grader" } else { "" },
        ab.correct,
        ab.unanswerable,
        ab.false_abstentions,
        ab.answerable,
        gold,
        with_gold,
        grades
    );
    println!(
        "answers (sharded): kB p50 {:.1} p95 {:.1} | requests p50 {:.0} p95 {:.0} | ms p50 {:.1} (cache cleared once before the answers)",
        p(&kb, 50.0),
        p(&kb, 95.0),
        p(&req, 50.0),
        p(&req, 95.0),
        p(&ms, 50.0)
    );
    Ok(())
}

/// A comma-separated list of option values, each parsed by the options model; `empty`
/// is the error when it names none.
fn comma_list<T: std::str::FromStr<Err = sotto::Error>>(list: &str, empty: &str) -> Result<Vec<T>> {
    let out =
        list.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::parse).collect::<sotto::Result<Vec<T>>>()?;
    if out.is_empty() {
        bail!("{empty}");
    }
    Ok(out)
}
