//! Plugins through the real binary: key-auth (header, query, hide_credentials,
//! anonymous, consumer headers), request-termination (scopes, trigger, a
//! consumer-scoped instance that applies after authentication), correlation-id.

use integration::{EchoServer, Gateway, client, send};

fn base(up: &EchoServer, extra: &str) -> String {
    format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: open
    paths: [/open]
  - name: locked
    paths: [/locked]
    plugins:
    - name: key-auth
      config:
        key_names: [apikey, x-api-key]
        hide_credentials: true
  - name: anon
    paths: [/anon]
    plugins:
    - name: key-auth
      config:
        anonymous: guest
consumer_groups:
- name: gold
consumers:
- username: alice
  custom_id: alice-1
  groups: [{{name: gold}}]
  keyauth_credentials:
  - key: alice-key
- username: bob
  keyauth_credentials:
  - key: bob-key
- username: guest
{extra}"#,
        up.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_auth_rejects_and_identifies() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&base(&up, "")).await;
    let c = client();

    let r = send(c.get(gw.url("/locked"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["message"], "No API key found in request");
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Key realm=\"kong\"")
    );

    let r = send(c.get(gw.url("/locked")).header("apikey", "wrong")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["message"], "Unauthorized");
    assert_eq!(up.hits(), 0, "rejected requests never reach the upstream");

    let r = send(
        c.get(gw.url("/locked/x"))
            .header("x-api-key", "alice-key")
            .header("x-consumer-id", "spoofed"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.upstream_header("x-consumer-username").as_deref(),
        Some("alice")
    );
    assert_eq!(
        r.upstream_header("x-consumer-custom-id").as_deref(),
        Some("alice-1")
    );
    assert_eq!(
        r.upstream_header("x-consumer-groups").as_deref(),
        Some("gold")
    );
    let cid = r.upstream_header("x-consumer-id").unwrap_or_default();
    assert!(cid.len() == 36 && cid != "spoofed", "{cid}");
    assert!(r.upstream_header("x-credential-identifier").is_some());
    assert_eq!(
        r.upstream_header("x-api-key"),
        None,
        "hide_credentials removes the key"
    );
    assert_eq!(r.upstream_header("x-anonymous-consumer"), None);

    // the key in the query string, hidden from the upstream
    let r = send(c.get(gw.url("/locked/q?a=1&apikey=bob-key&b=2"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.upstream_header("x-consumer-username").as_deref(),
        Some("bob")
    );
    assert_eq!(r.json()["path"], "/q?a=1&b=2");

    // the open route is untouched
    let r = send(c.get(gw.url("/open"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream_header("x-consumer-id"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_auth_anonymous_fallback() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&base(&up, "")).await;
    let r = send(client().get(gw.url("/anon"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.upstream_header("x-consumer-username").as_deref(),
        Some("guest")
    );
    assert_eq!(
        r.upstream_header("x-anonymous-consumer").as_deref(),
        Some("true")
    );
    let r = send(client().get(gw.url("/anon")).header("apikey", "alice-key")).await;
    assert_eq!(
        r.upstream_header("x-consumer-username").as_deref(),
        Some("alice")
    );
    assert_eq!(r.upstream_header("x-anonymous-consumer"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_termination_scopes_and_consumer_precedence() {
    let up = EchoServer::start("up").await;
    let extra = r#"plugins:
- name: request-termination
  route: open
  config: {status_code: 418, message: "go away", trigger: x-stop}
- name: request-termination
  route: locked
  consumer: bob
  config: {status_code: 403, body: '{"blocked":"bob"}', content_type: application/json}
- name: request-termination
  consumer_group: gold
  config: {status_code: 402, message: "gold plan"}
- name: correlation-id
  config: {echo_downstream: true}
"#;
    let gw = Gateway::start(&base(&up, extra)).await;
    let c = client();

    // trigger: only requests carrying x-stop are terminated
    let r = send(c.get(gw.url("/open"))).await;
    assert_eq!(r.status, 200);
    let r = send(c.get(gw.url("/open")).header("x-stop", "1")).await;
    assert_eq!(r.status, 418);
    assert_eq!(r.json()["message"], "go away");

    // consumer + route (level 3) for bob, after key-auth identified him
    let r = send(c.get(gw.url("/locked")).header("apikey", "bob-key")).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.text(), r#"{"blocked":"bob"}"#);
    // consumer group (level 9) for alice
    let r = send(c.get(gw.url("/locked")).header("apikey", "alice-key")).await;
    assert_eq!(r.status, 402, "{}", r.text());
    assert_eq!(r.json()["message"], "gold plan");
    // unauthenticated: key-auth answers first (higher priority)
    let r = send(c.get(gw.url("/locked"))).await;
    assert_eq!(r.status, 401);

    // correlation-id runs everywhere (global) and echoes its id
    let r = send(c.get(gw.url("/open"))).await;
    let up_id = r.upstream_header("kong-request-id").unwrap_or_default();
    assert!(up_id.contains('#'), "uuid#counter: {up_id}");
    assert_eq!(r.header("kong-request-id"), Some(up_id));
    let r = send(c.get(gw.url("/open")).header("kong-request-id", "mine")).await;
    assert_eq!(
        r.upstream_header("kong-request-id").as_deref(),
        Some("mine")
    );
    // plugin-made answers carry it too
    let r = send(c.get(gw.url("/locked"))).await;
    assert!(r.header("kong-request-id").is_some());
    // a global instance runs in the rewrite phase, before routing: the router's
    // own 404 carries an id as well
    let r = send(c.get(gw.url("/nowhere"))).await;
    assert_eq!(r.status, 404);
    assert!(r.header("kong-request-id").is_some_and(|v| v.contains('#')));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_plugin_config_is_rejected_with_paths() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&base(&up, "")).await;
    let bad = base(
        &up,
        "plugins:\n- name: key-auth\n  config: {anonymous: nobody}\n- name: request-termination\n  config: {status_code: 42}\n",
    );
    gw.write_config(&bad);
    let st = gw
        .wait_for_status("the bad plugin config to be rejected", |st| {
            st["last_errors"].as_array().is_some_and(|e| !e.is_empty())
        })
        .await;
    let errors = st["last_errors"].to_string();
    assert!(
        errors.contains("plugins[1].config.status_code: value should be between 100 and 599"),
        "{errors}"
    );
    // the old config keeps serving
    assert_eq!(send(client().get(gw.url("/open"))).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limiting_local_counts_per_identifier_and_survives_reloads() {
    let up = EchoServer::start("up").await;
    // hour windows: a test never straddles a boundary in practice (minute ones could)
    let extra = r#"plugins:
- name: rate-limiting
  route: open
  config: {hour: 3, day: 100, limit_by: header, header_name: x-user}
"#;
    let yaml = base(&up, extra);
    let gw = Gateway::start(&yaml).await;
    let c = client();
    for remaining in [2, 1, 0] {
        let r = send(c.get(gw.url("/open")).header("x-user", "u1")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-ratelimit-limit-hour").as_deref(), Some("3"));
        assert_eq!(
            r.header("x-ratelimit-remaining-hour"),
            Some(remaining.to_string())
        );
        assert_eq!(r.header("x-ratelimit-limit-day").as_deref(), Some("100"));
        assert_eq!(r.header("ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(r.header("ratelimit-remaining"), Some(remaining.to_string()));
        assert!(r.header("ratelimit-reset").is_some());
    }
    let r = send(c.get(gw.url("/open")).header("x-user", "u1")).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["message"], "API rate limit exceeded");
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(r.header("x-ratelimit-remaining-hour").as_deref(), Some("0"));

    // another identifier has its own counter
    let r = send(c.get(gw.url("/open")).header("x-user", "u2")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining-hour").as_deref(), Some("2"));

    // a reload (another route added) keeps the counters
    let reloaded = yaml.replace(
        "  - name: open\n    paths: [/open]\n",
        "  - name: open\n    paths: [/open]\n  - name: extra\n    paths: [/extra]\n",
    );
    gw.write_config(&reloaded);
    gw.wait_for_hash(&integration::config_hash(&reloaded)).await;
    let r = send(c.get(gw.url("/open")).header("x-user", "u1")).await;
    assert_eq!(r.status, 429, "limits survive a reload");
}

fn auth_config(up: &EchoServer) -> String {
    format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: basic
    paths: [/basic]
    plugins:
    - name: basic-auth
      config: {{hide_credentials: true}}
    - name: acl
      config: {{allow: [admins]}}
  - name: local-only
    paths: [/local]
    plugins:
    - name: ip-restriction
      config: {{allow: [127.0.0.0/8]}}
  - name: nobody
    paths: [/nobody]
    plugins:
    - name: ip-restriction
      config: {{deny: [0.0.0.0/0, "::/0"], status: 401, message: go away}}
  - name: cors
    paths: [/cors]
    plugins:
    - name: cors
      config:
        origins: [https://app.example.com, "https://.*\\.example\\.org"]
        credentials: true
        exposed_headers: [x-total]
        max_age: 600
consumers:
- username: admin
  basicauth_credentials:
  - {{username: admin, password: s3cret}}
  acls:
  - group: admins
- username: user
  basicauth_credentials:
  - {{username: user, password: pw}}
  acls:
  - group: users
"#,
        up.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_and_acl() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&auth_config(&up)).await;
    let c = client();
    let r = send(c.get(gw.url("/basic"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["message"], "Unauthorized");
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Basic realm=\"service\"")
    );
    let r = send(c.get(gw.url("/basic")).basic_auth("admin", Some("wrong"))).await;
    assert_eq!(r.status, 401);
    let r = send(c.get(gw.url("/basic")).basic_auth("admin", Some("s3cret"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.upstream_header("x-consumer-username").as_deref(),
        Some("admin")
    );
    assert_eq!(
        r.upstream_header("x-consumer-groups").as_deref(),
        Some("admins")
    );
    assert_eq!(r.upstream_header("authorization"), None, "hide_credentials");
    // authenticated but not in an allowed group
    let r = send(c.get(gw.url("/basic")).basic_auth("user", Some("pw"))).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["message"], "You cannot consume this service");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_restriction_allow_and_deny() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&auth_config(&up)).await;
    let c = client();
    assert_eq!(send(c.get(gw.url("/local"))).await.status, 200);
    let r = send(c.get(gw.url("/nobody"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["message"], "go away");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_and_simple_requests() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&auth_config(&up)).await;
    let c = client();
    let r = send(
        c.request(http::Method::OPTIONS, gw.url("/cors"))
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "x-a, x-b"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(up.hits(), 0, "preflight answered by the gateway");
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(
        r.header("access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert_eq!(
        r.header("access-control-allow-headers").as_deref(),
        Some("x-a, x-b")
    );
    assert_eq!(r.header("access-control-max-age").as_deref(), Some("600"));
    assert!(
        r.header("access-control-allow-methods")
            .unwrap_or_default()
            .contains("POST")
    );

    // a regex origin on a simple request
    let r = send(
        c.get(gw.url("/cors"))
            .header("origin", "https://shop.example.org"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("https://shop.example.org")
    );
    assert_eq!(
        r.header("access-control-expose-headers").as_deref(),
        Some("x-total")
    );
    // an origin not allowed gets no CORS headers
    let r = send(c.get(gw.url("/cors")).header("origin", "https://evil.test")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_response_transformers() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}/base
  routes:
  - name: t
    paths: [/t]
    plugins:
    - name: request-transformer
      config:
        http_method: POST
        remove: {{headers: [x-drop], querystring: [secret]}}
        rename: {{headers: ["x-old:x-new"]}}
        replace: {{headers: ["x-rep:replaced"], uri: /rewritten}}
        add: {{headers: ["x-added:1", "x-keep:overwritten?"], querystring: ["q:1"]}}
        append: {{headers: ["x-multi:b"]}}
    - name: response-transformer
      config:
        remove: {{headers: [x-kong-upstream-latency]}}
        add: {{headers: ["x-resp:added"]}}
"#,
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let r = send(
        client()
            .get(gw.url("/t/x?secret=1&keep=2"))
            .header("x-drop", "1")
            .header("x-old", "o")
            .header("x-rep", "r")
            .header("x-keep", "mine")
            .header("x-multi", "a"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["method"], "POST");
    assert_eq!(j["path"], "/rewritten?keep=2&q=1");
    assert_eq!(r.upstream_header("x-drop"), None);
    assert_eq!(r.upstream_header("x-old"), None);
    assert_eq!(r.upstream_header("x-new").as_deref(), Some("o"));
    assert_eq!(r.upstream_header("x-rep").as_deref(), Some("replaced"));
    assert_eq!(r.upstream_header("x-added").as_deref(), Some("1"));
    assert_eq!(
        r.upstream_header("x-keep").as_deref(),
        Some("mine"),
        "add does not overwrite"
    );
    assert_eq!(r.header("x-resp").as_deref(), Some("added"));
    assert_eq!(r.header("x-kong-upstream-latency"), None);
}

/// Sends a chunked POST (no Content-Length) of `size` bytes; returns the status.
async fn chunked_post(gw: &Gateway, path: &str, size: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = gw
        .url("/")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let _ = s.write_all(head.as_bytes()).await;
    for chunk in vec![b'a'; size].chunks(1000) {
        let _ = s
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await;
        let _ = s.write_all(chunk).await;
        let _ = s.write_all(b"\r\n").await;
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_size_limiting_by_length_and_while_streaming() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: small
    paths: [/small]
    plugins:
    - name: request-size-limiting
      config: {{allowed_payload_size: 2, size_unit: kilobytes}}
  - name: strict
    paths: [/strict]
    plugins:
    - name: request-size-limiting
      config: {{allowed_payload_size: 2, size_unit: kilobytes, require_content_length: true}}
"#,
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let c = client();
    let r = send(c.post(gw.url("/small")).body(vec![b'x'; 3000])).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["message"], "Request size limit exceeded");
    let r = send(c.post(gw.url("/small")).body(vec![b'x'; 1000])).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(chunked_post(&gw, "/small", 1500).await, 200);
    assert_eq!(chunked_post(&gw, "/small", 10_000).await, 413);
    assert_eq!(chunked_post(&gw, "/strict", 100).await, 411);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_hs256_and_es256() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    integration::init_crypto();
    let up = EchoServer::start("up").await;
    let kp = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}")); // ECDSA P-256
    let public_pem = kp.public_key_pem();
    let private_pem = kp.serialize_pem();
    let indented: String = public_pem
        .lines()
        .map(|l| format!("        {l}\n"))
        .collect();
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: jwt
    paths: [/jwt]
    plugins:
    - name: jwt
      config: {{claims_to_verify: [exp]}}
consumers:
- username: alice
  jwt_secrets:
  - {{key: issuer-a, secret: s3cret}}
  - key: issuer-b
    algorithm: ES256
    rsa_public_key: |
{indented}"#,
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let hs = |iss: &str, exp: u64, secret: &str| {
        encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"iss": iss, "exp": exp}),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap_or_default()
    };
    let c = client();
    let call = |t: Option<String>| {
        let mut rb = c.get(gw.url("/jwt"));
        if let Some(t) = t {
            rb = rb.header("authorization", format!("Bearer {t}"));
        }
        send(rb)
    };
    let r = call(None).await;
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (401, serde_json::json!("Unauthorized"))
    );
    let r = call(Some(hs("issuer-a", now + 600, "s3cret"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.upstream_header("x-consumer-username").as_deref(),
        Some("alice")
    );
    let r = call(Some(hs("issuer-a", now.saturating_sub(10), "s3cret"))).await;
    assert_eq!(
        (r.status, r.json()),
        (401, serde_json::json!({"exp": "token expired"}))
    );
    let r = call(Some(hs("issuer-a", now + 600, "wrong"))).await;
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (401, serde_json::json!("Invalid signature"))
    );
    let r = call(Some(hs("nobody", now + 600, "s3cret"))).await;
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (
            401,
            serde_json::json!("No credentials found for given 'iss'")
        )
    );
    // an HS256 token for an ES256 credential
    let r = call(Some(hs("issuer-b", now + 600, "s3cret"))).await;
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (403, serde_json::json!("Invalid algorithm"))
    );
    // ES256 signed with the private key; also as a query argument
    let es = encode(
        &Header::new(Algorithm::ES256),
        &serde_json::json!({"iss": "issuer-b", "exp": now + 600}),
        &EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_default();
    let r = send(c.get(gw.url(&format!("/jwt?jwt={es}")))).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_cache_memory_miss_hit_bypass() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: cached
    paths: [/cached]
    plugins:
    - name: proxy-cache
      config: {{strategy: memory, cache_ttl: 300, vary_headers: [x-tenant]}}
"#,
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let c = client();
    let r = send(c.get(gw.url("/cached?b=2&a=1"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-cache-status").as_deref(), Some("Miss"));
    assert_eq!(
        r.header("cache-status").as_deref(),
        Some("portico; fwd=miss")
    );
    let key = r.header("x-cache-key").unwrap_or_default();
    assert_eq!(key.len(), 64);
    let hits = up.hits();
    // the same request (query in another order) is served from memory
    let r2 = send(c.get(gw.url("/cached?a=1&b=2"))).await;
    assert_eq!(r2.status, 200);
    assert_eq!(r2.header("x-cache-status").as_deref(), Some("Hit"));
    assert!(
        r2.header("cache-status")
            .unwrap_or_default()
            .starts_with("portico; hit; ttl=")
    );
    assert_eq!(r2.header("x-cache-key"), Some(key.clone()));
    assert!(r2.header("age").is_some());
    assert_eq!(r2.body, r.body, "the cached body");
    assert_eq!(up.hits(), hits, "a hit does not reach the upstream");
    // a different vary header value is another entry
    let r3 = send(c.get(gw.url("/cached?a=1&b=2")).header("x-tenant", "t2")).await;
    assert_eq!(r3.header("x-cache-status").as_deref(), Some("Miss"));
    // methods not in request_method bypass the cache
    let r4 = send(c.post(gw.url("/cached")).body("x")).await;
    assert_eq!(r4.header("x-cache-status").as_deref(), Some("Bypass"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_response_headers_reach_the_proxys_own_errors() {
    let dead = integration::free_port();
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://127.0.0.1:{dead}\n  retries: 0\n  routes:\n  - paths: [/]\nplugins:\n- name: correlation-id\n  config: {{echo_downstream: true}}\n- name: response-transformer\n  config: {{add: {{headers: [\"x-env:test\"]}}}}\n"
    );
    let gw = Gateway::start(&yaml).await;
    let r = send(client().get(gw.url("/"))).await;
    assert_eq!(r.status, 502);
    assert!(r.header("kong-request-id").is_some());
    assert_eq!(r.header("x-env").as_deref(), Some("test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_transformer_rewrites_json_and_form_bodies() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: b
    paths: [/b]
    plugins:
    - name: request-transformer
      config:
        remove: {{body: [password]}}
        rename: {{body: ["user:username"]}}
        replace: {{body: ["role:guest"]}}
        add: {{body: ["source:portico", "role:never"]}}
        append: {{body: ["tags:new"]}}
"#,
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let c = client();
    let r = send(
        c.post(gw.url("/b"))
            .header("content-type", "application/json")
            .body(r#"{"user":"ann","password":"x","role":"admin","tags":["a"]}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent: serde_json::Value =
        serde_json::from_str(r.json()["body"].as_str().unwrap_or("{}")).unwrap_or_default();
    assert_eq!(
        sent,
        serde_json::json!({"username": "ann", "role": "guest", "tags": ["a", "new"], "source": "portico"})
    );
    assert_eq!(
        r.upstream_header("content-length"),
        Some(r.json()["body"].as_str().unwrap_or("").len().to_string())
    );

    let r = send(
        c.post(gw.url("/b"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("user=bob&password=y&role=admin"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["body"],
        "username=bob&role=guest&source=portico&tags=new"
    );
    // other content types pass through untouched
    let r = send(
        c.post(gw.url("/b"))
            .header("content-type", "text/plain")
            .body("password=z"),
    )
    .await;
    assert_eq!(r.json()["body"], "password=z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_transformer_rewrites_json_bodies() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: j
    paths: [/j]
    plugins:
    - name: response-transformer
      config:
        remove: {{json: [client]}}
        rename: {{json: ["server:origin"]}}
        add: {{json: ["api_version:2", "beta:true", "note:hi", "version:ignored"], json_types: [number, boolean, string, string]}}
        append: {{json: ["method:extra"]}}
"#,
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let r = send(client().get(gw.url("/j"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j.get("client"), None);
    assert_eq!(j["origin"], "up");
    assert_eq!(j["api_version"], serde_json::json!(2.0));
    assert_eq!(j["version"], "HTTP/1.1", "add does not overwrite");
    assert_eq!(j["beta"], true);
    assert_eq!(j["note"], "hi");
    assert_eq!(j["method"], serde_json::json!(["GET", "extra"]));
    assert_eq!(r.header("content-length"), Some(r.body.len().to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_transformer_templates() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: t
    paths: ['~/users/(?<id>\d+)/orders/(\d+)$']
    plugins:
    - name: request-transformer
      config:
        add:
          headers: ["x-user:$(uri_captures.id)", "x-order:$(uri_captures[2])", "x-from:$(headers.x-client)", "x-q:$(query_params.q)"]
          querystring: ["user:$(uri_captures.id)"]
        replace: {{uri: "/v2/users/$(uri_captures.id)"}}
"#,
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let r = send(
        client()
            .get(gw.url("/users/42/orders/7?q=abc"))
            .header("x-client", "web"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream_header("x-user").as_deref(), Some("42"));
    assert_eq!(r.upstream_header("x-order").as_deref(), Some("7"));
    assert_eq!(r.upstream_header("x-from").as_deref(), Some("web"));
    assert_eq!(r.upstream_header("x-q").as_deref(), Some("abc"));
    assert_eq!(r.json()["path"], "/v2/users/42?q=abc&user=42");
}
