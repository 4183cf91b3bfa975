//! A sharded index on a static host, read over HTTP: `sotto search|eval|info
//! http://host/dir/manifest.json …`. The shards are the files next to the manifest; each
//! round's shards are fetched in parallel (six at a time, as a browser does per host). Plain
//! HTTP only: the CLI has no TLS stack, and an `https://` URL is refused with that reason.
//!
//! When the manifest lists a pack (`sotto index --shards OUT --pack`) and `--pack-reads`
//! is `auto` (the default), a shard is read as `Range: bytes=…` of the pack instead
//! ([`sotto::index::pack`]). Only a 206 whose `Content-Range` is exactly the bytes asked
//! for is used (and then hash-checked like a shard file). Anything else from the server —
//! a 200 (it ignores Range: the body is dropped unread, never the whole pack downloaded),
//! a 416, a wrong `Content-Range`, an error status for the pack — switches this index to
//! the shard files for the rest of the process, with the reason on stderr and in the
//! `--json` output (`pack.fallback`). Shards are in the table either way, so the results
//! are the same. Network failures (timeouts, refused connections) are not a fallback: they
//! are `ShardUnavailable`, as for a shard file.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sotto::index::pack::content_range_matches;
use sotto::index::shards::ShardSource;
use sotto::rag::shards::ShardManifest;
use sotto::Error;

/// Requests in flight per round.
const PARALLEL: usize = 6;
/// Per-request timeout (connect and read).
const TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `s` is an HTTP(S) URL rather than a path.
pub(crate) fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout_connect(TIMEOUT).timeout(TIMEOUT).build()
}

/// GET `url`, at most `max_bytes` (`what` names the limit); a failure is `ShardUnavailable`
/// naming `name`.
fn get(agent: &ureq::Agent, url: &str, name: &str, what: &'static str, max_bytes: usize) -> sotto::Result<Vec<u8>> {
    let unavailable = |detail: String| Error::ShardUnavailable { name: name.to_owned(), detail };
    if url.starts_with("https://") {
        return Err(unavailable(format!("{url}: the CLI reads plain http:// only (no TLS in this build)")));
    }
    let resp = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, _)) => return Err(unavailable(format!("{url} answered HTTP {code}"))),
        Err(e) => return Err(unavailable(format!("{url}: {e}"))),
    };
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unavailable(format!("{url}: {e}")))?;
    if bytes.len() > max_bytes {
        return Err(Error::LimitExceeded { what, limit: max_bytes, got: bytes.len() });
    }
    Ok(bytes)
}

/// The manifest at `url`.
pub(crate) fn fetch_manifest(url: &str, max_bytes: usize) -> sotto::Result<Vec<u8>> {
    get(&agent(), url, sotto::rag::shards::MANIFEST_NAME, "manifest bytes", max_bytes)
}

/// Whether to read shards from the manifest's pack (`--pack-reads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PackReads {
    /// With Range requests when the manifest lists a pack, else the shard files.
    Auto,
    /// Always the shard files.
    Never,
}

impl std::str::FromStr for PackReads {
    type Err = Error;
    fn from_str(s: &str) -> sotto::Result<Self> {
        match s {
            "auto" => Ok(PackReads::Auto),
            "never" => Ok(PackReads::Never),
            _ => Err(Error::InvalidOption { name: "pack-reads", detail: format!("{s:?}: auto or never") }),
        }
    }
}

/// `--pack-reads`, set once by `main`.
pub(crate) static PACK_READS: OnceLock<PackReads> = OnceLock::new();

/// What reading from a pack did in this process (the CLI opens one remote index).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub(crate) struct PackReport {
    /// The pack read from (`None`: no pack in the manifest, or `--pack-reads never`).
    pub file: Option<String>,
    /// Range requests sent to it.
    pub range_requests: usize,
    /// Why the shard files are read instead, once the server answered a Range request
    /// with anything but the 206 asked for.
    pub fallback: Option<String>,
}

static REPORT: Mutex<Option<PackReport>> = Mutex::new(None);

/// What reading from a pack did, for `--json` output (`None`: the index was not read over HTTP).
pub(crate) fn pack_report() -> Option<PackReport> {
    REPORT.lock().ok()?.clone()
}

/// The pack of an index read over HTTP: its URL and each shard's byte range in it.
struct Pack {
    name: String,
    url: String,
    total: u64,
    ranges: HashMap<String, (u64, u64)>,
    requests: AtomicUsize,
    fallback: Mutex<Option<String>>,
}

impl Pack {
    fn fallback(&self) -> Option<String> {
        self.fallback.lock().ok().and_then(|f| f.clone())
    }

    /// Read shard files from now on (the first reason is kept and reported once).
    fn fall_back(&self, why: String) {
        let mut f = self.fallback.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            eprintln!("note: {why}; reading the shard files instead");
            *f = Some(why);
        }
    }

    fn report(&self) {
        if let Ok(mut r) = REPORT.lock() {
            *r = Some(PackReport {
                file: Some(self.name.clone()),
                range_requests: self.requests.load(Ordering::Relaxed),
                fallback: self.fallback(),
            });
        }
    }
}

/// The shards next to a manifest URL.
pub(crate) struct HttpSource {
    base: String,
    agent: ureq::Agent,
    max_bytes: usize,
    pack: Option<Pack>,
}

impl HttpSource {
    /// Shards in the directory of `manifest_url`, each at most `max_bytes`; from the pack
    /// `manifest` lists, if any, unless `--pack-reads never`.
    pub(crate) fn new(manifest_url: &str, manifest: &ShardManifest, max_bytes: usize) -> Self {
        let base = match manifest_url.rfind('/') {
            Some(i) => manifest_url[..=i].to_owned(),
            None => format!("{manifest_url}/"),
        };
        let reads = PACK_READS.get().copied().unwrap_or(PackReads::Auto);
        let pack = manifest.pack.as_ref().filter(|_| reads == PackReads::Auto).map(|p| Pack {
            name: p.name.clone(),
            url: format!("{base}{}", p.name),
            total: p.bytes,
            ranges: manifest
                .shards
                .iter()
                .enumerate()
                .filter_map(|(i, e)| Some((e.name.clone(), p.range(i, e.bytes)?)))
                .collect(),
            requests: AtomicUsize::new(0),
            fallback: Mutex::new(None),
        });
        if let Ok(mut r) = REPORT.lock() {
            *r = Some(PackReport { file: pack.as_ref().map(|p| p.name.clone()), ..PackReport::default() });
        }
        HttpSource { base, agent: agent(), max_bytes, pack }
    }

    /// Shard `name` from the pack: `Ok(None)` when the server did not answer the Range
    /// request as asked (the caller falls back to the shard file).
    fn read_pack(&self, pack: &Pack, name: &str) -> sotto::Result<Option<Vec<u8>>> {
        let Some(&(start, end)) = pack.ranges.get(name) else { return Ok(None) };
        let unavailable = |detail: String| Error::ShardUnavailable { name: name.to_owned(), detail };
        pack.requests.fetch_add(1, Ordering::Relaxed);
        let range = format!("bytes={start}-{}", end - 1);
        let resp = match self.agent.get(&pack.url).set("Range", &range).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, _)) => {
                pack.fall_back(format!("{} answered HTTP {code} to a Range request", pack.url));
                return Ok(None);
            }
            Err(e) => return Err(unavailable(format!("{} ({range}): {e}", pack.url))),
        };
        if resp.status() != 206 {
            // The whole pack is on its way: drop the response unread (this closes the
            // connection) rather than download it.
            pack.fall_back(format!("{} ignores Range requests (HTTP {})", pack.url, resp.status()));
            return Ok(None);
        }
        let got = resp.header("Content-Range").unwrap_or("").to_owned();
        if !content_range_matches(&got, start, end, pack.total) {
            pack.fall_back(format!("{} answered {range} with Content-Range {got:?}", pack.url));
            return Ok(None);
        }
        let want = (end - start) as usize;
        let mut bytes = Vec::with_capacity(want.min(self.max_bytes));
        resp.into_reader()
            .take(want.min(self.max_bytes) as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| unavailable(format!("{} ({range}): {e}", pack.url)))?;
        if bytes.len() > self.max_bytes {
            return Err(Error::LimitExceeded { what: "shard bytes", limit: self.max_bytes, got: bytes.len() });
        }
        // A short or long body fails the shard's hash check: refetched once, then Corrupt.
        Ok(Some(bytes))
    }
}

impl ShardSource for HttpSource {
    fn fetch(&self, name: &str) -> sotto::Result<Vec<u8>> {
        // Names come from the manifest: only plain file names are requested, with nothing a
        // URL would read as a query, a fragment or an escape.
        if !sotto::index::shards::is_plain_name(name) || name.contains(['?', '#', '%']) {
            return Err(Error::ShardUnavailable { name: name.to_owned(), detail: "not a shard file name".into() });
        }
        if let Some(pack) = self.pack.as_ref().filter(|p| p.fallback().is_none()) {
            let got = self.read_pack(pack, name);
            pack.report();
            if let Some(bytes) = got? {
                return Ok(bytes);
            }
        }
        get(&self.agent, &format!("{}{name}", self.base), name, "shard bytes", self.max_bytes)
    }

    fn fetch_many(&self, names: &[&str]) -> Vec<sotto::Result<Vec<u8>>> {
        let mut out = Vec::with_capacity(names.len());
        for group in names.chunks(PARALLEL) {
            std::thread::scope(|s| {
                let handles: Vec<_> = group.iter().map(|n| s.spawn(move || self.fetch(n))).collect();
                for (h, n) in handles.into_iter().zip(group) {
                    out.push(h.join().unwrap_or_else(|_| {
                        Err(Error::ShardUnavailable {
                            name: (*n).to_owned(),
                            detail: "the fetching thread failed".into(),
                        })
                    }));
                }
            });
        }
        out
    }
}
