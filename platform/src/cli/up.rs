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

fn host_of(a: SocketAddr) -> String {
    if a.ip().is_unspecified() {
        format!("localhost:{}", a.port())
    } else {
        a.to_string()
    }
}

/// The demo API's spec: what the demo upstream answers behind `/demo-api`.
fn demo_spec(proxy: &str) -> String {
    format!(
        r#"openapi: 3.0.3
info:
  title: Demo echo API
  version: 1.0.0
  description: The demo upstream of `portico up`. It answers every request with what it received.
servers:
  - url: http://{proxy}/demo-api
paths:
  /hello:
    get:
      operationId: hello
      summary: Say hello
      responses:
        '200':
          description: The request as the upstream saw it
          content:
            application/json:
              schema: {{type: object}}
  /echo:
    post:
      operationId: echo
      summary: Echo a body
      requestBody:
        content:
          application/json:
            schema: {{type: object}}
      responses:
        '200':
          description: The request, body included
  /items/{{id}}:
    get:
      operationId: getItem
      summary: Read an item
      parameters:
        - name: id
          in: path
          required: true
          schema: {{type: string}}
      responses:
        '200':
          description: The request as the upstream saw it
"#
    )
}

/// The demo portal (public, developers approved on sign-up) with the demo API
/// published and linked to its service, on a first start (an empty catalog).
async fn seed_portal(api: &super::deck::Client, proxy: &str) -> anyhow::Result<()> {
    let d = api
        .run(
            "{ portals(first: 1) { totalCount } apis(first: 1) { totalCount } }",
            json!({}),
        )
        .await?;
    if d["portals"]["totalCount"] != 0 || d["apis"]["totalCount"] != 0 {
        return Ok(());
    }
    let doc = json!({
        "portals": [{
            "name": DEMO,
            "display_name": "Portico Dev Portal",
            "authentication_enabled": true,
            "auto_approve_developers": true,
            "default_api_visibility": "public",
            "default_page_visibility": "public",
            "pages": [
                {"slug": "/", "title": "Welcome", "status": "published",
                 "content": "# Welcome\n\nBrowse the APIs, sign up, and try them.\n"},
                {"slug": "getting-started", "title": "Getting started", "status": "published",
                 "content": "# Getting started\n\n1. Sign up.\n2. Pick an API.\n3. Call it through the gateway.\n"}
            ]
        }],
        "apis": [{
            "name": "Demo echo API",
            "description": "The demo upstream: it answers with what it received.",
            "versions": [{"spec": {"content": demo_spec(proxy)}}],
            "documents": [{"title": "Overview", "status": "published",
                           "content": "Call `/demo-api/hello` through the gateway."}],
            "implementations": [{"control_plane": DEMO, "service": "demo-api"}],
            "publications": [{"portal": DEMO, "visibility": "public",
                              "auto_approve_registrations": true}]
        }]
    });
    // an older data directory's plane has no demo-api service: publish the
    // API without the link
    let has_service = api
        .run(
            "query { controlPlane(name: \"default\") { services(filter: {name: \"demo-api\"}) { totalCount } } }",
            json!({}),
        )
        .await?["controlPlane"]["services"]["totalCount"]
        == 1;
    let mut doc = doc;
    if !has_service && let Some(a) = doc["apis"][0].as_object_mut() {
        a.remove("implementations");
    }
    api.run(
        "mutation($i: ApplyCatalogInput!) { applyCatalog(input: $i) { version } }",
        json!({"i": {"document": doc}}),
    )
    .await?;
    Ok(())
}

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
                }, {
                    // the demo API's own service and route: what the portal's
                    // applications will guard, leaving /demo open
                    "name": "demo-api",
                    "url": format!("http://{echo_addr}/"),
                    "routes": [{"name": "demo-api", "paths": ["/demo-api"]}]
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

    seed_portal(&api, &host_of(o.proxy_listen)).await?;

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
            // analytics on: a batch every 10 seconds, as any node
            analytics: Some((
                std::sync::Arc::new(gateway_node::analytics::Analytics::default()),
                Duration::from_secs(10),
            )),
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

    let host = host_of;
    println!(
        "\nPortico is up.\n\
         \n  GraphiQL      http://{api}/graphql\
         \n  Dev Portal    http://{api}/portals/default/   (its API: http://{api}/portals/default/graphql)\
         \n  admin token   {token}   (also in {tokfile}; GraphiQL header {{\"Authorization\": \"Bearer <token>\"}})\
         \n  owner login   {email} (its password was printed above on the first start, or set PORTICO_ADMIN_PASSWORD)\
         \n  proxy         http://{px}   https://{pxs}\
         \n  node status   http://{st}/status\
         \n  cluster       https://{cl} (mutual TLS; the embedded node is connected through it)\
         \n\nTry:\
         \n  curl -i http://{px}/demo/hello\
         \n  curl -i -H 'apikey: demo-key' http://{px}/private\
         \n  curl -i http://{px}/demo-api/hello   (401: sign up in the Dev Portal for a key; README, \"From sign-up to a working key\")\
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
