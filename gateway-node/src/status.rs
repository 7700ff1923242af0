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
                    "sync": node.sync.lock().ok().and_then(|s| s.clone()),
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
        "/metrics" => metrics(node, cfg.as_deref()),
        _ => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "message": "Not found" }),
        ),
    }
}

/// Prometheus text: the node's counters, target health, and the prometheus
/// plugin's series (when it is configured).
fn metrics(node: &Node, cfg: Option<&crate::compiled::Compiled>) -> Response<Full<Bytes>> {
    use std::fmt::Write;
    let s = &node.proxy.stats;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP kong_nginx_requests_total Number of requests total\n# TYPE kong_nginx_requests_total counter"
    );
    let _ = writeln!(
        out,
        "kong_nginx_requests_total {}",
        s.requests.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP kong_nginx_connections_total Number of connections by subsystem\n# TYPE kong_nginx_connections_total gauge"
    );
    let _ = writeln!(
        out,
        "kong_nginx_connections_total{{node_id=\"\",subsystem=\"http\",state=\"active\"}} {}",
        s.connections_active.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "kong_nginx_connections_total{{node_id=\"\",subsystem=\"http\",state=\"total\"}} {}",
        s.connections_total.load(Ordering::Relaxed)
    );
    if let Some(c) = cfg {
        let _ = writeln!(
            out,
            "# HELP kong_upstream_target_health Health status of targets of upstream\n# TYPE kong_upstream_target_health gauge"
        );
        for b in c.balancers.values() {
            for (t, healthy) in b.health() {
                for (state, v) in [("healthy", healthy), ("unhealthy", !healthy)] {
                    let _ = writeln!(
                        out,
                        "kong_upstream_target_health{{upstream=\"{}\",target=\"{t}\",address=\"{t}\",state=\"{state}\",subsystem=\"http\"}} {}",
                        b.name,
                        u8::from(v)
                    );
                }
            }
        }
    }
    crate::plugins::prometheus::render(&mut out);
    let mut r = Response::new(Full::new(Bytes::from(out)));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}
