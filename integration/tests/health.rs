//! Target health: passive counting of proxied results, active probes of
//! `http_path`, the 503 when no target is healthy, retries past a refused
//! connection and the 502 when the only target is down.

use std::sync::atomic::Ordering;

use integration::{ClosingServer, EchoServer, Gateway, client, free_port, get, send};

fn upstream_yaml(healthchecks: &str, targets: &[String]) -> String {
    let mut t = String::new();
    for target in targets {
        t.push_str(&format!("  - target: {target}\n"));
    }
    format!(
        r#"_format_version: "3.0"
upstreams:
- name: pool.internal
  healthchecks:
{healthchecks}  targets:
{t}services:
- name: s
  host: pool.internal
  routes:
  - paths: [/]
"#
    )
}

const ACTIVE: &str = r#"    active:
      http_path: /health
      timeout: 2
      healthy:
        interval: 0.2
        successes: 1
      unhealthy:
        interval: 0.2
        http_failures: 1
        tcp_failures: 1
        timeouts: 1
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_http_failures_take_a_target_out() {
    let bad = EchoServer::start("bad").await;
    let good = EchoServer::start("good").await;
    bad.force_status(500);
    let hc = "    passive:\n      unhealthy:\n        http_failures: 2\n";
    let gw = Gateway::start(&upstream_yaml(hc, &[bad.target(), good.target()])).await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(get(&gw.url("/p")).await.status);
    }
    assert_eq!(
        bad.hits(),
        2,
        "the failing target should get exactly http_failures requests: {statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 500).count(), 2);
    assert_eq!(good.hits(), 18);
    assert_eq!(
        gw.target_healthy("pool.internal", &bad.target()).await,
        Some(false)
    );
    assert_eq!(
        gw.target_healthy("pool.internal", &good.target()).await,
        Some(true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_probes_take_a_target_out_and_bring_it_back() {
    let a = EchoServer::start("a").await;
    let b = EchoServer::start("b").await;
    let gw = Gateway::start(&upstream_yaml(ACTIVE, &[a.target(), b.target()])).await;
    let c = client();

    a.set_healthy(false);
    gw.wait_for_health("pool.internal", &a.target(), false)
        .await;
    let before = a.hits();
    for _ in 0..20 {
        let r = send(c.get(gw.url("/x"))).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.server(), "b");
    }
    assert_eq!(a.hits(), before);

    a.set_healthy(true);
    gw.wait_for_health("pool.internal", &a.target(), true).await;
    let mut to_a = 0;
    for _ in 0..20 {
        let r = send(c.get(gw.url("/x"))).await;
        assert_eq!(r.status, 200);
        if r.server() == "a" {
            to_a += 1;
        }
    }
    assert_eq!(to_a, 10, "a healthy again gets its round-robin share");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_healthy_target_is_a_503() {
    let a = EchoServer::start("a").await;
    let b = EchoServer::start("b").await;
    let gw = Gateway::start(&upstream_yaml(ACTIVE, &[a.target(), b.target()])).await;
    a.set_healthy(false);
    b.set_healthy(false);
    gw.wait_for_health("pool.internal", &a.target(), false)
        .await;
    gw.wait_for_health("pool.internal", &b.target(), false)
        .await;
    let r = get(&gw.url("/x")).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json(),
        serde_json::json!({"message": "failure to get a peer from the ring-balancer"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_target_is_found_by_tcp_probes() {
    let a = EchoServer::start("a").await;
    let b = EchoServer::start("b").await;
    let gw = Gateway::start(&upstream_yaml(ACTIVE, &[a.target(), b.target()])).await;
    a.stop();
    gw.wait_for_health("pool.internal", &a.target(), false)
        .await;
    for _ in 0..10 {
        assert_eq!(get(&gw.url("/x")).await.server(), "b");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_retried_on_the_next_target() {
    let dead = format!("127.0.0.1:{}", free_port());
    let up = EchoServer::start("alive").await;
    // no health checks: every other pick is the dead target
    let gw = Gateway::start(&upstream_yaml("    threshold: 0\n", &[dead, up.target()])).await;
    for i in 0..10 {
        let r = get(&gw.url("/x")).await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.server(), "alive");
    }
    assert_eq!(up.hits(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_dead_target_is_a_502() {
    let port = free_port();
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://127.0.0.1:{port}\n  retries: 2\n  routes:\n  - paths: [/]\n"
    );
    let gw = Gateway::start(&yaml).await;
    let r = get(&gw.url("/x")).await;
    assert_eq!(r.status, 502);
    assert_eq!(
        r.json(),
        serde_json::json!({"message": "An invalid response was received from the upstream server"})
    );
}

/// An upstream may close an idle keep-alive connection just as the gateway reuses
/// it. nginx retries a request whose connection failed before any response header
/// came back (`proxy_next_upstream error`, up to the service's `retries`), so Kong
/// answers 200 on a fresh connection; the request must not fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_connection_closed_by_the_upstream_is_retried() {
    let up = ClosingServer::start().await;
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://{}\n  routes:\n  - paths: [/]\n",
        up.addr
    );
    let gw = Gateway::start(&yaml).await;
    let c = client();
    for i in 0..4 {
        let r = send(c.get(gw.url("/k"))).await;
        assert_eq!(
            r.status,
            200,
            "GET {i}: {} (upstream connections {}, answered {}, closed unanswered {})",
            r.text(),
            up.connections.load(Ordering::SeqCst),
            up.answered.load(Ordering::SeqCst),
            up.dropped.load(Ordering::SeqCst)
        );
    }
}
