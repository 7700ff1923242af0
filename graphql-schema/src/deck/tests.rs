use super::*;

fn errs(text: &str) -> Vec<String> {
    match load_str(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors.iter().map(|e| e.to_string()).collect(),
    }
}

fn has(errs: &[String], want: &str) {
    assert!(
        errs.iter().any(|e| e.starts_with(want)),
        "want {want:?} in {errs:#?}"
    );
}

const GOOD: &str = r#"
_format_version: "3.0"
_transform: true
services:
- name: users
  url: http://users.internal:8080/api
  tags: [team-a]
  routes:
  - name: users-route
    paths: [/users]
    methods: [GET, POST]
  - paths: ["~/items/(?<id>\\d+)$"]
    regex_priority: 10
- name: billing
  host: billing-upstream
  protocol: http
  port: 80
upstreams:
- name: billing-upstream
  algorithm: consistent-hashing
  hash_on: header
  hash_on_header: x-user
  targets:
  - target: 10.0.0.1:8080
    weight: 50
  - target: 10.0.0.2
routes:
- name: billing-route
  service:
    name: billing
  hosts: ["*.billing.example.com"]
consumers:
- username: alice
plugins:
- name: key-auth
"#;

#[test]
fn loads_a_deck_file() {
    let l = load_str(GOOD).unwrap_or_else(|e| panic!("{e}"));
    let c = &l.config;
    assert_eq!(c.services.len(), 2);
    assert_eq!(c.routes.len(), 3);
    assert_eq!(c.routes[2].service_id, Some(c.services[1].id));
    assert_eq!(c.targets.len(), 2);
    assert_eq!(c.targets[1].port, 8000);
    assert_eq!(c.consumers.len(), 1);
    assert_eq!(c.plugins.len(), 1);
    assert_eq!(
        c.plugins[0].scope,
        crate::entity::PluginScope::default(),
        "global"
    );
    // same text, same hash; changed text, changed hash
    assert_eq!(load_str(GOOD).map(|l| l.config.hash()).ok(), Some(c.hash()));
    let other = GOOD.replace("weight: 50", "weight: 51");
    assert_ne!(
        load_str(&other).map(|l| l.config.hash()).ok(),
        Some(c.hash())
    );
}

#[test]
fn json_is_accepted() {
    let l = load_str(
        r#"{"_format_version":"3.0","services":[{"name":"a","host":"x","routes":[{"paths":["/"]}]}]}"#,
    );
    assert!(l.is_ok(), "{l:?}");
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let text = r#"
_format_version: "3.0"
servcies: []
services:
- name: a
  host: x
- name: a
  host: y
- name: b
  host: x
  strip_paht: true
  routes:
  - paths: ["/ok", "~/(bad"]
    strip_paht: false
- name: c
  host: z
  routes:
  - name: r
    paths: [/x]
  - name: r
    paths: [/y]
routes:
- service: {name: nope}
  paths: [/z]
upstreams:
- name: u
  targets:
  - target: "a:1"
    wieght: 3
"#;
    let e = errs(text);
    has(&e, "servcies: unknown field");
    has(&e, "services[2].strip_paht: unknown field");
    has(&e, "services[2].routes[0].strip_paht: unknown field");
    has(&e, "services[2].routes[0].paths[1]: invalid regex");
    has(
        &e,
        "services[1].name: duplicate service name 'a' (first defined at services[0])",
    );
    has(&e, "services[3].routes[1].name: duplicate route name 'r'");
    has(
        &e,
        "routes[0].service: references a service that does not exist: 'nope'",
    );
    has(&e, "upstreams[0].targets[0].wieght: unknown field");
}

#[test]
fn the_regex_error_path_names_the_exact_path() {
    let e = errs(
        "_format_version: '3.0'\nservices:\n- {name: a, host: x}\n- {name: b, host: x}\n- name: c\n  host: x\n  routes:\n  - paths: [/a, '~/(']\n",
    );
    has(&e, "services[2].routes[0].paths[1]: invalid regex:");
}

#[test]
fn format_version_is_required() {
    has(
        &errs("services: []\n"),
        "_format_version: required field missing",
    );
    has(
        &errs("_format_version: '9.9'\n"),
        "_format_version: unsupported version",
    );
}

#[test]
fn syntax_errors_have_positions() {
    let e = errs("_format_version: '3.0'\nservices: [\n");
    assert!(e[0].contains("line"), "{e:?}");
    has(&errs(""), "the file is empty");
    has(&errs("- a\n- b\n"), "expected an object at the top level");
}

#[test]
fn type_errors_have_nested_paths() {
    let e = errs(
        "_format_version: '3.0'\nupstreams:\n- name: u\n  healthchecks:\n    active:\n      healthy:\n        interval: fast\n",
    );
    has(
        &e,
        "upstreams[0].healthchecks.active.healthy.interval: invalid type",
    );
    let e = errs(
        "_format_version: '3.0'\nupstreams:\n- name: u\n  healthchecks:\n    active:\n      unhelthy: {}\n",
    );
    has(
        &e,
        "upstreams[0].healthchecks.active.unhelthy: unknown field",
    );
}

/// A self-signed certificate and its key (PEM), for `name`.
fn self_signed(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec![name.to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    (cert.pem(), key.serialize_pem())
}

/// A YAML block scalar holding `pem`, indented for a field at `indent`.
fn block(pem: &str, indent: usize) -> String {
    let pad = " ".repeat(indent + 2);
    let lines: Vec<String> = pem.lines().map(|l| format!("{pad}{l}")).collect();
    format!("|\n{}", lines.join("\n"))
}

#[test]
fn certificates_and_snis() {
    let (c, k) = self_signed("a.example.com");
    let (_, other_key) = self_signed("b.example.com");
    let text = format!(
        "_format_version: '3.0'\ncertificates:\n- cert: {}\n  key: {}\n  snis:\n  - name: a.example.com\n  - '*.example.com'\n- cert: nope\n  key: '-----BEGIN PRIVATE KEY-----x'\n  snis: [{{name: b.example.com}}]\n- cert: {}\n  key: {}\n",
        block(&c, 2),
        block(&k, 2),
        block(&c, 2),
        block(&other_key, 2),
    );
    let e = errs(&text);
    has(&e, "certificates[1].cert: invalid certificate");
    has(&e, "certificates[2].key: certificate does not match key");
    let ok = text.split("- cert: nope").next().unwrap_or_default();
    let l = load_str(ok).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.config.snis.len(), 2);
    assert_eq!(l.config.snis[1].name, "*.example.com");
}

#[test]
fn missing_ca_reference() {
    let e = errs(
        "_format_version: '3.0'\nservices:\n- name: a\n  url: https://x\n  ca_certificates: ['4e3ad2e4-0bc4-4638-8e34-c84a417ba39b']\n",
    );
    has(
        &e,
        "services[0].ca_certificates[0]: references a ca_certificate that does not exist",
    );
}

#[test]
fn consumers_credentials_and_plugin_scopes() {
    let text = r#"
_format_version: "3.0"
services:
- name: svc
  host: up
  plugins:
  - name: key-auth
    config: {key_names: [x-key]}
  routes:
  - name: r1
    paths: [/a]
    plugins:
    - name: request-termination
      config: {status_code: 403, message: nope}
consumer_groups:
- name: gold
consumers:
- username: alice
  custom_id: a-1
  groups: [{name: gold}]
  keyauth_credentials:
  - key: secret-key
  plugins:
  - name: request-termination
  acls:
  - group: admins
- custom_id: only-custom
plugins:
- name: correlation-id
- name: request-termination
  route: r1
  consumer: alice
"#;
    let l = load_str(text).unwrap_or_else(|e| panic!("{e}"));
    let c = &l.config;
    let svc = c.services[0].id;
    let r1 = c.routes[0].id;
    let alice = c.consumers[0].id;
    assert_eq!(c.consumers[0].groups, vec![c.consumer_groups[0].id]);
    assert_eq!(c.keyauth_credentials.len(), 1);
    assert_eq!(
        c.keyauth_credentials[0].key_sha256,
        crate::entity::consumer::digest("secret-key")
    );
    assert!(
        !serde_json::to_string(c)
            .unwrap_or_default()
            .contains("secret-key"),
        "keys are kept only as digests"
    );
    let scopes: Vec<(String, crate::entity::PluginScope)> = c
        .plugins
        .iter()
        .map(|p| (p.name.clone(), p.scope))
        .collect();
    use crate::entity::PluginScope as S;
    assert!(
        scopes.contains(&(
            "key-auth".into(),
            S {
                service: Some(svc),
                ..S::default()
            }
        )),
        "{scopes:?}"
    );
    assert!(
        scopes.contains(&(
            "request-termination".into(),
            S {
                route: Some(r1),
                ..S::default()
            }
        )),
        "{scopes:?}"
    );
    assert!(
        scopes.contains(&(
            "request-termination".into(),
            S {
                consumer: Some(alice),
                ..S::default()
            }
        )),
        "{scopes:?}"
    );
    assert!(
        scopes.contains(&(
            "request-termination".into(),
            S {
                route: Some(r1),
                consumer: Some(alice),
                ..S::default()
            }
        )),
        "{scopes:?}"
    );
    assert!(
        scopes.contains(&("correlation-id".into(), S::default())),
        "{scopes:?}"
    );
    let kh = c
        .plugins
        .iter()
        .find(|p| p.name == "key-auth")
        .map(|p| p.config["key_names"].clone());
    assert_eq!(kh, Some(serde_json::json!(["x-key"])));
    let w: Vec<String> = l.warnings.iter().map(|w| w.to_string()).collect();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.acls.len(), 1);
    assert_eq!(c.acls[0].group, "admins");
}

#[test]
fn plugin_and_consumer_errors() {
    let text = r#"
_format_version: "3.0"
services:
- name: svc
  host: up
  plugins:
  - name: key-auth
    service: svc
  - name: key-auth
    config: {key_names: []}
consumers:
- tags: [x]
- username: bob
- username: bob
plugins:
- name: no-such-plugin
- name: key-auth
  consumer: nobody
- name: correlation-id
- name: correlation-id
  config: {header_nam: X}
"#;
    let e = errs(text);
    has(
        &e,
        "services[0].plugins[0]: a nested plugin takes its scope from its parent",
    );
    has(
        &e,
        "services[0].plugins[1].config.key_names: length must be at least 1",
    );
    has(
        &e,
        "consumers[0]: at least one of these fields must be non-empty: 'custom_id', 'username'",
    );
    has(
        &e,
        "consumers[2].username: duplicate consumer username 'bob'",
    );
    has(&e, "plugins[0].name: plugin 'no-such-plugin' not enabled");
    has(
        &e,
        "plugins[1].consumer: references a consumer that does not exist: 'nobody'",
    );
    has(&e, "plugins[3].config.header_nam: unknown field");
}

#[test]
fn the_same_plugin_twice_on_one_scope_is_an_error() {
    let e = errs(
        "_format_version: '3.0'\nplugins:\n- name: correlation-id\n- name: correlation-id\n  config: {header_name: X-Id}\n",
    );
    has(
        &e,
        "plugins[1].name: duplicate plugin name 'correlation-id for global'",
    );
}
