//! The `portal-auth` plugin through the real node, declared by hand in a decK
//! file (applications and their keys are ordinary config): 401 without a key,
//! with an unknown or expired one; 403 for an application not registered for
//! the API; the plan's limits with `RateLimit-*` and `Retry-After`; the key
//! stripped and `X-Application-*` sent upstream; keys imported by SHA-256.

use integration::{EchoServer, Gateway, client, send, sha256_hex};

const API_A: &str = "6f0e5b0e-3c8e-4a36-9a57-0a0c8f3d1a01";
const API_B: &str = "6f0e5b0e-3c8e-4a36-9a57-0a0c8f3d1a02";
const DEV: &str = "0d7f6a52-6d8c-4a0e-8d0e-3f1c9b3e2a10";
const PORTAL: &str = "1a2b3c4d-5e6f-4a0b-8c0d-1e2f3a4b5c6d";

fn config(up: &EchoServer) -> String {
    let hashed = sha256_hex(b"imported-key-123");
    format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {up}
  routes:
  - name: a
    paths: [/a]
    plugins:
    - name: portal-auth
      config: {{api_id: {API_A}}}
  - name: a2
    paths: [/a2]
    plugins:
    - name: portal-auth
      config: {{api_id: {API_A}, key_names: [token], key_in_header: false}}
  - name: b
    paths: [/b]
    plugins:
    - name: portal-auth
      config: {{api_id: {API_B}}}
applications:
- name: weather-app
  developer_id: {DEV}
  portal_id: {PORTAL}
  registrations:
  - api_id: {API_A}
    plan: {{minute: 3}}
- name: free-app
  registrations:
  - api_id: {API_A}
  - api_id: {API_B}
application_credentials:
- application: weather-app
  key: weather-key-1
  display_name: laptop
- application: weather-app
  key: weather-key-old
  expires_at: 1000
- application: free-app
  key_sha256: {hashed}
"#,
        up = up.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_auth_keys_registrations_and_plans() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&config(&up)).await;
    let c = client();

    let r = send(c.get(gw.url("/a"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["message"], "No API key found in request");
    assert!(r.header("www-authenticate").is_some());

    let r = send(c.get(gw.url("/a")).header("apikey", "nope-nope")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["message"], "Unauthorized");

    // a key past its expiry (a rotated key after its grace)
    let r = send(c.get(gw.url("/a")).header("apikey", "weather-key-old")).await;
    assert_eq!(r.status, 401);
    assert_eq!(up.hits(), 0, "refused requests never reach the upstream");

    // registered: the application's headers upstream, the key stripped, the
    // plan's headers to the client; spoofed headers replaced
    let r = send(
        c.get(gw.url("/a/x"))
            .header("x-api-key", "weather-key-1")
            .header("x-application-id", "spoofed"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let app_id = r.upstream_header("x-application-id").unwrap_or_default();
    assert_eq!(app_id.len(), 36, "{app_id}");
    assert_eq!(
        r.upstream_header("x-application-name").as_deref(),
        Some("weather-app")
    );
    assert_eq!(r.upstream_header("x-developer-id").as_deref(), Some(DEV));
    assert_eq!(r.upstream_header("x-portal-id").as_deref(), Some(PORTAL));
    assert_eq!(r.upstream_header("x-api-key"), None, "the key is stripped");
    assert_eq!(r.header("ratelimit-limit").as_deref(), Some("3"));
    assert_eq!(r.header("ratelimit-remaining").as_deref(), Some("2"));

    // not registered for API B
    let r = send(c.get(gw.url("/b")).header("apikey", "weather-key-1")).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["message"], "You cannot consume this service");

    // the plan is one budget for the API, whichever route counts it; the
    // key in the query string, stripped too
    let r = send(c.get(gw.url("/a2?x=1&token=weather-key-1"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/?x=1");
    assert_eq!(r.header("ratelimit-remaining").as_deref(), Some("1"));
    let r = send(c.get(gw.url("/a")).header("apikey", "weather-key-1")).await;
    assert_eq!(r.status, 200);
    let r = send(c.get(gw.url("/a")).header("apikey", "weather-key-1")).await;
    // the budget may straddle a minute boundary: then it starts over
    if r.status != 200 {
        assert_eq!(r.status, 429, "{}", r.text());
        assert_eq!(r.json()["message"], "API rate limit exceeded");
        assert!(r.header("retry-after").is_some());
        assert_eq!(r.header("ratelimit-remaining").as_deref(), Some("0"));
    }

    // a key imported by its SHA-256; a plan without limits sends no headers
    let r = send(c.get(gw.url("/b")).header("apikey", "imported-key-123")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.upstream_header("x-application-name").as_deref(),
        Some("free-app")
    );
    assert_eq!(r.header("ratelimit-limit"), None);
    assert_eq!(r.upstream_header("x-developer-id"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_auth_config_errors_name_their_field() {
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&config(&up)).await;
    let hash = gw.current_hash().await;
    let bad = format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {}
  routes:
  - name: a
    paths: [/a]
    plugins:
    - name: portal-auth
      config: {{key_names: []}}
applications:
- name: x
  registrations:
  - api_id: not-a-uuid
    plan: {{minute: 0}}
application_credentials:
- application: nobody
  key: short
"#,
        up.url()
    );
    gw.write_config(&bad);
    let st = gw
        .wait_for_status("the bad file to be rejected", |st| {
            st["last_errors"].as_array().is_some_and(|e| !e.is_empty())
        })
        .await;
    let err = st["last_errors"].to_string();
    for want in [
        "api_id",
        "key_names",
        "applications[0].registrations[0].api_id",
        "application_credentials[0].application",
    ] {
        assert!(err.contains(want), "{want} missing from: {err}");
    }
    assert_eq!(
        gw.current_hash().await,
        hash,
        "the old config keeps serving"
    );
}
