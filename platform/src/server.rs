//! `portico serve`: the HTTP server. `/graphql` (GET: the explorer, POST: queries
//! and mutations), `/graphql/ws` (graphql-transport-ws subscriptions), `/health`
//! and `/metrics`. Every GraphQL operation needs a bearer token, except `login`
//! and `acceptInvitation`.
//!
//! Safe by default: it listens on loopback unless told otherwise (and warns when
//! told to listen publicly without TLS), serves HTTPS with `--tls-cert/--tls-key`,
//! bounds request bodies (tightly before a token is checked), header reading time,
//! query cost and response size, and keeps its data directory private.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::actor::{Planes, Shared};
use crate::api::{self, PorticoSchema};
use crate::limits;
use crate::seal::Sealer;
use crate::store;

pub struct Options {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// A token to create on first start instead of a random one.
    pub admin_token: Option<String>,
    /// The cluster endpoint (mutual TLS) for gateway nodes; `None`: off.
    pub cluster_listen: Option<SocketAddr>,
    /// Names in the cluster endpoint's certificate.
    pub cluster_hostnames: Vec<String>,
    /// How many versions the change log keeps per control plane; a subscriber
    /// (or node) further behind gets a snapshot.
    pub change_log_retention: i64,
    /// Every audit entry is also POSTed here as JSON (retried, bounded queue).
    pub audit_webhook: Option<String>,
    /// Serve the API over HTTPS with this certificate chain and key (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Expose the failure-injection endpoints tests use (off by default).
    pub test_hooks: bool,
    /// Items (entities, rows, nodes) one request may return in all.
    pub max_request_items: usize,
}

#[derive(Clone)]
struct App {
    schema: PorticoSchema,
    shared: Arc<Shared>,
    max_items: usize,
}

/// The platform's state on an open, migrated database: certificates, the
/// authorizer, and the control plane actors under their supervisor.
pub async fn assemble(
    db: sea_orm::DatabaseConnection,
    sealer: Arc<Sealer>,
) -> anyhow::Result<(Arc<Shared>, ractor::ActorRef<crate::actor::SupMsg>)> {
    crate::seal::bind(&db, &sealer).await?;
    let certs = crate::cluster::Certs::load(&db).await?;
    let access = crate::auth::Access::new().await?;
    let shared = Shared::new(db, certs, access, sealer);
    crate::auth::reload(&shared).await?;
    let (planes, _) = ractor::Actor::spawn(None, Planes, shared.clone())
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the control plane supervisor: {e}"))?;
    Ok((shared, planes))
}

/// A running platform (for tests and `portico up`).
pub struct Running {
    pub addr: SocketAddr,
    /// Whether the API is served over HTTPS.
    pub tls: bool,
    pub cluster_addr: Option<SocketAddr>,
    pub shared: Arc<Shared>,
    pub task: tokio::task::JoinHandle<()>,
}

/// The SQLite database file, created 0600 before SQLite opens it (SQLite gives
/// its WAL and shared-memory files the same mode).
fn sqlite_file(data_dir: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = data_dir.join("portico.db");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&file)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", file.display()))?;
    crate::files::restrict(&file, 0o600)?;
    Ok(file)
}

/// The SQLite files, whatever created them: 0600.
fn restrict_sqlite(file: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = file.as_os_str().to_owned();
        p.push(suffix);
        crate::files::restrict_if_exists(Path::new(&p))?;
    }
    Ok(())
}

pub async fn start(opts: Options) -> anyhow::Result<Running> {
    crate::files::private_dir(&opts.data_dir)?;
    let sqlite = match &opts.database_url {
        Some(_) => None,
        None => Some(sqlite_file(&opts.data_dir)?),
    };
    let url = match (&opts.database_url, &sqlite) {
        (Some(u), _) => u.clone(),
        (None, Some(f)) => format!("sqlite://{}?mode=rwc", f.display()),
        (None, None) => anyhow::bail!("no database"),
    };
    let tls = match &opts.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let sealer = Arc::new(Sealer::load(&opts.data_dir)?);
    let db = store::connect(&url).await?;
    if let Some(f) = &sqlite {
        restrict_sqlite(f)?;
    }
    // first start: the predefined teams, the organization owner and a token
    let email = std::env::var("PORTICO_ADMIN_EMAIL").unwrap_or_else(|_| "admin@localhost".into());
    let password = std::env::var("PORTICO_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    if let Some(b) = crate::auth::bootstrap(&db, &email, password, opts.admin_token.clone()).await?
    {
        println!("organization owner: {}", b.email);
        match &b.password {
            Some(p) => {
                let file = opts.data_dir.join(OWNER_PASSWORD_FILE);
                crate::files::write_private(&file, p)?;
                println!(
                    "owner password written to {} (readable by you only; delete it once kept elsewhere)",
                    file.display()
                );
            }
            None => println!("owner password: from PORTICO_ADMIN_PASSWORD"),
        }
        match &b.token {
            Some(t) => println!("admin token (shown once, keep it): {t}"),
            None => println!("admin token created (the one given)"),
        }
    }
    let (shared, planes) = assemble(db, sealer).await?;
    if let Some(url) = &opts.audit_webhook {
        crate::auth::start_webhook(&shared, url.clone())?;
    }
    shared.retention.store(
        opts.change_log_retention.max(1),
        std::sync::atomic::Ordering::Relaxed,
    );
    let cluster_addr = match opts.cluster_listen {
        Some(a) => Some(crate::cluster::serve(shared.clone(), a, &opts.cluster_hostnames).await?),
        None => None,
    };
    if url.starts_with("postgres") {
        crate::replicas::listen(shared.clone(), planes.clone(), url.clone());
    }
    let schema = api::schema(shared.clone(), planes.clone());
    let app = App {
        schema,
        shared: shared.clone(),
        max_items: opts.max_request_items,
    };
    let router = router(app, opts.test_hooks);
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {} ({e}); choose another address with --listen",
                opts.listen
            )
        })?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() && tls.is_none() {
        let msg = format!(
            "the admin API on {addr} is reachable from other machines without TLS: tokens and passwords cross the network in clear. Give --tls-cert and --tls-key, or listen on 127.0.0.1"
        );
        tracing::warn!("{msg}");
        eprintln!("WARNING: {msg}");
    }
    let https = tls.is_some();
    let task = tokio::spawn(async move {
        serve(listener, router, tls).await;
        planes.stop(None);
    });
    Ok(Running {
        addr,
        tls: https,
        cluster_addr,
        shared,
        task,
    })
}

/// Where a generated owner password is written on first start.
pub const OWNER_PASSWORD_FILE: &str = "owner-password";

fn router(app: App, test_hooks: bool) -> Router {
    let mut r = Router::new()
        .route("/graphql", get(explorer).post(graphql))
        .route("/graphql/assets/{file}", get(asset))
        .route("/graphql/ws", get(subscriptions))
        .route("/health", get(health))
        .route("/metrics", get(metrics));
    if test_hooks {
        r = r.route(
            "/test-hooks/crash-control-plane/{id}",
            axum::routing::post(crash_control_plane),
        );
    }
    r.with_state(app)
}

fn tls_acceptor(cert: &Path, key: &Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let read = |p: &Path, flag: &str| {
        std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{flag} {}: {e}", p.display()))
    };
    let (cert, key) = (read(cert, "--tls-cert")?, read(key, "--tls-key")?);
    // the same checks as a gateway certificate: parses, a usable key, a match
    graphql_schema::tls::certified_key(&cert, &key).map_err(|e| {
        let m = match e {
            graphql_schema::tls::InvalidPair::Cert(m)
            | graphql_schema::tls::InvalidPair::Key(m) => m,
        };
        anyhow::anyhow!("--tls-cert/--tls-key: {m}")
    })?;
    let chain =
        graphql_schema::tls::parse_certs(&cert).map_err(|e| anyhow::anyhow!("--tls-cert: {e}"))?;
    let key =
        graphql_schema::tls::parse_key(&key).map_err(|e| anyhow::anyhow!("--tls-key: {e}"))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// Accepts connections and serves them with hyper: HTTP/1.1 (a slow client gets
/// [`limits::HEADER_READ_TIMEOUT`] to send its headers) and HTTP/2, over TLS when
/// an acceptor is given, with WebSocket upgrades.
async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    loop {
        let (sock, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(remote));
                    tower::ServiceExt::oneshot(router.clone(), req)
                },
            );
            let mut b = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            b.http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits::HEADER_READ_TIMEOUT);
            b.http2().timer(TokioTimer::new());
            let r = match tls {
                Some(a) => {
                    match tokio::time::timeout(limits::HEADER_READ_TIMEOUT, a.accept(sock)).await {
                        Ok(Ok(s)) => b.serve_connection_with_upgrades(TokioIo::new(s), svc).await,
                        _ => return,
                    }
                }
                None => {
                    b.serve_connection_with_upgrades(TokioIo::new(sock), svc)
                        .await
                }
            };
            if let Err(e) = r {
                tracing::debug!(%remote, "connection: {e}");
            }
        });
    }
}

/// The bearer token of a request, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// A JSON GraphQL error answer with a status.
fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({
            "errors": [{ "message": message, "extensions": {"code": code} }]
        })
        .to_string(),
    )
        .into_response()
}

fn unauthenticated() -> Response {
    error_response(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "a valid token is required: Authorization: Bearer <token>",
    )
}

fn too_large(limit: usize) -> Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "VALIDATION",
        &format!("the request body is larger than {limit} bytes"),
    )
}

async fn graphql(
    State(app): State<App>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let m = &app.shared.metrics;
    m.graphql_requests.fetch_add(1, Ordering::Relaxed);
    let ip = Some(remote.ip().to_string());
    // the token first: the body of an unauthenticated request is kept small
    let token = bearer(&headers);
    let caller = match token {
        Some(t) => match crate::auth::resolve(&app.shared, t, ip.clone()).await {
            Some(c) => Some(c),
            None => {
                m.graphql_errors.fetch_add(1, Ordering::Relaxed);
                return unauthenticated();
            }
        },
        None => None,
    };
    let limit = if caller.is_some() {
        limits::MAX_BODY_BYTES
    } else {
        limits::MAX_ANONYMOUS_BODY_BYTES
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        m.graphql_errors.fetch_add(1, Ordering::Relaxed);
        return too_large(limit);
    }
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(e) => {
            m.graphql_errors.fetch_add(1, Ordering::Relaxed);
            let too_big = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if too_big {
                too_large(limit)
            } else {
                error_response(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION",
                    &format!("cannot read the request body: {e}"),
                )
            };
        }
    };
    let req: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            m.graphql_errors.fetch_add(1, Ordering::Relaxed);
            return error_response(
                StatusCode::BAD_REQUEST,
                "VALIDATION",
                &format!(
                    "the body is not a GraphQL request (JSON with \"query\" and optional \"variables\"): {e}"
                ),
            );
        }
    };
    let mut req = req
        .data(crate::auth::SourceIp(ip))
        .data(limits::Budget::new(app.max_items));
    if let Some(c) = caller {
        req = req.data(c);
    }
    // without a token only `login` and `acceptInvitation` can succeed
    let mut resp = app.schema.execute(req).await;
    limits::code_engine_errors(&mut resp);
    if resp.is_err() {
        m.graphql_errors.fetch_add(1, Ordering::Relaxed);
    }
    let unauth = token.is_none()
        && resp.errors.iter().any(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .is_some_and(|c| c.to_string() == "\"UNAUTHENTICATED\"")
        });
    let mut body = serde_json::to_vec(&resp).unwrap_or_default();
    if body.len() > limits::MAX_RESPONSE_BYTES {
        body = serde_json::json!({"errors": [{
            "message": format!("the response would be larger than {} bytes; ask for less (smaller pages, fewer fields)", limits::MAX_RESPONSE_BYTES),
            "extensions": {"code": "VALIDATION"}
        }]})
        .to_string()
        .into_bytes();
    }
    let status = if unauth {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn subscriptions(
    State(app): State<App>,
    protocol: GraphQLProtocol,
    ws: WebSocketUpgrade,
) -> Response {
    let shared = app.shared.clone();
    ws.protocols(ALL_WEBSOCKET_PROTOCOLS)
        // subscriptions are small documents
        .max_message_size(256 * 1024)
        .max_frame_size(256 * 1024)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, app.schema.clone(), protocol)
                .on_connection_init(move |payload: serde_json::Value| async move {
                    let token = payload
                        .get("token")
                        .or_else(|| payload.get("Authorization"))
                        .or_else(|| payload.get("authorization"))
                        .and_then(|v| v.as_str())
                        .map(|s| s.trim_start_matches("Bearer ").trim().to_string())
                        .unwrap_or_default();
                    if let Some(c) = crate::auth::resolve(&shared, &token, None).await {
                        let mut d = async_graphql::Data::default();
                        d.insert(c);
                        Ok(d)
                    } else {
                        Err(async_graphql::Error::new("UNAUTHENTICATED: a valid token is required in the connection_init payload"))
                    }
                })
                .serve()
        })
}

/// Failure injection, only with `--enable-test-hooks`: the plane's actor fails
/// and its supervisor restarts it from the database. Needs an organization
/// admin's token.
async fn crash_control_plane(
    State(app): State<App>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let Some(c) = bearer(&headers) else {
        return unauthenticated();
    };
    let Some(c) = crate::auth::resolve(&app.shared, c, None).await else {
        return unauthenticated();
    };
    if !crate::auth::allowed(&app.shared, &c, "organization", "update").await {
        return error_response(StatusCode::FORBIDDEN, "FORBIDDEN", "not allowed");
    }
    let Some(a) = uuid::Uuid::parse_str(&id)
        .ok()
        .and_then(|id| app.shared.actor(id))
    else {
        return error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "no such control plane");
    };
    let ok = a.cast(crate::actor::Msg::Crash).is_ok();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "crashed": ok }).to_string(),
    )
        .into_response()
}

async fn health(State(app): State<App>) -> Response {
    use sea_orm::ConnectionTrait;
    match app.shared.db.execute_unprepared("SELECT 1").await {
        Ok(_) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"status": "ok", "database": "ok", "control_planes": app.shared.views().len()})
                .to_string(),
        )
            .into_response(),
        Err(e) => {
            tracing::error!("health: database: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::json!({"status": "unavailable", "database": "unreachable"})
                    .to_string(),
            )
                .into_response()
        }
    }
}

async fn metrics(State(app): State<App>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.shared.metrics.render(app.shared.views().len()),
    )
        .into_response()
}

/// GraphiQL, served from assets compiled into the binary (no CDN).
async fn explorer() -> Html<&'static str> {
    Html(include_str!("../assets/graphiql/index.html"))
}

/// GraphiQL's scripts and styles, stored gzip-compressed.
async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, ctype): (&'static [u8], &str) = match file.as_str() {
        "graphiql.min.js" => (
            include_bytes!("../assets/graphiql/graphiql.min.js.gz"),
            "text/javascript",
        ),
        "graphiql.min.css" => (
            include_bytes!("../assets/graphiql/graphiql.min.css.gz"),
            "text/css",
        ),
        "react.production.min.js" => (
            include_bytes!("../assets/graphiql/react.production.min.js.gz"),
            "text/javascript",
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../assets/graphiql/react-dom.production.min.js.gz"),
            "text/javascript",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, ctype),
            (header::CONTENT_ENCODING, "gzip"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}
