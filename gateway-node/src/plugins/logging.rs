//! `file-log` (priority 9) and `http-log` (priority 12): the log entry of every
//! request goes to a background task through a bounded queue (when it is full,
//! entries are dropped and counted, never waited for), which appends JSON lines to
//! a file, or sends batches to an HTTP endpoint with retries and backoff (http-log's
//! deprecated `queue_size` and `flush_timeout` set the batch size and delay, as in
//! Kong).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use graphql_schema::plugin_config::logging::{FileLogConfig, HttpLogConfig};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::plugin::Plugin;

type Entry = Arc<serde_json::Value>;

pub struct FileLog {
    tx: mpsc::Sender<Entry>,
    dropped: Arc<AtomicU64>,
}

impl FileLog {
    pub fn new(cfg: FileLogConfig) -> Result<FileLog, String> {
        let path = cfg.path.clone().ok_or("path: required")?;
        let (tx, mut rx) = mpsc::channel::<Entry>(10_000);
        let reopen = cfg.reopen;
        tokio::spawn(async move {
            let mut options = tokio::fs::OpenOptions::new();
            options.create(true).append(true);
            let mut file = None;
            while let Some(e) = rx.recv().await {
                let mut line = e.to_string();
                line.push('\n');
                if reopen || file.is_none() {
                    file = match options.open(&path).await {
                        Ok(f) => Some(f),
                        Err(err) => {
                            tracing::warn!(path = %path, "file-log: cannot open: {err}");
                            None
                        }
                    };
                }
                if let Some(f) = file.as_mut()
                    && let Err(err) = f.write_all(line.as_bytes()).await
                {
                    tracing::warn!(path = %path, "file-log: cannot write: {err}");
                    file = None;
                }
            }
        });
        Ok(FileLog {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }
}

impl Plugin for FileLog {
    fn name(&self) -> &'static str {
        "file-log"
    }

    fn logs(&self) -> bool {
        true
    }

    fn log(&self, entry: &Arc<serde_json::Value>) {
        if self.tx.try_send(entry.clone()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub struct HttpLog {
    tx: mpsc::Sender<Entry>,
    dropped: Arc<AtomicU64>,
}

struct Endpoint {
    url: http::Uri,
    method: http::Method,
    content_type: http::HeaderValue,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    timeout: Duration,
}

impl HttpLog {
    pub fn new(cfg: HttpLogConfig) -> Result<HttpLog, String> {
        let url: http::Uri = cfg
            .http_endpoint
            .clone()
            .unwrap_or_default()
            .parse()
            .map_err(|e| format!("http_endpoint: {e}"))?;
        let mut headers = Vec::new();
        for (k, v) in &cfg.headers {
            headers.push((
                http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("headers: {e}"))?,
                http::HeaderValue::from_str(v).map_err(|e| format!("headers: {e}"))?,
            ));
        }
        let ep = Arc::new(Endpoint {
            url,
            method: http::Method::from_bytes(cfg.method.as_bytes())
                .map_err(|e| format!("method: {e}"))?,
            content_type: http::HeaderValue::from_str(&cfg.content_type)
                .map_err(|e| format!("content_type: {e}"))?,
            headers,
            timeout: Duration::from_millis(cfg.timeout.max(1.0) as u64),
        });
        let mut q = cfg.queue.clone();
        // Kong's deprecated fields still set the queue when not at their old defaults
        if let Some(n) = cfg.queue_size.filter(|n| *n != 1) {
            q.max_batch_size = u32::try_from(n.clamp(1, 1_000_000)).unwrap_or(1);
        }
        if let Some(t) = cfg.flush_timeout.filter(|t| *t != 2.0) {
            q.max_coalescing_delay = t.clamp(0.0, 3600.0);
        }
        let (tx, mut rx) = mpsc::channel::<Entry>(q.max_entries.max(1) as usize);
        tokio::spawn(async move {
            let batch_max = q.max_batch_size.max(1) as usize;
            let delay = Duration::from_secs_f64(q.max_coalescing_delay.max(0.0));
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let deadline = tokio::time::Instant::now() + delay;
                while batch.len() < batch_max {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(e)) => batch.push(e),
                        _ => break,
                    }
                }
                let body = if batch_max == 1 {
                    batch[0].to_string()
                } else {
                    serde_json::Value::Array(batch.iter().map(|e| (**e).clone()).collect())
                        .to_string()
                };
                send_with_retries(&ep, Bytes::from(body), &q).await;
            }
        });
        Ok(HttpLog {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }
}

async fn send_with_retries(
    ep: &Endpoint,
    body: Bytes,
    q: &graphql_schema::plugin_config::logging::QueueConfig,
) {
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_secs_f64(q.initial_retry_delay.max(0.001));
    let max_delay = Duration::from_secs_f64(q.max_retry_delay.max(0.001));
    let max_time = Duration::from_secs_f64(q.max_retry_time.max(0.0));
    loop {
        match tokio::time::timeout(ep.timeout, send_once(ep, body.clone())).await {
            Ok(Ok(status)) if status.is_success() => return,
            Ok(Ok(status)) => {
                tracing::warn!(endpoint = %ep.url, "http-log: endpoint answered {status}")
            }
            Ok(Err(e)) => tracing::warn!(endpoint = %ep.url, "http-log: {e}"),
            Err(_) => tracing::warn!(endpoint = %ep.url, "http-log: timed out"),
        }
        if started.elapsed() + delay > max_time {
            tracing::error!(endpoint = %ep.url, "http-log: giving up on a batch after {:?}", started.elapsed());
            return;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(max_delay);
    }
}

async fn send_once(ep: &Endpoint, body: Bytes) -> Result<http::StatusCode, String> {
    let host = ep.url.host().ok_or("no host")?.to_string();
    let tls = ep.url.scheme_str() == Some("https");
    let port = ep.url.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    let pq = ep
        .url
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    let mut req = http::Request::builder()
        .method(ep.method.clone())
        .uri(pq)
        .header(
            http::header::HOST,
            if (tls && port == 443) || (!tls && port == 80) {
                host.clone()
            } else {
                format!("{host}:{port}")
            },
        )
        .header(http::header::CONTENT_TYPE, ep.content_type.clone());
    for (k, v) in &ep.headers {
        req = req.header(k, v);
    }
    let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
    if tls {
        let cfg = crate::upstream::tls::client_config(true, &[], false);
        let name = rustls::pki_types::ServerName::try_from(host).map_err(|e| e.to_string())?;
        let s = tokio_rustls::TlsConnector::from(cfg)
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        exchange(TokioIo::new(s), req).await
    } else {
        exchange(TokioIo::new(tcp), req).await
    }
}

async fn exchange<T>(
    io: TokioIo<T>,
    req: http::Request<Full<Bytes>>,
) -> Result<http::StatusCode, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    Ok(resp.status())
}

impl Plugin for HttpLog {
    fn name(&self) -> &'static str {
        "http-log"
    }

    fn logs(&self) -> bool {
        true
    }

    fn log(&self, entry: &Arc<serde_json::Value>) {
        if self.tx.try_send(entry.clone()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
