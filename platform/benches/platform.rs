//! Platform load: mutation latency and throughput through the real HTTP server on
//! SQLite and (when reachable) PostgreSQL, and `controlPlaneConfig` export time at
//! 10k routes. Prints a table; `cargo bench -p platform --bench platform`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Target {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Target {
    async fn gql(&self, q: &str, v: Value) -> Value {
        let r: Value = self
            .http
            .post(format!("{}/graphql", self.url))
            .bearer_auth(&self.token)
            .json(&json!({"query": q, "variables": v}))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert!(r.get("errors").is_none(), "{r}");
        r["data"].clone()
    }
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

async fn start(db: Option<String>) -> (Target, platform::cli::serve::Running) {
    let dir = std::env::temp_dir().join(format!("portico-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let token = "bench-token".to_string();
    let r = platform::cli::serve::start(platform::cli::serve::Options {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir,
        database_url: db,
        admin_token: Some(token.clone()),
        cluster_listen: None,
        cluster_hostnames: Vec::new(),
        change_log_retention: 10_000,
        audit_webhook: None,
        tls: None,
        test_hooks: false,
        max_request_items: platform::graphql::limits::MAX_ITEMS,
        cors_allowed_origins: Vec::new(),
        smtp_url: None,
        mail_from: "Portico <portal@localhost>".into(),
    })
    .await
    .expect("platform starts");
    (
        Target {
            url: format!("http://{}", r.addr),
            token,
            http: reqwest::Client::new(),
        },
        r,
    )
}

const CREATE: &str = "mutation($i: CreateEntityInput!) { createEntity(input: $i) { id } }";

async fn mutations(label: &str, t: &Target, plane: &str, n: usize, concurrency: usize) {
    // sequential: latency
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let s = Instant::now();
        t.gql(CREATE, json!({"i": {"controlPlaneId": plane, "kind": "SERVICE", "data": {"name": format!("seq{i}"), "url": "http://127.0.0.1:9"}}})).await;
        lat.push(s.elapsed());
    }
    let p50 = pct(&mut lat, 0.5);
    let p99 = pct(&mut lat, 0.99);
    // concurrent: throughput
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    let per = n / concurrency;
    for c in 0..concurrency {
        let url = t.url.clone();
        let token = t.token.clone();
        let plane = plane.to_string();
        tasks.push(tokio::spawn(async move {
            let t = Target { url, token, http: reqwest::Client::new() };
            for i in 0..per {
                t.gql(CREATE, json!({"i": {"controlPlaneId": plane, "kind": "CONSUMER", "data": {"username": format!("c{c}-{i}")}}})).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let rate = (per * concurrency) as f64 / t0.elapsed().as_secs_f64();
    println!(
        "{label:<10} mutations: p50 {p50:.2} ms, p99 {p99:.2} ms (sequential, {n}); {rate:.0}/s with {concurrency} clients"
    );
}

async fn export(label: &str, t: &Target, routes: usize) {
    let plane = t
        .gql(
            "mutation { createControlPlane(input: {name: \"big\"}) { id } }",
            json!({}),
        )
        .await["createControlPlane"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let services: Vec<Value> = (0..routes / 10)
        .map(|s| {
            json!({"name": format!("svc{s}"), "url": "http://127.0.0.1:9",
                "routes": (0..10).map(|r| json!({"name": format!("r{s}-{r}"), "paths": [format!("/s{s}/r{r}")]})).collect::<Vec<_>>()})
        })
        .collect();
    let s = Instant::now();
    t.gql(
        "mutation($i: ApplyConfigInput!) { applyConfig(input: $i) { configVersion } }",
        json!({"i": {"controlPlane": plane, "document": {"_format_version": "3.0", "services": services}}}),
    )
    .await;
    let apply = s.elapsed().as_secs_f64() * 1000.0;
    let mut ex = Vec::new();
    for _ in 0..10 {
        let s = Instant::now();
        let d = t
            .gql(
                "query($id: ID!) { controlPlaneConfig(id: $id) { version hash document } }",
                json!({"id": plane}),
            )
            .await;
        ex.push(s.elapsed());
        assert_eq!(
            d["controlPlaneConfig"]["document"]["routes"]
                .as_array()
                .map(Vec::len),
            Some(routes)
        );
    }
    let p50 = pct(&mut ex, 0.5);
    // one more mutation on the big plane: revalidates the whole config
    let mut lat = Vec::new();
    for i in 0..20 {
        let s = Instant::now();
        t.gql(CREATE, json!({"i": {"controlPlaneId": plane, "kind": "CONSUMER", "data": {"username": format!("big{i}")}}})).await;
        lat.push(s.elapsed());
    }
    let p99 = pct(&mut lat, 0.99);
    println!(
        "{label:<10} {routes} routes: apply {apply:.0} ms, controlPlaneConfig export p50 {p50:.1} ms, a mutation on that plane p99 {p99:.1} ms"
    );
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut dbs: Vec<(&str, Option<String>)> = vec![("sqlite", None)];
        if std::net::TcpStream::connect("127.0.0.1:5432").is_ok() {
            dbs.push((
                "postgres",
                Some(format!(
                    "postgres://postgres@127.0.0.1:5432/portico_bench_{}",
                    std::process::id()
                )),
            ));
        } else {
            println!("postgres: not reachable on 127.0.0.1:5432, skipped");
        }
        for (label, db) in dbs {
            let (t, _running) = start(db).await;
            let plane = t
                .gql(
                    "mutation { createControlPlane(input: {name: \"bench\"}) { id } }",
                    json!({}),
                )
                .await["createControlPlane"]["id"]
                .as_str()
                .expect("id")
                .to_string();
            mutations(label, &t, &plane, 400, 8).await;
            export(label, &t, 10_000).await;
        }
    });
}
