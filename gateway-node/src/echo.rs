//! A tiny built-in upstream (`portico-gateway echo`): answers every request with a
//! small JSON description of it. It lets a newcomer see a proxied response without
//! installing anything, and gives load runs a fast, predictable upstream.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

pub async fn run(addr: SocketAddr, name: String) -> anyhow::Result<()> {
    let listener = crate::server::bind(addr, "--listen").await?;
    tracing::info!(%addr, "echo upstream listening");
    loop {
        let (stream, remote) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let name = name.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let name = name.clone();
                async move {
                    let headers: serde_json::Map<String, serde_json::Value> = req
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_string(),
                                serde_json::Value::String(
                                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                ),
                            )
                        })
                        .collect();
                    let body = serde_json::json!({
                        "server": name,
                        "method": req.method().as_str(),
                        "path": req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"),
                        "client": remote.to_string(),
                        "headers": headers,
                    });
                    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
                    r.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(r)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
