//! Hybrid mode, platform side: the cluster endpoint gateway nodes connect to over
//! mutual TLS. A node authenticates with a client certificate whose SHA-256
//! fingerprint is registered (issued by its control plane's cluster CA, or pinned),
//! not revoked and not expired; the certificate decides the control plane. Over
//! the connection the node speaks graphql-transport-ws (`protocol`): the
//! `configUpdates(sinceVersion)` subscription and the `heartbeat` mutation.

pub mod certs;
pub mod protocol;
pub mod stream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use graphql_schema::sync::NodeReport;
use ractor::ActorRef;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use crate::actors::control_planes::Planes;
use crate::actors::data_plane::{NodeConnect, NodeMsg, Nodes};
use crate::pki::{RENEW_DAYS, fingerprint};
use crate::seal::Sealer;
use certs::{CertEntry, Certs};

/// What the cluster endpoint works with.
#[derive(Clone)]
pub struct ClusterDeps {
    pub db: DatabaseConnection,
    pub planes: Planes,
    pub nodes: Nodes,
    pub certs: Arc<Certs>,
    pub sealer: Arc<Sealer>,
    pub analytics: crate::actors::analytics::AnalyticsHandle,
}

/// The platform's software version; nodes of another minor (0.x) or major are
/// incompatible.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn compatible(node_version: &str) -> Result<(), String> {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut it = v.trim_start_matches('v').split('.');
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    let (Some(n), Some(p)) = (parse(node_version), parse(VERSION)) else {
        return Err(format!("unreadable node version {node_version:?}"));
    };
    let ok = if p.0 == 0 {
        n == p
    } else {
        n.0 == p.0 && n.1 <= p.1
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "node version {node_version} cannot apply config from platform {VERSION}"
        ))
    }
}

// ---------------------------------------------------------------------------
// the TLS verifier and listener

#[derive(Debug)]
struct NodeVerifier {
    certs: Arc<Certs>,
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for NodeVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self.certs.get(&fingerprint(end_entity)) {
            Some(e) if e.revoked => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Revoked,
            )),
            Some(e) if e.not_after < graphql_schema::tls::now_unix() => Err(
                rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
            ),
            Some(_) => Ok(ClientCertVerified::assertion()),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// Who is on the other end of a cluster connection.
#[derive(Clone, Debug)]
pub struct NodeAuth {
    pub cert: CertEntry,
    pub remote: SocketAddr,
}

/// Accepts TCP, completes the TLS handshake off the accept loop, and hands axum
/// the streams with the node's identity.
struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        NodeAuth,
    )>,
    local: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = NodeAuth;

    async fn accept(&mut self) -> (Self::Io, NodeAuth) {
        match self.rx.recv().await {
            Some(x) => x,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<NodeAuth> {
        Err(std::io::Error::other(format!(
            "cluster listener on {}",
            self.local
        )))
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>>
    for NodeAuth
{
    fn connect_info(s: axum::serve::IncomingStream<'_, TlsListener>) -> NodeAuth {
        s.remote_addr().clone()
    }
}

/// The cluster endpoint's certificate, swapped when it is renewed.
#[derive(Debug)]
struct ServerCert(std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>);

impl rustls::server::ResolvesServerCert for ServerCert {
    fn resolve(
        &self,
        _: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.0.read().ok().map(|c| c.clone())
    }
}

fn server_key(cert: &str, key: &str) -> anyhow::Result<Arc<rustls::sign::CertifiedKey>> {
    graphql_schema::tls::certified_key(cert, key)
        .map_err(|e| anyhow::anyhow!("cluster server certificate: {e:?}"))
}

/// Renews the endpoint's certificate (same CA, same names) once less than
/// [`RENEW_DAYS`] of it remain; checked twice a day.
fn renew_server_cert(deps: ClusterDeps, resolver: Arc<ServerCert>, hostnames: Vec<String>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(12 * 3600)).await;
            let left = resolver
                .0
                .read()
                .ok()
                .and_then(|c| {
                    c.cert
                        .first()
                        .and_then(|d| graphql_schema::tls::not_after(d))
                })
                .map(|t| t - graphql_schema::tls::now_unix())
                .unwrap_or(0);
            if left > RENEW_DAYS * 86_400 {
                continue;
            }
            match deps
                .certs
                .server_identity(&deps.db, &deps.sealer, &hostnames)
                .await
                .and_then(|(_, c, k)| server_key(&c, &k))
            {
                Ok(ck) => {
                    if let Ok(mut cur) = resolver.0.write() {
                        *cur = ck;
                    }
                    tracing::info!("renewed the cluster endpoint's certificate");
                }
                Err(e) => tracing::error!("renewing the cluster endpoint's certificate: {e}"),
            }
        }
    });
}

/// Starts the cluster endpoint; returns its address.
pub async fn serve(
    deps: ClusterDeps,
    listen: SocketAddr,
    hostnames: &[String],
) -> anyhow::Result<SocketAddr> {
    let (_, cert, key) = deps
        .certs
        .server_identity(&deps.db, &deps.sealer, hostnames)
        .await?;
    let provider = rustls::crypto::ring::default_provider();
    let verifier = Arc::new(NodeVerifier {
        certs: deps.certs.clone(),
        algs: provider.signature_verification_algorithms,
    });
    let resolver = Arc::new(ServerCert(std::sync::RwLock::new(server_key(&cert, &key)?)));
    renew_server_cert(deps.clone(), resolver.clone(), hostnames.to_vec());
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    // every connection presents its certificate: no resumption that would skip
    // the revocation check
    cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    cfg.send_tls13_tickets = 0;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let tcp = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {listen} ({e}); choose another address with --cluster-listen"
        )
    })?;
    let local = tcp.local_addr()?;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let certs = deps.certs.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, remote)) = tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            // small frames (deltas, heartbeats) must not wait for delayed ACKs
            let _ = sock.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            let certs = certs.clone();
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(sock))
                    .await
                {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => {
                        tracing::info!(%remote, "cluster handshake refused: {e}");
                        return;
                    }
                    Err(_) => return,
                };
                let fp = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| fingerprint(c));
                // checked again here: a resumed session skips the verifier
                let Some(cert) = fp.and_then(|fp| certs.get(&fp)).filter(CertEntry::usable) else {
                    tracing::info!(%remote, "cluster connection with an unknown or revoked certificate closed");
                    return;
                };
                let _ = tx.send((tls, NodeAuth { cert, remote })).await;
            });
        }
    });
    let schema = protocol::schema(deps.clone());
    let app = axum::Router::new()
        .route("/graphql/ws", get(node_ws))
        .with_state((schema, deps));
    let listener = TlsListener { rx, local };
    tokio::spawn(async move {
        if let Err(e) = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<NodeAuth>(),
        )
        .await
        {
            tracing::error!("cluster endpoint stopped: {e}");
        }
    });
    Ok(local)
}

async fn node_ws(
    State((schema, deps)): State<(protocol::ClusterSchema, ClusterDeps)>,
    ConnectInfo(auth): ConnectInfo<NodeAuth>,
    protocol: GraphQLProtocol,
    ws: WebSocketUpgrade,
) -> Response {
    ws.protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let (kill_tx, mut kill_rx) = watch::channel(false);
            let nodes = deps.nodes.clone();
            let auth2 = auth.clone();
            let actor_slot: Arc<std::sync::Mutex<Option<ActorRef<NodeMsg>>>> = Default::default();
            let slot = actor_slot.clone();
            let serve = GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload: serde_json::Value| async move {
                    let report: NodeReport = serde_json::from_value(payload)
                        .map_err(|e| async_graphql::Error::new(format!("bad node report: {e}")))?;
                    let incompatible = compatible(&report.version).err();
                    let node = report.node_id;
                    let actor = nodes
                        .connect(NodeConnect {
                            plane: auth2.cert.control_plane_id,
                            cert_id: auth2.cert.id,
                            remote: auth2.remote.to_string(),
                            report,
                            incompatible: incompatible.clone(),
                            kill: kill_tx,
                        })
                        .await
                        .map_err(|e| async_graphql::Error::new(e.to_string()))?;
                    if let Ok(mut s) = slot.lock() {
                        *s = Some(actor.clone());
                    }
                    let mut data = async_graphql::Data::default();
                    data.insert(protocol::Session {
                        plane: auth2.cert.control_plane_id,
                        node,
                        actor,
                        incompatible,
                    });
                    Ok(data)
                })
                .serve();
            tokio::select! {
                _ = serve => {}
                _ = kill_rx.wait_for(|k| *k) => {}
            }
            let actor = actor_slot.lock().ok().and_then(|mut s| s.take());
            if let Some(a) = actor {
                let _ = a.cast(NodeMsg::Gone);
            }
        })
}
