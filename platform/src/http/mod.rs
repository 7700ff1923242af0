//! axum wiring, and only that: the admin API's routes (`/graphql` GET for the
//! explorer and POST for queries and mutations, `/graphql/ws` for subscriptions,
//! `/health`, `/metrics`, and the test hooks when enabled), the HTTP/1.1 and
//! HTTP/2 serve loop (over TLS when given, with a header read timeout), and the
//! request bounds: a small body before a token is shown, a larger one after,
//! a response size cap.

mod cors;
pub mod portal;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};

use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

pub use cors::CorsOrigins;

use crate::auth::{Action, Resource};
use crate::graphql::{PorticoSchema, limits};
use crate::state::AppState;

/// Request bodies with a token (an `applyConfig` of a large plane fits).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Request bodies without a token: only `login` and `acceptInvitation` can
/// succeed, and they are small.
pub const MAX_ANONYMOUS_BODY_BYTES: usize = 16 * 1024;
/// The largest response body.
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;
/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct App {
    schema: PorticoSchema,
    state: AppState,
    max_items: usize,
}

/// The admin API's routes.
pub fn router(
    state: AppState,
    max_items: usize,
    test_hooks: bool,
    cors_origins: CorsOrigins,
) -> Router {
    let portals = portal::routes(state.clone(), max_items);
    let app = App {
        schema: crate::graphql::schema(state.clone()),
        state,
        max_items,
    };
    let api = Router::new()
        .route("/graphql", get(explorer).post(graphql))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(cors_origins),
            cors::cors,
        ));
    let mut r = Router::new()
        .merge(api)
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
    r.with_state(app).merge(portals)
}

/// The TLS acceptor for `--tls-cert/--tls-key`.
pub fn tls_acceptor(cert: &Path, key: &Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
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
/// [`HEADER_READ_TIMEOUT`] to send its headers) and HTTP/2, over TLS when
/// an acceptor is given, with WebSocket upgrades.
pub async fn serve(
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
                .header_read_timeout(HEADER_READ_TIMEOUT);
            b.http2().timer(TokioTimer::new());
            let r = match tls {
                Some(a) => match tokio::time::timeout(HEADER_READ_TIMEOUT, a.accept(sock)).await {
                    Ok(Ok(s)) => b.serve_connection_with_upgrades(TokioIo::new(s), svc).await,
                    _ => return,
                },
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
    let m = &app.state.metrics;
    m.graphql_requests.fetch_add(1, Ordering::Relaxed);
    let ip = Some(remote.ip().to_string());
    // the token first: the body of an unauthenticated request is kept small
    let token = bearer(&headers);
    let caller = match token {
        Some(t) => {
            match crate::auth::tokens::resolve(&app.state.db, &app.state.access, t, ip.clone())
                .await
            {
                Some(c) => Some(c),
                None => {
                    m.graphql_errors.fetch_add(1, Ordering::Relaxed);
                    return unauthenticated();
                }
            }
        }
        None => None,
    };
    let limit = if caller.is_some() {
        MAX_BODY_BYTES
    } else {
        MAX_ANONYMOUS_BODY_BYTES
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
        && resp
            .errors
            .iter()
            .any(|e| crate::graphql::error::code_of(e) == Some("UNAUTHENTICATED"));
    let mut body = serde_json::to_vec(&resp).unwrap_or_default();
    if body.len() > MAX_RESPONSE_BYTES {
        body = serde_json::json!({"errors": [{
            "message": format!("the response would be larger than {} bytes; ask for less (smaller pages, fewer fields)", MAX_RESPONSE_BYTES),
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
    let state = app.state.clone();
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
                    if let Some(c) = crate::auth::tokens::resolve(&state.db, &state.access, &token, None).await {
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
    let Some(c) = crate::auth::tokens::resolve(&app.state.db, &app.state.access, c, None).await
    else {
        return unauthenticated();
    };
    if !app
        .state
        .access
        .allowed(&c, &Resource::Organization, Action::Update)
        .await
    {
        return error_response(StatusCode::FORBIDDEN, "FORBIDDEN", "not allowed");
    }
    let Some(id) = uuid::Uuid::parse_str(&id).ok() else {
        return error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "no such control plane");
    };
    let ok = match app.state.planes.crash(id) {
        Ok(()) => true,
        Err(crate::error::Error::NotFound(_)) => {
            return error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "no such control plane");
        }
        Err(_) => false,
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "crashed": ok }).to_string(),
    )
        .into_response()
}

async fn health(State(app): State<App>) -> Response {
    use sea_orm::ConnectionTrait;
    match app.state.db.execute_unprepared("SELECT 1").await {
        Ok(_) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"status": "ok", "database": "ok", "control_planes": app.state.planes.views().len()})
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
        app.state.metrics.render(&app.state.planes.views()),
    )
        .into_response()
}

/// GraphiQL, served from assets compiled into the binary (no CDN).
async fn explorer() -> Html<&'static str> {
    Html(include_str!("../../assets/graphiql/index.html"))
}

/// GraphiQL's scripts and styles, stored gzip-compressed.
async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, ctype): (&'static [u8], &str) = match file.as_str() {
        "graphiql.min.js" => (
            include_bytes!("../../assets/graphiql/graphiql.min.js.gz"),
            "text/javascript",
        ),
        "graphiql.min.css" => (
            include_bytes!("../../assets/graphiql/graphiql.min.css.gz"),
            "text/css",
        ),
        "react.production.min.js" => (
            include_bytes!("../../assets/graphiql/react.production.min.js.gz"),
            "text/javascript",
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../../assets/graphiql/react-dom.production.min.js.gz"),
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
