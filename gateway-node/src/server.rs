//! Proxy listeners: plain and TLS sockets, HTTP/1.1 and HTTP/2 (ALPN over TLS,
//! prior knowledge in plain text, which is how gRPC clients speak h2c), with
//! upgrades (WebSocket) passed through.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::proxy::{ConnInfo, Proxy};

/// Binds `addr`; the error names the flag that sets it, so a user knows what to change.
pub async fn bind(addr: SocketAddr, flag: &str) -> anyhow::Result<TcpListener> {
    let sock = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)
        .and_then(|()| sock.listen(1024))
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {addr} ({flag}): {e}; choose another address with {flag}"
            )
        })
}

/// A connection accepted on the listener runtime, handed to a worker.
struct Accepted {
    stream: std::net::TcpStream,
    remote: SocketAddr,
    tls: Option<TlsAcceptor>,
}

/// Worker threads, each running a single-threaded runtime (nginx's model: a
/// connection, its upstream connections and every request on them stay on one
/// thread). Listeners accept on the main runtime and deal connections out in turn.
pub struct Workers {
    senders: Vec<tokio::sync::mpsc::UnboundedSender<Accepted>>,
    next: std::sync::atomic::AtomicUsize,
}

impl Workers {
    pub fn start(n: usize, proxy: Arc<Proxy>) -> anyhow::Result<Arc<Workers>> {
        let mut senders = Vec::with_capacity(n);
        for i in 0..n.max(1) {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Accepted>();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let proxy = proxy.clone();
            std::thread::Builder::new()
                .name(format!("portico-worker-{i}"))
                .spawn(move || {
                    rt.block_on(async move {
                        while let Some(a) = rx.recv().await {
                            match tokio::net::TcpStream::from_std(a.stream) {
                                Ok(s) => {
                                    tokio::spawn(serve_stream(s, a.remote, a.tls, proxy.clone()));
                                }
                                Err(e) => tracing::warn!("cannot adopt connection: {e}"),
                            }
                        }
                    });
                })?;
            senders.push(tx);
        }
        Ok(Arc::new(Workers {
            senders,
            next: std::sync::atomic::AtomicUsize::new(0),
        }))
    }

    fn dispatch(&self, a: Accepted) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        if self.senders[i].send(a).is_err() {
            tracing::error!("worker {i} is gone; connection dropped");
        }
    }
}

/// Accepts connections forever and hands each to a worker.
pub fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, workers: Arc<Workers>) {
    tokio::spawn(async move {
        loop {
            let (stream, remote) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            match stream.into_std() {
                Ok(stream) => workers.dispatch(Accepted {
                    stream,
                    remote,
                    tls: tls.clone(),
                }),
                Err(e) => tracing::warn!("cannot hand connection over: {e}"),
            }
        }
    });
}

async fn serve_stream(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    tls: Option<TlsAcceptor>,
    proxy: Arc<Proxy>,
) {
    let local_port = stream.local_addr().map(|a| a.port()).unwrap_or(0);
    proxy
        .stats
        .connections_total
        .fetch_add(1, Ordering::Relaxed);
    proxy
        .stats
        .connections_active
        .fetch_add(1, Ordering::Relaxed);
    let _active = ActiveConn(proxy.clone());
    match tls {
        None => {
            let info = Arc::new(ConnInfo::new(remote, local_port, false, None));
            serve_conn(TokioIo::new(stream), info, proxy).await;
        }
        Some(acceptor) => {
            let accepted =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
            let Ok(Ok(s)) = accepted else {
                tracing::debug!(%remote, "TLS handshake failed");
                return;
            };
            let sni = s.get_ref().1.server_name().map(str::to_string);
            let info = Arc::new(ConnInfo::new(remote, local_port, true, sni));
            serve_conn(TokioIo::new(s), info, proxy).await;
        }
    }
}

struct ActiveConn(Arc<Proxy>);

impl Drop for ActiveConn {
    fn drop(&mut self) {
        self.0
            .stats
            .connections_active
            .fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve_conn<I>(io: TokioIo<I>, info: Arc<ConnInfo>, proxy: Arc<Proxy>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| proxy.clone().handle(info.clone(), req));
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(60));
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(1000);
    if let Err(e) = b.serve_connection_with_upgrades(io, svc).await {
        tracing::debug!("client connection ended: {e}");
    }
}

/// Where a node listens.
pub struct NodeListen {
    pub plain: Vec<SocketAddr>,
    pub tls: Vec<SocketAddr>,
    pub status: SocketAddr,
    /// Proxy worker threads (each with its own runtime).
    pub workers: usize,
}

/// Binds every listener (a bad address fails here, before serving), then serves
/// the status API and the proxy. Returns the workers, which live as long as the
/// returned handle.
pub async fn start_node(
    node: Arc<crate::node::Node>,
    listen: &NodeListen,
) -> anyhow::Result<Arc<Workers>> {
    let status = bind(listen.status, "--status-listen").await?;
    let mut plain = Vec::new();
    for a in &listen.plain {
        plain.push(bind(*a, "--proxy-listen").await?);
    }
    let mut tls = Vec::new();
    for a in &listen.tls {
        tls.push(bind(*a, "--proxy-listen-tls").await?);
    }
    crate::status::serve(status, node.clone());
    let acceptor = TlsAcceptor::from(crate::tls::server_config(node.resolver.clone()));
    let pool = Workers::start(listen.workers.max(1), node.proxy.clone())?;
    for l in plain {
        serve(l, None, pool.clone());
    }
    for l in tls {
        serve(l, Some(acceptor.clone()), pool.clone());
    }
    Ok(pool)
}
