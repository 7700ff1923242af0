//! `portico up`: the one command for a newcomer. The platform on SQLite, a
//! gateway node embedded in the same process but connected through the real
//! cluster protocol (mutual TLS on loopback), a built-in echo upstream, and a demo
//! control plane with a service and routes to it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

pub struct UpOptions {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub cluster_listen: SocketAddr,
    pub proxy_listen: SocketAddr,
    pub proxy_listen_tls: SocketAddr,
    pub status_listen: SocketAddr,
    pub echo_listen: SocketAddr,
    pub cors_allowed_origins: Vec<String>,
}

const DEMO: &str = "default";

pub async fn up(o: UpOptions) -> anyhow::Result<()> {
    crate::files::private_dir(&o.data_dir)?;
    // one admin token per data directory, kept in a file only its owner reads
    let token_file = o.data_dir.join("admin-token");
    let token = match std::fs::read_to_string(&token_file) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => {
            let t = crate::auth::tokens::new_token(crate::auth::PAT_PREFIX);
            crate::files::write_private(&token_file, &t)?;
            t
        }
    };
    let running = super::serve::start(super::serve::Options {
        listen: o.listen,
        data_dir: o.data_dir.clone(),
        database_url: None,
        admin_token: Some(token.clone()),
        cluster_listen: Some(o.cluster_listen),
        cluster_hostnames: vec!["localhost".into(), "127.0.0.1".into()],
        change_log_retention: 10_000,
        audit_webhook: None,
        tls: None,
        test_hooks: false,
        max_request_items: crate::graphql::limits::MAX_ITEMS,
        cors_allowed_origins: o.cors_allowed_origins.clone(),
        smtp_url: None,
        mail_from: "Portico <portal@localhost>".into(),
    })
    .await?;
    let cluster = running
        .cluster_addr
        .ok_or_else(|| anyhow::anyhow!("the cluster endpoint did not start"))?;

    // the built-in upstream
    let echo = gateway_node::server::bind(o.echo_listen, "--echo-listen").await?;
    drop(echo);
    let echo_addr = o.echo_listen;
    tokio::spawn(async move {
        if let Err(e) = gateway_node::echo::run(echo_addr, "demo-upstream".into()).await {
            tracing::error!("demo upstream stopped: {e}");
        }
    });

    // the demo control plane, through the API like any client
    let api = super::deck::Client::new(&format!("http://{}", running.addr), &token)?;
    let d = api
        .run(
            "query { controlPlane(name: \"default\") { id } }",
            json!({}),
        )
        .await?;
    let plane = match d["controlPlane"]["id"].as_str() {
        Some(id) => id.to_string(),
        None => {
            let d = api
                .run(
                    "mutation($i: CreateControlPlaneInput!) { createControlPlane(input: $i) { id } }",
                    json!({"i": {"name": DEMO, "description": "created by portico up", "labels": {"env": "demo"}}}),
                )
                .await?;
            let id = d["createControlPlane"]["id"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("no control plane id"))?
                .to_string();
            let doc = json!({
                "_format_version": "3.0",
                "services": [{
                    "name": "demo",
                    "url": format!("http://{echo_addr}/"),
                    "routes": [
                        {"name": "demo", "paths": ["/demo"]},
                        {"name": "private", "paths": ["/private"],
                         "plugins": [{"name": "key-auth"}, {"name": "rate-limiting", "config": {"minute": 5, "policy": "local"}}]}
                    ]
                }],
                "consumers": [{"username": "demo", "keyauth_credentials": [{"key": "demo-key"}]}],
                "plugins": [{"name": "correlation-id", "config": {"echo_downstream": true}}]
            });
            api.run(
                "mutation($i: ApplyConfigInput!) { applyConfig(input: $i) { configVersion } }",
                json!({"i": {"controlPlane": id, "document": doc}}),
            )
            .await?;
            id
        }
    };

    // the embedded node's credentials, issued once per data directory
    let node_dir = o.data_dir.join("node");
    crate::files::private_dir(&node_dir)?;
    let (cert, key, ca) = (
        node_dir.join("node.crt"),
        node_dir.join("node.key"),
        node_dir.join("ca.crt"),
    );
    if !(cert.is_file() && key.is_file()) {
        let d = api
            .run(
                "mutation($i: CreateDataPlaneCertificateInput!) { createDataPlaneCertificate(input: $i) { certificate privateKey } }",
                json!({"i": {"controlPlaneId": plane, "name": "portico-up"}}),
            )
            .await?;
        let c = &d["createDataPlaneCertificate"];
        std::fs::write(&cert, c["certificate"].as_str().unwrap_or_default())?;
        crate::files::write_private(&key, c["privateKey"].as_str().unwrap_or_default())?;
    }
    // the server CA is per data directory too; refresh it on every start
    let ca_pem = running.state.certs.server_ca();
    std::fs::write(&ca, ca_pem)?;

    let node = gateway_node::node::Node::new(None)?;
    gateway_node::sync::start(
        node.clone(),
        gateway_node::sync::SyncOptions {
            url: format!("https://127.0.0.1:{}", cluster.port()),
            cert,
            key,
            ca,
            cache_dir: node_dir.join("cache"),
            labels: serde_json::Map::from_iter([("embedded".to_string(), json!("true"))]),
            heartbeat: Duration::from_secs(5),
        },
    )
    .await?;
    let _workers = gateway_node::server::start_node(
        node.clone(),
        &gateway_node::server::NodeListen {
            plain: vec![o.proxy_listen],
            tls: vec![o.proxy_listen_tls],
            status: o.status_listen,
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        },
    )
    .await?;

    let host = |a: SocketAddr| {
        if a.ip().is_unspecified() {
            format!("localhost:{}", a.port())
        } else {
            a.to_string()
        }
    };
    println!(
        "\nPortico is up.\n\
         \n  GraphiQL      http://{api}/graphql\
         \n  admin token   {token}   (also in {tokfile}; GraphiQL header {{\"Authorization\": \"Bearer <token>\"}})\
         \n  owner login   {email} (its password was printed above on the first start, or set PORTICO_ADMIN_PASSWORD)\
         \n  proxy         http://{px}   https://{pxs}\
         \n  node status   http://{st}/status\
         \n  cluster       https://{cl} (mutual TLS; the embedded node is connected through it)\
         \n\nTry:\
         \n  curl -i http://{px}/demo/hello\
         \n  curl -i -H 'apikey: demo-key' http://{px}/private\
         \n  PORTICO_URL=http://{api} PORTICO_TOKEN={token} portico dump --control-plane default\n",
        api = host(running.addr),
        email = std::env::var("PORTICO_ADMIN_EMAIL").unwrap_or_else(|_| "admin@localhost".into()),
        tokfile = token_file.display(),
        px = host(o.proxy_listen),
        pxs = host(o.proxy_listen_tls),
        st = host(o.status_listen),
        cl = host(cluster),
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = running.task => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}
