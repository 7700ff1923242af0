//! Headers the gateway sets and removes: X-Forwarded-*, X-Real-IP, Via (request and
//! response), Server, and hop-by-hop headers in both directions.

use integration::{EchoServer, Gateway, client, send, tls_client};

fn config(up: &EchoServer) -> String {
    format!(
        r#"_format_version: "3.0"
services:
- name: s
  url: {}
  routes:
  - name: stripped
    paths: [/fw]
    strip_path: true
  - name: kept
    paths: [/kept]
    strip_path: false
"#,
        up.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_replace_the_clients_and_append_to_xff() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&config(&up)).await;
    let r = send(
        client()
            .get(gw.url("/fw/x?y=1"))
            .header("host", "FW.test:5555")
            .header("x-forwarded-for", "10.1.2.3")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "evil.test")
            .header("x-forwarded-port", "1")
            .header("x-forwarded-path", "/evil")
            .header("x-forwarded-prefix", "/evil")
            .header("x-real-ip", "6.6.6.6"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/x?y=1");
    let h = |n: &str| r.upstream_header(n).unwrap_or_default();
    assert_eq!(h("x-forwarded-for"), "10.1.2.3, 127.0.0.1");
    assert_eq!(h("x-forwarded-proto"), "http");
    assert_eq!(h("x-forwarded-host"), "fw.test");
    assert_eq!(h("x-forwarded-port"), gw.proxy.port().to_string());
    assert_eq!(h("x-forwarded-path"), "/fw/x");
    assert_eq!(h("x-forwarded-prefix"), "/fw");
    assert_eq!(h("x-real-ip"), "127.0.0.1");
    let via = h("via");
    assert!(
        via.starts_with("1.1 portico/"),
        "request Via should name the gateway: {via:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_prefix_without_strip_path_and_no_xff_from_the_client() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&config(&up)).await;
    let r = send(
        client()
            .get(gw.url("/kept/a"))
            .header("x-forwarded-prefix", "/evil"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/kept/a");
    assert_eq!(r.upstream_header("x-forwarded-prefix"), None);
    assert_eq!(
        r.upstream_header("x-forwarded-for").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        r.upstream_header("x-forwarded-host").as_deref(),
        Some("127.0.0.1"),
        "Host without its port"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_over_tls() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&config(&up)).await;
    let r = send(tls_client().get(gw.tls_url("/fw/t"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.upstream_header("x-forwarded-proto").as_deref(),
        Some("https")
    );
    assert_eq!(
        r.upstream_header("x-forwarded-port"),
        Some(gw.tls.port().to_string())
    );
    let via = r.upstream_header("via").unwrap_or_default();
    let want = if r.version == http::Version::HTTP_2 {
        "2 portico/"
    } else {
        "1.1 portico/"
    };
    assert!(via.starts_with(want), "Via {via:?} for {:?}", r.version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_via_server_and_latency_headers() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&config(&up)).await;
    let r = send(client().get(gw.url("/fw"))).await;
    assert_eq!(r.status, 200);
    let via = r.header("via").unwrap_or_default();
    assert!(via.starts_with("1.1 portico/"), "response Via: {via:?}");
    assert!(
        r.header("server")
            .is_some_and(|s| s.starts_with("portico/")),
        "{:?}",
        r.headers
    );
    assert!(r.header("x-kong-upstream-latency").is_some());
    assert!(r.header("x-kong-proxy-latency").is_some());

    // an upstream's own Via is appended to
    let r = send(
        client()
            .get(gw.url("/fw"))
            .header("x-echo-set", "Via: 1.0 backend"),
    )
    .await;
    let via = r.header("via").unwrap_or_default();
    assert!(via.starts_with("1.0 backend, 1.1 portico/"), "{via:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_headers_are_removed_both_ways() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&config(&up)).await;
    let r = send(
        client()
            .get(gw.url("/fw"))
            .header("connection", "keep-alive, x-hop-custom")
            .header("x-hop-custom", "1")
            .header("keep-alive", "timeout=5")
            .header("proxy-connection", "keep-alive")
            .header("te", "gzip")
            .header("x-end-to-end", "kept")
            // headers the upstream adds to its response
            .header("x-echo-set", "Connection: x-up-hop")
            .header("x-echo-set", "X-Up-Hop: 1")
            .header("x-echo-set", "Keep-Alive: timeout=5")
            .header("x-echo-set", "Proxy-Connection: keep-alive")
            .header("x-echo-set", "X-Up-End: kept"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    for h in [
        "x-hop-custom",
        "keep-alive",
        "proxy-connection",
        "te",
        "connection",
    ] {
        assert_eq!(
            r.upstream_header(h),
            None,
            "{h} reached the upstream: {}",
            r.json()["headers"]
        );
    }
    assert_eq!(r.upstream_header("x-end-to-end").as_deref(), Some("kept"));
    for h in ["x-up-hop", "keep-alive", "proxy-connection"] {
        assert!(
            !r.headers.contains_key(h),
            "{h} reached the client: {:?}",
            r.headers
        );
    }
    assert_eq!(r.header("x-up-end").as_deref(), Some("kept"));
}

/// Kong appends to every X-Forwarded-For the client sent: nginx joins repeated
/// request headers into one `$http_x_forwarded_for` ("a, b"), and Kong adds the
/// client address after it. Dropping all but the first header loses hops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_x_forwarded_for_headers_are_all_kept() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&config(&up)).await;
    let r = send(
        client()
            .get(gw.url("/fw"))
            .header("x-forwarded-for", "10.0.0.1")
            .header("x-forwarded-for", "10.0.0.2, 10.0.0.3"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.upstream_header("x-forwarded-for").as_deref(),
        Some("10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1")
    );
}
