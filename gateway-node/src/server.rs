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

/// Accepts connections forever; each is served on its own task.
pub fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, proxy: Arc<Proxy>) {
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
            let local_port = stream.local_addr().map(|a| a.port()).unwrap_or(0);
            let proxy = proxy.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
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
                        let info = Arc::new(ConnInfo {
                            remote,
                            local_port,
                            tls: false,
                            sni: None,
                        });
                        serve_conn(TokioIo::new(stream), info, proxy).await;
                    }
                    Some(acceptor) => {
                        let accepted =
                            tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                                .await;
                        let Ok(Ok(s)) = accepted else {
                            tracing::debug!(%remote, "TLS handshake failed");
                            return;
                        };
                        let sni = s.get_ref().1.server_name().map(str::to_string);
                        let info = Arc::new(ConnInfo {
                            remote,
                            local_port,
                            tls: true,
                            sni,
                        });
                        serve_conn(TokioIo::new(s), info, proxy).await;
                    }
                }
            });
        }
    });
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
