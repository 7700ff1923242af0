//! Per-request cost of the plugin access phase: a route without plugins, and a route
//! with ten plugins that all let the request through (correlation-id, cors,
//! key-auth, basic-auth with anonymous, ip-restriction, acl, rate-limiting local,
//! request-transformer, response-transformer, request-termination with a trigger).
//!
//! Run with `cargo bench -p gateway-node --bench plugins`.
//! Figures: bench/README.md.

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use gateway_node::plugin::{Chains, Ctx};
use gateway_node::proxy::ConnInfo;
use std::hint::black_box;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONFIG: &str = r#"
_format_version: "3.0"
services:
- name: s
  host: upstream.internal
  routes:
  - name: bare
    paths: [/bare]
  - name: full
    paths: [/full]
    plugins:
    - name: correlation-id
    - name: cors
      config: {origins: ["https://app.example.com"]}
    - name: key-auth
    - name: basic-auth
      config: {anonymous: guest}
    - name: ip-restriction
      config: {allow: [127.0.0.0/8]}
    - name: acl
      config: {allow: [users]}
    - name: rate-limiting
      config: {second: 1000000000, hour: 1000000000000}
    - name: request-transformer
      config: {add: {headers: ["x-added:1"]}}
    - name: response-transformer
      config: {add: {headers: ["x-resp:1"]}}
    - name: request-termination
      config: {trigger: x-stop}
consumers:
- username: bench
  keyauth_credentials: [{key: bench-key}]
  acls: [{group: users}]
- username: guest
"#;

fn bench(c: &mut Criterion) {
    let loaded = match graphql_schema::load_str(CONFIG) {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    let chains = match Chains::build(&loaded.config, &loaded.config.routes) {
        Ok(c) => c,
        Err(e) => panic!("{e:?}"),
    };
    let conn = ConnInfo::new(
        "127.0.0.1:50000".parse().unwrap_or_else(|e| panic!("{e}")),
        8000,
        false,
        None,
    );
    let method = http::Method::GET;
    let mut base = http::HeaderMap::new();
    base.insert("apikey", http::HeaderValue::from_static("bench-key"));
    base.insert("user-agent", http::HeaderValue::from_static("bench"));
    let route_id = loaded.config.routes[1].id;
    let mut g = c.benchmark_group("plugins");
    for (name, route) in [("empty_chain", 0usize), ("ten_plugins", 1usize)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut headers = base.clone();
                let mut ctx = Ctx {
                    conn: &conn,
                    route_id,
                    service_id: None,
                    method: &method,
                    path: "/full",
                    query: None,
                    headers: &mut headers,
                    consumers: &chains.consumers,
                    identity: None,
                    application: None,
                    response_headers: Vec::new(),
                    upstream_path: None,
                    upstream_method: None,
                    max_body_bytes: None,
                    taps: Vec::new(),
                    request_body: None,
                    response_body: None,
                    uri_captures: Vec::new(),
                };
                let out = chains.access(black_box(route), &mut ctx).now_or_never();
                assert!(
                    matches!(out, Some((_, None))),
                    "every plugin lets the request through"
                );
                black_box(ctx.response_headers.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
