//! CORS for the admin API: web apps on the origins `--cors-allowed-origins`
//! names may call `/graphql` with a bearer token; no origin by default.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The origins whose web pages may call the API (CORS), as given by
/// `--cors-allowed-origins`: none by default; `*` for any.
#[derive(Clone, Debug, Default)]
pub struct CorsOrigins(Vec<String>);

impl CorsOrigins {
    /// Checks each origin (`scheme://host[:port]`, or `*`).
    pub fn parse(origins: &[String]) -> anyhow::Result<CorsOrigins> {
        let mut out = Vec::new();
        for o in origins.iter().flat_map(|o| o.split(',')).map(str::trim) {
            if o.is_empty() {
                continue;
            }
            let o = o.trim_end_matches('/').to_ascii_lowercase();
            let valid = o == "*"
                || o.parse::<axum::http::Uri>().is_ok_and(|u| {
                    matches!(u.scheme_str(), Some("http" | "https"))
                        && u.host().is_some()
                        && u.path_and_query()
                            .is_none_or(|p| p.as_str() == "/" || p.as_str().is_empty())
                });
            if !valid {
                anyhow::bail!(
                    "--cors-allowed-origins: {o:?} is not an origin (scheme://host[:port], or *)"
                );
            }
            out.push(o);
        }
        Ok(CorsOrigins(out))
    }

    fn allows(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        self.0.iter().any(|o| o == "*" || *o == origin)
    }
}

/// CORS for the API: a preflight from an allowed origin is answered (bearer
/// tokens in `Authorization`, never cookies: no `Allow-Credentials`), other
/// origins get no CORS headers (and a 403 preflight), so browsers keep them out.
pub async fn cors(
    State(origins): State<Arc<CorsOrigins>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(origin) = origin else {
        return next.run(req).await;
    };
    let allowed = origins.allows(&origin);
    let preflight = req.method() == axum::http::Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = if preflight {
        if !allowed {
            return (StatusCode::FORBIDDEN, [(header::VARY, "Origin")]).into_response();
        }
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            axum::http::HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            axum::http::HeaderValue::from_static("authorization, content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            axum::http::HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.append(header::VARY, axum::http::HeaderValue::from_static("Origin"));
    if allowed && let Ok(v) = axum::http::HeaderValue::from_str(&origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    resp
}
