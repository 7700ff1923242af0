//! The plugin handlers, one module per plugin (its config type lives in
//! `graphql_schema::plugin_config`).

pub mod acl;
pub mod basic_auth;
pub mod bot_detection;
pub mod correlation_id;
pub mod cors;
pub mod counters;
pub mod ip_restriction;
pub mod jwt;
pub mod key_auth;
pub mod logging;
pub mod portal_auth;
pub mod prometheus;
pub mod proxy_cache;
pub mod rate_limiting;
pub mod rate_limiting_advanced;
pub mod request_size_limiting;
pub mod request_termination;
pub mod transformer;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};

use crate::upstream::pool::{BoxError, ProxyBody};

/// A plugin's own response: `body` with a content type, `Server` set.
pub fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<ProxyBody> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|e: std::convert::Infallible| -> BoxError { match e {} })
            .boxed(),
    );
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r.headers_mut().insert(
        header::SERVER,
        HeaderValue::from_static(crate::proxy::SERVER),
    );
    r
}

/// Kong's `{"message": ...}` answer.
pub fn message(status: StatusCode, msg: &str) -> Response<ProxyBody> {
    respond(
        status,
        "application/json; charset=utf-8",
        serde_json::json!({ "message": msg }).to_string(),
    )
}
