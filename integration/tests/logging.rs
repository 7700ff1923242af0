//! The log phase: file-log appends one JSON entry per request; http-log sends
//! entries (batched) to a real HTTP collector and retries when it fails.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use integration::{EchoServer, Gateway, client, eventually, send};
use tokio::sync::Mutex;

/// A log collector: records every body it receives; fails the first `fail_first`.
async fn collector(
    fail_first: usize,
) -> (
    SocketAddr,
    Arc<Mutex<Vec<serde_json::Value>>>,
    Arc<AtomicUsize>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let got = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let (g, c) = (got.clone(), calls.clone());
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let (g, c) = (g.clone(), c.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let (g, c) = (g.clone(), c.clone());
                    async move {
                        let n = c.fetch_add(1, Ordering::SeqCst);
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let mut r = http::Response::new(Full::new(Bytes::new()));
                        if n < fail_first {
                            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                        } else if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                            g.lock().await.push(v);
                        }
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (addr, got, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_log_and_http_log() {
    let up = EchoServer::start("up").await;
    let (addr, got, calls) = collector(1).await;
    let dir = integration::make_temp_dir("filelog");
    let file = dir.join("access.log");
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: logged
    paths: [/logged]
plugins:
- name: file-log
  config: {{path: {}}}
- name: http-log
  config:
    http_endpoint: http://{addr}/logs
    queue: {{max_batch_size: 3, max_coalescing_delay: 0.2, initial_retry_delay: 0.05}}
"#,
        up.url(),
        file.display()
    );
    let gw = Gateway::start(&yaml).await;
    for i in 0..3 {
        let r = send(
            client()
                .get(gw.url(&format!("/logged/{i}?x=1")))
                .header("authorization", "Bearer secret"),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let r = send(client().get(gw.url("/nothing"))).await;
    assert_eq!(r.status, 404);

    // file-log: one JSON line per proxied request
    eventually("three lines in the file-log", || {
        let file = file.clone();
        async move {
            std::fs::read_to_string(&file)
                .map(|t| t.lines().count() == 3)
                .unwrap_or(false)
        }
    })
    .await;
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().unwrap_or("{}")).unwrap_or_default();
    assert_eq!(first["request"]["method"], "GET");
    assert_eq!(first["request"]["uri"], "/logged/0?x=1");
    assert_eq!(first["request"]["headers"]["authorization"], "REDACTED");
    assert_eq!(first["response"]["status"], 200);
    assert!(first["response"]["size"].as_u64().unwrap_or(0) > 0);
    assert_eq!(first["route"]["name"], "logged");
    assert_eq!(first["service"]["name"], "svc");
    assert!(first["latencies"]["request"].is_u64());
    assert_eq!(first["client_ip"], "127.0.0.1");

    // http-log: the first delivery fails (500) and is retried; three entries arrive
    eventually("three entries at the collector", || {
        let got = got.clone();
        async move {
            let g = got.lock().await;
            g.iter()
                .map(|v| v.as_array().map(Vec::len).unwrap_or(1))
                .sum::<usize>()
                == 3
        }
    })
    .await;
    assert!(
        calls.load(Ordering::SeqCst) >= 2,
        "a failed delivery was retried"
    );
    let g = got.lock().await;
    let uris: Vec<String> = g
        .iter()
        .flat_map(|v| v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]))
        .map(|e| e["request"]["uri"].as_str().unwrap_or_default().to_string())
        .collect();
    for i in 0..3 {
        assert!(uris.contains(&format!("/logged/{i}?x=1")), "{uris:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_on_the_status_listener() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: metered
    paths: [/m]
plugins:
- name: prometheus
  config: {{status_code_metrics: true, latency_metrics: true, bandwidth_metrics: true}}
"#,
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    for _ in 0..3 {
        assert_eq!(send(client().get(gw.url("/m"))).await.status, 200);
    }
    let url = format!("http://{}/metrics", gw.status);
    eventually("the three requests in /metrics", || {
        let url = url.clone();
        async move {
            send(client().get(url)).await.text().contains(
                "kong_http_requests_total{service=\"svc\",route=\"metered\",code=\"200\",source=\"service\",workspace=\"default\",consumer=\"\"} 3",
            )
        }
    })
    .await;
    let text = send(client().get(&url)).await.text();
    assert!(text.contains("kong_request_latency_ms_count{service=\"svc\",route=\"metered\",workspace=\"default\"} 3"), "{text}");
    assert!(text.contains("kong_bandwidth_bytes{service=\"svc\",route=\"metered\",direction=\"egress\",workspace=\"default\"}"), "{text}");
    assert!(text.contains("kong_nginx_requests_total"), "{text}");
}
