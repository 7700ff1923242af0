//! Routing through the real binary: hosts, paths, methods, headers, strip_path and
//! the service path join, preserve_host, Kong's 404, https-only routes and disabled
//! services. Each service points at one echo server under its own path prefix, so
//! the upstream path tells which route took the request.

use integration::{EchoServer, Gateway, client, config_hash, get, send};

/// The first path segment the upstream saw (the service that was chosen), or the
/// status when it was not 200.
async fn which(gw: &Gateway, host: &str, path: &str) -> String {
    let r = send(client().get(gw.url(path)).header("host", host)).await;
    if r.status != 200 {
        return r.status.to_string();
    }
    let p = r.json()["path"].as_str().unwrap_or_default().to_string();
    p.trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_exact_wildcard_and_with_port() {
    let up = EchoServer::start("up").await;
    let u = up.url();
    let base = format!(
        r#"_format_version: "3.0"
services:
- name: exact
  url: {u}/exact
  routes:
  - hosts: [api.test]
- name: wild-left
  url: {u}/wild-left
  routes:
  - hosts: ["*.wild.test"]
- name: wild-right
  url: {u}/wild-right
  routes:
  - hosts: ["shop.*"]
"#
    );
    let gw = Gateway::start(&base).await;
    // hosts with a port need the gateway's port: add them now
    let port = gw.proxy.port();
    let full = format!(
        r#"{base}- name: ported
  url: {u}/ported
  routes:
  - hosts: ["ported.test:{port}"]
- name: other-port
  url: {u}/other-port
  routes:
  - hosts: ["other.test:1"]
"#
    );
    gw.write_config(&full);
    gw.wait_for_hash(&config_hash(&full)).await;

    let rows: &[(&str, &str)] = &[
        ("api.test", "exact"),
        ("API.Test", "exact"),
        (&format!("api.test:{port}"), "exact"),
        ("x.api.test", "404"),
        ("a.wild.test", "wild-left"),
        ("a.b.wild.test", "wild-left"),
        ("wild.test", "404"),
        ("shop.example.org", "wild-right"),
        ("shop", "404"),
        (&format!("ported.test:{port}"), "ported"),
        ("ported.test", "ported"), // no port: the port the request arrived on
        ("ported.test:1", "404"),
        ("other.test", "404"),
        ("unknown.test", "404"),
    ];
    for (host, want) in rows {
        assert_eq!(which(&gw, host, "/").await, *want, "Host: {host}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_prefix_regex_priority_and_trailing_slashes() {
    let up = EchoServer::start("up").await;
    let u = up.url();
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: api
  url: {u}/api-svc
  routes:
  - paths: [/api]
    strip_path: false
- name: api-v2
  url: {u}/api-v2-svc
  routes:
  - paths: [/api/v2]
    strip_path: false
- name: re-any
  url: {u}/re-any
  routes:
  - paths: ['~/items/.+$']
    strip_path: false
- name: re-low
  url: {u}/re-low
  routes:
  - paths: ['~/items/\w+$']
    regex_priority: 1
    strip_path: false
- name: re-high
  url: {u}/re-high
  routes:
  - paths: ['~/items/\d+$']
    regex_priority: 5
    strip_path: false
- name: slash
  url: {u}/slash-svc
  routes:
  - paths: [/slash/]
    strip_path: false
- name: noslash
  url: {u}/noslash-svc
  routes:
  - paths: [/noslash]
    strip_path: false
- name: re-vs-prefix
  url: {u}/re-users
  routes:
  - paths: ['~/users/\d+$']
    strip_path: false
- name: prefix-users
  url: {u}/prefix-users
  routes:
  - paths: [/users/123]
    strip_path: false
"#
    );
    let gw = Gateway::start(&yaml).await;
    let rows = [
        ("/api", "api-svc"),
        ("/api/v1/x", "api-svc"),
        ("/apix", "api-svc"), // a prefix is a plain string prefix
        ("/api/v2", "api-v2-svc"),
        ("/api/v2/users", "api-v2-svc"),
        ("/items/123", "re-high"),
        ("/items/abc", "re-low"),
        ("/items/a-b", "re-any"),
        ("/items", "404"),
        ("/x/items/1", "404"), // regexes are anchored at the start
        ("/slash", "404"),
        ("/slash/", "slash-svc"),
        ("/slash/x", "slash-svc"),
        ("/noslash", "noslash-svc"),
        ("/noslash/", "noslash-svc"),
        ("/noslashes", "noslash-svc"),
        ("/users/123", "re-users"), // regex paths beat prefix paths
        ("/users/123/x", "prefix-users"),
        ("/nothing", "404"),
    ];
    for (path, want) in rows {
        assert_eq!(which(&gw, "any.test", path).await, want, "GET {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_and_headers() {
    let up = EchoServer::start("up").await;
    let u = up.url();
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: writes
  url: {u}/writes
  routes:
  - paths: [/m]
    methods: [POST, PUT]
- name: v2
  url: {u}/v2
  routes:
  - paths: [/h]
    headers:
      x-version: [v2, v3]
- name: tenant
  url: {u}/tenant
  routes:
  - paths: [/h]
    headers:
      x-tenant: ['~*^team-\d+$']
- name: plain
  url: {u}/plain
  routes:
  - paths: [/h]
"#
    );
    let gw = Gateway::start(&yaml).await;
    let c = client();
    let path_of = |r: integration::Reply| {
        if r.status != 200 {
            return r.status.to_string();
        }
        r.json()["path"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(path_of(send(c.get(gw.url("/m"))).await), "404");
    assert_eq!(path_of(send(c.post(gw.url("/m"))).await), "/writes");
    assert_eq!(path_of(send(c.put(gw.url("/m/x"))).await), "/writes/x");
    assert_eq!(path_of(send(c.delete(gw.url("/m"))).await), "404");

    let h = |name: &'static str, v: &'static str| {
        let c = c.clone();
        let url = gw.url("/h");
        async move { path_of(send(c.get(url).header(name, v)).await) }
    };
    assert_eq!(h("x-version", "v2").await, "/v2");
    assert_eq!(h("X-Version", "V3").await, "/v2"); // values are case-insensitive
    assert_eq!(h("x-version", "v1").await, "/plain");
    assert_eq!(h("x-tenant", "Team-42").await, "/tenant");
    assert_eq!(h("x-tenant", "team-x").await, "/plain");
    assert_eq!(path_of(send(c.get(gw.url("/h"))).await), "/plain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strip_path_and_service_path_joining() {
    let up = EchoServer::start("up").await;
    let u = up.url();
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: s
  url: {u}/s
  routes:
  - paths: [/tv0]
    strip_path: true
  - paths: [/fv0]
    strip_path: false
- name: s-slash
  url: {u}/s/
  routes:
  - paths: [/tv1]
    strip_path: true
  - paths: [/fv1]
    strip_path: false
- name: no-path
  url: {u}
  routes:
  - paths: [/tv2]
    strip_path: true
  - paths: [/fv2]
    strip_path: false
- name: regex
  url: {u}/re
  routes:
  - paths: ['~/rx/\d+']
    strip_path: true
"#
    );
    let gw = Gateway::start(&yaml).await;
    // (request, upstream path and query): rows of Kong's path-joining table
    let rows = [
        ("/tv0/req", "/s/req"),
        ("/tv0req", "/s/req"),
        ("/tv0", "/s"),
        ("/tv0/", "/s/"),
        ("/fv0req", "/s/fv0req"),
        ("/fv0", "/s/fv0"),
        ("/fv0/req", "/s/fv0/req"),
        ("/fv0/", "/s/fv0/"),
        ("/tv1req", "/s/req"),
        ("/tv1/req", "/s/req"),
        ("/tv1", "/s"),
        ("/tv1/", "/s/"),
        ("/fv1", "/s/fv1"),
        ("/fv1/", "/s/fv1/"),
        ("/tv2", "/"),
        ("/tv2/", "/"),
        ("/tv2/req", "/req"),
        ("/tv2req", "/req"),
        ("/fv2/req", "/fv2/req"),
        ("/rx/42/tail", "/re/tail"),
        // query strings are kept as sent
        ("/tv0/req?a=1&b=two&c", "/s/req?a=1&b=two&c"),
        ("/fv2?x=%20y&z=%2F", "/fv2?x=%20y&z=%2F"),
        ("/tv0/a%20b", "/s/a%20b"),
    ];
    for (req, want) in rows {
        let r = get(&gw.url(req)).await;
        assert_eq!(r.status, 200, "GET {req}: {}", r.text());
        assert_eq!(r.json()["path"], want, "GET {req}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preserve_host_true_and_false() {
    let up = EchoServer::start("up").await;
    let u = up.url();
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: s
  url: {u}
  routes:
  - paths: [/keep]
    preserve_host: true
  - paths: [/replace]
    preserve_host: false
"#
    );
    let gw = Gateway::start(&yaml).await;
    let c = client();
    let r = send(c.get(gw.url("/keep")).header("host", "client.test")).await;
    assert_eq!(r.upstream_header("host").as_deref(), Some("client.test"));
    let r = send(c.get(gw.url("/keep")).header("host", "client.test:8443")).await;
    assert_eq!(
        r.upstream_header("host").as_deref(),
        Some("client.test:8443")
    );
    let r = send(c.get(gw.url("/replace")).header("host", "client.test")).await;
    assert_eq!(
        r.upstream_header("host").as_deref(),
        Some(up.target().as_str()),
        "the upstream sees its own host:port"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_is_kongs_404() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: {}\n  routes:\n  - paths: [/only]\n",
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    for path in ["/", "/other", "/onl"] {
        let r = get(&gw.url(path)).await;
        assert_eq!(r.status, 404, "GET {path}");
        assert_eq!(
            r.json(),
            serde_json::json!({"message": "no Route matched with those values"})
        );
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{:?}",
            r.headers
        );
    }
    assert_eq!(up.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_only_routes_over_http() {
    let up = EchoServer::start("up").await;
    let u = up.url();
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: s
  url: {u}
  routes:
  - paths: [/secure]
    protocols: [https]
  - paths: [/moved]
    protocols: [https]
    https_redirect_status_code: 301
  - paths: [/temp]
    protocols: [https]
    https_redirect_status_code: 308
"#
    );
    let gw = Gateway::start(&yaml).await;
    let c = client();
    let r = send(c.get(gw.url("/secure/x")).header("host", "secure.test")).await;
    assert_eq!(r.status, 426);
    assert_eq!(
        r.json(),
        serde_json::json!({"message": "Please use HTTPS protocol"})
    );

    let r = send(c.get(gw.url("/moved/x?q=1")).header("host", "secure.test")).await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location").as_deref(),
        Some("https://secure.test/moved/x?q=1")
    );
    let r = send(c.post(gw.url("/temp")).header("host", "secure.test")).await;
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location").as_deref(),
        Some("https://secure.test/temp")
    );
    assert_eq!(up.hits(), 0, "nothing reached the upstream over http");

    // the same routes over TLS are proxied
    let r = send(integration::tls_client().get(gw.tls_url("/secure/x"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_of_a_disabled_service_do_not_match() {
    let on = EchoServer::start("on").await;
    let off = EchoServer::start("off").await;
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: disabled
  url: {}
  enabled: false
  routes:
  - paths: [/off]
  - paths: [/both/deeper]
- name: enabled
  url: {}
  routes:
  - paths: [/on]
  - paths: [/both]
"#,
        off.url(),
        on.url()
    );
    let gw = Gateway::start(&yaml).await;
    let r = get(&gw.url("/off")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "no Route matched with those values");
    assert_eq!(get(&gw.url("/on")).await.server(), "on");
    // the longer prefix belongs to the disabled service: the enabled one takes it
    assert_eq!(get(&gw.url("/both/deeper")).await.server(), "on");
    assert_eq!(off.hits(), 0);
}

/// Kong builds the redirect from `$host`, the Host header's name without its port
/// (`"https://" .. forwarded_host .. request_uri`): the port a plain-HTTP request
/// came in on is not an https port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_redirect_location_has_no_plain_http_port() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: {}\n  routes:\n  - paths: [/moved]\n    protocols: [https]\n    https_redirect_status_code: 302\n",
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let port = gw.proxy.port();
    let r = send(
        client()
            .get(gw.url("/moved/x?q=1"))
            .header("host", format!("Secure.test:{port}")),
    )
    .await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location").as_deref(),
        Some("https://secure.test/moved/x?q=1")
    );
}
