//! Hybrid mode, node side: the sync client. It connects to the platform's cluster
//! endpoint over mutual TLS, subscribes to its control plane's config updates
//! (graphql-transport-ws) from the version it has, applies snapshots and deltas,
//! checks the config hash after each (a mismatch asks for a snapshot), swaps the
//! new config in, writes it to the disk cache atomically, and reports its state
//! with a heartbeat. Started with the platform away, the node serves its cached
//! config; while the platform is away it keeps serving and reconnects with
//! exponential backoff and jitter, resuming from its version.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use graphql_schema::operations::{ANALYTICS_BATCH, CONFIG_UPDATES, HEARTBEAT};
use graphql_schema::sync::{ApplyError, NodeReport, NodeState, NodeUpdate, RefusedConfig};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

use crate::node::Node;

pub struct SyncOptions {
    /// `https://host:port` of the cluster endpoint.
    pub url: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub cache_dir: PathBuf,
    pub labels: serde_json::Map<String, Value>,
    pub heartbeat: Duration,
    /// Analytics over the link: the node's buffers and how often a batch is cut
    /// (batches wait in `<cache_dir>/analytics/` until the platform has them).
    pub analytics: Option<(Arc<crate::analytics::Analytics>, Duration)>,
}

/// Batches the spool holds at most (about a day at one batch per 10 s).
const SPOOL_MAX: usize = 8640;

/// What the status API shows of the sync client.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SyncStatus {
    pub control_plane: String,
    pub node_id: String,
    pub connected: bool,
    pub config_version: i64,
    pub config_hash: String,
    pub last_error: Option<String>,
    pub reconnects: u64,
    pub applied: u64,
    /// The newest config version received but not installed, and why.
    pub refused: Option<RefusedConfig>,
}

const CACHE_FILE: &str = "config-cache.json";

/// Loads the cached config (if any) into the node and starts the sync loop.
pub async fn start(node: Arc<Node>, opts: SyncOptions) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.cache_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the cache directory {}: {e}",
            opts.cache_dir.display()
        )
    })?;
    // the cache holds the config's secrets (certificate keys, JWT secrets)
    private(&opts.cache_dir, 0o700)?;
    let node_id = node_id(&opts.cache_dir)?;
    let tls = Arc::new(client_tls(&opts)?);
    let mut state = NodeState::default();
    match read_cache(&opts.cache_dir) {
        Ok(Some(cached)) => match NodeUpdate::snapshot_of(&cached).and_then(|u| {
            NodeState::default()
                .apply(&u)
                .map_err(|e| format!("the cached config is unusable: {e}"))
        }) {
            Ok((st, config)) => {
                if let Err(es) = node.install(&config, "cache").await {
                    tracing::error!("cached config rejected: {}", es.join("; "));
                } else {
                    tracing::info!(
                        version = st.version,
                        "serving the cached config until the platform answers"
                    );
                    state = st;
                }
            }
            Err(e) => tracing::error!("{e}"),
        },
        Ok(None) => {}
        Err(e) => tracing::error!("cannot read the config cache: {e}"),
    }
    set_status(&node, |s| {
        s.control_plane = opts.url.clone();
        s.node_id = node_id.to_string();
        s.config_version = state.version;
        s.config_hash = state.hash.clone();
    });
    let mut st = SyncState {
        installed: state,
        ..SyncState::default()
    };
    if let Some((a, every)) = &opts.analytics {
        let spool = Arc::new(
            crate::analytics::Spool::open(opts.cache_dir.join("analytics"), SPOOL_MAX)
                .map_err(|e| anyhow::anyhow!("the analytics spool: {e}"))?,
        );
        let _ = node.proxy.analytics.set(a.clone());
        crate::analytics::ship(
            a.clone(),
            node_id,
            *every,
            crate::analytics::Sink::Spool(spool.clone()),
        );
        st.spool = Some(spool);
    }
    tokio::spawn(run(node, opts, tls, node_id, st));
    Ok(())
}

fn set_status(node: &Node, f: impl FnOnce(&mut SyncStatus)) {
    if let Ok(mut s) = node.sync.lock() {
        f(s.get_or_insert_with(SyncStatus::default));
    }
}

async fn run(
    node: Arc<Node>,
    opts: SyncOptions,
    tls: Arc<rustls::ClientConfig>,
    node_id: Uuid,
    mut state: SyncState,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let started = std::time::Instant::now();
        let r = session(&node, &opts, &tls, node_id, &mut state).await;
        set_status(&node, |s| {
            s.connected = false;
            s.reconnects += 1;
            if let Err(e) = &r {
                s.last_error = Some(e.clone());
            }
        });
        if let Err(e) = r {
            tracing::warn!("platform connection: {e}; retrying in {backoff:?}");
        }
        if started.elapsed() > Duration::from_secs(30) {
            backoff = Duration::from_millis(100);
        }
        // full jitter on top of the exponential step
        let jitter = Duration::from_millis(
            u64::from(Uuid::new_v4().as_bytes()[0]) % (backoff.as_millis() as u64 / 2 + 1),
        );
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

fn client_tls(opts: &SyncOptions) -> anyhow::Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&read(&opts.ca)?) {
        roots
            .add(c.map_err(|e| anyhow::anyhow!("--cluster-ca: {e}"))?)
            .map_err(|e| anyhow::anyhow!("--cluster-ca: {e}"))?;
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(&opts.cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("--cluster-cert: {e}"))?;
    if chain.is_empty() {
        anyhow::bail!("--cluster-cert: no certificate in {}", opts.cert.display());
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&opts.key)?)
        .map_err(|e| anyhow::anyhow!("--cluster-key: {e}"))?;
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .map_err(|e| anyhow::anyhow!("--cluster-cert/--cluster-key: {e}"))?;
    Ok(cfg)
}

fn node_id(dir: &Path) -> anyhow::Result<Uuid> {
    let p = dir.join("node-id");
    if let Ok(s) = std::fs::read_to_string(&p)
        && let Ok(id) = Uuid::parse_str(s.trim())
    {
        return Ok(id);
    }
    let id = Uuid::new_v4();
    std::fs::write(&p, id.to_string())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?;
    Ok(id)
}

fn read_cache(dir: &Path) -> anyhow::Result<Option<NodeState>> {
    let p = dir.join(CACHE_FILE);
    match std::fs::read(&p) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Sets the mode of a file or directory.
fn private(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| anyhow::anyhow!("cannot restrict {}: {e}", path.display()))
}

/// Writes the cache atomically (a temp file, fsync, rename), readable by its
/// owner only: it holds hashes of credentials, and the keys the node serves with.
fn write_cache(dir: &Path, st: &NodeState) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let tmp = dir.join(format!("{CACHE_FILE}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    f.write_all(&serde_json::to_vec(st).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(CACHE_FILE))
}

/// Records a config the node cannot install: it keeps serving what it has, keeps
/// the platform's state to apply later updates to, and reports the reason.
fn refuse(node: &Node, st: &mut SyncState, next: NodeState, reason: String) {
    tracing::error!(version = next.version, "config refused: {reason}");
    let refused = RefusedConfig {
        version: next.version,
        reason,
    };
    st.pending = Some(next);
    st.refused = Some(refused.clone());
    set_status(node, |s| s.refused = Some(refused));
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn report(
    node: &Node,
    node_id: Uuid,
    st: &SyncState,
    labels: &serde_json::Map<String, Value>,
) -> Value {
    serde_json::to_value(NodeReport {
        node_id,
        hostname: hostname(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        config_version: st.installed.version,
        config_hash: st.installed.hash.clone(),
        labels: labels.clone(),
        plugins: node.plugins(),
        refused: st.refused.clone(),
    })
    .unwrap_or_default()
}

/// The sync client's config state.
#[derive(Default)]
struct SyncState {
    /// What the node serves (and caches).
    installed: NodeState,
    /// The platform's newer state the node could not install; later updates
    /// apply on top of it.
    pending: Option<NodeState>,
    refused: Option<RefusedConfig>,
    /// Analytics batches waiting for the platform.
    spool: Option<Arc<crate::analytics::Spool>>,
}

impl SyncState {
    /// The state updates apply to.
    fn base(&self) -> &NodeState {
        self.pending.as_ref().unwrap_or(&self.installed)
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// Sends the spooled batches not yet sent on this connection, oldest first
/// (at most 64 unanswered at once).
async fn send_batches(
    ws: &mut Ws,
    spool: &crate::analytics::Spool,
    in_flight: &mut std::collections::HashSet<u64>,
) -> Result<(), String> {
    for seq in spool.pending() {
        if in_flight.len() >= 64 {
            break;
        }
        if in_flight.contains(&seq) {
            continue;
        }
        let Some(text) = spool.read(seq) else {
            continue;
        };
        let Ok(batch) = serde_json::from_str::<Value>(&text) else {
            // unreadable (a torn write): nothing to send
            spool.ack(seq);
            continue;
        };
        ws.send(Message::text(
            json!({"id": format!("ab-{seq}"), "type": "subscribe",
                   "payload": {"query": ANALYTICS_BATCH, "variables": {"batch": batch}}})
            .to_string(),
        ))
        .await
        .map_err(|e| e.to_string())?;
        in_flight.insert(seq);
    }
    Ok(())
}

/// One connection: until it fails or closes.
async fn session(
    node: &Node,
    opts: &SyncOptions,
    tls: &Arc<rustls::ClientConfig>,
    node_id: Uuid,
    state: &mut SyncState,
) -> Result<(), String> {
    let uri: http::Uri = opts
        .url
        .parse()
        .map_err(|e| format!("--control-plane {}: {e}", opts.url))?;
    let host = uri.host().ok_or("--control-plane has no host")?.to_string();
    let port = uri.port_u16().unwrap_or(8005);
    let tcp = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| format!("connecting to {host}:{port} timed out"))?
    .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| format!("server name {host}: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {host}:{port}: {e}"))?;
    let mut req = format!("wss://{host}:{port}/graphql/ws")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    req.headers_mut().insert(
        "sec-websocket-protocol",
        http::HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::client_async(req, stream),
    )
    .await
    .map_err(|_| "the WebSocket handshake timed out".to_string())?
    .map_err(|e| format!("WebSocket handshake: {e}"))?;
    let send = |v: Value| Message::text(v.to_string());
    ws.send(send(
        json!({"type": "connection_init", "payload": report(node, node_id, state, &opts.labels)}),
    ))
    .await
    .map_err(|e| e.to_string())?;
    // the ack
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .map_err(|_| "no connection_ack".to_string())?
            .ok_or("closed before connection_ack")?
            .map_err(|e| e.to_string())?;
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(&t).map_err(|e| e.to_string())?;
            match v["type"].as_str() {
                Some("connection_ack") => break,
                Some("ping") => {
                    ws.send(send(json!({"type": "pong"})))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                _ => return Err(format!("refused: {v}")),
            }
        } else if let Message::Close(c) = m {
            return Err(format!("closed: {c:?}"));
        }
    }
    let mut sub = 0u64;
    let subscribe = |sub: u64, since: i64| {
        json!({"id": format!("sync-{sub}"), "type": "subscribe",
               "payload": {"query": CONFIG_UPDATES, "variables": {"sinceVersion": since}}})
    };
    let since = if state.base().hash.is_empty() {
        -1
    } else {
        state.base().version
    };
    ws.send(send(subscribe(sub, since)))
        .await
        .map_err(|e| e.to_string())?;
    set_status(node, |s| {
        s.connected = true;
        s.last_error = None;
    });
    tracing::info!(url = %opts.url, since, "connected to the platform");
    let mut hb = tokio::time::interval(opts.heartbeat);
    let mut hb_n = 0u64;
    // analytics batches sent on this connection, waiting for their answer
    let mut in_flight: std::collections::HashSet<u64> = Default::default();
    let spool = state.spool.clone();
    // what was spooled while away goes first
    if let Some(sp) = &spool {
        send_batches(&mut ws, sp, &mut in_flight).await?;
    }
    loop {
        tokio::select! {
            _ = async {
                match &spool {
                    Some(sp) => sp.added.notified().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some(sp) = &spool {
                    send_batches(&mut ws, sp, &mut in_flight).await?;
                }
            }
            _ = hb.tick() => {
                hb_n += 1;
                ws.send(send(json!({"id": format!("hb-{hb_n}"), "type": "subscribe",
                    "payload": {"query": HEARTBEAT, "variables": {"report": report(node, node_id, state, &opts.labels)}}})))
                    .await.map_err(|e| e.to_string())?;
            }
            m = ws.next() => {
                let m = m.ok_or("the platform closed the connection")?.map_err(|e| e.to_string())?;
                let t = match m {
                    Message::Text(t) => t,
                    Message::Close(c) => return Err(format!("closed: {c:?}")),
                    _ => continue,
                };
                let v: Value = serde_json::from_str(&t).map_err(|e| e.to_string())?;
                let id = v["id"].as_str().unwrap_or("");
                match v["type"].as_str() {
                    Some("ping") => {
                        ws.send(send(json!({"type": "pong"}))).await.map_err(|e| e.to_string())?;
                    }
                    Some("next") if id.starts_with("ab-") => {
                        let seq = id[3..].parse::<u64>().unwrap_or(0);
                        in_flight.remove(&seq);
                        if v["payload"]["data"]["analyticsBatch"] == true {
                            if let Some(sp) = &spool {
                                sp.ack(seq);
                                // more waiting than were sent at once
                                send_batches(&mut ws, sp, &mut in_flight).await?;
                            }
                        } else {
                            // kept in the spool: sent again on the next connection
                            tracing::warn!(seq, "the platform did not take an analytics batch: {}", v["payload"]);
                        }
                    }
                    Some("error") if id.starts_with("ab-") => {
                        let seq = id[3..].parse::<u64>().unwrap_or(0);
                        in_flight.remove(&seq);
                        tracing::warn!(seq, "the platform refused an analytics batch: {}", v["payload"]);
                    }
                    Some("next") if id == format!("sync-{sub}") && v["payload"]["errors"].is_array() => {
                        return Err(format!("the platform refused the subscription: {}", v["payload"]["errors"]));
                    }
                    Some("next") if id == format!("sync-{sub}") => {
                        let u: NodeUpdate = match serde_json::from_value(v["payload"]["data"]["configUpdates"].clone()) {
                            Ok(u) => u,
                            Err(e) => return Err(format!("unreadable update: {e}: {}", v["payload"])),
                        };
                        match state.base().apply(&u) {
                            Ok((next, config)) => match node.install(&config, "platform").await {
                                Ok(()) => {
                                    if let Err(e) = write_cache(&opts.cache_dir, &next) {
                                        tracing::error!("cannot write the config cache: {e}");
                                    }
                                    state.installed = next;
                                    state.pending = None;
                                    state.refused = None;
                                    set_status(node, |s| {
                                        s.config_version = state.installed.version;
                                        s.config_hash = state.installed.hash.clone();
                                        s.applied += 1;
                                        s.refused = None;
                                    });
                                    hb.reset_immediately();
                                }
                                Err(es) => {
                                    // valid for the platform, refused here (e.g. a
                                    // plugin this node does not run): the old config
                                    // keeps serving, and the platform hears why
                                    refuse(node, state, next, es.join("; "));
                                    hb.reset_immediately();
                                }
                            },
                            Err(ApplyError::Invalid { state: next, reason }) => {
                                refuse(node, state, next, reason);
                                hb.reset_immediately();
                            }
                            Err(ApplyError::OutOfStep(e)) => {
                                // out of step: ask for a snapshot
                                tracing::warn!("{e}; asking for a snapshot");
                                ws.send(send(json!({"id": format!("sync-{sub}"), "type": "complete"})))
                                    .await.map_err(|e| e.to_string())?;
                                sub += 1;
                                ws.send(send(subscribe(sub, -1))).await.map_err(|e| e.to_string())?;
                            }
                        }
                    }
                    Some("error") if id.starts_with("sync-") => {
                        return Err(format!("the platform refused the subscription: {}", v["payload"]));
                    }
                    Some("complete") if id == format!("sync-{sub}") => {
                        return Err("the platform ended the subscription".into());
                    }
                    _ => {}
                }
            }
        }
    }
}
