//! Config propagation (hybrid mode): time from sending a mutation until N nodes
//! have the new version (N = 1, 10, 100; one real embedded gateway node plus light
//! sync clients that speak the same protocol), the bytes a one-route change costs
//! in a 10k-route config, and platform memory per connected node.
//! `cargo bench -p platform --bench propagation`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

struct Api {
    url: String,
    http: reqwest::Client,
}

impl Api {
    async fn gql(&self, q: &str, v: Value) -> Value {
        let r: Value = self
            .http
            .post(format!("{}/graphql", self.url))
            .bearer_auth("bench")
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

/// A light node: subscribes and records the last version and frame size.
async fn light_node(
    cluster: std::net::SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    version: watch::Sender<(i64, usize)>,
) {
    let tcp = tokio::net::TcpStream::connect(cluster).await.expect("tcp");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .expect("tls");
    let mut req = format!("wss://localhost:{}/graphql/ws", cluster.port())
        .into_client_request()
        .expect("req");
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("h"),
    );
    let (mut ws, _) = tokio_tungstenite::client_async(req, tls).await.expect("ws");
    let id = uuid::Uuid::new_v4();
    ws.send(Message::text(json!({"type": "connection_init", "payload": {"node_id": id, "hostname": "light", "version": env!("CARGO_PKG_VERSION")}}).to_string())).await.expect("init");
    let _ack = ws.next().await;
    ws.send(Message::text(json!({"id": "s", "type": "subscribe", "payload": {"query": graphql_schema::operations::CONFIG_UPDATES, "variables": {"sinceVersion": -1}}}).to_string())).await.expect("sub");
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(t) = m {
            let len = t.len();
            let v: Value = serde_json::from_str(&t).unwrap_or_default();
            if let Some(ver) = v["payload"]["data"]["configUpdates"]["version"].as_i64() {
                let _ = version.send((ver, len));
            }
        }
    }
}

fn client_cfg(cert: &str, key: &str, ca: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(c.expect("ca")).expect("add");
    }
    let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("cert");
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("cfg"),
    )
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|x| x.parse().ok()))
        })
        .unwrap_or(0)
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("portico-prop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let r = platform::cli::serve::start(platform::cli::serve::Options {
            listen: "127.0.0.1:0".parse().expect("a"),
            data_dir: dir.clone(),
            database_url: None,
            admin_token: Some("bench".into()),
            cluster_listen: Some("127.0.0.1:0".parse().expect("a")),
            cluster_hostnames: vec!["localhost".into()],
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
        .expect("platform");
        let cluster = r.cluster_addr.expect("cluster");
        let api = Api { url: format!("http://{}", r.addr), http: reqwest::Client::new() };
        let cp = api.gql("mutation { createControlPlane(input: {name: \"prop\"}) { id } }", json!({})).await["createControlPlane"]["id"].as_str().expect("id").to_string();
        let svc = api.gql("mutation($i: CreateEntityInput!) { createEntity(input: $i) { id } }", json!({"i": {"controlPlaneId": cp, "kind": "SERVICE", "data": {"name": "s", "url": "http://127.0.0.1:9"}}})).await["createEntity"]["id"].as_str().expect("id").to_string();
        let c = api.gql("mutation($i: CreateDataPlaneCertificateInput!) { createDataPlaneCertificate(input: $i) { certificate privateKey clusterCaCertificate } }", json!({"i": {"controlPlaneId": cp, "name": "bench"}})).await;
        let c = &c["createDataPlaneCertificate"];
        let (cert, key, ca) = (c["certificate"].as_str().expect("c"), c["privateKey"].as_str().expect("k"), c["clusterCaCertificate"].as_str().expect("ca"));
        let cfg = client_cfg(cert, key, ca);

        // one real node, embedded: its sync client, compile and swap
        std::fs::write(dir.join("n.crt"), cert).expect("w");
        std::fs::write(dir.join("n.key"), key).expect("w");
        std::fs::write(dir.join("ca.crt"), ca).expect("w");
        let node = gateway_node::node::Node::new(None).expect("node");
        gateway_node::sync::start(node.clone(), gateway_node::sync::SyncOptions {
            url: format!("https://localhost:{}", cluster.port()),
            cert: dir.join("n.crt"),
            key: dir.join("n.key"),
            ca: dir.join("ca.crt"),
            cache_dir: dir.join("cache"),
            labels: Default::default(),
            heartbeat: Duration::from_secs(5),
            analytics: None,
        }).await.expect("sync");
        let real_version = || node.sync.lock().ok().and_then(|s| s.as_ref().map(|s| s.config_version)).unwrap_or(0);

        let mut nodes: Vec<watch::Receiver<(i64, usize)>> = Vec::new();
        let mut route_n = 0;
        for n in [1usize, 10, 100] {
            let before = rss_kb();
            let prev = nodes.len();
            while nodes.len() + 1 < n {
                let (tx, rx) = watch::channel((0, 0));
                tokio::spawn(light_node(cluster, cfg.clone(), tx));
                nodes.push(rx);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            let added = nodes.len() - prev;
            let per_node = rss_kb().saturating_sub(before) as f64 / added.max(1) as f64;
            let mut all = Vec::new();
            for _ in 0..50 {
                route_n += 1;
                let t = Instant::now();
                let d = api.gql("mutation($i: CreateEntityInput!) { createEntity(input: $i) { id } }", json!({"i": {"controlPlaneId": cp, "kind": "ROUTE", "data": {"name": format!("r{route_n}"), "paths": [format!("/r{route_n}")], "service": {"id": svc}}}})).await;
                let _ = d;
                let v = api.gql("query($id: ID) { controlPlane(id: $id) { configVersion } }", json!({"id": cp})).await["controlPlane"]["configVersion"].as_i64().expect("v");
                loop {
                    if real_version() >= v && nodes.iter().all(|r| r.borrow().0 >= v) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                all.push(t.elapsed());
            }
            let (p50, p99) = (pct(&mut all, 0.5), pct(&mut all, 0.99));
            println!("propagation to {n:>3} nodes (1 real + {} light): mutation sent -> applied on all: p50 {p50:.1} ms, p99 {p99:.1} ms{}", n - 1,
                if added > 0 { format!("; platform+client RSS per added node ~{per_node:.0} KB (upper bound: light clients share the process)") } else { String::new() });
        }

        // bytes for a one-route change in a 10k-route config
        let services: Vec<Value> = (0..1000).map(|s| json!({"name": format!("big{s}"), "url": "http://127.0.0.1:9",
            "routes": (0..10).map(|r| json!({"name": format!("big{s}-{r}"), "paths": [format!("/big{s}/{r}")]})).collect::<Vec<_>>()})).collect();
        let v = api.gql("mutation($i: ApplyConfigInput!) { applyConfig(input: $i) { configVersion } }", json!({"i": {"controlPlane": cp, "document": {"_format_version": "3.0", "services": services}}})).await["applyConfig"]["configVersion"].as_i64().expect("v");
        let probe = nodes[0].clone();
        let t = Instant::now();
        while probe.borrow().0 < v && t.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let snapshot_bytes = probe.borrow().1;
        let routes = api.gql("query($id: ID) { controlPlane(id: $id) { entities(kind: ROUTE, filter: {name: \"big0-0\"}) { nodes { id } } } }", json!({"id": cp})).await;
        let rid = routes["controlPlane"]["entities"]["nodes"][0]["id"].as_str().expect("route").to_string();
        let d = api.gql("mutation($i: UpdateEntityInput!) { updateEntity(input: $i) { id } }", json!({"i": {"controlPlaneId": cp, "id": rid, "data": {"paths": ["/changed"]}}})).await;
        let _ = d;
        let t = Instant::now();
        while probe.borrow().0 < v + 1 && t.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        println!("10k-route config: the apply's update frame {snapshot_bytes} bytes; a one-route change: {} bytes on the wire (WebSocket text frame)", probe.borrow().1);
    });
}
