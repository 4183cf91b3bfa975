//! A sharded index on a static host, read over HTTP: `sotto search|eval|info
//! http://host/dir/manifest.json …`. The shards are the files next to the manifest; each
//! round's shards are fetched in parallel (six at a time, as a browser does per host). Plain
//! HTTP only: the CLI has no TLS stack, and an `https://` URL is refused with that reason.

use std::io::Read;
use std::time::Duration;

use sotto::index::shards::ShardSource;
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

/// The shards next to a manifest URL.
pub(crate) struct HttpSource {
    base: String,
    agent: ureq::Agent,
    max_bytes: usize,
}

impl HttpSource {
    /// Shards in the directory of `manifest_url`, each at most `max_bytes`.
    pub(crate) fn new(manifest_url: &str, max_bytes: usize) -> Self {
        let base = match manifest_url.rfind('/') {
            Some(i) => manifest_url[..=i].to_owned(),
            None => format!("{manifest_url}/"),
        };
        HttpSource { base, agent: agent(), max_bytes }
    }
}

impl ShardSource for HttpSource {
    fn fetch(&self, name: &str) -> sotto::Result<Vec<u8>> {
        // Names come from the manifest: only plain file names are requested, with nothing a
        // URL would read as a query, a fragment or an escape.
        if !sotto::index::shards::is_plain_name(name) || name.contains(['?', '#', '%']) {
            return Err(Error::ShardUnavailable { name: name.to_owned(), detail: "not a shard file name".into() });
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
