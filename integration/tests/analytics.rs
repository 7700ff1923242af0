//! Native analytics on a real node (standalone: batches written to a file):
//! a known mix of answers (the upstream's 200s, a plugin's 503 and 401, no
//! route 404) counted exactly per status and route, every answer a record
//! (including the gateway's own), and the p99 from the merged cell sketches
//! within 1% of the p99 of the same requests' raw latencies.

use std::collections::HashMap;

use graphql_schema::analytics::{Batch, Source, exact_quantile, sketch};
use integration::platform::{Db, Platform, next_message};
use integration::{EchoServer, Gateway, client, free_port, make_temp_dir, send};
use serde_json::json;

fn batches(path: &std::path::Path) -> Vec<Batch> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_is_counted_with_exact_counts_and_one_percent_p99() {
    let up = EchoServer::start("up").await;
    let yaml = format!(
        r#"_format_version: "3.0"
services:
- name: svc
  url: {up}
  routes:
  - name: ok
    paths: [/ok]
  - name: closed
    paths: [/closed]
    plugins:
    - name: request-termination
      config: {{status_code: 503, message: closed}}
  - name: keyed
    paths: [/keyed]
    plugins:
    - name: key-auth
"#,
        up = up.url()
    );
    let dir = make_temp_dir("portico-analytics");
    let file = dir.join("analytics.jsonl");
    let gw = Gateway::start_args(
        Some(&yaml),
        &[
            "--analytics-file".into(),
            file.display().to_string(),
            "--analytics-flush-ms".into(),
            "200".into(),
            "--analytics-samples".into(),
            "100000".into(),
        ],
    )
    .await;
    let c = client();
    let mix = [
        ("/ok/x", 300, 200u16),
        ("/closed", 50, 503),
        ("/keyed", 30, 401),
        ("/nope", 20, 404),
    ];
    let total: u64 = mix.iter().map(|(_, n, _)| *n as u64).sum();
    for (path, n, want) in mix {
        for _ in 0..n {
            let r = send(c.get(gw.url(path))).await;
            assert_eq!(r.status, want, "{path}");
        }
    }
    // every request in the batches (event-based: the file grows until they are)
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let got = loop {
        let b = batches(&file);
        let n: u64 = b.iter().map(|b| b.requests).sum();
        if n >= total {
            break b;
        }
        if tokio::time::Instant::now() >= deadline {
            let mut st: HashMap<u16, u64> = HashMap::new();
            for c in b.iter().flat_map(|b| b.cells.iter()) {
                *st.entry(c.key.status).or_default() += c.count;
            }
            panic!(
                "{n} of {total} requests in the batches: {st:?}\n{}",
                gw.log()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(got.iter().map(|b| b.requests).sum::<u64>(), total);
    let seqs: Vec<u64> = got.iter().map(|b| b.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "numbered in order: {seqs:?}"
    );

    // exact counts per status, and per route for the routed ones
    let mut by_status: HashMap<u16, u64> = HashMap::new();
    let mut routes = std::collections::HashSet::new();
    let mut ok = sketch();
    let mut gateway_answers = 0;
    for b in &got {
        for cell in &b.cells {
            *by_status.entry(cell.key.status).or_default() += cell.count;
            gateway_answers += cell.gateway_answers;
            if let Some(r) = cell.key.route {
                routes.insert((r, cell.key.status));
            }
            if cell.key.status == 200 {
                ok.merge(&cell.total).expect("one config");
            }
        }
    }
    assert_eq!(by_status.get(&200), Some(&300));
    assert_eq!(by_status.get(&503), Some(&50));
    assert_eq!(by_status.get(&401), Some(&30));
    assert_eq!(by_status.get(&404), Some(&20));
    assert_eq!(
        gateway_answers, 100,
        "503, 401 and 404 are the gateway's own"
    );
    assert_eq!(routes.len(), 3, "three routes, one status each: {routes:?}");

    // the samples (all of them here) are the raw records
    let samples: Vec<_> = got.iter().flat_map(|b| b.samples.iter()).collect();
    assert_eq!(samples.len() as u64, total);
    let oks: Vec<_> = samples.iter().filter(|s| s.status == 200).collect();
    assert!(oks.iter().all(|s| s.source == Source::Upstream
        && s.upstream_status == Some(200)
        && s.upstream_us.is_some()
        && s.path.starts_with("/ok")
        && s.method == "GET"));
    assert!(
        samples
            .iter()
            .filter(|s| s.status == 404)
            .all(|s| s.route.is_none() && s.source == Source::Gateway)
    );
    let mut raw: Vec<f64> = oks.iter().map(|s| s.total_us.max(1) as f64).collect();
    raw.sort_by(f64::total_cmp);
    for q in [0.5, 0.95, 0.99] {
        let exact = exact_quantile(&raw, q).expect("values");
        let est = ok.quantile(q).ok().flatten().expect("values");
        assert!(
            ((est - exact) / exact).abs() <= 0.0101,
            "q{q}: sketch {est} us, raw {exact} us"
        );
    }
    drop(gw);
}

/// The analytics query's total REQUEST_COUNT per (route, status).
async fn counts(p: &Platform) -> (u64, HashMap<(String, String), u64>) {
    let d = p
        .ok(
            "{ analytics(query: {metrics: [REQUEST_COUNT, RESPONSE_LATENCY_P99], dimensions: [ROUTE, STATUS_CODE], timeRange: {relative: LAST_15M}}) { meta { truncated controlPlaneIds } rows { dimensions { dimension id } metrics { metric value } } } }",
            json!({}),
        )
        .await;
    let mut out = HashMap::new();
    let mut total = 0;
    for r in d["analytics"]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let n = r["metrics"][0]["value"].as_f64().unwrap_or(0.0) as u64;
        total += n;
        out.insert(
            (
                r["dimensions"][0]["id"].as_str().unwrap_or("").to_string(),
                r["dimensions"][1]["id"].as_str().unwrap_or("").to_string(),
            ),
            n,
        );
    }
    (total, out)
}

async fn until_total(p: &Platform, want: u64) -> HashMap<(String, String), u64> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (n, by) = counts(p).await;
        if n >= want {
            assert_eq!(n, want, "no request counted twice: {by:?}");
            return by;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} of {want} counted: {by:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

integration::both!(batches_reach_the_platform_and_survive_its_absence);

async fn batches_reach_the_platform_and_survive_its_absence(db: Db) {
    let dir = make_temp_dir("portico-analytics-hybrid");
    let (http, cluster) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let mut p = Platform::start_in(db, dir.clone(), &http, &cluster, None).await;
    let token = p.token.clone();
    let url = p.database_url.clone();
    let up = EchoServer::start("up").await;
    let cp = p.create_plane("prod").await;
    let svc = p
        .create(&cp, "SERVICE", json!({"name": "svc", "url": up.url()}))
        .await["data"]["createEntity"]["id"]
        .as_str()
        .expect("service")
        .to_string();
    let route = p
        .create(
            &cp,
            "ROUTE",
            json!({"name": "ok", "paths": ["/ok"], "service": {"id": svc}}),
        )
        .await["data"]["createEntity"]["id"]
        .as_str()
        .expect("route")
        .to_string();
    let creds = p.node_creds(&cp, "node-1", &dir.join("node")).await;
    let mut args = p.node_args(&creds, &dir.join("node-cache"));
    args.extend(["--analytics-flush-ms".into(), "200".into()]);
    let gw = Gateway::start_args(None, &args).await;
    let c = client();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while send(c.get(gw.url("/ok"))).await.status != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the route reaches the node"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // the request that found the route counted too, and the 404s before it:
    // count from the node's own tally instead of guessing
    for _ in 0..99 {
        assert_eq!(send(c.get(gw.url("/ok"))).await.status, 200);
    }
    for _ in 0..10 {
        assert_eq!(send(c.get(gw.url("/nope"))).await.status, 404);
    }
    let served = gw.status_json().await["connections"]["requests"]
        .as_u64()
        .expect("requests");
    let by = until_total(&p, served).await;
    assert_eq!(by.get(&(route.clone(), "200".into())), Some(&100), "{by:?}");
    assert!(by.get(&(String::new(), "404".into())).copied().unwrap_or(0) >= 10);

    // the live view: the answer now, then again as batches arrive
    let mut ws = p
        .subscribe(
            &p.token,
            "subscription { analyticsLive(query: {metrics: [REQUEST_COUNT], timeRange: {relative: LAST_15M}}) { rows { metrics { value } } } }",
            json!({}),
        )
        .await;
    let live_total = |m: &serde_json::Value| {
        m["payload"]["data"]["analyticsLive"]["rows"][0]["metrics"][0]["value"]
            .as_f64()
            .unwrap_or(0.0) as u64
    };
    let first = next_message(&mut ws).await;
    assert_eq!(live_total(&first), served, "{first}");
    for _ in 0..5 {
        assert_eq!(send(c.get(gw.url("/ok"))).await.status, 200);
    }
    loop {
        let m = next_message(&mut ws).await;
        assert_eq!(m["type"], "next", "{m}");
        if live_total(&m) == served + 5 {
            break;
        }
        assert!(live_total(&m) < served + 5, "{m}");
    }
    drop(ws);

    // the platform goes away; the node keeps serving and spools; back, it drains
    p.keep = true;
    p.kill();
    drop(p);
    for _ in 0..50 {
        assert_eq!(send(c.get(gw.url("/ok"))).await.status, 200);
    }
    let served = gw.status_json().await["connections"]["requests"]
        .as_u64()
        .expect("requests");
    let mut p = Platform::start_in(db, dir.clone(), &http, &cluster, Some(url)).await;
    p.token = token;
    let by = until_total(&p, served).await;
    assert_eq!(by.get(&(route, "200".into())), Some(&155), "{by:?}");
}

/// A second node's data merges with the first's: the platform's p99 for the
/// route is exactly the p99 of one sketch of every request, and within 1% of
/// the raw p99 of the sampled records (all of them here: ratio 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_merge_to_the_p99_of_all_their_requests() {
    let p = Platform::start(Db::Sqlite).await;
    let up = EchoServer::start("up").await;
    let cp = p.create_plane("prod").await;
    let svc = p
        .create(&cp, "SERVICE", json!({"name": "svc", "url": up.url()}))
        .await["data"]["createEntity"]["id"]
        .as_str()
        .expect("service")
        .to_string();
    p.create(
        &cp,
        "ROUTE",
        json!({"name": "ok", "paths": ["/ok"], "service": {"id": svc}}),
    )
    .await;
    let c = client();
    let mut nodes = Vec::new();
    for name in ["node-1", "node-2"] {
        let dir = make_temp_dir("portico-analytics-2");
        let creds = p.node_creds(&cp, name, &dir).await;
        let mut args = p.node_args(&creds, &dir.join("cache"));
        args.extend([
            "--analytics-flush-ms".into(),
            "200".into(),
            "--analytics-samples".into(),
            "100000".into(),
        ]);
        let gw = Gateway::start_args(None, &args).await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while send(c.get(gw.url("/ok"))).await.status != 200 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the route reaches {name}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        nodes.push(gw);
    }
    for (i, gw) in nodes.iter().enumerate() {
        for _ in 0..(100 + 50 * i) {
            assert_eq!(send(c.get(gw.url("/ok"))).await.status, 200);
        }
    }
    let mut served = 0;
    for gw in &nodes {
        served += gw.status_json().await["connections"]["requests"]
            .as_u64()
            .expect("requests");
    }
    until_total(&p, served).await;
    let d = p
        .ok(
            "{ analytics(query: {metrics: [RESPONSE_LATENCY_P99], filters: [{dimension: STATUS_CODE, values: [\"200\"]}], timeRange: {relative: LAST_15M}}) { rows { metrics { value } } } }",
            json!({}),
        )
        .await;
    let p99 = d["analytics"]["rows"][0]["metrics"][0]["value"]
        .as_f64()
        .expect("a p99");
    let r = p
        .ok(
            "{ apiRequests(filter: {status: 200}, first: 1000) { samplingRatio requests { totalCount nodes { latency nodeId } } } }",
            json!({}),
        )
        .await;
    let page = &r["apiRequests"];
    let lat: Vec<f64> = page["requests"]["nodes"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["latency"].as_f64()).collect())
        .unwrap_or_default();
    assert_eq!(page["samplingRatio"], 1.0, "{page}");
    assert_eq!(
        lat.len() as u64,
        page["requests"]["totalCount"].as_u64().unwrap_or(0)
    );
    let node_ids: std::collections::HashSet<&str> = page["requests"]["nodes"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["nodeId"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(node_ids.len(), 2, "both nodes' requests");
    let mut one = sketch();
    let mut raw: Vec<f64> = Vec::new();
    for l in &lat {
        let us = (l * 1000.0).round().max(1.0);
        one.add(us);
        raw.push(us);
    }
    raw.sort_by(f64::total_cmp);
    let one_p99 = one.quantile(0.99).ok().flatten().expect("values") / 1000.0;
    assert!(
        (p99 - one_p99).abs() < 1e-9,
        "merged {p99} ms, one sketch {one_p99} ms"
    );
    let exact = exact_quantile(&raw, 0.99).expect("values") / 1000.0;
    assert!(
        ((p99 - exact) / exact).abs() <= 0.0101,
        "p99 {p99} ms, raw {exact} ms"
    );
}
