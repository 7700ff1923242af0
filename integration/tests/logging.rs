//! The log phase: file-log appends one JSON entry per request; http-log sends
//! entries (batched) to a real HTTP collector and retries when it fails.

use std::sync::atomic::Ordering;

use integration::{EchoServer, Gateway, client, collector, eventually, send};

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
