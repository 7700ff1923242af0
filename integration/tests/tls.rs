//! TLS on the proxy side (certificates chosen by SNI, the self-signed default, ALPN
//! h2, routes with snis) and on the upstream side (https services).

use integration::{
    EchoServer, Gateway, client, config_hash, send, tls_client, tls_client_resolving,
};

struct Cert {
    pem: String,
    key: String,
    der: Vec<u8>,
}

fn cert(names: &[&str]) -> Cert {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("rcgen");
    Cert {
        pem: ck.cert.pem(),
        key: ck.signing_key.serialize_pem(),
        der: ck.cert.der().to_vec(),
    }
}

fn indent(s: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    s.lines().map(|l| format!("{pad}{l}\n")).collect::<String>()
}

fn cert_yaml(c: &Cert, snis: &[&str]) -> String {
    format!(
        "- cert: |\n{}  key: |\n{}  snis: [{}]\n",
        indent(&c.pem, 4),
        indent(&c.key, 4),
        snis.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn has_name(der: &[u8], name: &str) -> bool {
    der.windows(name.len()).any(|w| w == name.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_is_chosen_by_sni() {
    let up = EchoServer::start("up").await;
    let a = cert(&["a.test"]);
    let wild = cert(&["*.wild.test"]);
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: {}\n  routes:\n  - paths: [/]\ncertificates:\n{}{}",
        up.url(),
        cert_yaml(&a, &["a.test"]),
        cert_yaml(&wild, &["*.wild.test"])
    );
    let gw = Gateway::start(&yaml).await;
    let port = gw.tls.port();
    let c = tls_client_resolving(
        &["a.test", "x.wild.test", "deep.x.wild.test", "unknown.test"],
        gw.tls,
    );
    let peer = |host: &'static str| {
        let c = c.clone();
        async move {
            let r = send(c.get(format!("https://{host}:{port}/"))).await;
            assert_eq!(r.status, 200, "{host}: {}", r.text());
            r.peer_cert
                .unwrap_or_else(|| panic!("{host}: no peer certificate"))
        }
    };
    assert!(peer("a.test").await == a.der, "a.test gets its certificate");
    assert!(
        peer("x.wild.test").await == wild.der,
        "x.wild.test gets the wildcard certificate"
    );
    let deep = peer("deep.x.wild.test").await;
    assert!(deep != wild.der, "a wildcard covers one label only");
    assert!(has_name(&deep, "localhost"));
    let unknown = peer("unknown.test").await;
    assert!(unknown != a.der && unknown != wild.der);
    assert!(
        has_name(&unknown, "localhost"),
        "unknown SNI gets the self-signed default for localhost"
    );
    // no SNI at all (an IP address) also gets the default
    let r = send(tls_client().get(gw.tls_url("/"))).await;
    assert_eq!(r.peer_cert.as_deref(), Some(unknown.as_slice()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_h2_over_tls() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: {}\n  routes:\n  - paths: [/]\n",
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let r = send(tls_client().get(gw.tls_url("/h2?x=1"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.version, http::Version::HTTP_2, "ALPN should pick h2");
    let j = r.json();
    assert_eq!(j["path"], "/h2?x=1");
    assert_eq!(
        j["version"], "HTTP/1.1",
        "the upstream is spoken to in HTTP/1.1"
    );
    let r = send(tls_client().post(gw.tls_url("/h2")).body("body over h2")).await;
    assert_eq!(r.json()["body"], "body over h2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_with_snis_over_tls() {
    let up = EchoServer::start("up").await;
    let a = cert(&["a.test"]);
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: s
  url: {}/sni-a
  routes:
  - paths: [/]
    protocols: [https]
    snis: [a.test]
certificates:
{}"#,
        up.url(),
        cert_yaml(&a, &["a.test"])
    );
    let gw = Gateway::start(&yaml).await;
    let port = gw.tls.port();
    let c = tls_client_resolving(&["a.test", "b.test"], gw.tls);
    let r = send(c.get(format!("https://a.test:{port}/x"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/sni-a/x");
    let r = send(c.get(format!("https://b.test:{port}/x"))).await;
    assert_eq!(r.status, 404);
}

/// Kong ignores `snis` for requests that are not https (the router's expression is
/// `(net.protocol != "https" || tls.sni == ...)`, Kong issue #6425): a plain-HTTP
/// request must still match a route with `protocols: [http, https]` and `snis`, and
/// an https-only route with `snis` must answer 426 over plain HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snis_are_not_checked_for_plain_http_requests() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: s
  url: {}
  routes:
  - paths: [/both]
    protocols: [http, https]
    snis: [a.test]
  - paths: [/secure]
    protocols: [https]
    snis: [a.test]
"#,
        up.url()
    );
    let gw = Gateway::start(&yaml).await;
    let c = client();
    let r = send(c.get(gw.url("/both")).header("host", "a.test")).await;
    assert_eq!(
        r.status,
        200,
        "plain HTTP to a [http, https] route with snis: {}",
        r.text()
    );
    let r = send(c.get(gw.url("/secure")).header("host", "a.test")).await;
    assert_eq!(
        r.status,
        426,
        "plain HTTP to an https-only route with snis: {}",
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstream_with_sni() {
    let up = EchoServer::start_tls("tls-up", &["localhost"]).await;
    let port = up.addr.port();
    let yaml = format!(
        r#"_format_version: "3.0"
upstreams:
- name: secure.internal
  targets:
  - target: localhost:{port}
services:
- name: by-ip
  url: https://127.0.0.1:{port}/ip
  routes:
  - paths: [/ip]
- name: by-name
  protocol: https
  host: secure.internal
  port: {port}
  path: /name
  routes:
  - paths: [/name]
"#
    );
    let gw = Gateway::start(&yaml).await;
    let r = send(client().get(gw.url("/ip/x"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["tls"], true);
    assert_eq!(j["path"], "/ip/x");
    assert_eq!(
        j["sni"],
        serde_json::Value::Null,
        "no SNI for an IP address"
    );

    let r = send(client().get(gw.url("/name/y"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["tls"], true);
    assert_eq!(j["sni"], "localhost", "SNI is the target's host name");
    assert_eq!(
        j["headers"]["host"],
        format!("localhost:{port}"),
        "Host is the target's host:port"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_change_on_reload() {
    let up = EchoServer::start("up").await;
    let base = format!(
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: {}\n  routes:\n  - paths: [/]\n",
        up.url()
    );
    let gw = Gateway::start(&base).await;
    let port = gw.tls.port();
    let url = format!("https://a.test:{port}/");
    let before = send(tls_client_resolving(&["a.test"], gw.tls).get(&url)).await;
    assert!(has_name(
        before.peer_cert.as_deref().unwrap_or_default(),
        "localhost"
    ));

    let a = cert(&["a.test"]);
    let with_cert = format!("{base}certificates:\n{}", cert_yaml(&a, &["a.test"]));
    gw.write_config(&with_cert);
    gw.wait_for_hash(&config_hash(&with_cert)).await;
    // a new client: new connections, new handshakes
    let after = send(tls_client_resolving(&["a.test"], gw.tls).get(&url)).await;
    assert!(after.peer_cert.as_deref() == Some(a.der.as_slice()));

    let a2 = cert(&["a.test"]);
    let rotated = format!("{base}certificates:\n{}", cert_yaml(&a2, &["a.test"]));
    gw.write_config(&rotated);
    gw.wait_for_hash(&config_hash(&rotated)).await;
    let again = send(tls_client_resolving(&["a.test"], gw.tls).get(&url)).await;
    assert!(again.peer_cert.as_deref() == Some(a2.der.as_slice()));
}

fn pem_block(pem: &str, indent_by: usize) -> String {
    indent(pem.trim_end(), indent_by)
}

/// `tls_verify: true` checks the upstream's certificate against the service's
/// `ca_certificates`: the right CA is accepted, a wrong one gives Kong's 502, and
/// without `tls_verify` (Kong's default) nothing is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_tls_verification_against_ca_certificates() {
    let up = EchoServer::start_tls("verified", &["localhost"]).await;
    let other = EchoServer::start_tls("other", &["localhost"]).await;
    let port = up.addr.port();
    let good_ca = pem_block(up.cert_pem.as_deref().unwrap_or_default(), 4);
    let wrong_ca = pem_block(other.cert_pem.as_deref().unwrap_or_default(), 4);
    let yaml = format!(
        r#"_format_version: "3.0"
ca_certificates:
- id: 2b1d9a43-2a0c-4c55-9d7c-5b5d1f7b6a01
  cert: |
{good_ca}
- id: 2b1d9a43-2a0c-4c55-9d7c-5b5d1f7b6a02
  cert: |
{wrong_ca}
services:
- name: good
  url: https://localhost:{port}/good
  tls_verify: true
  ca_certificates: [2b1d9a43-2a0c-4c55-9d7c-5b5d1f7b6a01]
  routes:
  - paths: [/good]
- name: wrong
  url: https://localhost:{port}/wrong
  tls_verify: true
  ca_certificates: [2b1d9a43-2a0c-4c55-9d7c-5b5d1f7b6a02]
  routes:
  - paths: [/wrong]
- name: unverified
  url: https://localhost:{port}/unverified
  ca_certificates: [2b1d9a43-2a0c-4c55-9d7c-5b5d1f7b6a02]
  routes:
  - paths: [/unverified]
"#
    );
    let gw = Gateway::start(&yaml).await;
    let r = send(client().get(gw.url("/good"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["server"], "verified");

    let r = send(client().get(gw.url("/wrong"))).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        "An invalid response was received from the upstream server"
    );

    let r = send(client().get(gw.url("/unverified"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
}
