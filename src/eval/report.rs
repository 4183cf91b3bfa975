//! The evaluation report: one self-contained HTML file, and the same data as JSON.
//!
//! Decisions:
//! - **Offline and self-contained.** Chart.js (MIT, vendored by
//!   `scripts/vendor-chartjs.sh` into `assets/chart.umd.min.js`, licence header kept)
//!   is inlined with `include_str!`, styles and scripts are inline, and a
//!   Content-Security-Policy (`default-src 'none'`) forbids the page any request, so the
//!   file works from a mail attachment or an air-gapped machine.
//! - **Tables are rendered here, charts in the page.** Summary tables and case studies
//!   are plain HTML (readable without JavaScript, testable without a browser); a small
//!   inline script makes tables sortable and draws the charts from a JSON block.
//! - **Documents are untrusted.** Every string that comes from a document, a question or
//!   a configuration is HTML-escaped; the chart data sits in a
//!   `<script type="application/json">` block with `<`, `>`, `&` and the JavaScript
//!   line separators escaped, so no text can close the element or run.
//! - **Failures are classified** per question ([`Failure`]) so the worst cases come with
//!   a reason: not in the index, not retrieved, ranked low, abstained, not grounded.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::dataset::{BadLine, Dataset};
use super::grid::{ConfigRun, GridRun};
use super::run::{Failure, QuestionResult};

/// Chart.js 4 UMD build (MIT licence; see `assets/chart.js.LICENSE.md`).
const CHART_JS: &str = include_str!("../../assets/chart.umd.min.js");

/// The executable inline scripts of every report, in page order: Chart.js, then the
/// script that draws the charts from the JSON data block. Both are constants, so a page
/// that shows a report in a frame can allow exactly them by hash ([`csp_hashes`]).
fn inline_scripts() -> [String; 2] {
    [format!("\n{CHART_JS}\n"), format!("\n{PAGE_JS}")]
}

/// Content-Security-Policy hash sources of a report's inline code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CspHashes {
    /// `'sha256-…'` of each executable `<script>` element.
    pub script_src: Vec<String>,
    /// `'sha256-…'` of the `<style>` element.
    pub style_src: Vec<String>,
}

/// The hashes a host page must add to its own policy to show a report in a frame:
/// `about:srcdoc` and `blob:` documents inherit the policy of the page that made them,
/// and a page that forbids inline code (as the demo does) would otherwise block the
/// report's charts and styles. Only these exact scripts are allowed, never document
/// text (which the report never places in executable code anyway).
pub fn csp_hashes() -> CspHashes {
    let source = |text: &str| format!("'sha256-{}'", base64(&sha2::Sha256::digest(text.as_bytes())));
    CspHashes { script_src: inline_scripts().iter().map(|s| source(s)).collect(), style_src: vec![source(STYLE)] }
}

/// Standard base64 with padding (RFC 4648 §4), as CSP hash sources are written.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let n = group.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Dataset statistics shown in the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    /// Display name (e.g. the file name).
    pub name: String,
    /// Questions evaluated.
    pub questions: usize,
    /// Questions with gold answers.
    pub with_answers: usize,
    /// Mean relevant documents per question.
    pub relevant_per_question: f64,
    /// Lines skipped while reading.
    pub skipped: Vec<BadLine>,
}

impl DatasetSummary {
    /// Summarise a dataset.
    pub fn new(name: impl Into<String>, ds: &Dataset) -> DatasetSummary {
        let n = ds.questions.len();
        DatasetSummary {
            name: name.into(),
            questions: n,
            with_answers: ds.questions.iter().filter(|q| !q.answers.is_empty()).count(),
            relevant_per_question: if n == 0 {
                0.0
            } else {
                ds.questions.iter().map(|q| q.relevant_docs.len()).sum::<usize>() as f64 / n as f64
            },
            skipped: ds.skipped.clone(),
        }
    }
}

/// A complete report: what was evaluated and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Title of the page.
    pub title: String,
    /// Version of Sotto that produced it.
    pub sotto_version: String,
    /// Free-form run details shown in the header (command, date, machine …).
    pub details: Vec<(String, String)>,
    /// The dataset.
    pub dataset: DatasetSummary,
    /// Relevant documents of the dataset missing from the index (sorted, distinct).
    pub missing_relevant: Vec<String>,
    /// The grid run: indexes and configurations.
    pub grid: GridRun,
}

/// Questions shown among the best and among the worst.
const CASES: usize = 5;

impl Report {
    /// Assemble a report.
    pub fn new(title: impl Into<String>, dataset: DatasetSummary, grid: GridRun) -> Report {
        let mut missing: Vec<String> = grid
            .runs
            .iter()
            .flat_map(|r| r.report.per_question.iter())
            .flat_map(|q| q.missing_relevant.iter().cloned())
            .collect();
        missing.sort();
        missing.dedup();
        Report {
            title: title.into(),
            sotto_version: env!("CARGO_PKG_VERSION").to_owned(),
            details: Vec::new(),
            dataset,
            missing_relevant: missing,
            grid,
        }
    }

    /// Index of the configuration with the best document-level MRR (first on ties).
    pub fn best_run(&self) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, r) in self.grid.runs.iter().enumerate() {
            if best.is_none_or(|b| r.report.doc.mrr > self.grid.runs[b].report.doc.mrr) {
                best = Some(i);
            }
        }
        best
    }

    /// The machine-readable form (pretty JSON of the whole report).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string())
    }

    /// The self-contained HTML page.
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(CHART_JS.len() + 64 * 1024);
        let title = esc(&self.title);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        );
        let _ = write!(
            h,
            "<header><h1>{title}</h1><p class=\"meta\">Sotto {} · dataset <b>{}</b> · {} questions · {} configurations · {} indexes</p>",
            esc(&self.sotto_version),
            esc(&self.dataset.name),
            self.dataset.questions,
            self.grid.runs.len(),
            self.grid.indexes.len()
        );
        if !self.details.is_empty() {
            h.push_str("<dl class=\"details\">");
            for (k, v) in &self.details {
                let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
            }
            h.push_str("</dl>");
        }
        h.push_str(
            "<nav><a href=\"#summary\">Configurations</a> · <a href=\"#charts\">Charts</a> · <a href=\"#dataset\">Dataset and indexes</a> · \
             <a href=\"#stages\">Latency per stage</a> · <a href=\"#failures\">Failures</a> · <a href=\"#cases\">Case studies</a></nav></header>\n<main>\n",
        );
        self.summary_table(&mut h);
        self.kinds_table(&mut h);
        h.push_str(CHARTS_HTML);
        self.dataset_section(&mut h);
        self.stages_table(&mut h);
        self.failures_table(&mut h);
        self.cases(&mut h);
        h.push_str("</main>\n<footer>Generated by Sotto. Charts: Chart.js (MIT licence), inlined.</footer>\n");
        let _ = writeln!(
            h,
            "<script type=\"application/json\" id=\"report-data\">{}</script>",
            script_json(&self.chart_data())
        );
        for script in inline_scripts() {
            let _ = writeln!(h, "<script>{script}</script>");
        }
        h.push_str("</body>\n</html>\n");
        h
    }

    /// The data the page's charts are drawn from.
    fn chart_data(&self) -> serde_json::Value {
        let runs: Vec<serde_json::Value> = self
            .grid
            .runs
            .iter()
            .map(|r| {
                let rep = &r.report;
                let at = |m: &std::collections::BTreeMap<usize, f64>| {
                    self.grid.ks.iter().map(|k| m.get(k).copied()).collect::<Vec<_>>()
                };
                serde_json::json!({
                    "name": r.config.name,
                    "recall": at(&rep.doc.recall),
                    "chunk_hit": at(&rep.chunk.hit),
                    "latency": rep.per_question.iter().map(|q| q.latency_ms).collect::<Vec<_>>(),
                    "ranks": rep.per_question.iter().map(|q| q.first_relevant_rank).collect::<Vec<_>>(),
                })
            })
            .collect();
        let questions: Vec<serde_json::Value> = self
            .grid
            .runs
            .first()
            .map(|r| r.report.per_question.iter().map(|q| serde_json::json!({ "id": q.id, "q": q.question })).collect())
            .unwrap_or_default();
        serde_json::json!({ "ks": self.grid.ks, "runs": runs, "questions": questions })
    }

    fn summary_table(&self, h: &mut String) {
        let runs = &self.grid.runs;
        let mut cols: Vec<Column> = Vec::new();
        for &k in &self.grid.ks {
            cols.push(Column::metric(
                format!("R@{k}"),
                format!("document recall@{k}: share of questions with a relevant document in the top {k}"),
                runs,
                |r| r.report.doc.recall.get(&k).copied(),
            ));
        }
        cols.push(Column::metric("MRR", "mean reciprocal rank of the first relevant document", runs, |r| {
            Some(r.report.doc.mrr)
        }));
        cols.push(Column::metric("nDCG@10", "normalised discounted cumulative gain at 10 (documents)", runs, |r| {
            Some(r.report.doc.ndcg_at_10)
        }));
        let pk = if self.grid.ks.contains(&5) { 5 } else { self.grid.ks.first().copied().unwrap_or(5) };
        cols.push(Column::metric(format!("P@{pk}"), format!("document precision@{pk}"), runs, |r| {
            r.report.doc.precision.get(&pk).copied()
        }));
        cols.push(Column::metric(
            format!("chunk hit@{pk}"),
            format!("share of questions with a relevant chunk in the top {pk}"),
            runs,
            |r| r.report.chunk.hit.get(&pk).copied(),
        ));
        cols.push(Column::metric("chunk MRR", "mean reciprocal rank of the first relevant chunk", runs, |r| {
            Some(r.report.chunk.mrr)
        }));
        let answers = |r: &ConfigRun| r.report.answers.clone();
        if runs.iter().any(|r| r.report.answers.as_ref().is_some_and(|a| a.with_gold > 0)) {
            cols.push(Column::metric(
                format!("answer in top {pk}"),
                format!("share of questions with gold answers whose top {pk} chunks contain one"),
                runs,
                |r| answers(r).and_then(|a| a.containment.get(&pk).copied()),
            ));
        }
        if runs.iter().any(|r| r.report.answers.as_ref().is_some_and(|a| a.asked > 0)) {
            cols.push(Column::metric(
                "EM",
                "exact match of the answer with a gold answer (SQuAD normalisation)",
                runs,
                |r| answers(r).and_then(|a| a.exact_match),
            ));
            cols.push(Column::metric("F1", "token F1 of the answer with the best gold answer", runs, |r| {
                answers(r).and_then(|a| a.f1)
            }));
            cols.push(Column::metric(
                "citation precision",
                "share of citations from a relevant document or containing a gold answer",
                runs,
                |r| answers(r).and_then(|a| a.citation_precision),
            ));
            let mut c = Column::metric("abstained", "share of questions the answerer declined", runs, |r| {
                answers(r).and_then(|a| a.abstention_rate)
            });
            c.better = Better::Neither;
            cols.push(c);
            if runs.iter().any(|r| r.report.answers.as_ref().is_some_and(|a| a.answer_containment.is_some())) {
                cols.push(Column::metric(
                    "answer contains gold",
                    "share of answered questions with gold answers whose answer text contains one",
                    runs,
                    |r| answers(r).and_then(|a| a.answer_containment),
                ));
            }
            let generated = |r: &ConfigRun| answers(r).and_then(|a| a.generated.clone());
            if runs.iter().any(|r| generated(r).is_some()) {
                cols.push(Column::metric(
                    "generated kept",
                    "share of generated answers shown: at least one sentence supported (the others fell back to extractive)",
                    runs,
                    move |r| generated(r).map(|g| g.kept as f64 / g.answers.max(1) as f64),
                ));
                cols.push(Column::metric(
                    "sentences supported",
                    "share of generated sentences that the engine's attribution found supported by the sources",
                    runs,
                    move |r| generated(r).and_then(|g| g.support_rate),
                ));
            }
            let abst = |r: &ConfigRun| answers(r).and_then(|a| a.abstention);
            if runs.iter().any(|r| abst(r).is_some_and(|a| a.unanswerable > 0)) {
                cols.push(Column::metric(
                    "abstention P",
                    "abstentions on out-of-scope questions / all abstentions",
                    runs,
                    move |r| abst(r).and_then(|a| a.precision),
                ));
                cols.push(Column::metric(
                    "abstention R",
                    "out-of-scope questions (relevant_docs: []) abstained on / all out-of-scope questions",
                    runs,
                    move |r| abst(r).and_then(|a| a.recall),
                ));
            }
        }
        if runs.iter().any(|r| r.report.all_docs_at_10.is_some()) {
            cols.push(Column::metric(
                "all-docs@10",
                "share of all_docs questions with every relevant document in the first 10",
                runs,
                |r| r.report.all_docs_at_10,
            ));
        }
        for (label, f) in [("p50 ms", 0usize), ("p95 ms", 1), ("max ms", 2)] {
            let mut c = Column::metric(label, "search latency per question (milliseconds)", runs, move |r| {
                let l = &r.report.latency_ms;
                Some([l.p50, l.p95, l.max][f])
            });
            c.better = Better::Lower;
            c.digits = 1;
            cols.push(c);
        }
        h.push_str("<section id=\"summary\"><h2>Configuration comparison</h2>\n<p class=\"note\">Document level unless stated; the best value of each column is marked <span class=\"best-mark\">★</span>. Click a header to sort.</p>\n");
        h.push_str("<table id=\"configs\" class=\"sortable\"><thead><tr><th>configuration</th>");
        for c in &cols {
            let _ = write!(h, "<th title=\"{}\">{}</th>", esc(&c.title), esc(&c.label));
        }
        h.push_str("</tr></thead><tbody>\n");
        for (i, r) in runs.iter().enumerate() {
            let _ = write!(
                h,
                "<tr><td class=\"name\" title=\"index: {}\">{}</td>",
                esc(&r.config.index.name()),
                esc(&r.config.name)
            );
            for c in &cols {
                c.cell(h, i);
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody></table></section>\n");
    }

    fn dataset_section(&self, h: &mut String) {
        let d = &self.dataset;
        h.push_str(
            "<section id=\"dataset\"><h2>Dataset and indexes</h2>\n<table id=\"dataset-stats\" class=\"kv\"><tbody>",
        );
        let rows: [(&str, String); 7] = [
            ("dataset", esc(&d.name)),
            ("questions", d.questions.to_string()),
            ("questions with gold answers", d.with_answers.to_string()),
            ("relevant documents per question", format!("{:.2}", d.relevant_per_question)),
            ("lines skipped", d.skipped.len().to_string()),
            ("relevant documents missing from the index", self.missing_relevant.len().to_string()),
            ("configurations evaluated", self.grid.runs.len().to_string()),
        ];
        for (k, v) in rows {
            let _ = write!(h, "<tr><th>{k}</th><td>{v}</td></tr>");
        }
        h.push_str("</tbody></table>\n");
        h.push_str("<table id=\"indexes\" class=\"sortable\"><thead><tr><th>index</th><th>embedder</th><th>dim</th><th>max tokens</th><th>overlap</th><th>documents</th><th>chunks</th><th>exact duplicates dropped</th><th>near duplicates dropped</th><th>text MB</th><th>build s</th></tr></thead><tbody>\n");
        for ix in &self.grid.indexes {
            let s = &ix.stats;
            let _ = writeln!(
                h,
                "<tr><td class=\"name\">{}</td><td>{}</td>{}{}{}{}{}{}{}{}{}</tr>",
                esc(&ix.key.name()),
                esc(&s.embedder),
                num(s.dim as f64, 0),
                num(ix.key.chunk.max_tokens as f64, 0),
                num(ix.key.chunk.overlap as f64, 0),
                num(s.documents as f64, 0),
                num(s.chunks as f64, 0),
                num(s.exact_duplicates as f64, 0),
                num(s.near_duplicates as f64, 0),
                num(s.text_bytes as f64 / 1e6, 2),
                num(ix.build_ms / 1e3, 1),
            );
        }
        h.push_str("</tbody></table>\n");
        if !self.missing_relevant.is_empty() {
            h.push_str(
                "<details open><summary>Relevant documents missing from the index</summary><ul class=\"missing\">",
            );
            for m in &self.missing_relevant {
                let _ = write!(h, "<li><code>{}</code></li>", esc(m));
            }
            h.push_str("</ul></details>\n");
        }
        if !d.skipped.is_empty() {
            let _ = write!(
                h,
                "<details><summary>{} lines skipped while reading the dataset</summary><ul class=\"skipped\">",
                d.skipped.len()
            );
            for b in d.skipped.iter().take(200) {
                let _ = write!(h, "<li>line {}: {}</li>", b.line, esc(&b.detail));
            }
            if d.skipped.len() > 200 {
                let _ = write!(h, "<li>… and {} more</li>", d.skipped.len() - 200);
            }
            h.push_str("</ul></details>\n");
        }
        h.push_str("</section>\n");
    }

    /// Figures per question `kind`, when the dataset has kinds.
    fn kinds_table(&self, h: &mut String) {
        if self.grid.runs.iter().all(|r| r.report.kinds.is_empty()) {
            return;
        }
        h.push_str("<section id=\"kinds\"><h2>By kind</h2>\n<table id=\"kind-table\" class=\"sortable\"><thead><tr><th>configuration</th><th>kind</th><th>questions</th><th>hit@5</th><th>MRR</th><th>all-docs@10</th><th>abstained</th><th>answer contains gold</th></tr></thead><tbody>\n");
        let opt = |v: Option<f64>| num(v.unwrap_or(f64::NAN), 3);
        for r in &self.grid.runs {
            for (kind, m) in &r.report.kinds {
                let _ = writeln!(
                    h,
                    "<tr><td class=\"name\">{}</td><td>{}</td>{}{}{}{}{}{}</tr>",
                    esc(&r.config.name),
                    esc(kind),
                    num(m.questions as f64, 0),
                    opt(m.hit_at_5),
                    opt(m.mrr),
                    opt(m.all_docs_at_10),
                    opt(m.abstention_rate),
                    opt(m.answer_containment)
                );
            }
        }
        h.push_str("</tbody></table></section>\n");
    }

    fn stages_table(&self, h: &mut String) {
        h.push_str("<section id=\"stages\"><h2>Latency per stage</h2>\n<p class=\"note\">Milliseconds per question, measured by the caller's clock.</p>\n<table id=\"stage-table\" class=\"sortable\"><thead><tr><th>configuration</th><th>stage</th><th>p50</th><th>p95</th><th>p99</th><th>max</th><th>mean</th></tr></thead><tbody>\n");
        for r in &self.grid.runs {
            for (stage, l) in &r.report.stages {
                let _ = writeln!(
                    h,
                    "<tr><td class=\"name\">{}</td><td>{}</td>{}{}{}{}{}</tr>",
                    esc(&r.config.name),
                    esc(stage),
                    num(l.p50, 1),
                    num(l.p95, 1),
                    num(l.p99, 1),
                    num(l.max, 1),
                    num(l.mean, 1)
                );
            }
        }
        h.push_str("</tbody></table></section>\n");
    }

    fn failures_table(&self, h: &mut String) {
        h.push_str("<section id=\"failures\"><h2>Failure classification</h2>\n<p class=\"note\">Each question gets the first class that applies, in column order; \"ranked low\" means below rank 3.</p>\n<table id=\"failure-table\" class=\"sortable\"><thead><tr><th>configuration</th>");
        for f in Failure::ALL {
            let _ = write!(h, "<th>{}</th>", esc(f.label()));
        }
        h.push_str("<th>no failure</th></tr></thead><tbody>\n");
        for r in &self.grid.runs {
            let _ = write!(h, "<tr><td class=\"name\">{}</td>", esc(&r.config.name));
            let mut failed = 0;
            for f in Failure::ALL {
                let n = r.report.failures.get(f.name()).copied().unwrap_or(0);
                failed += n;
                h.push_str(&num(n as f64, 0));
            }
            h.push_str(&num(r.report.questions.saturating_sub(failed) as f64, 0));
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody></table></section>\n");
    }

    fn cases(&self, h: &mut String) {
        h.push_str("<section id=\"cases\"><h2>Case studies</h2>\n");
        let Some(bi) = self.best_run() else {
            h.push_str("<p>No configuration was evaluated.</p></section>\n");
            return;
        };
        let best = &self.grid.runs[bi];
        let qs = &best.report.per_question;
        let _ = writeln!(
            h,
            "<p class=\"note\">Questions of the configuration with the best MRR, <b>{}</b>, ordered by reciprocal rank of the first relevant document, then of the first relevant chunk, then answer F1. The ranks of every configuration are shown for comparison.</p>",
            esc(&best.config.name)
        );
        let score = |q: &QuestionResult| {
            (
                q.reciprocal_rank(),
                q.first_relevant_chunk_rank.map_or(0.0, |r| 1.0 / r as f64),
                q.answer.as_ref().and_then(|a| a.f1).unwrap_or(0.0),
            )
        };
        let mut order: Vec<usize> = (0..qs.len()).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (score(&qs[a]), score(&qs[b]));
            y.0.total_cmp(&x.0).then(y.1.total_cmp(&x.1)).then(y.2.total_cmp(&x.2)).then(a.cmp(&b))
        });
        let n_best = CASES.min(order.len().div_ceil(2));
        let n_worst = CASES.min(order.len() - n_best);
        h.push_str("<h3>Best questions</h3>\n");
        for &i in &order[..n_best] {
            self.case(h, bi, i);
        }
        h.push_str("<h3>Worst questions</h3>\n");
        for &i in order[order.len() - n_worst..].iter().rev() {
            self.case(h, bi, i);
        }
        h.push_str("</section>\n");
    }

    fn case(&self, h: &mut String, run: usize, qi: usize) {
        let q = &self.grid.runs[run].report.per_question[qi];
        let (class, verdict) = match q.failure {
            Some(f) => ("fail", f.label()),
            None => ("ok", "no failure"),
        };
        let _ = writeln!(
            h,
            "<article class=\"case {class}\"><h4><span class=\"qid\">{}</span> {}</h4>\n<p class=\"verdict\">{} · first relevant document at rank {}</p>",
            esc(&q.id),
            esc(&q.question),
            esc(verdict),
            q.first_relevant_rank.map_or("—".to_owned(), |r| r.to_string())
        );
        h.push_str("<p>Relevant: ");
        for (i, d) in q.relevant_docs.iter().enumerate() {
            if i > 0 {
                h.push_str(", ");
            }
            let missing = q.missing_relevant.contains(d);
            let _ = write!(
                h,
                "<code{}>{}</code>{}",
                if missing { " class=\"missing\"" } else { "" },
                esc(d),
                if missing { " (not in the index)" } else { "" }
            );
        }
        h.push_str("</p>\n<p class=\"ranks\">First relevant rank per configuration: ");
        for r in &self.grid.runs {
            if let Some(other) = r.report.per_question.get(qi).filter(|o| o.id == q.id) {
                let _ = write!(
                    h,
                    "<span class=\"chip {}\" title=\"{}\">{}: <b>{}</b></span> ",
                    if other.failure.is_some() { "fail" } else { "ok" },
                    esc(other.failure.map_or("no failure", |f| f.label())),
                    esc(&r.config.name),
                    other.first_relevant_rank.map_or("—".to_owned(), |r| r.to_string()),
                );
            }
        }
        h.push_str("</p>\n<ol class=\"hits\">");
        for hit in &q.hits {
            let mut classes = Vec::new();
            if hit.relevant {
                classes.push("relevant");
            }
            if hit.has_answer {
                classes.push("has-answer");
            }
            let _ = write!(
                h,
                "<li value=\"{}\" class=\"{}\"><span class=\"doc\">{}</span>",
                hit.rank,
                classes.join(" "),
                esc(&hit.doc_id)
            );
            if let Some(t) = &hit.title {
                let _ = write!(h, " <span class=\"title\">{}</span>", esc(t));
            }
            if !hit.heading_path.is_empty() {
                let _ = write!(h, " <span class=\"path\">§ {}</span>", esc(&hit.heading_path.join(" › ")));
            }
            if hit.relevant {
                h.push_str(" <span class=\"tag\">relevant</span>");
            }
            let _ = write!(h, "<blockquote>{}</blockquote></li>", esc(&hit.snippet));
        }
        h.push_str("</ol>\n");
        if let Some(a) = &q.answer {
            let fmt = |x: Option<f64>| x.map_or("—".to_owned(), |v| format!("{v:.2}"));
            let _ = write!(
                h,
                "<div class=\"answer\"><p><b>Answer</b> <span class=\"note\">({}{}; EM {}, F1 {}, citation precision {})</span></p><p class=\"answer-text\">{}</p><ol class=\"citations\">",
                a.mode.name(),
                if a.abstained { ", abstained" } else { "" },
                fmt(a.exact_match),
                fmt(a.f1),
                fmt(a.citation_precision),
                esc(&a.text)
            );
            for c in &a.citations {
                let _ = write!(
                    h,
                    "<li value=\"{}\" class=\"{}\"><span class=\"doc\">{}</span>{} <span class=\"tag\">{}</span><blockquote>{}</blockquote></li>",
                    c.n,
                    if c.grounded { "grounded" } else { "ungrounded" },
                    esc(&c.doc_id),
                    c.title.as_deref().map(|t| format!(" <span class=\"title\">{}</span>", esc(t))).unwrap_or_default(),
                    if c.grounded { "grounded" } else { "not grounded" },
                    esc(&c.text)
                );
            }
            h.push_str("</ol></div>\n");
        }
        h.push_str("</article>\n");
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Better {
    Higher,
    Lower,
    Neither,
}

struct Column {
    label: String,
    title: String,
    values: Vec<Option<f64>>,
    better: Better,
    digits: usize,
}

impl Column {
    fn metric(
        label: impl Into<String>,
        title: impl Into<String>,
        runs: &[ConfigRun],
        f: impl Fn(&ConfigRun) -> Option<f64>,
    ) -> Column {
        Column {
            label: label.into(),
            title: title.into(),
            values: runs.iter().map(f).collect(),
            better: Better::Higher,
            digits: 3,
        }
    }

    /// The best value, if the column distinguishes configurations (two different values at least).
    fn best(&self) -> Option<f64> {
        let present = self.values.iter().flatten().copied().filter(|v| v.is_finite());
        let (lo, hi) = present.clone().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if hi - lo <= 1e-9 {
            return None;
        }
        match self.better {
            Better::Higher => present.reduce(f64::max),
            Better::Lower => present.reduce(f64::min),
            Better::Neither => None,
        }
    }

    fn cell(&self, h: &mut String, i: usize) {
        match self.values.get(i).copied().flatten().filter(|v| v.is_finite()) {
            None => h.push_str("<td data-v=\"\">–</td>"),
            Some(v) => {
                let best = self.best().is_some_and(|b| (b - v).abs() <= 1e-9);
                let _ = write!(
                    h,
                    "<td{} data-v=\"{v}\">{v:.prec$}</td>",
                    if best { " class=\"best\"" } else { "" },
                    prec = self.digits
                );
            }
        }
    }
}

fn num(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("<td data-v=\"{v}\">{v:.digits$}</td>")
    } else {
        "<td data-v=\"\">–</td>".to_owned()
    }
}

/// Escape text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe to place inside a `<script>` element: `<`, `>` and `&` (which only occur
/// inside JSON strings) and U+2028/U+2029 are written as `\u` escapes.
pub fn script_json(v: &impl Serialize) -> String {
    let s = serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned());
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root{--fg:#1d2330;--muted:#5b6474;--line:#d9dee7;--bg:#fff;--best:#e3f4e8;--bad:#fdecec;--accent:#2456a6}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:1280px;margin:0 auto;padding:0 20px}
header{padding-top:16px;border-bottom:1px solid var(--line)}
h1{font-size:24px;margin:8px 0}
h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:16px;margin:18px 0 6px}
h4{font-size:14px;margin:0 0 6px}
.meta,.note{color:var(--muted)}
nav{margin:8px 0 12px}
nav a{color:var(--accent)}
dl.details{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0}
dl.details dt{color:var(--muted)}
dl.details dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
table{border-collapse:collapse;margin:8px 0 12px;font-variant-numeric:tabular-nums}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:right;vertical-align:top}
td{white-space:nowrap}
td.name{white-space:normal;min-width:12em}
th{background:#f3f5f9;font-weight:600}
td.name,th:first-child{text-align:left}
table.kv th{text-align:left}
table.sortable thead th{cursor:pointer;user-select:none}
table.sortable thead th[aria-sort=ascending]::after{content:" ▲"}
table.sortable thead th[aria-sort=descending]::after{content:" ▼"}
td.best{background:var(--best);font-weight:700}
td.best::after,.best-mark{content:" ★";color:#1c7c3c}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px}
figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:10px}
figcaption{color:var(--muted);margin-top:6px}
.chart{position:relative;height:400px}
#chart-error{color:#a61b1b}
article.case{border:1px solid var(--line);border-left:4px solid #2e8b57;border-radius:4px;padding:10px 12px;margin:10px 0}
article.case.fail{border-left-color:#c0392b}
.qid{font-family:ui-monospace,monospace;color:var(--muted);margin-right:6px}
.verdict{font-weight:600;margin:0 0 6px}
.case.fail .verdict{color:#a61b1b}
p.ranks{font-size:12px;line-height:1.9}
.chip{display:inline-block;border-radius:10px;padding:0 8px;background:var(--best);white-space:nowrap}
.chip.fail{background:var(--bad)}
ol.hits,ol.citations{padding-left:28px;margin:6px 0}
ol.hits li,ol.citations li{margin:4px 0}
.doc{font-family:ui-monospace,monospace}
.title{font-weight:600}
.path{color:var(--muted)}
.tag{font-size:11px;border-radius:3px;padding:0 4px;background:#eef1f6}
li.relevant>.tag,li.grounded>.tag{background:var(--best)}
li.ungrounded>.tag{background:var(--bad)}
blockquote{margin:2px 0 0;padding:4px 8px;border-left:3px solid var(--line);color:#333;white-space:pre-wrap;word-break:break-word}
li.has-answer blockquote{border-left-color:#2e8b57}
.answer{background:#f8f9fb;border-radius:4px;padding:6px 10px;margin-top:6px}
.answer-text{margin:4px 0}
code.missing{background:var(--bad)}
footer{color:var(--muted);padding:24px 20px}
"#;

const CHARTS_HTML: &str = r#"<section id="charts"><h2>Charts</h2>
<p id="chart-error" hidden>The charts could not be drawn (JavaScript disabled?). The tables hold the same numbers.</p>
<div class="charts">
<figure><div class="chart"><canvas id="chart-recall" aria-label="recall at k per configuration" role="img"></canvas></div><figcaption>Document recall@k per configuration (share of questions with a relevant document in the top k).</figcaption></figure>
<figure><div class="chart"><canvas id="chart-latency" aria-label="search latency distribution per configuration" role="img"></canvas></div><figcaption>Search latency distribution per configuration: share of questions answered within x ms (empirical CDF).</figcaption></figure>
<figure><div class="chart"><canvas id="chart-ranks" aria-label="rank of the first relevant document per question" role="img"></canvas></div><figcaption>Rank of the first relevant document per question (1 is best; the bottom row, "not found", means no relevant document was retrieved). Hover a point for the question.</figcaption></figure>
</div></section>
"#;

const PAGE_JS: &str = r#"(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);

  // Sortable tables: numbers by data-v, missing values always last.
  function value(td) {
    var v = td.getAttribute('data-v');
    if (v === '') return null;
    if (v !== null && !isNaN(Number(v))) return Number(v);
    return td.textContent.trim().toLowerCase();
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.tabIndex = 0;
      function sort() {
        var desc = th.getAttribute('aria-sort') !== 'descending';
        Array.prototype.forEach.call(heads, function (o) { o.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', desc ? 'descending' : 'ascending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = value(a.cells[col]), y = value(b.cells[col]);
          if (x === null || y === null) return (x === null) - (y === null);
          var c = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
          return desc ? -c : c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); } });
    });
  });

  if (typeof Chart === 'undefined') { document.getElementById('chart-error').hidden = false; return; }
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.plugins.legend.position = 'bottom';
  Chart.defaults.plugins.legend.labels.boxWidth = 12;
  Chart.defaults.plugins.legend.labels.font = { size: 11 };
  var palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  function color(i) { return palette[i % palette.length]; }
  function dash(i) { return i >= palette.length ? [6, 3] : []; }
  var questions = data.questions || [];

  new Chart(document.getElementById('chart-recall'), {
    type: 'line',
    data: {
      labels: data.ks.map(String),
      datasets: data.runs.map(function (r, i) {
        return { label: r.name, data: r.recall, borderColor: color(i), backgroundColor: color(i), borderDash: dash(i), pointRadius: 3, tension: 0 };
      })
    },
    options: {
      scales: {
        x: { title: { display: true, text: 'k (documents)' } },
        y: { min: 0, max: 1, title: { display: true, text: 'recall@k' } }
      },
      plugins: { tooltip: { callbacks: { label: function (c) { return c.dataset.label + ': ' + (c.parsed.y === null ? '–' : c.parsed.y.toFixed(3)); } } } }
    }
  });

  new Chart(document.getElementById('chart-latency'), {
    type: 'scatter',
    data: {
      datasets: data.runs.map(function (r, i) {
        var s = r.latency.filter(function (v) { return typeof v === 'number' && isFinite(v); }).sort(function (a, b) { return a - b; });
        return {
          label: r.name,
          data: s.map(function (v, j) { return { x: v, y: (j + 1) / s.length }; }),
          showLine: true, stepped: true, pointRadius: 0, borderColor: color(i), backgroundColor: color(i), borderDash: dash(i)
        };
      })
    },
    options: {
      scales: {
        x: { type: 'linear', min: 0, title: { display: true, text: 'search latency (ms)' } },
        y: { min: 0, max: 1, title: { display: true, text: 'share of questions' } }
      },
      plugins: { tooltip: { callbacks: { label: function (c) { return c.dataset.label + ': ' + (100 * c.parsed.y).toFixed(0) + '% within ' + c.parsed.x.toFixed(1) + ' ms'; } } } }
    }
  });

  var maxRank = 1;
  data.runs.forEach(function (r) { r.ranks.forEach(function (k) { if (k !== null && k > maxRank) maxRank = k; }); });
  var missing = Math.max(maxRank, 10) + 1;
  var n = data.runs.length;
  new Chart(document.getElementById('chart-ranks'), {
    type: 'scatter',
    data: {
      datasets: data.runs.map(function (r, i) {
        var shift = n > 1 ? (i - (n - 1) / 2) * (0.6 / n) : 0;
        return {
          label: r.name,
          data: r.ranks.map(function (k, j) { return { x: j + 1 + shift, y: k === null ? missing : k, q: j }; }),
          pointRadius: 3, borderColor: color(i), backgroundColor: color(i)
        };
      })
    },
    options: {
      scales: {
        x: { type: 'linear', min: 0, max: Math.max(questions.length, 1) + 1, title: { display: true, text: 'question (dataset order)' }, ticks: { precision: 0 } },
        y: { type: 'linear', reverse: true, min: 0.5, max: missing + 0.5, title: { display: true, text: 'rank of first relevant document' },
             afterBuildTicks: function (axis) {
               var step = Math.max(1, Math.ceil(maxRank / 10)), ticks = [];
               for (var v = 1; v <= maxRank; v += step) ticks.push({ value: v });
               ticks.push({ value: missing });
               axis.ticks = ticks;
             },
             ticks: { callback: function (v) { return v === missing ? 'not found' : v; } } }
      },
      plugins: { tooltip: { callbacks: { label: function (c) {
        var q = questions[c.raw.q] || {};
        return c.dataset.label + ' · ' + (q.id || '') + ': ' + (c.raw.y === missing ? 'not found' : 'rank ' + c.raw.y) + ' — ' + (q.q || '');
      } } } }
    }
  });
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::grid::{ChunkSpec, Configuration, IndexKey, IndexRun, ModeSpec};
    use crate::eval::run::{AnswerMetrics, AnswerResult, CitationResult, EvalReport, HitSummary, LevelMetrics};
    use crate::rag::answer::AnswerMode;
    use crate::rag::Stats;
    use std::collections::BTreeMap;

    const EVIL: &str = "<script>alert('x')</script><img src=x onerror=alert(1)>";

    fn key() -> IndexKey {
        IndexKey { embedder: "mini<lm>".into(), chunk: ChunkSpec { max_tokens: 256, overlap: 32 } }
    }

    fn question(id: &str, rank: Option<usize>, failure: Option<Failure>) -> QuestionResult {
        QuestionResult {
            id: id.into(),
            question: format!("What about {EVIL}? </script>"),
            relevant_docs: vec!["a.html".into(), "gone.html".into()],
            retrieved_docs: vec!["a.html".into()],
            first_relevant_rank: rank,
            first_relevant_chunk_rank: rank,
            first_answer_rank: None,
            missing_relevant: vec!["gone.html".into()],
            latency_ms: 3.5,
            hits: vec![HitSummary {
                rank: 1,
                doc_id: "a.html".into(),
                title: Some(format!("Title {EVIL}")),
                heading_path: vec!["H & <b>".into()],
                snippet: format!("snippet {EVIL} ]]> <!-- -->"),
                relevant: true,
                has_answer: false,
            }],
            answer: Some(AnswerResult {
                text: format!("answer {EVIL} [1]"),
                mode: AnswerMode::Extractive,
                abstained: false,
                sentences: 1,
                exact_match: Some(0.0),
                f1: Some(0.5),
                citation_precision: Some(1.0),
                citations: vec![CitationResult {
                    n: 1,
                    doc_id: "a.html".into(),
                    title: None,
                    text: format!("cited {EVIL}"),
                    grounded: true,
                }],
                total_ms: 9.0,
                contains_answer: Some(false),
                generation: None,
                route: None,
                self_check: None,
            }),
            failure,
            kind: None,
            answerable: true,
            all_docs_at_10: None,
        }
    }

    fn run(name: &str, mrr: f64, r5: f64, p50: f64) -> ConfigRun {
        let mut doc = LevelMetrics { mrr, ndcg_at_10: mrr, ..LevelMetrics::default() };
        for k in [1, 5] {
            doc.recall.insert(k, if k == 1 { r5 / 2.0 } else { r5 });
            doc.hit.insert(k, r5);
            doc.precision.insert(k, 0.2);
        }
        let per_question = vec![
            question("q1", Some(1), None),
            question("q2", None, Some(Failure::NoRelevantRetrieved)),
            question("q3", Some(7), Some(Failure::RelevantRankedLow)),
        ];
        let mut failures = BTreeMap::new();
        failures.insert("no_relevant_retrieved".to_owned(), 1);
        failures.insert("relevant_ranked_low".to_owned(), 1);
        let mut stages = BTreeMap::new();
        let lat = crate::eval::run::Latency { p50, p95: p50 * 2.0, p99: p50 * 2.0, max: p50 * 3.0, mean: p50 };
        stages.insert("search".to_owned(), lat.clone());
        ConfigRun {
            config: Configuration {
                name: name.into(),
                index: key(),
                mode: ModeSpec::Dense,
                translate: Default::default(),
                tree: Default::default(),
                adaptive: false,
                rerank: Default::default(),
                route: Default::default(),
                construct: Default::default(),
            },
            report: EvalReport {
                config: name.into(),
                questions: 3,
                answerable: 3,
                all_docs_at_10: None,
                kinds: BTreeMap::new(),
                doc,
                chunk: LevelMetrics::default(),
                latency_ms: lat,
                stages,
                answers: Some(AnswerMetrics {
                    with_gold: 0,
                    asked: 3,
                    f1: Some(0.5),
                    exact_match: Some(0.0),
                    citation_precision: Some(1.0),
                    abstention_rate: Some(0.0),
                    containment: BTreeMap::new(),
                    ..AnswerMetrics::default()
                }),
                failures,
                per_question,
            },
        }
    }

    fn report() -> Report {
        let stats = Stats {
            documents: 2,
            chunks: 5,
            exact_duplicates: 1,
            near_duplicates: 0,
            text_bytes: 1000,
            embedder: "mini<lm>".into(),
            dim: 384,
            hnsw_vectors: 0,
            tree: None,
        };
        let grid = GridRun {
            ks: vec![1, 5],
            indexes: vec![IndexRun { key: key(), stats, build_ms: 1500.0 }],
            runs: vec![
                run("dense", 0.5, 0.6, 2.0),
                run("sparse <b>bold</b>", 0.7, 0.6, 1.0),
                run("hybrid-rrf", 0.6, 0.9, 3.0),
            ],
        };
        let ds = DatasetSummary {
            name: "qa<1>.jsonl".into(),
            questions: 3,
            with_answers: 0,
            relevant_per_question: 2.0,
            skipped: vec![BadLine { line: 4, detail: format!("not JSON {EVIL}") }],
        };
        let mut r = Report::new("Eval <report>", ds, grid);
        r.details.push(("command".into(), format!("sotto eval {EVIL}")));
        r
    }

    /// The page without the vendored library, i.e. what this module writes.
    fn own_html(r: &Report) -> String {
        r.to_html().replace(CHART_JS, "")
    }

    /// The generated-answer columns appear only when the generator ran.
    #[test]
    fn generated_answer_columns_follow_the_metrics() {
        let mut r = report();
        assert!(!own_html(&r).contains("sentences supported"));
        for run in &mut r.grid.runs {
            if let Some(a) = run.report.answers.as_mut() {
                a.generated = Some(crate::eval::run::GeneratedMetrics {
                    answers: 4,
                    kept: 3,
                    sentences: 10,
                    supported: 7,
                    support_rate: Some(0.7),
                });
            }
        }
        let html = own_html(&r);
        assert!(html.contains("generated kept") && html.contains("sentences supported"));
        assert!(html.contains("0.750") && html.contains("0.700"), "kept 3/4 and 7/10 shown");
    }

    #[test]
    fn untrusted_text_is_escaped_everywhere() {
        let html = own_html(&report());
        assert!(!html.contains("<script>alert"), "raw script from a document");
        assert!(!html.contains("<img"), "raw element from a document");
        assert!(!html.contains("<b>bold"), "raw markup from a configuration name");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        // Only our three script elements exist and each is closed once.
        assert_eq!(html.matches("<script").count(), 3);
        assert_eq!(html.matches("</script>").count(), 3);
        assert!(html.contains("mini&lt;lm&gt;"));
    }

    #[test]
    fn chart_data_is_embedded_as_escaped_json() {
        let r = report();
        let html = own_html(&r);
        let start = html.find("<script type=\"application/json\" id=\"report-data\">").unwrap();
        let body = &html[start..];
        let body = &body[body.find('>').unwrap() + 1..body.find("</script>").unwrap()];
        assert!(!body.contains('<') && !body.contains('>'));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["ks"], serde_json::json!([1, 5]));
        assert_eq!(v["runs"].as_array().unwrap().len(), 3);
        assert_eq!(v["runs"][2]["recall"], serde_json::json!([0.45, 0.9]));
        assert_eq!(v["runs"][0]["ranks"], serde_json::json!([1, null, 7]));
        assert_eq!(v["runs"][1]["name"], "sparse <b>bold</b>", "escaping is reversible");
        assert_eq!(v["questions"][0]["id"], "q1");
        assert!(
            html.contains("id=\"chart-recall\"")
                && html.contains("id=\"chart-latency\"")
                && html.contains("id=\"chart-ranks\"")
        );
    }

    #[test]
    fn one_table_row_per_configuration_and_best_values_marked() {
        let r = report();
        let html = own_html(&r);
        let table = &html[html.find("<table id=\"configs\"").unwrap()..];
        let table = &table[..table.find("</table>").unwrap()];
        let body = &table[table.find("<tbody>").unwrap()..];
        assert_eq!(body.matches("<tr>").count(), r.grid.runs.len());
        // MRR: sparse (0.7) is best; R@5: hybrid (0.9); p50: sparse (1.0, lower is better).
        let rows: Vec<&str> = body.split("<tr>").skip(1).collect();
        let best_cells = |row: &str| row.matches("class=\"best\"").count();
        assert!(rows[1].contains("class=\"best\" data-v=\"0.7\""), "{}", rows[1]);
        assert!(rows[2].contains("class=\"best\" data-v=\"0.9\""), "{}", rows[2]);
        assert!(rows[1].contains("class=\"best\" data-v=\"1\">1.0<"), "{}", rows[1]);
        assert!(best_cells(rows[0]) < best_cells(rows[1]));
        assert_eq!(r.best_run(), Some(1));
        // Failures table also has one row per configuration.
        let f = &html[html.find("id=\"failure-table\"").unwrap()..];
        let f = &f[f.find("<tbody>").unwrap()..f.find("</tbody>").unwrap()];
        assert_eq!(f.matches("<tr>").count(), 3);
    }

    #[test]
    fn self_contained_no_external_references() {
        let html = own_html(&report());
        assert!(!html.contains("http://") && !html.contains("https://"));
        for tag in ["<link", "<img", "<iframe", "<object", "<embed", "src=\"", "url("] {
            assert!(!html.contains(tag), "{tag}");
        }
        assert!(html.contains("default-src 'none'"));
        let full = report().to_html();
        assert!(full.contains("Chart.js v4"), "the licence header stays");
        assert!(full.contains("Released under the MIT License"));
    }

    #[test]
    fn vendored_chart_js_can_be_inlined() {
        assert!(CHART_JS.len() > 100_000, "assets/chart.umd.min.js looks truncated");
        let lower = CHART_JS.to_ascii_lowercase();
        assert!(!lower.contains("</script") && !lower.contains("<!--"));
    }

    #[test]
    fn cases_missing_docs_and_json_form() {
        let r = report();
        let html = own_html(&r);
        assert!(html.contains("<h3>Best questions</h3>") && html.contains("<h3>Worst questions</h3>"));
        assert!(html.contains("no relevant doc retrieved"));
        assert!(html.contains("relevant doc ranked low"));
        assert!(html.contains("(not in the index)"));
        assert_eq!(r.missing_relevant, ["gone.html"]);
        assert!(html.contains("class=\"grounded\""));
        let back: Report = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn empty_report_renders() {
        let r = Report::new("empty", DatasetSummary::default(), GridRun { ks: vec![5], indexes: vec![], runs: vec![] });
        let html = r.to_html();
        assert!(html.contains("No configuration was evaluated."));
        assert!(html.ends_with("</html>\n"));
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected, "{input:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn csp_hashes_cover_exactly_the_inline_code_of_a_report() {
        let html = report().to_html();
        let h = csp_hashes();
        // Every executable <script> element's content is hashed, in order; the JSON data block is not code.
        let mut scripts = Vec::new();
        let mut rest = html.as_str();
        while let Some(at) = rest.find("<script") {
            let open_end = at + rest[at..].find('>').unwrap() + 1;
            let close = open_end + rest[open_end..].find("</script>").unwrap();
            if !rest[at..open_end].contains("application/json") {
                scripts.push(&rest[open_end..close]);
            }
            rest = &rest[close..];
        }
        assert_eq!(scripts.len(), h.script_src.len());
        for (body, hash) in scripts.iter().zip(&h.script_src) {
            assert_eq!(*hash, format!("'sha256-{}'", base64(&sha2::Sha256::digest(body.as_bytes()))));
        }
        let style = &html[html.find("<style>").unwrap() + 7..html.find("</style>").unwrap()];
        assert_eq!(h.style_src, [format!("'sha256-{}'", base64(&sha2::Sha256::digest(style.as_bytes())))]);
    }

    /// The demo page shows reports in a frame, so its policy (the meta tag and the dev
    /// server's header) must list these hashes; Chromium enforces them in tests/browser/e2e.mjs.
    #[test]
    fn the_demo_page_policy_allows_the_report() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let page = std::fs::read_to_string(root.join("www/index.html")).unwrap();
        let h = csp_hashes();
        for hash in h.script_src.iter().chain(&h.style_src) {
            assert!(
                page.contains(hash.as_str()),
                "www/index.html's Content-Security-Policy lacks {hash}: script-src {} / style-src {}",
                h.script_src.join(" "),
                h.style_src.join(" ")
            );
        }
    }
}
