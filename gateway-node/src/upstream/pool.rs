//! Connections to upstream targets: TCP (and TLS with the right SNI) per target
//! address, kept alive and reused. HTTP/1.1 connections are checked out one request
//! at a time and come back when the response body ends; an HTTP/2 connection is
//! shared by every request to that target.
//!
//! Each worker thread has its own pool (a thread-local): a worker runs one
//! single-threaded runtime, so its connections, their tasks and the requests using
//! them stay on one thread with no lock and no cross-thread wake-up.
//!
//! Connecting is separate from sending, so a failed connect can be retried on
//! another target before any of the request body is consumed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type on both sides of the proxy: request bodies going up, response
/// bodies coming down, and our own small JSON bodies.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// How to reach one upstream address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnKey {
    pub addr: SocketAddr,
    /// `Some` for TLS: the SNI name and the client config to use.
    pub tls: Option<TlsTarget>,
    pub h2: bool,
}

#[derive(Clone)]
pub struct TlsTarget {
    pub sni: String,
    pub config: Arc<rustls::ClientConfig>,
    /// Identifies `config` for pooling (configs are not comparable).
    pub config_id: u64,
}

impl std::fmt::Debug for TlsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsTarget({}, #{})", self.sni, self.config_id)
    }
}

impl PartialEq for TlsTarget {
    fn eq(&self, o: &Self) -> bool {
        self.sni == o.sni && self.config_id == o.config_id
    }
}
impl Eq for TlsTarget {}
impl std::hash::Hash for TlsTarget {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.sni.hash(h);
        self.config_id.hash(h);
    }
}

/// Why a connection could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect to {0} timed out")]
    Timeout(SocketAddr),
    #[error("connect to {0}: {1}")]
    Io(SocketAddr, std::io::Error),
    #[error("TLS handshake with {0}: {1}")]
    Tls(SocketAddr, std::io::Error),
    #[error("HTTP handshake with {0}: {1}")]
    Handshake(SocketAddr, hyper::Error),
}

pub enum Sender {
    H1(http1::SendRequest<ProxyBody>),
    H2(http2::SendRequest<ProxyBody>),
}

/// A checked-out connection; HTTP/1 ones go back to the pool via [`Pool::put_back`].
pub struct Conn {
    pub key: ConnKey,
    pub sender: Sender,
    /// Whether this connection was reused (a failure on a reused connection may just
    /// be the upstream having closed it, and is safe to retry for idempotent requests).
    pub reused: bool,
}

struct Idle {
    sender: http1::SendRequest<ProxyBody>,
    since: Instant,
}

#[derive(Default)]
struct Inner {
    h1: HashMap<ConnKey, Vec<Idle>>,
    h2: HashMap<ConnKey, http2::SendRequest<ProxyBody>>,
}

thread_local! {
    static POOL: RefCell<Inner> = RefCell::new(Inner::default());
}

/// Idle HTTP/1 plus live HTTP/2 connections over all threads, for `/status`.
static HELD: AtomicUsize = AtomicUsize::new(0);

/// A handle to the calling thread's pool.
#[derive(Clone, Copy, Default)]
pub struct Pool;

const MAX_IDLE_PER_KEY: usize = 256;
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Pool {
    /// A ready connection to `key`, reusing an idle one when there is one.
    pub async fn get(
        &self,
        key: &ConnKey,
        connect_timeout: Duration,
        upgrade: bool,
    ) -> Result<Conn, ConnectError> {
        if !upgrade && let Some(c) = self.checkout(key).await {
            return Ok(c);
        }
        let sender = tokio::time::timeout(connect_timeout, connect(key, upgrade))
            .await
            .map_err(|_| ConnectError::Timeout(key.addr))??;
        if let Sender::H2(s) = &sender {
            let old = POOL.with_borrow_mut(|p| p.h2.insert(key.clone(), s.clone()));
            if old.is_none() {
                HELD.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(Conn {
            key: key.clone(),
            sender,
            reused: false,
        })
    }

    async fn checkout(&self, key: &ConnKey) -> Option<Conn> {
        if key.h2 {
            let live = POOL.with_borrow_mut(|p| match p.h2.get(key) {
                Some(s) if !s.is_closed() => Some(s.clone()),
                Some(_) => {
                    p.h2.remove(key);
                    HELD.fetch_sub(1, Ordering::Relaxed);
                    None
                }
                None => None,
            });
            return live.map(|s| Conn {
                key: key.clone(),
                sender: Sender::H2(s),
                reused: true,
            });
        }
        loop {
            let idle = POOL.with_borrow_mut(|p| p.h1.get_mut(key).and_then(Vec::pop))?;
            HELD.fetch_sub(1, Ordering::Relaxed);
            if idle.since.elapsed() >= IDLE_TIMEOUT || idle.sender.is_closed() {
                continue;
            }
            let mut sender = idle.sender;
            if sender.is_ready() {
                return Some(Conn {
                    key: key.clone(),
                    sender: Sender::H1(sender),
                    reused: true,
                });
            }
            // The connection task may not have seen the end of the last exchange yet.
            if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(1), sender.ready()).await {
                return Some(Conn {
                    key: key.clone(),
                    sender: Sender::H1(sender),
                    reused: true,
                });
            }
        }
    }

    /// Returns an HTTP/1 connection whose exchange has finished.
    pub fn put_back(&self, key: ConnKey, sender: http1::SendRequest<ProxyBody>) {
        if sender.is_closed() {
            return;
        }
        let kept = POOL.with_borrow_mut(|p| {
            let list = p.h1.entry(key).or_default();
            if list.len() < MAX_IDLE_PER_KEY {
                list.push(Idle {
                    sender,
                    since: Instant::now(),
                });
                true
            } else {
                false
            }
        });
        if kept {
            HELD.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Idle HTTP/1 connections and live HTTP/2 connections held, over all threads.
    pub fn idle_count(&self) -> usize {
        HELD.load(Ordering::Relaxed)
    }
}

async fn connect(key: &ConnKey, upgrade: bool) -> Result<Sender, ConnectError> {
    let tcp = TcpStream::connect(key.addr)
        .await
        .map_err(|e| ConnectError::Io(key.addr, e))?;
    let _ = tcp.set_nodelay(true);
    match &key.tls {
        None => handshake(TokioIo::new(tcp), key, upgrade).await,
        Some(t) => {
            let name = ServerName::try_from(t.sni.clone())
                .or_else(|_| ServerName::try_from(key.addr.ip().to_string()))
                .map_err(|e| ConnectError::Tls(key.addr, std::io::Error::other(e)))?;
            let tls = tokio_rustls::TlsConnector::from(t.config.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| ConnectError::Tls(key.addr, e))?;
            handshake(TokioIo::new(tls), key, upgrade).await
        }
    }
}

async fn handshake<T>(io: TokioIo<T>, key: &ConnKey, upgrade: bool) -> Result<Sender, ConnectError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if key.h2 {
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(30))
            .handshake(io)
            .await
            .map_err(|e| ConnectError::Handshake(key.addr, e))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("upstream h2 connection ended: {e}");
            }
        });
        Ok(Sender::H2(sender))
    } else {
        let (sender, conn) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|e| ConnectError::Handshake(key.addr, e))?;
        if upgrade {
            tokio::spawn(async move {
                if let Err(e) = conn.with_upgrades().await {
                    tracing::debug!("upstream connection ended: {e}");
                }
            });
        } else {
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!("upstream connection ended: {e}");
                }
            });
        }
        Ok(Sender::H1(sender))
    }
}
