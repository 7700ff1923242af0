//! `portico serve`: the HTTP server. `/graphql` (GET: the explorer, POST: queries
//! and mutations), `/graphql/ws` (graphql-transport-ws subscriptions), `/health`
//! and `/metrics`. Every GraphQL operation needs a bearer token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::actor::{Planes, Shared};
use crate::api::{self, PorticoSchema};
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
}

#[derive(Clone)]
struct App {
    schema: PorticoSchema,
    shared: Arc<Shared>,
}

pub fn digest(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The platform's state on an open, migrated database: certificates, the
/// authorizer, and the control plane actors under their supervisor.
pub async fn assemble(
    db: sea_orm::DatabaseConnection,
) -> anyhow::Result<(Arc<Shared>, ractor::ActorRef<crate::actor::SupMsg>)> {
    let certs = crate::cluster::Certs::load(&db).await?;
    let access = crate::auth::Access::new().await?;
    let shared = Shared::new(db, certs, access);
    crate::auth::reload(&shared).await?;
    let (planes, _) = ractor::Actor::spawn(None, Planes, shared.clone())
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the control plane supervisor: {e}"))?;
    Ok((shared, planes))
}

/// A running platform (for tests and `portico up`).
pub struct Running {
    pub addr: SocketAddr,
    pub cluster_addr: Option<SocketAddr>,
    pub shared: Arc<Shared>,
    pub task: tokio::task::JoinHandle<()>,
}

pub async fn start(opts: Options) -> anyhow::Result<Running> {
    let url = match &opts.database_url {
        Some(u) => u.clone(),
        None => {
            std::fs::create_dir_all(&opts.data_dir).map_err(|e| {
                anyhow::anyhow!(
                    "cannot create the data directory {}: {e}",
                    opts.data_dir.display()
                )
            })?;
            format!(
                "sqlite://{}?mode=rwc",
                opts.data_dir.join("portico.db").display()
            )
        }
    };
    let db = store::connect(&url).await?;
    // first start: the predefined teams, the organization owner and a token
    let email = std::env::var("PORTICO_ADMIN_EMAIL").unwrap_or_else(|_| "admin@localhost".into());
    let password = std::env::var("PORTICO_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    if let Some(b) = crate::auth::bootstrap(&db, &email, password, opts.admin_token.clone()).await?
    {
        println!("organization owner: {}", b.email);
        match &b.password {
            Some(p) => println!("owner password (shown once, keep it): {p}"),
            None => println!("owner password: from PORTICO_ADMIN_PASSWORD"),
        }
        match &b.token {
            Some(t) => println!("admin token (shown once, keep it): {t}"),
            None => println!("admin token created (the one given)"),
        }
    }
    let (shared, planes) = assemble(db).await?;
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
    };
    let router = Router::new()
        .route("/graphql", get(explorer).post(graphql))
        .route("/graphql/assets/{file}", get(asset))
        .route("/graphql/ws", get(subscriptions))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {} ({e}); choose another address with --listen",
                opts.listen
            )
        })?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        {
            tracing::error!("server stopped: {e}");
        }
        planes.stop(None);
    });
    Ok(Running {
        addr,
        cluster_addr,
        shared,
        task,
    })
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

fn unauthenticated() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({
            "errors": [{
                "message": "a valid token is required: Authorization: Bearer <token>",
                "extensions": {"code": "UNAUTHENTICATED"}
            }]
        })
        .to_string(),
    )
        .into_response()
}

async fn graphql(
    State(app): State<App>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    req: GraphQLRequest,
) -> Response {
    app.shared
        .metrics
        .graphql_requests
        .fetch_add(1, Ordering::Relaxed);
    let ip = Some(remote.ip().to_string());
    let mut req = req.into_inner().data(crate::auth::SourceIp(ip.clone()));
    let token = bearer(&headers);
    if let Some(t) = token {
        match crate::auth::resolve(&app.shared, t, ip).await {
            Some(c) => req = req.data(c),
            None => {
                app.shared
                    .metrics
                    .graphql_errors
                    .fetch_add(1, Ordering::Relaxed);
                return unauthenticated();
            }
        }
    }
    // without a token only `login` and `acceptInvitation` can succeed
    let resp = app.schema.execute(req).await;
    if resp.is_err() {
        app.shared
            .metrics
            .graphql_errors
            .fetch_add(1, Ordering::Relaxed);
    }
    let unauth = token.is_none()
        && resp.errors.iter().any(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .is_some_and(|c| c.to_string() == "\"UNAUTHENTICATED\"")
        });
    let mut out = GraphQLResponse::from(resp).into_response();
    if unauth {
        *out.status_mut() = StatusCode::UNAUTHORIZED;
    }
    out
}

async fn subscriptions(
    State(app): State<App>,
    protocol: GraphQLProtocol,
    ws: WebSocketUpgrade,
) -> Response {
    let shared = app.shared.clone();
    ws.protocols(ALL_WEBSOCKET_PROTOCOLS)
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
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"status": "unavailable", "database": e.to_string()}).to_string(),
        )
            .into_response(),
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
