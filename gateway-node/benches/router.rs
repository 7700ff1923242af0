//! Router matching and build cost at 100, 1k and 10k routes.
//!
//! Run with `cargo bench -p gateway-node --bench router`.
//! Last figures (see bench/README.md for the machine and the full table).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use gateway_node::router::{RequestParts, Router};
use graphql_schema::entity::Route;
use std::hint::black_box;

// the allocator portico-gateway runs with
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `n` routes like a real estate of services: a third host-bound, the rest path
/// based with two prefixes each, and one regex route in fifty.
fn routes(n: usize) -> Vec<Route> {
    routes_with(n, 50)
}

/// Like [`routes`], with one regex route in `regex_every` (0: none).
fn routes_with(n: usize, regex_every: usize) -> Vec<Route> {
    let mut y = String::from(
        "_format_version: '3.0'\nservices:\n- name: s\n  host: upstream.internal\n  routes:\n",
    );
    for i in 0..n {
        if regex_every > 0 && i % regex_every == regex_every - 1 {
            y.push_str(&format!("  - {{name: r{i}, paths: ['~/re{i}/\\d+$']}}\n"));
        } else if i % 3 == 0 {
            y.push_str(&format!(
                "  - {{name: r{i}, hosts: [svc{i}.example.com], paths: [/api]}}\n"
            ));
        } else {
            y.push_str(&format!(
                "  - {{name: r{i}, paths: [/svc{i}/v1, /svc{i}/v2], methods: [GET, POST]}}\n"
            ));
        }
    }
    match graphql_schema::load_str(&y) {
        Ok(l) => l.config.routes,
        Err(e) => panic!("{e}"),
    }
}

fn bench(c: &mut Criterion) {
    let headers = http::HeaderMap::new();
    let mut g = c.benchmark_group("router");
    for n in [100usize, 1_000, 10_000] {
        let rs = routes(n);
        g.bench_with_input(BenchmarkId::new("build", n), &rs, |b, rs| {
            b.iter(|| Router::new(black_box(rs)))
        });
        let plain = routes_with(n, 0);
        g.bench_with_input(BenchmarkId::new("build_no_regex", n), &plain, |b, rs| {
            b.iter(|| Router::new(black_box(rs)))
        });
        let Ok(router) = Router::new(&rs) else {
            panic!("router")
        };
        let last_path = format!(
            "/svc{}/v2/users/42",
            if (n - 2) % 3 == 0 { n - 3 } else { n - 2 }
        );
        let host_req = format!("svc{}.example.com", (n / 3) * 3 - 3);
        let cases = [
            ("prefix", "x.example.com".to_string(), last_path),
            ("host", host_req, "/api/orders".to_string()),
            (
                "miss",
                "x.example.com".to_string(),
                "/nothing/here".to_string(),
            ),
        ];
        for (name, host, path) in cases {
            let parts = RequestParts {
                method: "GET",
                host: &host,
                port: 80,
                path: &path,
                headers: &headers,
                sni: None,
                tls: false,
            };
            assert!(
                name == "miss" || router.find(&parts).is_some(),
                "{name} must match"
            );
            g.bench_function(BenchmarkId::new(format!("match_{name}"), n), |b| {
                b.iter(|| router.find(black_box(&parts)).map(|m| m.route))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
