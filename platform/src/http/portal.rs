//! The developer realm's routes: `/portals/{name}/graphql` (POST) and
//! `/portals/{name}/graphql/ws` (subscriptions). A developer is signed in by a
//! bearer session token, or by the session cookie when the request is JSON
//! (a cross-site form cannot send that, so the cookie cannot be ridden).

use std::net::SocketAddr;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{bearer, error_response, too_large};
use crate::graphql::developer::{
    self, DevSession, DeveloperSchema, PortalCtx, SESSION_COOKIE, viewer_of,
};
use crate::graphql::limits;
use crate::portal::developers;
use crate::state::AppState;

/// A developer realm request's body, at most.
pub const MAX_PORTAL_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
struct PortalApp {
    schema: DeveloperSchema,
    state: AppState,
    max_items: usize,
}

pub fn routes(state: AppState, max_items: usize) -> Router {
    Router::new()
        .route("/portals/{name}/graphql", post(graphql))
        .route("/portals/{name}/graphql/ws", get(subscriptions))
        .with_state(PortalApp {
            schema: developer::schema(state.clone()),
            state,
            max_items,
        })
}

fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "no such portal")
}

/// The session cookie's value, if the request has one.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// The portal context of a request to portal `name`.
fn portal_ctx(st: &AppState, name: &str, headers: &HeaderMap) -> Option<PortalCtx> {
    let cat = st.catalog.view();
    let (e, _) = cat.portal_by_name(name)?;
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        == Some("https");
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    Some(PortalCtx {
        id: e.id,
        name: name.to_string(),
        base_url: format!(
            "{}://{host}/portals/{name}",
            if secure { "https" } else { "http" }
        ),
        secure,
    })
}

async fn graphql(
    State(app): State<PortalApp>,
    Path(name): Path<String>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let st = &app.state;
    let Some(p) = portal_ctx(st, &name, &headers) else {
        return not_found();
    };
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    // a bearer token must be valid; a stale cookie is just no session
    let session = match bearer(&headers) {
        Some(t) => match developers::resolve(&st.db, p.id, t).await {
            Ok(Some((developer, token_id))) => Some(DevSession {
                developer,
                token_id,
            }),
            Ok(None) => {
                return error_response(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    "the session is not valid (signed out or expired); sign in again",
                );
            }
            Err(e) => {
                tracing::error!("resolving a developer session: {e}");
                return error_response(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "retry");
            }
        },
        None => match cookie(&headers).filter(|_| json) {
            Some(c) => developers::resolve(&st.db, p.id, &c)
                .await
                .ok()
                .flatten()
                .map(|(developer, token_id)| DevSession {
                    developer,
                    token_id,
                }),
            None => None,
        },
    };
    let bytes = match axum::body::to_bytes(body, MAX_PORTAL_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return too_large(MAX_PORTAL_BODY_BYTES),
    };
    let req: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "VALIDATION",
                &format!("the body is not a GraphQL request: {e}"),
            );
        }
    };
    let viewer = match viewer_of(st, session.as_ref()).await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!("a portal viewer: {e}");
            return error_response(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "retry");
        }
    };
    let mut req = req
        .data(p)
        .data(viewer)
        .data(crate::auth::SourceIp(Some(remote.ip().to_string())))
        .data(limits::Budget::new(app.max_items));
    if let Some(s) = session {
        req = req.data(s);
    }
    let mut resp = app.schema.execute(req).await;
    limits::code_engine_errors(&mut resp);
    let extra = std::mem::take(&mut resp.http_headers);
    let body = serde_json::to_vec(&resp).unwrap_or_default();
    let mut out = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    for (k, v) in extra.iter() {
        out.headers_mut().append(k.clone(), v.clone());
    }
    out
}

async fn subscriptions(
    State(app): State<PortalApp>,
    Path(name): Path<String>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    ws: WebSocketUpgrade,
) -> Response {
    let st = app.state.clone();
    let Some(p) = portal_ctx(&st, &name, &headers) else {
        return not_found();
    };
    // a browser's socket carries the session cookie (same origin)
    let cookie_token = cookie(&headers);
    ws.protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(64 * 1024)
        .max_frame_size(64 * 1024)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, app.schema.clone(), protocol)
                .on_connection_init(move |payload: serde_json::Value| async move {
                    let token = payload
                        .get("token")
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                        .or(cookie_token);
                    let session = match token {
                        Some(t) => developers::resolve(&st.db, p.id, &t)
                            .await
                            .ok()
                            .flatten()
                            .map(|(developer, token_id)| DevSession {
                                developer,
                                token_id,
                            }),
                        None => None,
                    };
                    let viewer = viewer_of(&st, session.as_ref())
                        .await
                        .map_err(|e| async_graphql::Error::new(e.to_string()))?;
                    let mut d = async_graphql::Data::default();
                    d.insert(p.clone());
                    d.insert(viewer);
                    if let Some(s) = session {
                        d.insert(s);
                    }
                    Ok(d)
                })
                .serve()
        })
        .into_response()
}
