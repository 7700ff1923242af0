//! Native analytics on the node: every answer (the upstream's or the gateway's
//! own) becomes a record, folded at once into 10-second cells with latency
//! sketches and a budgeted sample (`graphql_schema::analytics`). Each worker
//! thread folds into its own buffer (a lock only the shipper ever contends,
//! once per flush); a shipper drains every buffer into a numbered batch and
//! hands it to a sink: the platform link (spooled to disk while the platform
//! is away) or, for a standalone node, a file of JSON lines.

use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use graphql_schema::analytics::{Batch, Folder, Record, Source};

use http_body::{Body, Frame, SizeHint};
use uuid::Uuid;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Raw records kept per batch (errors and slow requests first).
pub const SAMPLE_BUDGET: usize = 200;

/// What the proxy learns about a request on its way (filled as it goes).
#[derive(Clone, Debug)]
pub struct Meta {
    pub started: Instant,
    pub at_ms: i64,
    pub service: Option<Uuid>,
    pub route: Option<Uuid>,
    pub consumer: Option<Uuid>,
    pub application: Option<Uuid>,
    pub api: Option<Uuid>,
    pub upstream_status: Option<u16>,
    pub upstream_us: Option<u64>,
    pub source: Source,
}

impl Meta {
    pub fn start() -> Meta {
        Meta {
            started: Instant::now(),
            at_ms: now_ms(),
            service: None,
            route: None,
            consumer: None,
            application: None,
            api: None,
            upstream_status: None,
            upstream_us: None,
            source: Source::Gateway,
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's buffer, per analytics instance (one per node).
    static MINE: RefCell<Vec<(u64, Arc<Mutex<Folder>>)>> = const { RefCell::new(Vec::new()) };
}

/// The node's analytics: the per-thread buffers.
pub struct Analytics {
    id: u64,
    buffers: Mutex<Vec<Arc<Mutex<Folder>>>>,
    pub budget: usize,
}

impl Default for Analytics {
    fn default() -> Self {
        Analytics::new(SAMPLE_BUDGET)
    }
}

impl Analytics {
    /// Keeping at most `budget` raw records per batch.
    pub fn new(budget: usize) -> Analytics {
        Analytics {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            buffers: Mutex::new(Vec::new()),
            budget,
        }
    }

    fn buffer(&self) -> Arc<Mutex<Folder>> {
        MINE.with(|m| {
            let mut m = m.borrow_mut();
            if let Some((_, b)) = m.iter().find(|(id, _)| *id == self.id) {
                return b.clone();
            }
            let b = Arc::new(Mutex::new(Folder::default()));
            if let Ok(mut all) = self.buffers.lock() {
                all.push(b.clone());
            }
            m.push((self.id, b.clone()));
            b
        })
    }

    /// Folds one record into this thread's buffer.
    pub fn record(&self, r: Record) {
        let b = self.buffer();
        if let Ok(mut f) = b.lock() {
            f.add(r, self.budget);
        };
    }

    /// Everything folded since the last drain.
    pub fn drain(&self) -> Folder {
        let buffers: Vec<Arc<Mutex<Folder>>> =
            self.buffers.lock().map(|b| b.clone()).unwrap_or_default();
        let mut out = Folder::default();
        for b in buffers {
            let f = b.lock().map(|mut f| std::mem::take(&mut *f));
            if let Ok(f) = f {
                out.absorb(f, self.budget);
            }
        }
        out
    }
}

/// What a record takes from the request, kept cheaply (shared bytes) until
/// the record is known to be sampled.
pub struct RawRequest {
    pub request_id: Option<http::HeaderValue>,
    pub trace: Option<http::HeaderValue>,
    pub method: http::Method,
    pub host: Option<http::HeaderValue>,
    pub uri: http::Uri,
    pub client_ip: std::net::IpAddr,
    pub request_bytes: u64,
}

fn text(v: &Option<http::HeaderValue>) -> Option<String> {
    v.as_ref().and_then(|v| v.to_str().ok()).map(str::to_string)
}

impl Analytics {
    /// Counts a finished request; its strings are made only if it is sampled.
    pub fn finish(&self, meta: &Meta, status: u16, raw: RawRequest, response_bytes: u64) {
        let r = Record {
            at_ms: meta.at_ms,
            service: meta.service,
            route: meta.route,
            consumer: meta.consumer,
            application: meta.application,
            api: meta.api,
            status,
            upstream_status: meta.upstream_status,
            source: meta.source,
            request_bytes: raw.request_bytes,
            response_bytes,
            total_us: meta.started.elapsed().as_micros() as u64,
            upstream_us: meta.upstream_us,
            ..Record::default()
        };
        let b = self.buffer();
        if let Ok(mut f) = b.lock() {
            f.add_with(r, self.budget, |r| {
                r.request_id = text(&raw.request_id).unwrap_or_default();
                r.trace_id = text(&raw.trace);
                r.method = raw.method.as_str().to_string();
                r.host = text(&raw.host).unwrap_or_default();
                r.path = raw.uri.path().to_string();
                r.client_ip = raw.client_ip.to_string();
            });
        };
    }
}

/// A response body that counts what it sends and records the request when the
/// response is done (sent, or dropped by the client).
pub struct CountedBody<B> {
    pub inner: B,
    pub bytes: u64,
    pub pending: Option<(Arc<Analytics>, Meta, u16, RawRequest)>,
}

impl<B: Body<Data = Bytes, Error = BoxError> + Unpin> Body for CountedBody<B> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &r
            && let Some(d) = f.data_ref()
        {
            this.bytes += d.len() as u64;
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for CountedBody<B> {
    fn drop(&mut self) {
        if let Some((a, meta, status, raw)) = self.pending.take() {
            a.finish(&meta, status, raw, self.bytes);
        }
    }
}

/// Where batches go.
pub enum Sink {
    /// A standalone node's file: one JSON batch per line, appended.
    File(PathBuf),
    /// The disk spool the platform link drains (and empties as the platform
    /// acknowledges).
    Spool(Arc<Spool>),
}

/// Batches waiting for the platform, one file each (`<seq>.json`), bounded:
/// past `max` the oldest is dropped and counted (batches and their requests),
/// and the counts travel in every later batch.
pub struct Spool {
    dir: PathBuf,
    max: usize,
    pub batches_dropped: AtomicU64,
    pub requests_dropped: AtomicU64,
    /// Wakes the platform link when a batch is added.
    pub added: tokio::sync::Notify,
}

impl Spool {
    pub fn open(dir: PathBuf, max: usize) -> std::io::Result<Spool> {
        std::fs::create_dir_all(&dir)?;
        Ok(Spool {
            dir,
            max: max.max(1),
            batches_dropped: AtomicU64::new(0),
            requests_dropped: AtomicU64::new(0),
            added: tokio::sync::Notify::new(),
        })
    }

    /// The spooled batches' sequence numbers, oldest first.
    pub fn pending(&self) -> Vec<u64> {
        let mut v: Vec<u64> = std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_suffix(".json"))
                            .and_then(|n| n.parse().ok())
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.json"))
    }

    /// The highest sequence number spooled (a restarted node goes on from it).
    pub fn last_seq(&self) -> u64 {
        self.pending().last().copied().unwrap_or(0)
    }

    pub fn read(&self, seq: u64) -> Option<String> {
        std::fs::read_to_string(self.path(seq)).ok()
    }

    pub fn push(&self, b: &Batch) {
        let mut pending = self.pending();
        while pending.len() >= self.max {
            let oldest = pending.remove(0);
            let requests = self
                .read(oldest)
                .and_then(|t| serde_json::from_str::<Batch>(&t).ok())
                .map_or(0, |b| b.requests);
            let _ = std::fs::remove_file(self.path(oldest));
            self.batches_dropped.fetch_add(1, Ordering::Relaxed);
            self.requests_dropped.fetch_add(requests, Ordering::Relaxed);
            tracing::warn!(
                seq = oldest,
                requests,
                "analytics spool full: oldest batch dropped"
            );
        }
        let line = serde_json::to_string(b).unwrap_or_default();
        let tmp = self.dir.join(format!("{:020}.tmp", b.seq));
        let r = std::fs::write(&tmp, line).and_then(|_| std::fs::rename(&tmp, self.path(b.seq)));
        if let Err(e) = r {
            tracing::error!(dir = %self.dir.display(), "analytics spool: {e}");
        }
        self.added.notify_one();
    }

    /// The platform has it.
    pub fn ack(&self, seq: u64) {
        let _ = std::fs::remove_file(self.path(seq));
    }
}

/// Drains the buffers every `every` into a numbered batch for `sink`.
pub fn ship(
    analytics: Arc<Analytics>,
    node_id: Uuid,
    every: Duration,
    sink: Sink,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // a restarted node goes on after what it spooled
        let mut seq = match &sink {
            Sink::Spool(s) => s.last_seq(),
            Sink::File(_) => 0,
        };
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let f = analytics.drain();
            if f.requests == 0 {
                continue;
            }
            seq += 1;
            let (batches_dropped, requests_dropped) = match &sink {
                Sink::Spool(s) => (
                    s.batches_dropped.load(Ordering::Relaxed),
                    s.requests_dropped.load(Ordering::Relaxed),
                ),
                Sink::File(_) => (0, 0),
            };
            let batch = Batch {
                node_id,
                seq,
                cells: f.cells.into_values().collect(),
                samples: f.samples,
                requests: f.requests,
                samples_dropped: f.samples_dropped,
                batches_dropped,
                requests_dropped,
            };
            match &sink {
                Sink::File(p) => {
                    let line = serde_json::to_string(&batch).unwrap_or_default();
                    let r = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(p)
                        .and_then(|mut f| writeln!(f, "{line}"));
                    if let Err(e) = r {
                        tracing::error!(path = %p.display(), "analytics file: {e}");
                    }
                }
                Sink::Spool(s) => s.push(&batch),
            }
        }
    })
}
