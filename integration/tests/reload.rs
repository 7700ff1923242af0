//! Config reloads: when the file changes, on SIGHUP, rejected invalid files, health
//! state kept across reloads, and reloading while requests keep flowing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use integration::{EchoServer, Gateway, client, config_hash, eventually, get};

fn routed_to(up: &EchoServer, path: &str) -> String {
    format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: {}\n  routes:\n  - paths: [{path}]\n",
        up.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_file_changes_routing() {
    let a = EchoServer::start("a").await;
    let b = EchoServer::start("b").await;
    let first = routed_to(&a, "/r");
    let gw = Gateway::start(&first).await;
    assert_eq!(gw.current_hash().await, Some(config_hash(&first)));
    assert_eq!(get(&gw.url("/r")).await.server(), "a");
    let reloads = gw.status_json().await["reloads"].as_u64().unwrap_or(0);

    let second = routed_to(&b, "/r");
    gw.write_config(&second);
    gw.wait_for_hash(&config_hash(&second)).await;
    assert_eq!(get(&gw.url("/r")).await.server(), "b");
    let st = gw.status_json().await;
    assert_eq!(st["reloads"].as_u64(), Some(reloads + 1));
    assert_eq!(st["config"]["entities"]["routes"], 1);

    // a route that goes away stops matching
    let third = routed_to(&b, "/other");
    gw.write_config(&third);
    gw.wait_for_hash(&config_hash(&third)).await;
    assert_eq!(get(&gw.url("/r")).await.status, 404);
    assert_eq!(get(&gw.url("/other")).await.server(), "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_file_keeps_the_old_config_serving() {
    let a = EchoServer::start("a").await;
    let good = routed_to(&a, "/r");
    let gw = Gateway::start(&good).await;
    let hash = config_hash(&good);

    let bad = format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: {}\n  strip_paht: true\n  routes:\n  - paths: ['~/(unclosed']\n",
        a.url()
    );
    gw.write_config(&bad);
    let st = gw
        .wait_for_status("the bad file to be rejected", |st| {
            st["last_errors"].as_array().is_some_and(|e| !e.is_empty())
        })
        .await;
    let errors: Vec<String> = st["last_errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("services[0].routes[0].paths[0]: invalid regex")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e == "services[0].strip_paht: unknown field"),
        "{errors:?}"
    );
    assert!(st["failed_reloads"].as_u64() >= Some(1));
    assert_eq!(st["config"]["hash"], hash.as_str(), "the old config stays");
    assert_eq!(get(&gw.url("/r")).await.server(), "a");
    assert!(gw.log().contains("config rejected"));

    // unparsable YAML is rejected the same way
    gw.write_config("_format_version: \"3.0\"\nservices: [\n");
    gw.wait_for_status("the YAML error", |st| {
        st["last_errors"][0]
            .as_str()
            .is_some_and(|e| e.starts_with("invalid YAML"))
    })
    .await;
    assert_eq!(get(&gw.url("/r")).await.server(), "a");

    // a good file again clears the errors
    let fixed = routed_to(&a, "/fixed");
    gw.write_config(&fixed);
    gw.wait_for_hash(&config_hash(&fixed)).await;
    let st = gw.status_json().await;
    assert_eq!(st["last_errors"], serde_json::json!([]));
    assert_eq!(get(&gw.url("/fixed")).await.server(), "a");
}

/// The new file has the same length and modification time as the old one, so the
/// file watcher cannot see the change: only SIGHUP loads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads() {
    let a = EchoServer::start("a").await;
    let b = EchoServer::start("b").await;
    let mut first = routed_to(&a, "/r");
    let mut second = routed_to(&b, "/r");
    while first.len() < second.len() {
        first.push('#');
    }
    while second.len() < first.len() {
        second.push('#');
    }
    let gw = Gateway::start(&first).await;
    assert_eq!(get(&gw.url("/r")).await.server(), "a");

    let mtime = std::fs::metadata(&gw.config_path)
        .and_then(|m| m.modified())
        .expect("mtime");
    let tmp = gw.dir.join("same-stamp.yaml");
    std::fs::write(&tmp, &second).expect("write");
    std::fs::File::options()
        .write(true)
        .open(&tmp)
        .and_then(|f| f.set_modified(mtime))
        .expect("set mtime");
    std::fs::rename(&tmp, &gw.config_path).expect("rename");
    // a negative check: give the watcher (100 ms) several turns to not reload
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gw.current_hash().await, Some(config_hash(&first)));

    gw.sighup();
    gw.wait_for_hash(&config_hash(&second)).await;
    assert_eq!(get(&gw.url("/r")).await.server(), "b");
    assert!(gw.log().contains("SIGHUP"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_health_survives_a_reload_that_keeps_the_upstream() {
    let bad = EchoServer::start("bad").await;
    let good = EchoServer::start("good").await;
    bad.force_status(500);
    let cfg = |extra_route: &str| {
        format!(
            r#"_format_version: "3.0"
upstreams:
- name: pool.internal
  healthchecks:
    passive:
      unhealthy:
        http_failures: 1
  targets:
  - target: {}
  - target: {}
services:
- name: s
  host: pool.internal
  routes:
  - paths: [/]
{extra_route}"#,
            bad.target(),
            good.target()
        )
    };
    let gw = Gateway::start(&cfg("")).await;
    for _ in 0..4 {
        get(&gw.url("/x")).await;
    }
    gw.wait_for_health("pool.internal", &bad.target(), false)
        .await;
    let next = cfg("  - paths: [/extra]\n");
    gw.write_config(&next);
    gw.wait_for_hash(&config_hash(&next)).await;
    assert_eq!(
        gw.target_healthy("pool.internal", &bad.target()).await,
        Some(false)
    );
    let before = bad.hits();
    for _ in 0..6 {
        assert_eq!(get(&gw.url("/extra")).await.server(), "good");
    }
    assert_eq!(bad.hits(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_under_load_drops_no_request() {
    let a = EchoServer::start("a").await;
    let b = EchoServer::start("b").await;
    let ca = routed_to(&a, "/load");
    let cb = routed_to(&b, "/load");
    let (ha, hb) = (config_hash(&ca), config_hash(&cb));
    let gw = Gateway::start(&ca).await;

    let done = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let mut loaders = Vec::new();
    for _ in 0..4 {
        let (done, sent) = (done.clone(), sent.clone());
        let c = client();
        let url = gw.url("/load");
        loaders.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for _ in 0..500 {
                if done.load(Ordering::SeqCst) {
                    break;
                }
                match c.get(&url).send().await {
                    Ok(r) if r.status() == 200 => {
                        if let Err(e) = r.bytes().await {
                            failures.push(format!("body: {e}"));
                        }
                    }
                    Ok(r) => failures.push(format!("status {}", r.status())),
                    Err(e) => failures.push(format!("error: {e:?}")),
                }
                sent.fetch_add(1, Ordering::SeqCst);
            }
            failures
        }));
    }
    eventually("the load to start", || async {
        sent.load(Ordering::SeqCst) >= 20
    })
    .await;
    for i in 0..20 {
        let (text, hash) = if i % 2 == 0 { (&cb, &hb) } else { (&ca, &ha) };
        gw.write_config(text);
        gw.wait_for_hash(hash).await;
    }
    done.store(true, Ordering::SeqCst);
    let mut failures = Vec::new();
    for l in loaders {
        failures.extend(l.await.expect("loader"));
    }
    let total = sent.load(Ordering::SeqCst);
    assert!(total > 0 && total <= 2000);
    assert!(
        failures.is_empty(),
        "{} of {total} requests failed during reloads, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(a.hits() + b.hits(), total);
}
