//! The node's status listener (loopback by default): `/status` reports the config
//! hash, load time, entity counts, connection counters and target health;
//! `/status/ready` answers 200 only once a config is loaded.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::node::Node;

pub fn serve(listener: TcpListener, node: Arc<Node>) {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let node = node.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let node = node.clone();
                    async move { Ok::<_, Infallible>(handle(&node, &req)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}

fn json(status: StatusCode, v: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn handle(node: &Node, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let cfg = node.proxy.config.load_full();
    match req.uri().path() {
        "/status/ready" => match cfg {
            Some(c) => json(
                StatusCode::OK,
                serde_json::json!({ "ready": true, "config_hash": c.hash }),
            ),
            None => json(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({ "ready": false, "message": "no configuration loaded yet" }),
            ),
        },
        "/status" => {
            let s = &node.proxy.stats;
            let secs = |t: std::time::SystemTime| {
                t.duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0)
            };
            let config = cfg.as_ref().map(|c| {
                serde_json::json!({
                    "hash": c.hash,
                    "loaded_at": secs(c.loaded_at),
                    "compile_ms": c.compile_time.as_secs_f64() * 1000.0,
                    "entities": c.counts,
                })
            });
            let upstreams: Vec<serde_json::Value> = cfg
                .as_ref()
                .map(|c| {
                    let mut v: Vec<_> = c
                        .balancers
                        .values()
                        .map(|b| {
                            let targets: Vec<_> = b
                                .health()
                                .into_iter()
                                .map(|(t, h)| serde_json::json!({ "target": t, "healthy": h }))
                                .collect();
                            serde_json::json!({ "name": b.name, "targets": targets })
                        })
                        .collect();
                    v.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
                    v
                })
                .unwrap_or_default();
            json(
                StatusCode::OK,
                serde_json::json!({
                    "server": {
                        "version": env!("CARGO_PKG_VERSION"),
                        "started_at": secs(node.started),
                        "config_file": node.config_path.as_ref().map(|p| p.display().to_string()),
                    },
                    "config": config,
                    "reloads": node.reloads.load(Ordering::Relaxed),
                    "failed_reloads": node.failed_reloads.load(Ordering::Relaxed),
                    "last_errors": node.last_errors.lock().map(|e| e.clone()).unwrap_or_default(),
                    "warnings": node.warnings.lock().map(|e| e.clone()).unwrap_or_default(),
                    "connections": {
                        "active": s.connections_active.load(Ordering::Relaxed),
                        "total": s.connections_total.load(Ordering::Relaxed),
                        "requests": s.requests.load(Ordering::Relaxed),
                        "upstream_pooled": node.proxy.pool.idle_count(),
                    },
                    "upstreams": upstreams,
                }),
            )
        }
        _ => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "message": "Not found" }),
        ),
    }
}
