//! Hybrid mode with real processes: `portico serve` and `portico-gateway
//! --control-plane` over mutual TLS on loopback. A mutation reaches the node and
//! changes its routing; the node serves its cache with the platform down and
//! through a platform restart; revoked and unknown certificates are refused; a
//! burst of changes arrives in order and the hashes agree.

use std::time::Duration;

use integration::platform::{Db, Platform};
use integration::{EchoServer, Gateway, client, free_port, make_temp_dir};
use serde_json::json;

async fn wait_for<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !f().await {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn status(url: String) -> u16 {
    match client().get(url).send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

async fn setup(p: &Platform, up: &EchoServer) -> (String, String) {
    let cp = p.create_plane("edge").await;
    let svc = p
        .create(&cp, "SERVICE", json!({"name": "echo", "url": up.url()}))
        .await;
    let svc = svc["data"]["createEntity"]["id"]
        .as_str()
        .expect("service id")
        .to_string();
    let r = p
        .create(
            &cp,
            "ROUTE",
            json!({"name": "r", "paths": ["/one"], "service": {"id": svc}}),
        )
        .await;
    assert!(r.get("errors").is_none(), "{r}");
    (
        cp,
        r["data"]["createEntity"]["id"]
            .as_str()
            .expect("route id")
            .to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_reach_the_node_and_change_its_routing() {
    let p = Platform::start(Db::Sqlite).await;
    let up = EchoServer::start("up").await;
    let (cp, route) = setup(&p, &up).await;
    let dir = make_temp_dir("portico-node");
    let creds = p.node_creds(&cp, "node-1", &dir).await;
    let gw = Gateway::start_args(None, &p.node_args(&creds, &dir.join("cache"))).await;
    wait_for("the route on the node", || async {
        status(gw.url("/one")).await == 200
    })
    .await;
    assert_eq!(status(gw.url("/one")).await, 200);

    // change the route: the old path stops matching, the new one routes
    let r = p
        .gql(
            "mutation($i: UpdateEntityInput!) { updateEntity(input: $i) { id } }",
            json!({"i": {"controlPlaneId": cp, "id": route, "data": {"paths": ["/two"]}}}),
        )
        .await;
    assert!(r.get("errors").is_none(), "{r}");
    wait_for("the new path", || async {
        status(gw.url("/two")).await == 200
    })
    .await;
    assert_eq!(status(gw.url("/one")).await, 404);

    // the platform lists the node, in sync with the plane's version and hash
    let plane = p.plane(&cp).await;
    wait_for("the node in sync", || async {
        let n = p.nodes(&cp).await;
        n[0]["status"] == "IN_SYNC"
    })
    .await;
    let n = p.nodes(&cp).await;
    assert_eq!(n[0]["configVersion"], plane["configVersion"]);
    assert_eq!(n[0]["configHash"], plane["configHash"]);
    assert_eq!(n[0]["version"], env!("CARGO_PKG_VERSION"));
    // the node's own status agrees
    let st = gw.status_json().await;
    assert_eq!(st["sync"]["connected"], true);
    assert_eq!(st["sync"]["config_hash"], plane["configHash"]);
    assert_eq!(st["config"]["hash"], plane["configHash"], "{st}");

    // invalid input on the platform reaches no node
    let r = p
        .gql(
            "mutation($i: UpdateEntityInput!) { updateEntity(input: $i) { id } }",
            json!({"i": {"controlPlaneId": cp, "id": route, "data": {"paths": ["bad"]}}}),
        )
        .await;
    assert!(r.get("errors").is_some());
    assert_eq!(status(gw.url("/two")).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_serves_its_cache_while_the_platform_is_away() {
    let dir = make_temp_dir("portico-hybrid");
    let (http, cluster) = (free_port(), free_port());
    let mut p = Platform::start_in(
        Db::Sqlite,
        dir.clone(),
        &format!("127.0.0.1:{http}"),
        &format!("127.0.0.1:{cluster}"),
        None,
    )
    .await;
    let token = p.token.clone();
    let up = EchoServer::start("up").await;
    let (cp, _) = setup(&p, &up).await;
    let creds = p.node_creds(&cp, "node-1", &dir.join("node")).await;
    let args = p.node_args(&creds, &dir.join("node-cache"));
    let gw = Gateway::start_args(None, &args).await;
    wait_for("the route", || async {
        status(gw.url("/one")).await == 200
    })
    .await;

    // traffic flows while the platform is killed and started again: no failure
    let url = gw.url("/one");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, 0u32);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if status(url.clone()).await == 200 {
                    ok += 1;
                } else {
                    failed += 1;
                }
            }
            (ok, failed)
        })
    };
    p.keep = true;
    p.kill();
    drop(p);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // a node restarted while the platform is down serves from its cache
    let gw2 = Gateway::start_args(None, &args).await;
    assert_eq!(status(gw2.url("/one")).await, 200);
    let st = gw2.status_json().await;
    assert_eq!(st["sync"]["connected"], false, "{st}");

    let mut p = Platform::start_in(
        Db::Sqlite,
        dir.clone(),
        &format!("127.0.0.1:{http}"),
        &format!("127.0.0.1:{cluster}"),
        None,
    )
    .await;
    p.token = token;
    // both nodes reconnect and catch up with a change made now
    p.create(
        &cp,
        "ROUTE",
        json!({"name": "r3", "paths": ["/three"], "service": {"name": "echo"}}),
    )
    .await;
    let r = p.create(&cp, "CONSUMER", json!({"username": "x"})).await;
    assert!(r.get("errors").is_none(), "{r}");
    wait_for("the node catching up", || async {
        status(gw.url("/three")).await != 404
    })
    .await;
    wait_for("the restarted node catching up", || async {
        status(gw2.url("/three")).await != 404
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = load.await.expect("load task");
    assert!(ok > 10, "{ok} requests");
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed while the platform was away",
        ok + failed
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_node_is_still_listed_after_a_platform_restart() {
    let dir = make_temp_dir("portico-node-list");
    let (http, cluster) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let start = || Platform::start_in(Db::Sqlite, dir.clone(), &http, &cluster, None);
    let mut p = start().await;
    let token = p.token.clone();
    let up = EchoServer::start("up").await;
    let (cp, _) = setup(&p, &up).await;
    let creds = p.node_creds(&cp, "node-1", &dir.join("node")).await;
    let gw = Gateway::start_args(None, &p.node_args(&creds, &dir.join("node-cache"))).await;
    wait_for("the node in sync", || async {
        p.nodes(&cp).await[0]["status"] == "IN_SYNC"
    })
    .await;
    let before = p.nodes(&cp).await[0].clone();
    drop(gw);
    wait_for("the node disconnected", || async {
        p.nodes(&cp).await[0]["status"] == "DISCONNECTED"
    })
    .await;
    p.keep = true;
    p.kill();
    drop(p);
    let mut p = start().await;
    p.token = token;
    let after = p.nodes(&cp).await;
    assert_eq!(after.as_array().map(Vec::len), Some(1), "{after}");
    let n = &after[0];
    assert_eq!(n["status"], "DISCONNECTED", "{n}");
    for f in ["id", "hostname", "version", "configVersion", "configHash"] {
        assert_eq!(n[f], before[f], "{f}: {n} vs {before}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_unknown_certificates_are_refused() {
    let p = Platform::start(Db::Sqlite).await;
    let up = EchoServer::start("up").await;
    let (cp, _) = setup(&p, &up).await;
    let dir = make_temp_dir("portico-node");
    let creds = p.node_creds(&cp, "node-1", &dir).await;
    let gw = Gateway::start_args(None, &p.node_args(&creds, &dir.join("cache"))).await;
    wait_for("connected", || async {
        p.nodes(&cp).await[0]["status"] == "IN_SYNC"
    })
    .await;
    let d = p
        .ok(
            "mutation($i: RevokeDataPlaneCertificateInput!) { revokeDataPlaneCertificate(input: $i) { revokedCertificateId } }",
            json!({"i": {"id": creds.id}}),
        )
        .await;
    assert_eq!(
        d["revokeDataPlaneCertificate"]["revokedCertificateId"],
        creds.id.as_str()
    );
    wait_for("disconnected", || async {
        p.nodes(&cp).await[0]["status"] == "DISCONNECTED"
    })
    .await;
    // it keeps serving what it has, and its reconnects are refused
    assert_eq!(status(gw.url("/one")).await, 200);
    let mut refused = false;
    for _ in 0..200 {
        let st = gw.status_json().await;
        if st["sync"]["connected"] == false && st["sync"]["reconnects"].as_u64().unwrap_or(0) >= 2 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "{}\n{}", gw.status_json().await["sync"], gw.log());
    assert_eq!(p.nodes(&cp).await[0]["status"], "DISCONNECTED");

    // a certificate the platform never issued nor pinned
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(Vec::<String>::new())
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    assert!(
        !talk(&p, &cert.pem(), &key.serialize_pem(), &creds.ca).await,
        "an unknown certificate got in"
    );
    // pinning it lets it in
    let d = p
        .ok(
            "mutation($i: PinDataPlaneCertificateInput!) { pinDataPlaneCertificate(input: $i) { id fingerprint } }",
            json!({"i": {"controlPlaneId": cp, "name": "pinned", "certificate": cert.pem()}}),
        )
        .await;
    assert_eq!(
        d["pinDataPlaneCertificate"]["fingerprint"]
            .as_str()
            .map(str::len),
        Some(64)
    );
    assert!(
        talk(&p, &cert.pem(), &key.serialize_pem(), &creds.ca).await,
        "a pinned certificate was refused"
    );
    // the revoked one stays out
    let node_cert = std::fs::read_to_string(&creds.cert).expect("cert");
    let node_key = std::fs::read_to_string(&creds.key).expect("key");
    assert!(!talk(&p, &node_cert, &node_key, &creds.ca).await);
}

/// Whether the cluster endpoint answers an HTTP request over mutual TLS with
/// this client certificate.
async fn talk(p: &Platform, cert: &str, key: &str, ca: &std::path::Path) -> bool {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).expect("ca") {
        roots.add(c.expect("ca cert")).expect("add");
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<_, _>>()
        .expect("cert");
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client config");
    let tcp = tokio::net::TcpStream::connect(p.cluster)
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let Ok(mut tls) = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect(name, tcp)
        .await
    else {
        return false;
    };
    if tls
        .write_all(b"GET /nope HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut buf)).await;
    buf.starts_with(b"HTTP/1.1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_changes_arrives_in_order_and_the_hashes_agree() {
    let p = std::sync::Arc::new(Platform::start(Db::Sqlite).await);
    let up = EchoServer::start("up").await;
    let (cp, _) = setup(&p, &up).await;
    let dir = make_temp_dir("portico-node");
    let creds = p.node_creds(&cp, "node-1", &dir).await;
    let gw = Gateway::start_args(None, &p.node_args(&creds, &dir.join("cache"))).await;
    wait_for("the route", || async {
        status(gw.url("/one")).await == 200
    })
    .await;
    let mut tasks = Vec::new();
    for w in 0..4 {
        let p = p.clone();
        let cp = cp.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..250 {
                let r = p
                    .create(&cp, "CONSUMER", json!({"username": format!("c{w}-{i}")}))
                    .await;
                assert!(r.get("errors").is_none(), "{r}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let plane = p.plane(&cp).await;
    assert_eq!(plane["configVersion"], 1002);
    wait_for("the node at the last version", || async {
        gw.status_json().await["sync"]["config_version"] == 1002
    })
    .await;
    let st = gw.status_json().await;
    assert_eq!(st["sync"]["config_hash"], plane["configHash"]);
    assert_eq!(
        st["config"]["entities"]["consumers"], 1000,
        "{}",
        st["config"]
    );
    // every update applied in order: no snapshot was needed (1000 deltas + the first snapshot)
    assert_eq!(st["sync"]["applied"].as_u64(), Some(1001), "{st}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_converge() {
    if !integration::platform::postgres_available() {
        return;
    }
    let url = format!(
        "postgres://postgres@127.0.0.1:5432/portico_it_replicas_{}_{}",
        std::process::id(),
        free_port()
    );
    let a = Platform::start_in(
        Db::Postgres,
        make_temp_dir("portico-replica-a"),
        "127.0.0.1:0",
        "127.0.0.1:0",
        Some(url.clone()),
    )
    .await;
    let mut b = Platform::start_in(
        Db::Postgres,
        make_temp_dir("portico-replica-b"),
        "127.0.0.1:0",
        "127.0.0.1:0",
        Some(url),
    )
    .await;
    b.token = a.token.clone();
    let up = EchoServer::start("up").await;
    let (cp, route) = setup(&a, &up).await;
    // B learns of the plane and its versions from A's notifications
    wait_for("replica B at version 2", || async {
        b.plane(&cp).await["configVersion"] == 2
    })
    .await;
    // a node with a certificate issued on A connects to B
    let dir = make_temp_dir("portico-node");
    let creds = a.node_creds(&cp, "node-b", &dir).await;
    let gw = Gateway::start_args(None, &b.node_args(&creds, &dir.join("cache"))).await;
    wait_for("the route through B", || async {
        status(gw.url("/one")).await == 200
    })
    .await;
    // a change made through A reaches the node connected to B
    let r = a
        .gql(
            "mutation($i: UpdateEntityInput!) { updateEntity(input: $i) { id } }",
            json!({"i": {"controlPlaneId": cp, "id": route, "data": {"paths": ["/two"]}}}),
        )
        .await;
    assert!(r.get("errors").is_none(), "{r}");
    // the node list is in the database: both replicas list the node connected to B alike
    wait_for("replica A listing the node on B in sync", || async {
        a.nodes(&cp).await[0]["status"] == "IN_SYNC"
    })
    .await;
    let fields = |v: &serde_json::Value| {
        let n = &v[0];
        json!([
            n["id"],
            n["hostname"],
            n["status"],
            n["configHash"],
            n["connectedSince"]
        ])
    };
    assert_eq!(fields(&a.nodes(&cp).await), fields(&b.nodes(&cp).await));
    wait_for("the change through A at the node on B", || async {
        status(gw.url("/two")).await == 200
    })
    .await;
    // writes through both replicas at once: consecutive versions, nothing lost
    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    let mut tasks = Vec::new();
    for (n, p) in [(0, a.clone()), (1, b.clone())] {
        let cp = cp.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let r = p
                    .create(&cp, "CONSUMER", json!({"username": format!("r{n}-{i}")}))
                    .await;
                assert!(r.get("errors").is_none(), "{r}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let want = 3 + 40;
    wait_for("both replicas at the last version", || async {
        a.plane(&cp).await["configVersion"] == want && b.plane(&cp).await["configVersion"] == want
    })
    .await;
    let hash = a.plane(&cp).await["configHash"].clone();
    assert_eq!(b.plane(&cp).await["configHash"], hash);
    // the catalog too: an API made on A is listed on B
    a.ok(
        "mutation { createApi(input: {name: \"replicated\"}) { id } }",
        json!({}),
    )
    .await;
    wait_for("replica B listing the API made on A", || async {
        b.ok(
            "{ apis(filter: {name: \"replicated\"}) { totalCount } }",
            json!({}),
        )
        .await["apis"]["totalCount"]
            == 1
    })
    .await;
    wait_for("the node at the last version", || async {
        gw.status_json().await["sync"]["config_hash"] == hash
    })
    .await;
}

async fn raw_node(
    p: &Platform,
    creds: &integration::platform::NodeCreds,
    version: &str,
) -> integration::platform::NodeWs {
    let node_id = format!("00000000-0000-4000-8000-{:012}", free_port());
    p.raw_node(creds, version, &node_id)
        .await
        .expect("connection_ack")
}

async fn next_msg(ws: &mut integration::platform::NodeWs) -> serde_json::Value {
    integration::platform::next_node_message(ws).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incompatible_node_is_listed_with_the_reason_and_gets_no_config() {
    use futures_util::SinkExt;
    let p = Platform::start_args(Db::Sqlite, &["--change-log-retention", "3"]).await;
    let up = EchoServer::start("up").await;
    let (cp, _) = setup(&p, &up).await;
    let dir = make_temp_dir("portico-node");
    let creds = p.node_creds(&cp, "old", &dir).await;
    let mut ws = raw_node(&p, &creds, "9.0.0").await;
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({"id": "s", "type": "subscribe", "payload": {"query": graphql_schema::operations::CONFIG_UPDATES, "variables": {"sinceVersion": -1}}}).to_string(),
    ))
    .await
    .expect("subscribe");
    let m = next_msg(&mut ws).await;
    // refused with the reason, and no config
    assert!(m["payload"]["data"].is_null(), "{m}");
    assert!(m.to_string().contains("INCOMPATIBLE"), "{m}");
    let n = p.nodes(&cp).await;
    assert_eq!(n[0]["status"], "INCOMPATIBLE");
    assert!(
        n[0]["reason"].as_str().unwrap_or("").contains("9.0.0"),
        "{n}"
    );

    // 5 more versions: the log keeps the last 3 (5, 6, 7)
    for i in 0..5 {
        p.create(&cp, "CONSUMER", json!({"username": format!("c{i}")}))
            .await;
    }
    // a node that asks from a version the log still holds gets the deltas after it
    let mut ws = raw_node(&p, &creds, env!("CARGO_PKG_VERSION")).await;
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({"id": "s", "type": "subscribe", "payload": {"query": graphql_schema::operations::CONFIG_UPDATES, "variables": {"sinceVersion": 5}}}).to_string(),
    ))
    .await
    .expect("subscribe");
    for want in [6, 7] {
        let m = next_msg(&mut ws).await;
        let u = &m["payload"]["data"]["configUpdates"];
        assert_eq!(u["version"], want, "{m}");
        assert!(u["snapshot"].is_null(), "{m}");
        assert_eq!(u["upserts"][0]["kind"], "CONSUMER");
    }
    // one that fell behind the log gets a snapshot of version 7
    let mut ws = raw_node(&p, &creds, env!("CARGO_PKG_VERSION")).await;
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({"id": "s", "type": "subscribe", "payload": {"query": graphql_schema::operations::CONFIG_UPDATES, "variables": {"sinceVersion": 1}}}).to_string(),
    ))
    .await
    .expect("subscribe");
    let m = next_msg(&mut ws).await;
    let u = &m["payload"]["data"]["configUpdates"];
    assert_eq!(u["version"], 7, "{m}");
    assert_eq!(
        u["snapshot"]["entities"].as_array().map(Vec::len),
        Some(7),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_list_subscription_follows_nodes_coming_and_going() {
    let p = Platform::start(Db::Sqlite).await;
    let up = EchoServer::start("up").await;
    let (cp, _) = setup(&p, &up).await;
    let mut ws = p
        .subscribe(
            &p.token,
            "subscription($cp: ID!) { dataPlaneNodes(controlPlaneId: $cp) { nodes { hostname status } } }",
            json!({"cp": cp}),
        )
        .await;
    let mut next = async || -> serde_json::Value {
        loop {
            let v = integration::platform::next_message(&mut ws).await;
            if v["type"] == "next" {
                return v["payload"]["data"]["dataPlaneNodes"]["nodes"].clone();
            }
        }
    };
    assert_eq!(next().await, json!([]), "no node yet");
    let dir = make_temp_dir("portico-node");
    let creds = p.node_creds(&cp, "node-1", &dir).await;
    let gw = Gateway::start_args(None, &p.node_args(&creds, &dir.join("cache"))).await;
    let mut seen = Vec::new();
    loop {
        let list = next().await;
        let s = list[0]["status"].as_str().unwrap_or("").to_string();
        seen.push(s.clone());
        if s == "IN_SYNC" {
            break;
        }
    }
    drop(gw);
    loop {
        let list = next().await;
        if list[0]["status"] == "DISCONNECTED" {
            break;
        }
    }
    assert!(seen.last().is_some_and(|s| s == "IN_SYNC"), "{seen:?}");
}
