//! Hybrid mode, platform side: the cluster endpoint gateway nodes connect to over
//! mutual TLS, the PKI behind it (the platform's server CA, one cluster CA per
//! control plane, node certificates issued or pinned, revocation), and a
//! `DataPlaneConnection` actor per connected node that tracks what it reports.
//!
//! A node authenticates with a client certificate whose SHA-256 fingerprint is
//! registered (issued by its control plane's cluster CA, or pinned) and not
//! revoked; the certificate decides the control plane. Over the connection the
//! node speaks graphql-transport-ws: a `configUpdates(sinceVersion)` subscription
//! (snapshots and deltas, with write-only fields) and a `heartbeat` mutation.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Context, Json, Object, Result, Schema, SimpleObject, Subscription};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use futures_util::Stream;
use graphql_schema::sync::{NodeSnapshot, NodeUpdate, SyncEntity};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use uuid::Uuid;

use crate::actor::{ChangeEvent, ChangeOp, Shared};
use crate::error::{ApiError, Code};
use crate::seal::Sealer;
use crate::store;

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

pub use graphql_schema::tls::fingerprint;

/// The first certificate of a PEM text, as DER.
fn pem_der(pem: &str) -> anyhow::Result<Vec<u8>> {
    graphql_schema::tls::parse_certs(pem)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .next()
        .map(|c| c.to_vec())
        .ok_or_else(|| anyhow::anyhow!("no certificate in the PEM text"))
}

// ---------------------------------------------------------------------------
// PKI

/// How long the cluster CAs are valid. Nodes pin the server CA and every node
/// certificate is checked by fingerprint, so a CA is replaced by issuing new
/// certificates, not renewed in place.
const CA_DAYS: i64 = 10 * 365;
/// How long the cluster endpoint's own certificate is valid; it is issued anew at
/// every start and renewed while running once less than [`RENEW_DAYS`] remain.
const SERVER_DAYS: i64 = 365;
const RENEW_DAYS: i64 = 30;
/// Node certificates: a year unless asked otherwise, two at most.
pub const NODE_DAYS: i64 = 365;
pub const NODE_MAX_DAYS: i64 = 730;

/// Validity from an hour ago (clock skew) to `days` from now.
fn validity(p: &mut rcgen::CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(days);
}

fn ca_params(cn: &str) -> anyhow::Result<rcgen::CertificateParams> {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new())?;
    validity(&mut p, CA_DAYS);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    p.distinguished_name
        .push(rcgen::DnType::CommonName, cn.to_string());
    p.distinguished_name
        .push(rcgen::DnType::OrganizationName, "Portico");
    Ok(p)
}

/// A new CA: (certificate PEM, key PEM).
fn new_ca(cn: &str) -> anyhow::Result<(String, String)> {
    let key = rcgen::KeyPair::generate()?;
    let cert = ca_params(cn)?.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A certificate signed by the CA `(cn, key)`: (certificate PEM, key PEM).
fn issue(
    ca_cn: &str,
    ca_key_pem: &str,
    cn: &str,
    names: Vec<String>,
    client: bool,
    days: i64,
) -> anyhow::Result<(String, String)> {
    let ca_key = rcgen::KeyPair::from_pem(ca_key_pem)?;
    let issuer = rcgen::Issuer::new(ca_params(ca_cn)?, ca_key);
    let key = rcgen::KeyPair::generate()?;
    let mut p = rcgen::CertificateParams::new(names)?;
    validity(&mut p, days);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, cn.to_string());
    p.extended_key_usages = vec![if client {
        rcgen::ExtendedKeyUsagePurpose::ClientAuth
    } else {
        rcgen::ExtendedKeyUsagePurpose::ServerAuth
    }];
    let cert = p.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn plane_ca_cn(plane: Uuid) -> String {
    format!("Portico cluster CA {plane}")
}

const SERVER_CA_CN: &str = "Portico platform cluster server CA";

/// A registered node certificate, as the TLS verifier sees it.
#[derive(Clone, Debug)]
pub struct CertEntry {
    pub id: Uuid,
    pub control_plane_id: Uuid,
    pub name: String,
    pub revoked: bool,
    /// The end of its validity (Unix seconds): refused after.
    pub not_after: i64,
}

/// Fingerprint -> certificate, for the handshake (kept in step with the table).
#[derive(Default)]
pub struct Certs(pub RwLock<HashMap<String, CertEntry>>);

impl Certs {
    pub async fn load(db: &DatabaseConnection) -> anyhow::Result<Certs> {
        let mut m = HashMap::new();
        for c in store::cluster_certs(db).await? {
            if c.kind == "node" || c.kind == "pinned" {
                let not_after = pem_der(&c.cert_pem)
                    .ok()
                    .and_then(|d| graphql_schema::tls::not_after(&d))
                    .unwrap_or(0);
                m.insert(
                    c.fingerprint.clone(),
                    CertEntry {
                        id: Uuid::parse_str(&c.id)?,
                        control_plane_id: Uuid::parse_str(&c.control_plane_id)?,
                        name: c.name,
                        revoked: c.revoked_at.is_some(),
                        not_after,
                    },
                );
            }
        }
        Ok(Certs(RwLock::new(m)))
    }

    fn get(&self, fp: &str) -> Option<CertEntry> {
        self.0.read().ok()?.get(fp).cloned()
    }

    fn insert(&self, fp: String, e: CertEntry) {
        if let Ok(mut m) = self.0.write() {
            m.insert(fp, e);
        }
    }
}

/// A CA's private key, opened from its sealed form.
fn ca_key(sealer: &Sealer, m: &store::cluster_cert::Model) -> anyhow::Result<String> {
    let k = m.key_pem.as_deref().unwrap_or_default();
    if k.starts_with("penc:") {
        Ok(sealer.open_str(k)?)
    } else {
        Ok(k.to_string())
    }
}

/// Creates a control plane's cluster CA (with the plane); its key is sealed.
pub async fn create_plane_ca(
    db: &DatabaseConnection,
    sealer: &Sealer,
    plane: Uuid,
) -> anyhow::Result<()> {
    let (cert, key) = new_ca(&plane_ca_cn(plane))?;
    let key = sealer.seal_str(&key)?;
    let fp = fingerprint(&pem_der(&cert)?);
    store::insert_cluster_cert(
        db,
        store::cluster_cert::Model {
            id: Uuid::new_v4().to_string(),
            control_plane_id: plane.to_string(),
            kind: "plane-ca".into(),
            name: "cluster CA".into(),
            cert_pem: cert,
            key_pem: Some(key),
            fingerprint: fp,
            revoked_at: None,
            created_at: store::now_ms(),
        },
    )
    .await?;
    Ok(())
}

/// The platform's cluster server identity: (CA PEM, server cert PEM, server key
/// PEM), the CA created on first start, the server certificate issued now for
/// `hostnames`.
pub async fn server_identity(
    db: &DatabaseConnection,
    sealer: &Sealer,
    hostnames: &[String],
) -> anyhow::Result<(String, String, String)> {
    let all = store::cluster_certs(db).await?;
    let ca = match all.iter().find(|c| c.kind == "server-ca") {
        Some(c) => (c.cert_pem.clone(), ca_key(sealer, c)?),
        None => {
            let (cert, key) = new_ca(SERVER_CA_CN)?;
            store::insert_cluster_cert(
                db,
                store::cluster_cert::Model {
                    id: Uuid::new_v4().to_string(),
                    control_plane_id: String::new(),
                    kind: "server-ca".into(),
                    name: SERVER_CA_CN.into(),
                    fingerprint: fingerprint(&pem_der(&cert)?),
                    cert_pem: cert.clone(),
                    key_pem: Some(sealer.seal_str(&key)?),
                    revoked_at: None,
                    created_at: store::now_ms(),
                },
            )
            .await?;
            (cert, key)
        }
    };
    // the server certificate is cheap: issue one per start for the names asked
    let (cert, key) = issue(
        SERVER_CA_CN,
        &ca.1,
        "portico-cluster",
        hostnames.to_vec(),
        false,
        SERVER_DAYS,
    )?;
    Ok((ca.0, cert, key))
}

/// A node certificate returned once (the key is not stored).
#[derive(SimpleObject, Clone)]
pub struct DataPlaneCertificate {
    pub id: async_graphql::ID,
    pub control_plane_id: async_graphql::ID,
    pub name: String,
    /// SHA-256 of the certificate (DER), hex.
    pub fingerprint: String,
    pub certificate: String,
    /// Only when the platform issued the certificate, and only in this answer.
    pub private_key: Option<String>,
    /// The CA a node uses to verify the cluster endpoint (`--cluster-ca`).
    pub cluster_ca_certificate: String,
    pub revoked: bool,
    pub created_at: i64,
    /// The end of its validity (Unix seconds); issue a new one before then.
    pub expires_at: i64,
}

pub async fn issue_node_cert(
    shared: &Shared,
    plane: Uuid,
    name: &str,
    days: i64,
) -> Result<DataPlaneCertificate, ApiError> {
    let all = store::cluster_certs(&shared.db)
        .await
        .map_err(ApiError::internal)?;
    let ca = all
        .iter()
        .find(|c| c.kind == "plane-ca" && c.control_plane_id == plane.to_string())
        .ok_or_else(|| ApiError::not_found(format!("cluster CA of control plane {plane}")))?;
    let ca_key = ca_key(&shared.sealer, ca).map_err(ApiError::internal)?;
    let (cert, key) = issue(
        &plane_ca_cn(plane),
        &ca_key,
        &format!("portico-node {name}"),
        Vec::new(),
        true,
        days,
    )
    .map_err(ApiError::internal)?;
    register(shared, plane, name, cert, Some(key), "node").await
}

pub async fn pin_node_cert(
    shared: &Shared,
    plane: Uuid,
    name: &str,
    cert_pem: &str,
) -> Result<DataPlaneCertificate, ApiError> {
    let der = pem_der(cert_pem).map_err(|e| {
        ApiError::field(
            Code::Validation,
            "input.certificate",
            format!("not a PEM certificate: {e}"),
        )
    })?;
    if let Some(m) = graphql_schema::tls::expired(&der, graphql_schema::tls::now_unix()) {
        return Err(ApiError::field(Code::Validation, "input.certificate", m));
    }
    register(shared, plane, name, cert_pem.to_string(), None, "pinned").await
}

async fn register(
    shared: &Shared,
    plane: Uuid,
    name: &str,
    cert: String,
    key: Option<String>,
    kind: &str,
) -> Result<DataPlaneCertificate, ApiError> {
    let der = pem_der(&cert).map_err(ApiError::internal)?;
    let fp = fingerprint(&der);
    let not_after = graphql_schema::tls::not_after(&der).unwrap_or(0);
    if shared.certs.get(&fp).is_some() {
        return Err(ApiError::field(
            Code::Conflict,
            "input.certificate",
            "this certificate is registered already",
        ));
    }
    let id = Uuid::new_v4();
    let now = store::now_ms();
    store::insert_cluster_cert(
        &shared.db,
        store::cluster_cert::Model {
            id: id.to_string(),
            control_plane_id: plane.to_string(),
            kind: kind.into(),
            name: name.into(),
            cert_pem: cert.clone(),
            key_pem: None,
            fingerprint: fp.clone(),
            revoked_at: None,
            created_at: now,
        },
    )
    .await
    .map_err(ApiError::internal)?;
    shared.certs.insert(
        fp.clone(),
        CertEntry {
            id,
            control_plane_id: plane,
            name: name.into(),
            revoked: false,
            not_after,
        },
    );
    let _ = store::notify(&shared.db, "certs").await;
    Ok(DataPlaneCertificate {
        id: async_graphql::ID(id.to_string()),
        control_plane_id: async_graphql::ID(plane.to_string()),
        name: name.into(),
        fingerprint: fp,
        certificate: cert,
        private_key: key,
        cluster_ca_certificate: shared
            .cluster_ca
            .read()
            .map(|c| c.clone())
            .unwrap_or_default(),
        revoked: false,
        created_at: now,
        expires_at: not_after,
    })
}

/// Revokes a node certificate: refused at the next handshake, and every node
/// connected with it is disconnected now.
pub async fn revoke(shared: &Shared, id: Uuid) -> Result<bool, ApiError> {
    store::revoke_cluster_cert(&shared.db, &id.to_string())
        .await
        .map_err(ApiError::internal)?;
    let mut found = false;
    if let Ok(mut m) = shared.certs.0.write() {
        for e in m.values_mut().filter(|e| e.id == id) {
            e.revoked = true;
            found = true;
        }
    }
    if !found {
        return Err(ApiError::not_found(format!("data plane certificate {id}")));
    }
    let _ = store::notify(&shared.db, "certs").await;
    disconnect_revoked(shared, &[id]);
    Ok(true)
}

/// Disconnects the nodes connected with any of these certificates.
pub fn disconnect_revoked(shared: &Shared, certs: &[Uuid]) {
    let victims: Vec<ActorRef<NodeMsg>> = shared
        .nodes
        .read()
        .map(|m| {
            m.values()
                .filter(|n| certs.contains(&n.cert_id) && n.connected)
                .filter_map(|n| n.actor.clone())
                .collect()
        })
        .unwrap_or_default();
    for a in victims {
        let _ = a.cast(NodeMsg::Disconnect);
    }
}

// ---------------------------------------------------------------------------
// the TLS verifier and listener

#[derive(Debug)]
struct NodeVerifier {
    certs: Arc<Shared>,
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
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
        match self.certs.certs.get(&fingerprint(end_entity)) {
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

pub type ClusterSchema = Schema<ClusterQuery, ClusterMutation, ClusterSubscription>;

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
fn renew_server_cert(shared: Arc<Shared>, resolver: Arc<ServerCert>, hostnames: Vec<String>) {
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
            match server_identity(&shared.db, &shared.sealer, &hostnames)
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
    shared: Arc<Shared>,
    listen: SocketAddr,
    hostnames: &[String],
) -> anyhow::Result<SocketAddr> {
    let (ca, cert, key) = server_identity(&shared.db, &shared.sealer, hostnames).await?;
    if let Ok(mut c) = shared.cluster_ca.write() {
        *c = ca;
    }
    let provider = rustls::crypto::ring::default_provider();
    let verifier = Arc::new(NodeVerifier {
        certs: shared.clone(),
        algs: provider.signature_verification_algorithms,
    });
    let resolver = Arc::new(ServerCert(std::sync::RwLock::new(server_key(&cert, &key)?)));
    renew_server_cert(shared.clone(), resolver.clone(), hostnames.to_vec());
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
    let sh = shared.clone();
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
            let sh = sh.clone();
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
                let Some(cert) = fp
                    .and_then(|fp| sh.certs.get(&fp))
                    .filter(|c| !c.revoked && c.not_after >= graphql_schema::tls::now_unix())
                else {
                    tracing::info!(%remote, "cluster connection with an unknown or revoked certificate closed");
                    return;
                };
                let _ = tx.send((tls, NodeAuth { cert, remote })).await;
            });
        }
    });
    let schema = Schema::build(ClusterQuery, ClusterMutation, ClusterSubscription)
        .data(shared.clone())
        .finish();
    let app = axum::Router::new()
        .route("/graphql/ws", get(node_ws))
        .with_state((schema, shared));
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

pub use graphql_schema::sync::NodeReport;

/// One connection's session data.
#[derive(Clone)]
struct Session {
    auth: NodeAuth,
    node: Uuid,
    actor: ActorRef<NodeMsg>,
    incompatible: Option<String>,
}

async fn node_ws(
    State((schema, shared)): State<(ClusterSchema, Arc<Shared>)>,
    ConnectInfo(auth): ConnectInfo<NodeAuth>,
    protocol: GraphQLProtocol,
    ws: WebSocketUpgrade,
) -> Response {
    ws.protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let (kill_tx, mut kill_rx) = watch::channel(false);
            let sh = shared.clone();
            let auth2 = auth.clone();
            let actor_slot: Arc<std::sync::Mutex<Option<ActorRef<NodeMsg>>>> = Default::default();
            let slot = actor_slot.clone();
            let serve = GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload: serde_json::Value| async move {
                    let report: NodeReport = serde_json::from_value(payload)
                        .map_err(|e| async_graphql::Error::new(format!("bad node report: {e}")))?;
                    let incompatible = compatible(&report.version).err();
                    let node = report.node_id;
                    let (actor, _) = Actor::spawn(
                        None,
                        DataPlaneConnection,
                        (
                            sh.clone(),
                            auth2.clone(),
                            report,
                            incompatible.clone(),
                            kill_tx,
                        ),
                    )
                    .await
                    .map_err(|e| async_graphql::Error::new(e.to_string()))?;
                    if let Ok(mut s) = slot.lock() {
                        *s = Some(actor.clone());
                    }
                    let mut data = async_graphql::Data::default();
                    data.insert(Session {
                        auth: auth2,
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

pub struct ClusterQuery;

#[Object]
impl ClusterQuery {
    /// The platform's software version.
    async fn platform_version(&self) -> &'static str {
        VERSION
    }
}

pub struct ClusterMutation;

#[Object]
impl ClusterMutation {
    /// The node's current state; also its heartbeat.
    async fn heartbeat(&self, ctx: &Context<'_>, report: Json<NodeReport>) -> Result<bool> {
        let s = ctx
            .data::<Session>()
            .map_err(|_| async_graphql::Error::new("no session"))?;
        if report.0.node_id != s.node {
            return Err(async_graphql::Error::new(
                "nodeId differs from the connection's",
            ));
        }
        let _ = s.actor.cast(NodeMsg::Report(report.0));
        Ok(true)
    }
}

pub struct ClusterSubscription;

/// The update that brings a node from `since` to now: the log's changes, or a
/// snapshot when the log does not reach back (or `since` is negative).
async fn node_backlog(sh: &Shared, plane: Uuid, since: i64) -> Result<Vec<NodeUpdate>, ApiError> {
    let view = sh
        .view(plane)
        .ok_or_else(|| ApiError::not_found(format!("control plane {plane}")))?;
    let p = plane.to_string();
    let oldest = store::oldest_change(&sh.db, &p)
        .await
        .map_err(ApiError::internal)?;
    if since < 0
        || (since < view.version && oldest.is_none_or(|o| o > since + 1))
        || since > view.version
    {
        return Ok(vec![snapshot_update(&view)]);
    }
    let mut out = Vec::new();
    for row in store::changes_since(&sh.db, &p, since)
        .await
        .map_err(ApiError::internal)?
    {
        let ev = crate::actor::read_change(&sh.sealer, &row).map_err(ApiError::internal)?;
        out.push(node_update(&ev));
    }
    Ok(out)
}

fn snapshot_update(view: &crate::actor::View) -> NodeUpdate {
    let entities: Vec<SyncEntity> = view
        .list(None)
        .into_iter()
        .map(SyncEntity::from_record)
        .collect();
    NodeUpdate {
        version: view.version,
        hash: view.hash.clone(),
        upserts: Vec::new(),
        deletes: Vec::new(),
        snapshot: Some(NodeSnapshot {
            version: view.version,
            hash: view.hash.clone(),
            entities,
        }),
    }
}

pub fn node_update(ev: &ChangeEvent) -> NodeUpdate {
    let mut u = NodeUpdate {
        version: ev.version,
        hash: ev.hash.clone(),
        upserts: Vec::new(),
        deletes: Vec::new(),
        snapshot: None,
    };
    for c in &ev.changes {
        match c.op {
            ChangeOp::Upsert => u.upserts.push(SyncEntity {
                kind: c.kind,
                id: c.id,
                seq: c.seq,
                data: c.data.as_ref().map(|d| d.0.clone()).unwrap_or_default(),
            }),
            ChangeOp::Delete => u.deletes.push(c.id),
        }
    }
    u
}

#[Subscription]
impl ClusterSubscription {
    /// Config updates for the node's control plane after `sinceVersion` (a
    /// snapshot first when the change log does not reach back, or when
    /// `sinceVersion` is -1).
    async fn config_updates(
        &self,
        ctx: &Context<'_>,
        since_version: i64,
    ) -> Result<impl Stream<Item = Json<NodeUpdate>> + use<>> {
        let s = ctx
            .data::<Session>()
            .map_err(|_| async_graphql::Error::new("no session"))?
            .clone();
        if let Some(why) = &s.incompatible {
            return Err(async_graphql::Error::new(format!("INCOMPATIBLE: {why}")));
        }
        let sh = ctx.data_unchecked::<Arc<Shared>>().clone();
        let plane = s.auth.cert.control_plane_id;
        let rx = sh.subscribe(plane);
        let pending = node_backlog(&sh, plane, since_version)
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        let last = pending.last().map(|u| u.version).unwrap_or(since_version);
        let st = (
            sh,
            plane,
            rx,
            std::collections::VecDeque::from(pending),
            last,
        );
        Ok(futures_util::stream::unfold(
            st,
            |(sh, plane, mut rx, mut pending, mut last)| async move {
                loop {
                    if let Some(u) = pending.pop_front() {
                        last = last.max(u.version);
                        return Some((Json(u), (sh, plane, rx, pending, last)));
                    }
                    match rx.recv().await {
                        Ok(ev) if ev.version > last => {
                            last = ev.version;
                            return Some((Json(node_update(&ev)), (sh, plane, rx, pending, last)));
                        }
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            pending = node_backlog(&sh, plane, last).await.ok()?.into();
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                }
            },
        ))
    }
}

// ---------------------------------------------------------------------------
// DataPlaneConnection actors and the node list

/// Nodes are known per control plane: a node id is only meaningful within the
/// plane its certificate belongs to.
pub type NodeKey = (Uuid, Uuid);

/// What the platform knows of a node.
#[derive(Clone, Debug)]
pub struct NodeEntry {
    pub id: Uuid,
    pub control_plane_id: Uuid,
    pub cert_id: Uuid,
    pub report: NodeReport,
    pub remote: String,
    pub connected: bool,
    pub connected_since: Option<i64>,
    pub last_seen: i64,
    pub incompatible: Option<String>,
    pub actor: Option<ActorRef<NodeMsg>>,
}

pub enum NodeMsg {
    Report(NodeReport),
    /// Revoked: close the connection.
    Disconnect,
    /// The connection ended.
    Gone,
}

pub struct DataPlaneConnection;

pub struct NodeState {
    shared: Arc<Shared>,
    key: NodeKey,
    kill: watch::Sender<bool>,
}

impl Actor for DataPlaneConnection {
    type Msg = NodeMsg;
    type State = NodeState;
    type Arguments = (
        Arc<Shared>,
        NodeAuth,
        NodeReport,
        Option<String>,
        watch::Sender<bool>,
    );

    async fn pre_start(
        &self,
        me: ActorRef<NodeMsg>,
        (shared, auth, report, incompatible, kill): Self::Arguments,
    ) -> Result<NodeState, ActorProcessingErr> {
        let now = store::now_ms();
        let id = report.node_id;
        let key = (auth.cert.control_plane_id, id);
        let e = NodeEntry {
            id,
            control_plane_id: auth.cert.control_plane_id,
            cert_id: auth.cert.id,
            report,
            remote: auth.remote.to_string(),
            connected: true,
            connected_since: Some(now),
            last_seen: now,
            incompatible,
            actor: Some(me),
        };
        // a reconnecting node replaces its previous connection; another
        // certificate cannot take over a node id that is connected
        let old = {
            let mut m = shared
                .nodes
                .write()
                .map_err(|_| "the node list is unavailable")?;
            if let Some(o) = m.get(&key)
                && o.connected
                && o.cert_id != auth.cert.id
            {
                return Err(
                    format!("node id {id} is already connected with another certificate").into(),
                );
            }
            m.insert(key, e)
        };
        if let Some(a) = old.and_then(|o| o.actor) {
            let _ = a.cast(NodeMsg::Disconnect);
        }
        shared.nodes_changed();
        Ok(NodeState { shared, key, kill })
    }

    async fn handle(
        &self,
        me: ActorRef<NodeMsg>,
        msg: NodeMsg,
        st: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            NodeMsg::Report(r) => {
                if let Ok(mut m) = st.shared.nodes.write()
                    && let Some(e) = m.get_mut(&st.key)
                {
                    e.report = r;
                    e.last_seen = store::now_ms();
                }
                st.shared.nodes_changed();
            }
            NodeMsg::Disconnect => {
                let _ = st.kill.send(true);
            }
            NodeMsg::Gone => {
                if let Ok(mut m) = st.shared.nodes.write()
                    && let Some(e) = m.get_mut(&st.key)
                    && e.actor.as_ref().is_some_and(|a| a.get_id() == me.get_id())
                {
                    e.connected = false;
                    e.connected_since = None;
                    e.last_seen = store::now_ms();
                    e.actor = None;
                }
                st.shared.nodes_changed();
                me.stop(None);
            }
        }
        Ok(())
    }
}

#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SyncStatus {
    InSync,
    Lagging,
    Incompatible,
    Disconnected,
}

/// A gateway node as the platform sees it.
#[derive(SimpleObject, Clone)]
pub struct DataPlaneNode {
    pub id: async_graphql::ID,
    pub control_plane_id: async_graphql::ID,
    pub hostname: String,
    pub version: String,
    pub config_version: i64,
    pub config_hash: String,
    pub labels: Json<serde_json::Value>,
    pub status: SyncStatus,
    /// Why the node is incompatible, when it is.
    pub reason: Option<String>,
    pub certificate_id: async_graphql::ID,
    pub remote_address: String,
    pub connected_since: Option<i64>,
    pub last_seen: i64,
}

pub fn node_list(sh: &Shared, plane: Uuid) -> Vec<DataPlaneNode> {
    let view = sh.view(plane);
    let mut v: Vec<DataPlaneNode> =
        sh.nodes
            .read()
            .map(|m| {
                m.values()
                    .filter(|e| e.control_plane_id == plane)
                    .map(|e| {
                        let refused =
                            e.report.refused.as_ref().map(|r| {
                                format!("refused config version {}: {}", r.version, r.reason)
                            });
                        let status = if !e.connected {
                            SyncStatus::Disconnected
                        } else if e.incompatible.is_some() || refused.is_some() {
                            SyncStatus::Incompatible
                        } else if view.as_ref().is_some_and(|v| {
                            v.version == e.report.config_version && v.hash == e.report.config_hash
                        }) {
                            SyncStatus::InSync
                        } else {
                            SyncStatus::Lagging
                        };
                        DataPlaneNode {
                            id: async_graphql::ID(e.id.to_string()),
                            control_plane_id: async_graphql::ID(plane.to_string()),
                            hostname: e.report.hostname.clone(),
                            version: e.report.version.clone(),
                            config_version: e.report.config_version,
                            config_hash: e.report.config_hash.clone(),
                            labels: Json(serde_json::Value::Object(e.report.labels.clone())),
                            status,
                            reason: e.incompatible.clone().or(refused),
                            certificate_id: async_graphql::ID(e.cert_id.to_string()),
                            remote_address: e.remote.clone(),
                            connected_since: e.connected_since,
                            last_seen: e.last_seen,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
    v.sort_by(|a, b| a.hostname.cmp(&b.hostname).then(a.id.0.cmp(&b.id.0)));
    v
}
