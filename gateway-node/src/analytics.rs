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

/// Builds the record of a finished request.
#[allow(clippy::too_many_arguments)]
pub fn finish(
    meta: &Meta,
    status: u16,
    request_id: String,
    trace_id: Option<String>,
    method: String,
    host: String,
    path: String,
    client_ip: String,
    request_bytes: u64,
    response_bytes: u64,
) -> Record {
    Record {
        at_ms: meta.at_ms,
        request_id,
        trace_id,
        service: meta.service,
        route: meta.route,
        consumer: meta.consumer,
        application: meta.application,
        api: meta.api,
        status,
        upstream_status: meta.upstream_status,
        source: meta.source,
        method,
        host,
        path,
        client_ip,
        request_bytes,
        response_bytes,
        total_us: meta.started.elapsed().as_micros() as u64,
        upstream_us: meta.upstream_us,
    }
}

/// A response body that counts what it sends and records the request when the
/// response is done (sent, or dropped by the client).
pub struct CountedBody<B> {
    pub inner: B,
    pub bytes: u64,
    pub pending: Option<(Arc<Analytics>, Record)>,
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
        if let Some((a, mut r)) = self.pending.take() {
            r.response_bytes = self.bytes;
            a.record(r);
        }
    }
}

/// Where batches go.
pub enum Sink {
    /// A standalone node's file: one JSON batch per line, appended.
    File(PathBuf),
    /// Handed to the platform link (which spools them while it is away).
    Channel(tokio::sync::mpsc::Sender<Batch>),
}

/// Drains the buffers every `every` into a numbered batch for `sink`.
pub fn ship(
    analytics: Arc<Analytics>,
    node_id: Uuid,
    every: Duration,
    sink: Sink,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seq = 0u64;
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
            let batch = Batch {
                node_id,
                seq,
                cells: f.cells.into_values().collect(),
                samples: f.samples,
                requests: f.requests,
                samples_dropped: f.samples_dropped,
                ..Batch::default()
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
                Sink::Channel(tx) => {
                    if tx.send(batch).await.is_err() {
                        return;
                    }
                }
            }
        }
    })
}
