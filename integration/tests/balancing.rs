//! Load balancing over upstream targets: weighted round-robin, consistent hashing
//! on a header, least-connections.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use integration::{EchoServer, Gateway, client, eventually, send};

fn config(algorithm_lines: &str, targets: &[(&EchoServer, u32)]) -> String {
    let mut t = String::new();
    for (s, w) in targets {
        t.push_str(&format!("  - target: {}\n    weight: {w}\n", s.target()));
    }
    format!(
        r#"_format_version: "3.0"
upstreams:
- name: pool.internal
{algorithm_lines}  targets:
{t}services:
- name: s
  host: pool.internal
  routes:
  - paths: [/]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_follows_weights() {
    let a = EchoServer::start("a").await;
    let b = EchoServer::start("b").await;
    let gw = Gateway::start(&config("", &[(&a, 300), (&b, 100)])).await;
    let c = client();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let c = c.clone();
        let url = gw.url("/rr");
        tasks.push(tokio::spawn(async move {
            let mut n = HashMap::<String, usize>::new();
            for _ in 0..100 {
                let r = send(c.get(&url)).await;
                assert_eq!(r.status, 200, "{}", r.text());
                *n.entry(r.server()).or_default() += 1;
            }
            n
        }));
    }
    let mut total = HashMap::<String, usize>::new();
    for t in tasks {
        for (k, v) in t.await.expect("client task") {
            *total.entry(k).or_default() += v;
        }
    }
    let (na, nb) = (total["a"], total["b"]);
    assert_eq!(na + nb, 400);
    assert_eq!((a.hits(), b.hits()), (na, nb));
    let share = na as f64 / 400.0;
    assert!(
        (0.70..=0.80).contains(&share),
        "weights 300:100 should give a ~75% share, got a={na} b={nb}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hashing_keeps_a_key_on_one_target() {
    let a = EchoServer::start("a").await;
    let b = EchoServer::start("b").await;
    let algo = "  algorithm: consistent-hashing\n  hash_on: header\n  hash_on_header: X-User\n";
    let gw = Gateway::start(&config(algo, &[(&a, 100), (&b, 100)])).await;
    let c = client();
    let mut used = HashMap::<String, usize>::new();
    for k in 0..24 {
        let user = format!("user-{k}");
        let mut servers = Vec::new();
        for _ in 0..8 {
            let r = send(c.get(gw.url("/ch")).header("x-user", &user)).await;
            assert_eq!(r.status, 200);
            servers.push(r.server());
        }
        assert!(
            servers.iter().all(|s| *s == servers[0]),
            "{user} moved between targets: {servers:?}"
        );
        *used.entry(servers[0].clone()).or_default() += 1;
    }
    assert_eq!(
        used.len(),
        2,
        "24 keys should land on both targets: {used:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_connections_prefers_the_idle_target() {
    let a = EchoServer::start("a").await;
    let b = EchoServer::start("b").await;
    let algo = "  algorithm: least-connections\n";
    let gw = Gateway::start(&config(algo, &[(&a, 100), (&b, 100)])).await;
    let c = client();
    // one slow request keeps one target busy
    let slow = {
        let c = c.clone();
        let url = gw.url("/sleep/60000");
        tokio::spawn(async move {
            let _ = c.get(url).send().await;
        })
    };
    eventually("the slow request to reach an upstream", || async {
        a.state.in_flight.load(Ordering::SeqCst) + b.state.in_flight.load(Ordering::SeqCst) == 1
    })
    .await;
    let (busy, idle) = if a.state.in_flight.load(Ordering::SeqCst) == 1 {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let busy_before = busy.hits();
    for i in 0..20 {
        let r = send(c.get(gw.url("/fast"))).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.server(),
            idle.name,
            "request {i} went to the busy target {}",
            busy.name
        );
    }
    assert_eq!(busy.hits(), busy_before);
    slow.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hashing_on_a_cookie_sets_it_and_sticks() {
    let a = EchoServer::start("a").await;
    let b = EchoServer::start("b").await;
    let algo = "  algorithm: consistent-hashing\n  hash_on: cookie\n  hash_on_cookie: sticky\n  hash_on_cookie_path: /app\n";
    let gw = Gateway::start(&config(algo, &[(&a, 100), (&b, 100)])).await;
    let c = client();
    let mut used = HashMap::<String, usize>::new();
    for _ in 0..16 {
        let first = send(c.get(gw.url("/app/x"))).await;
        assert_eq!(first.status, 200);
        let cookie = first
            .header("set-cookie")
            .unwrap_or_else(|| panic!("no Set-Cookie: {:?}", first.headers));
        assert!(cookie.starts_with("sticky="), "{cookie}");
        assert!(cookie.contains("Path=/app"), "{cookie}");
        let pair = cookie.split(';').next().unwrap_or_default().to_string();
        for _ in 0..5 {
            let r = send(c.get(gw.url("/app/y")).header("cookie", &pair)).await;
            assert_eq!(r.server(), first.server(), "{pair} moved");
            assert!(r.header("set-cookie").is_none(), "cookie sent again");
        }
        *used.entry(first.server()).or_default() += 1;
    }
    assert_eq!(
        used.len(),
        2,
        "16 cookies should land on both targets: {used:?}"
    );
}
