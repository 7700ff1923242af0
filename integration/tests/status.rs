//! The status listener: `/status/ready` and what `/status` reports.

use integration::{EchoServer, Gateway, client, config_hash, get, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_config_counts_connections_and_upstreams() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        r#"_format_version: "3.0"
upstreams:
- name: pool.internal
  targets:
  - target: {t}
    weight: 50
services:
- name: s
  host: pool.internal
  routes:
  - paths: [/a]
  - paths: [/b]
vaults:
- name: env
  prefix: my-env
"#,
        t = up.target()
    );
    let gw = Gateway::start(&yaml).await;
    for _ in 0..3 {
        assert_eq!(get(&gw.url("/a")).await.status, 200);
    }
    let st = gw.status_json().await;
    assert_eq!(st["config"]["hash"], config_hash(&yaml).as_str());
    let e = &st["config"]["entities"];
    assert_eq!(
        (&e["services"], &e["routes"], &e["upstreams"], &e["targets"]),
        (
            &serde_json::json!(1),
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!(1)
        )
    );
    assert_eq!(
        st["server"]["config_file"],
        gw.config_path.display().to_string().as_str()
    );
    assert!(st["connections"]["requests"].as_u64() >= Some(3), "{st:#}");
    assert!(st["connections"]["total"].as_u64() >= Some(1), "{st:#}");
    assert_eq!(
        st["upstreams"],
        serde_json::json!([{"name": "pool.internal", "targets": [{"target": up.target(), "healthy": true}]}])
    );
    let warnings = st["warnings"].to_string();
    assert!(
        warnings.contains("vaults: not supported yet: 1 entries ignored"),
        "{warnings}"
    );
    assert_eq!(st["last_errors"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_and_unknown_status_paths() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: {}\n  routes:\n  - paths: [/]\n",
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let c = client();
    let r = send(c.get(format!("http://{}/status/ready", gw.status))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["ready"], true);
    assert_eq!(r.json()["config_hash"], config_hash(&yaml).as_str());
    let r = send(c.get(format!("http://{}/nope", gw.status))).await;
    assert_eq!(r.status, 404);
    // the status listener is not the proxy: proxy paths are not served there
    assert_eq!(up.hits(), 0);
}
