//! Active health probes: an HTTP GET of `http_path` (or a bare TCP connect for
//! `type: tcp`) on a fresh connection, classified for the balancer's counters.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use graphql_schema::entity::upstream::ActiveHealthcheck;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::balancer::Outcome;

pub async fn probe(a: &ActiveHealthcheck, addr: SocketAddr, host: &str, port: u16) -> Outcome {
    let timeout = Duration::from_secs_f64(a.timeout.max(0.001));
    match tokio::time::timeout(timeout, run(a, addr, host, port)).await {
        Ok(o) => o,
        Err(_) => Outcome::Timeout,
    }
}

async fn run(a: &ActiveHealthcheck, addr: SocketAddr, host: &str, port: u16) -> Outcome {
    let Ok(tcp) = TcpStream::connect(addr).await else {
        return Outcome::TcpFailure;
    };
    if a.kind == "tcp" {
        return Outcome::Status(200);
    }
    let host_header = if port == 80 || port == 443 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    let mut req = http::Request::get(a.http_path.as_str()).header(http::header::HOST, host_header);
    for (k, vs) in a.headers.iter().flatten() {
        for v in vs {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    let Ok(req) = req.body(Empty::<Bytes>::new()) else {
        return Outcome::TcpFailure;
    };
    let status = if a.kind == "https" {
        let cfg = super::tls::client_config(a.https_verify_certificate, &[], false);
        let sni = a.https_sni.clone().unwrap_or_else(|| host.to_string());
        let Ok(name) = rustls::pki_types::ServerName::try_from(sni) else {
            return Outcome::TcpFailure;
        };
        let Ok(tls) = tokio_rustls::TlsConnector::from(cfg)
            .connect(name, tcp)
            .await
        else {
            return Outcome::TcpFailure;
        };
        send(TokioIo::new(tls), req).await
    } else {
        send(TokioIo::new(tcp), req).await
    };
    match status {
        Some(s) => Outcome::Status(s),
        None => Outcome::TcpFailure,
    }
}

async fn send<T>(io: TokioIo<T>, req: http::Request<Empty<Bytes>>) -> Option<u16>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.ok()?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.ok()?;
    Some(resp.status().as_u16())
}
