//! Kong parity of the plugin schemas through the real binary: a config written
//! with Kong 3.10+ fields loads (and the simple ones work), `null` in a plugin
//! field means its default, ip-restriction takes the stream protocols Kong allows
//! (and an instance for stream protocols only does nothing to HTTP traffic),
//! rate-limiting-advanced limits with two windows and sends Kong's headers, and
//! bot-detection refuses Kong's known bots and a `deny` match but lets an
//! `allow` match through.

use integration::{EchoServer, Gateway, client, send};

/// A config using fields Kong added up to 3.10 (and Konnect's `identity_realms`),
/// most at their defaults, as `deck dump` writes them.
fn kong_310_config(up: &EchoServer) -> String {
    format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: cors-strict
    paths: [/cors-strict]
    plugins:
    - name: cors
      config:
        origins: null
        credentials: false
        private_network: true
        preflight_continue: false
        allow_origin_absent: false
  - name: cors-default
    paths: [/cors-default]
    plugins:
    - name: cors
  - name: keyed
    paths: [/keyed]
    plugins:
    - name: key-auth
      config:
        key_names: [apikey]
        realm: portico
        identity_realms:
        - {{scope: cp, id: null, region: null}}
  - name: logged
    paths: [/logged]
    plugins:
    - name: http-log
      config:
        http_endpoint: http://127.0.0.1:9/log
        method: POST
        content_type: application/json
        timeout: 10000
        keepalive: 60000
        retry_count: null
        queue_size: null
        flush_timeout: null
        headers: {{}}
        custom_fields_by_lua: {{}}
        queue:
          max_batch_size: 1
          max_coalescing_delay: 1
          max_entries: 10000
          max_bytes: null
          max_retry_time: 60
          initial_retry_delay: 0.01
          max_retry_delay: 60
          concurrency_limit: 1
          name: null
    - name: file-log
      config:
        path: /tmp/portico-parity-{}.log
        reopen: false
        custom_fields_by_lua: null
  - name: cached
    paths: [/cached]
    plugins:
    - name: proxy-cache
      config:
        strategy: memory
        memory: {{dictionary_name: kong_db_cache}}
        storage_ttl: null
        cache_ttl: 300
        response_headers: {{age: true, X-Cache-Status: true, X-Cache-Key: true}}
  - name: termination
    paths: [/termination]
    plugins:
    - name: request-termination
      config: {{status_code: 418, message: teapot, content_type: null, body: null, echo: false, trigger: null}}
plugins:
- name: prometheus
  config:
    per_consumer: false
    status_code_metrics: true
    latency_metrics: false
    bandwidth_metrics: false
    upstream_health_metrics: false
    ai_metrics: false
    wasm_metrics: false
consumers:
- username: alice
  keyauth_credentials:
  - key: alice-key
"#,
        up.url(),
        std::process::id()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_with_kong_310_fields_loads() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&kong_310_config(&up)).await;
    let c = client();

    // allow_origin_absent: false: no CORS headers without an Origin ...
    let r = send(c.get(gw.url("/cors-strict"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), None);
    // ... with one they are there
    let r = send(
        c.get(gw.url("/cors-strict"))
            .header("origin", "https://a.test"),
    )
    .await;
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    // the default (true) adds them to every response
    let r = send(c.get(gw.url("/cors-default"))).await;
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    // private_network answers the preflight's private network question
    let r = send(
        c.request(http::Method::OPTIONS, gw.url("/cors-strict"))
            .header("origin", "https://a.test")
            .header("access-control-request-method", "GET")
            .header("access-control-request-private-network", "true"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-private-network").as_deref(),
        Some("true")
    );

    // key-auth with a realm and the control plane's own identity realm
    let r = send(c.get(gw.url("/keyed"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Key realm=\"portico\"")
    );
    let r = send(c.get(gw.url("/keyed")).header("apikey", "alice-key")).await;
    assert_eq!(r.status, 200, "{}", r.text());

    let r = send(c.get(gw.url("/logged"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(c.get(gw.url("/cached"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-cache-status").as_deref(), Some("Miss"));
    let r = send(c.get(gw.url("/termination"))).await;
    assert_eq!(r.status, 418);
    assert_eq!(r.json()["message"], "teapot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_in_a_plugin_field_means_its_default() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: limited
    paths: [/limited]
    plugins:
    - name: rate-limiting
      protocols: null
      config: {{minute: 5, hour: null, policy: local, limit_by: null, redis: {{host: null, port: null}}, error_message: null}}
  - name: keyed
    paths: [/keyed]
    plugins:
    - name: key-auth
      config: {{key_names: null, anonymous: null, hide_credentials: null}}
consumers:
- username: alice
  keyauth_credentials:
  - key: alice-key
"#,
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let c = client();
    for remaining in (0..5).rev() {
        let r = send(c.get(gw.url("/limited"))).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-ratelimit-limit-minute").as_deref(), Some("5"));
        assert_eq!(
            r.header("x-ratelimit-remaining-minute"),
            Some(remaining.to_string())
        );
        assert_eq!(r.header("x-ratelimit-limit-hour"), None, "hour: null");
    }
    let r = send(c.get(gw.url("/limited"))).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["message"], "API rate limit exceeded");

    // key_names: null is Kong's [apikey]
    let r = send(c.get(gw.url("/keyed")).header("apikey", "alice-key")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.upstream_header("apikey").as_deref(),
        Some("alice-key"),
        "hide_credentials: null is false"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_restriction_takes_stream_protocols() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: default-protocols
    paths: [/default]
    plugins:
    - name: ip-restriction
      config: {{deny: [127.0.0.1]}}
  - name: mixed
    paths: [/mixed]
    plugins:
    - name: ip-restriction
      protocols: [http, https, tcp, tls, udp, tls_passthrough, grpc, grpcs]
      config: {{deny: [127.0.0.0/8], status: 451, message: blocked}}
  - name: stream-only
    paths: [/stream-only]
    plugins:
    - name: ip-restriction
      protocols: [tcp, tls]
      config: {{deny: [127.0.0.1]}}
  - name: logged-stream
    paths: [/logged-stream]
    plugins:
    - name: file-log
      protocols: [tcp, udp]
      config: {{path: /tmp/portico-parity-stream-{}.log}}
"#,
        up.url(),
        std::process::id()
    );
    let gw = Gateway::start(&yaml).await;
    let c = client();
    // Kong's default for ip-restriction includes tcp and tls, and http
    let r = send(c.get(gw.url("/default"))).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["message"], "Your IP address is not allowed");
    let r = send(c.get(gw.url("/mixed"))).await;
    assert_eq!(r.status, 451);
    assert_eq!(r.json()["message"], "blocked");
    // stream protocols only: nothing to do for HTTP traffic
    let r = send(c.get(gw.url("/stream-only"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(c.get(gw.url("/logged-stream"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// A protocol the plugin's Kong schema does not take is refused: the gateway
/// does not start on such a file.
#[test]
fn stream_protocols_are_refused_where_kong_refuses_them() {
    let yaml = r#"_format_version: "3.0"
plugins:
- name: key-auth
  protocols: [http, tcp]
- name: rate-limiting-advanced
  config: {limit: [5, 10], window_size: [60]}
"#;
    let (dir, path) = integration::write_temp_file("kong.yaml", yaml);
    let out = std::process::Command::new(integration::gateway_bin())
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    integration::remove_dir(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(
            "plugins[0].protocols[1]: expected one of: grpc, grpcs, http, https; got 'tcp'"
        ),
        "{text}"
    );
    assert!(
        text.contains("plugins[1].config: You must provide the same number of windows and limits"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limiting_advanced_limits_with_two_windows() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: short
    paths: [/short]
    plugins:
    - name: rate-limiting-advanced
      config:
        limit: [3, 5]
        window_size: [30, 3600]
        identifier: ip
        namespace: short
        sync_rate: -1
        strategy: local
  - name: long
    paths: [/long]
    plugins:
    - name: rate-limiting-advanced
      config:
        limit: [5, 2]
        window_size: [30, 3600]
        window_type: fixed
        identifier: header
        header_name: x-user
        namespace: long
        strategy: cluster
        sync_rate: 10
        error_code: 418
        error_message: slow down
        retry_after_jitter_max: 2
  - name: hidden
    paths: [/hidden]
    plugins:
    - name: rate-limiting-advanced
      config: {{limit: [1], window_size: [60], hide_client_headers: true, namespace: hidden}}
"#,
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let c = client();

    // sliding windows of 30 s (3) and an hour (5): the 30 s one is the tightest
    for (rem30, rem_hour) in [(2, 4), (1, 3), (0, 2)] {
        let r = send(c.get(gw.url("/short"))).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-ratelimit-limit-30").as_deref(), Some("3"));
        assert_eq!(
            r.header("x-ratelimit-remaining-30"),
            Some(rem30.to_string())
        );
        assert_eq!(r.header("x-ratelimit-limit-hour").as_deref(), Some("5"));
        assert_eq!(
            r.header("x-ratelimit-remaining-hour"),
            Some(rem_hour.to_string())
        );
        assert_eq!(r.header("ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(r.header("ratelimit-remaining"), Some(rem30.to_string()));
        let reset: u64 = r
            .header("ratelimit-reset")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!((1..=30).contains(&reset), "{reset}");
        assert_eq!(r.header("retry-after"), None, "only on refusals");
    }
    let hits = up.hits();
    let r = send(c.get(gw.url("/short"))).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["message"], "API rate limit exceeded");
    assert_eq!(r.header("x-ratelimit-remaining-30").as_deref(), Some("0"));
    assert_eq!(
        r.header("x-ratelimit-remaining-hour").as_deref(),
        Some("2"),
        "windows after the refusing one do not count it"
    );
    assert_eq!(r.header("ratelimit-remaining").as_deref(), Some("0"));
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // the sliding estimate adds (rate - limit) / limit of the window
    assert!((1..=40).contains(&retry), "{retry}");
    assert_eq!(up.hits(), hits, "a refused request is not proxied");

    // pairs are sorted by limit (as Kong): the hour (2) refuses before 30 s (5),
    // per header value, with the configured answer
    for rem_hour in [1, 0] {
        let r = send(c.get(gw.url("/long")).header("x-user", "u1")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-ratelimit-limit-hour").as_deref(), Some("2"));
        assert_eq!(
            r.header("x-ratelimit-remaining-hour"),
            Some(rem_hour.to_string())
        );
        assert_eq!(r.header("x-ratelimit-limit-30").as_deref(), Some("5"));
        assert_eq!(r.header("ratelimit-limit").as_deref(), Some("2"));
    }
    let r = send(c.get(gw.url("/long")).header("x-user", "u1")).await;
    assert_eq!(r.status, 418);
    assert_eq!(r.json()["message"], "slow down");
    let reset: u64 = r
        .header("ratelimit-reset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        (reset + 1..=reset + 2).contains(&retry),
        "Retry-After {retry} is RateLimit-Reset {reset} plus a jitter of 1 to 2 s"
    );
    // another header value has its own counters
    let r = send(c.get(gw.url("/long")).header("x-user", "u2")).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // hide_client_headers: no headers, not even on the refusal
    let r = send(c.get(gw.url("/hidden"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("ratelimit-limit"), None);
    assert_eq!(r.header("x-ratelimit-limit-minute"), None);
    let r = send(c.get(gw.url("/hidden"))).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(r.header("x-ratelimit-remaining-minute"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_detection_blocks_bots_and_denied_agents() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: guarded
    paths: [/guarded]
    plugins:
    - name: bot-detection
      config:
        allow: ["^Googlebot"]
        deny: ["^curl/", "BadClient"]
  - name: open
    paths: [/open]
"#,
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let c = client();
    let get = |ua: &'static str| c.get(gw.url("/guarded")).header("user-agent", ua);

    // Kong's known bots (its rules.lua)
    for ua in [
        "Scrapy/2.11 (+https://scrapy.org)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Go-http-client/1.1",
    ] {
        let r = send(get(ua)).await;
        assert_eq!(r.status, 403, "{ua}");
        assert_eq!(
            r.json(),
            serde_json::json!({"message": "Forbidden"}),
            "{ua}"
        );
    }
    // an explicit deny
    for ua in ["curl/8.5.0", "Mozilla/5.0 BadClient/1"] {
        let r = send(get(ua)).await;
        assert_eq!(r.status, 403, "{ua}");
        assert_eq!(r.json()["message"], "Forbidden");
    }
    assert_eq!(up.hits(), 0, "refused requests never reach the upstream");
    // allow comes first: Googlebot is a known bot but allowed here
    let r = send(get("Googlebot/2.1 (+http://www.google.com/bot.html)")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // a browser, and no User-Agent at all, go through
    let r = send(get(
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(c.get(gw.url("/guarded"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // two User-Agent headers: 400, as Kong
    let r = send(
        c.get(gw.url("/guarded"))
            .header("user-agent", "a")
            .header("user-agent", "b"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "Only one User-Agent header allowed");
    // other routes are not guarded
    let r = send(c.get(gw.url("/open")).header("user-agent", "curl/8.5.0")).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

fn redis_available() -> bool {
    if std::net::TcpStream::connect("127.0.0.1:6379").is_ok() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("Redis is not reachable on 127.0.0.1:6379 and CI is set: .ci/run must start it");
    }
    eprintln!("SKIP: Redis is not reachable on 127.0.0.1:6379 (start it to run this test)");
    false
}

fn rla_redis_config(up: &EchoServer, namespace: &str, redis_port: u16) -> String {
    format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: r
    paths: [/]
plugins:
- name: rate-limiting-advanced
  config:
    limit: [4]
    window_size: [3600]
    window_type: fixed
    identifier: ip
    namespace: {namespace}
    strategy: redis
    sync_rate: 0
    redis: {{host: 127.0.0.1, port: {redis_port}, connect_timeout: 500, send_timeout: 500, read_timeout: 500}}
"#,
        up.url()
    )
}

/// `strategy: redis`: two nodes share one limit; with Redis unreachable a node
/// counts on its own (Kong's fallback to local counters).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limiting_advanced_shares_counters_in_redis() {
    if !redis_available() {
        return;
    }
    let up = EchoServer::start("up").await;
    // a fresh namespace: counters from earlier runs do not interfere
    let ns = format!("parity-{}-{}", std::process::id(), integration::free_port());
    let yaml = rla_redis_config(&up, &ns, 6379);
    let a = Gateway::start(&yaml).await;
    let b = Gateway::start(&yaml).await;
    let c = client();
    let mut remaining = Vec::new();
    for gw in [&a, &b, &a, &b] {
        let r = send(c.get(gw.url("/"))).await;
        assert_eq!(r.status, 200, "{}", r.text());
        remaining.push(r.header("x-ratelimit-remaining-hour").unwrap_or_default());
    }
    assert_eq!(remaining, ["3", "2", "1", "0"]);
    for gw in [&a, &b] {
        let r = send(c.get(gw.url("/"))).await;
        assert_eq!(r.status, 429);
        assert_eq!(r.json()["message"], "API rate limit exceeded");
    }

    // nothing listens on this port: the node limits with its own counters
    let yaml = rla_redis_config(&up, &ns, integration::free_port());
    let solo = Gateway::start(&yaml).await;
    for _ in 0..4 {
        let r = send(c.get(solo.url("/"))).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = send(c.get(solo.url("/"))).await;
    assert_eq!(r.status, 429);
}
