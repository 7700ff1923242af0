//! The request path: route, join the upstream path, set the forwarding headers,
//! pick a target (retrying connect failures on the next one), stream the request up
//! and the response down, and answer Kong's JSON errors when something fails.
//!
//! Nothing here waits on an actor or a lock held across requests: the config is an
//! `Arc` snapshot taken once per request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use graphql_schema::entity::HashOn;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use crate::compiled::{Compiled, RouteRt, ServiceRt};
use crate::router::{Match, RequestParts, uri};
use crate::upstream::balancer::{Balancer, Outcome, PickError, hash_key};
use crate::upstream::pool::{BoxError, ConnKey, ConnectError, Pool, ProxyBody, Sender};

/// The captures of a regex route's match (named, and numbered from 1).
fn uri_captures(m: Match<'_>, path: &str) -> Vec<(String, String)> {
    let Some(re) = m.regex else { return Vec::new() };
    let Some(c) = re.captures(path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, name) in re.capture_names().enumerate().skip(1) {
        if let Some(v) = c.get(i) {
            out.push((i.to_string(), v.as_str().to_string()));
            if let Some(n) = name {
                out.push((n.to_string(), v.as_str().to_string()));
            }
        }
    }
    out
}

/// Reads a whole body, `None` past `limit` bytes or on an error.
async fn collect_limited(mut body: ProxyBody, limit: usize) -> Option<Bytes> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(d) = frame.ok()?.into_data() {
            if buf.len() + d.len() > limit {
                return None;
            }
            buf.extend_from_slice(&d);
        }
    }
    Some(buf.freeze())
}

/// Largest body a plugin may buffer to rewrite it.
const MAX_REWRITE_BODY: usize = 8 << 20;

pub const SERVER: &str = concat!("portico/", env!("CARGO_PKG_VERSION"));

/// What the listener knows about a client connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    pub local_port: u16,
    pub tls: bool,
    pub sni: Option<String>,
    /// The client IP and the local port as header values, made once per connection.
    pub remote_ip_value: HeaderValue,
    pub local_port_value: HeaderValue,
}

impl ConnInfo {
    pub fn new(remote: SocketAddr, local_port: u16, tls: bool, sni: Option<String>) -> ConnInfo {
        let remote_ip_value = HeaderValue::from_str(&remote.ip().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        ConnInfo {
            remote,
            local_port,
            tls,
            sni,
            remote_ip_value,
            local_port_value: HeaderValue::from(local_port),
        }
    }
}

/// Counters shown on `/status`.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_active: AtomicU64,
}

/// The proxy's shared state.
#[derive(Default)]
pub struct Proxy {
    pub config: ArcSwapOption<Compiled>,
    pub pool: Pool,
    pub stats: Stats,
    /// Native analytics, when on (set once at start).
    pub analytics: std::sync::OnceLock<Arc<crate::analytics::Analytics>>,
}

fn full(b: impl Into<Bytes>) -> ProxyBody {
    Full::new(b.into())
        .map_err(|e: Infallible| -> BoxError { match e {} })
        .boxed()
}

/// Kong's JSON error response.
pub fn error_response(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(header::SERVER, HeaderValue::from_static(SERVER));
    r
}

const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    const { HeaderName::from_static("keep-alive") },
    const { HeaderName::from_static("proxy-connection") },
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::TE,
];

/// Removes hop-by-hop headers (and those the Connection header names). For an
/// upgrade, `Connection: upgrade` and `Upgrade` stay; `TE: trailers` stays (gRPC).
fn strip_hop_by_hop(h: &mut HeaderMap, upgrade: bool) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| !(upgrade && *n == header::UPGRADE))
        .collect();
    for n in named {
        h.remove(n);
    }
    let te_trailers = h
        .get(header::TE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    for n in &HOP_BY_HOP {
        if upgrade && (*n == header::CONNECTION || *n == header::UPGRADE) {
            continue;
        }
        h.remove(n);
    }
    if te_trailers {
        h.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

fn is_upgrade(req: &Request<Incoming>) -> bool {
    req.version() == Version::HTTP_11
        && req.headers().contains_key(header::UPGRADE)
        && req
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// `Via` values for the common case (no incoming Via), made once.
fn via_value(version: &str) -> HeaderValue {
    use std::sync::LazyLock;
    static V11: LazyLock<HeaderValue> = LazyLock::new(|| {
        HeaderValue::from_static(concat!("1.1 portico/", env!("CARGO_PKG_VERSION")))
    });
    static V2: LazyLock<HeaderValue> = LazyLock::new(|| {
        HeaderValue::from_static(concat!("2 portico/", env!("CARGO_PKG_VERSION")))
    });
    match version {
        "2" => V2.clone(),
        "1.1" => V11.clone(),
        other => {
            HeaderValue::from_str(&format!("{other} {SERVER}")).unwrap_or_else(|_| V11.clone())
        }
    }
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// Appends `add` to a list header, joining every value the header already has
/// (several `X-Forwarded-For` lines become one, as nginx joins them).
fn append_header(h: &mut HeaderMap, name: HeaderName, add: &str) {
    let mut v = String::new();
    for old in h.get_all(&name).iter().filter_map(|v| v.to_str().ok()) {
        if !old.trim().is_empty() {
            v.push_str(old.trim());
            v.push_str(", ");
        }
    }
    v.push_str(add);
    if let Ok(v) = HeaderValue::from_str(&v) {
        h.insert(name, v);
    }
}

fn set(h: &mut HeaderMap, name: HeaderName, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(name, v);
    }
}

/// Splits a Host header into a lower-cased name and its port (if given).
fn split_host(h: &str) -> (std::borrow::Cow<'_, str>, Option<u16>) {
    let (name, port) = if let Some(rest) = h.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, after)) => (
                &h[..ip.len() + 2],
                after.strip_prefix(':').and_then(|p| p.parse().ok()),
            ),
            None => (h, None),
        }
    } else {
        match h.rsplit_once(':') {
            Some((n, p)) if !n.contains(':') => (n, p.parse().ok()),
            _ => (h, None),
        }
    };
    let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(name.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    };
    (name, port)
}

impl Proxy {
    /// Handles one request. Never fails: errors become Kong's JSON responses.
    pub async fn handle(
        self: Arc<Self>,
        conn: Arc<ConnInfo>,
        mut req: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, Infallible> {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let Some(cfg) = self.config.load_full() else {
            return Ok(error_response(
                StatusCode::NOT_FOUND,
                "no Route matched with those values",
            ));
        };
        // rewrite phase: global plugins, before routing
        let mut rewrite_headers = Vec::new();
        let mut early = None;
        if cfg.chains.rewrites() {
            let method = req.method().clone();
            let mut ctx = crate::plugin::RewriteCtx {
                conn: &conn,
                method: &method,
                headers: req.headers_mut(),
                response_headers: Vec::new(),
            };
            early = cfg.chains.rewrite(&mut ctx);
            rewrite_headers = ctx.response_headers;
        }
        let mut log = None;
        let mut after = None;
        // analytics: what the record needs of the request, taken before it
        // goes (shared bytes: strings are made only for sampled records)
        let mut meta = self.analytics.get().map(|a| {
            let h = req.headers();
            let raw = crate::analytics::RawRequest {
                request_id: h.get("kong-request-id").cloned(),
                trace: h.get("traceparent").cloned(),
                method: req.method().clone(),
                host: h.get(header::HOST).cloned(),
                uri: req.uri().clone(),
                client_ip: conn.remote.ip(),
                request_bytes: h
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0),
            };
            (a.clone(), crate::analytics::Meta::start(), raw)
        });
        let mut resp = match early {
            Some(r) => r,
            None => {
                self.route_and_proxy(
                    &cfg,
                    &conn,
                    req,
                    &mut log,
                    &mut after,
                    meta.as_mut().map(|m| &mut m.1),
                )
                .await
            }
        };
        for (k, v) in rewrite_headers {
            resp.headers_mut().insert(k, v);
        }
        // the response-header phase sees every answer: upstream's, a plugin's, or
        // the proxy's own errors
        if let Some(a) = &after {
            let status = resp.status();
            a.apply(conn.tls, status, resp.headers_mut());
        }
        let resp = match log {
            None => resp,
            Some(l) => with_log(resp, l),
        };
        Ok(match meta {
            None => resp,
            Some((a, m, raw)) => {
                let status = resp.status().as_u16();
                let (head, body) = resp.into_parts();
                let counted = crate::analytics::CountedBody {
                    inner: body,
                    bytes: 0,
                    pending: Some((a, m, status, raw)),
                };
                Response::from_parts(head, counted.boxed())
            }
        })
    }

    async fn route_and_proxy(
        &self,
        cfg: &Compiled,
        conn: &ConnInfo,
        mut req: Request<Incoming>,
        log: &mut Option<crate::plugin::LogCtx>,
        after_access: &mut Option<crate::plugin::AfterAccess>,
        mut meta: Option<&mut crate::analytics::Meta>,
    ) -> Response<ProxyBody> {
        let start = Instant::now();
        // cheap clones (shared bytes), so the request can be taken apart later
        let host_value: Option<HeaderValue> =
            req.headers().get(header::HOST).cloned().or_else(|| {
                req.uri()
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            });
        let host_header: &str = host_value
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let (host, host_port) = split_host(host_header);
        let req_uri = req.uri().clone();
        let raw_path = req_uri.path();
        let query = req_uri.query();
        let path = uri::normalize(raw_path);
        let parts = RequestParts {
            method: req.method().as_str(),
            host: &host,
            port: host_port.unwrap_or(conn.local_port),
            path: &path,
            headers: req.headers(),
            sni: conn.sni.as_deref(),
            tls: conn.tls,
        };
        let Some(m) = cfg.router.find(&parts) else {
            return error_response(StatusCode::NOT_FOUND, "no Route matched with those values");
        };
        let rt = &cfg.routes[m.route];
        if let Some(a) = meta.as_deref_mut() {
            a.route = Some(rt.route.id);
            a.service = rt.route.service_id;
        }

        // an https-only route reached over plain http
        if !conn.tls && rt.route.protocols.iter().all(|p| p.is_tls()) {
            return https_redirect(rt, &host, req.uri());
        }
        // plugins: access phase (may answer the request itself)
        let mut query_owned: Option<String> = query.map(str::to_string);
        let mut upstream_path: Option<String> = None;
        let mut upstream_method: Option<http::Method> = None;
        let mut max_body: Option<u64> = None;
        let mut taps: Vec<Box<dyn crate::plugin::ResponseTap>> = Vec::new();
        let mut body_rewrite: Option<Arc<dyn crate::plugin::BodyRewrite>> = None;
        let mut response_rewrite: Option<Arc<dyn crate::plugin::BodyRewrite>> = None;
        if cfg.chains.for_route(m.route).is_some() {
            let method = req.method().clone();
            let mut ctx = crate::plugin::Ctx {
                conn,
                route_id: rt.route.id,
                service_id: rt.route.service_id,
                method: &method,
                path: &path,
                query: query_owned.take(),
                headers: req.headers_mut(),
                consumers: &cfg.chains.consumers,
                identity: None,
                application: None,
                response_headers: Vec::new(),
                upstream_path: None,
                upstream_method: None,
                max_body_bytes: None,
                taps: Vec::new(),
                request_body: None,
                response_body: None,
                uri_captures: uri_captures(m, &path),
            };
            let (chain, early) = cfg.chains.access(m.route, &mut ctx).await;
            if let Some(a) = meta.as_deref_mut() {
                a.consumer = ctx
                    .identity
                    .as_ref()
                    .filter(|i| !i.anonymous)
                    .map(|i| i.consumer.id);
                if let Some((app, api)) = ctx.application {
                    a.application = Some(app);
                    a.api = Some(api);
                }
            }
            query_owned = ctx.query.take();
            upstream_path = ctx.upstream_path.take();
            upstream_method = ctx.upstream_method.take();
            max_body = ctx.max_body_bytes;
            taps = std::mem::take(&mut ctx.taps);
            body_rewrite = ctx.request_body.take();
            response_rewrite = ctx.response_body.take();
            if let Some(c) = chain.as_ref().filter(|c| c.logs) {
                *log = Some(log_start(
                    c.clone(),
                    conn,
                    rt,
                    &method,
                    ctx.headers,
                    host_header,
                    raw_path,
                    query,
                    ctx.identity.as_ref(),
                    start,
                ));
            }
            let after = chain.map(|chain| crate::plugin::AfterAccess {
                chain,
                response_headers: ctx.response_headers,
            });
            *after_access = after;
            if let Some(r) = early {
                return r;
            }
        }
        let query = query_owned.as_deref();
        // a plugin rewrites the request body: buffer it (bounded), rewrite, resend
        let mut rewritten: Option<Bytes> = None;
        if let Some(rw) = body_rewrite {
            let ct = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            if ct.starts_with("application/json")
                || ct.starts_with("application/x-www-form-urlencoded")
            {
                let collected = http_body_util::Limited::new(req.body_mut(), MAX_REWRITE_BODY)
                    .collect()
                    .await;
                let Ok(collected) = collected else {
                    return error_response(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "Request size limit exceeded",
                    );
                };
                let original = collected.to_bytes();
                let new = rw.rewrite(&ct, &original).unwrap_or(original);
                req.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(new.len() as u64));
                req.headers_mut().remove(header::TRANSFER_ENCODING);
                rewritten = Some(new);
            }
        }
        let Some(svc) = rt.service.clone() else {
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "no Service found with those values",
            );
        };

        // upstream path and query
        let prefix = rt
            .route
            .strip_path
            .then(|| &path[..m.matched_len.min(path.len())]);
        let joined = match upstream_path {
            Some(p) => p,
            None => uri::upstream_path(svc.service.path.as_deref(), prefix, &path),
        };
        let mut path_and_query = uri::escape(&joined).into_owned();
        if let Some(q) = query {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }

        let hash = hash_value(&svc.balancer, &req, conn, &path, query, m, &rt.route);
        let upgrade = is_upgrade(&req);
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let client_version = req.version();
        let (mut head, body) = req.into_parts();
        if let Some(m) = upstream_method {
            head.method = m;
        }
        let mut headers = std::mem::take(&mut head.headers);
        strip_hop_by_hop(&mut headers, upgrade);
        // the client's `Expect: 100-continue` was answered by our server side
        headers.remove(header::EXPECT);
        forwarded_headers(&mut headers, conn, &host, raw_path, prefix, client_version);
        let original_host = host_value.clone();

        // pick a target and connect, retrying connect failures on the next target
        let mut tried: Vec<usize> = Vec::new();
        let mut attempts = 0u32;
        let (conn_up, target_idx, host_value) = loop {
            let (ti, addr) = match svc.balancer.pick(hash.as_ref().map(|h| h.0), &tried) {
                Ok(x) => x,
                Err(PickError::NoHealthy) if tried.is_empty() => {
                    return error_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "failure to get a peer from the ring-balancer",
                    );
                }
                Err(PickError::NameResolution) if tried.is_empty() => {
                    return error_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "name resolution failed",
                    );
                }
                Err(_) => {
                    // every target was tried: start over (Kong retries the same peer
                    // when it has no other)
                    tried.clear();
                    match svc.balancer.pick(hash.as_ref().map(|h| h.0), &tried) {
                        Ok(x) => x,
                        Err(_) => {
                            return bad_gateway();
                        }
                    }
                }
            };
            let target = &svc.balancer.targets[ti];
            let upstream_host = svc
                .balancer
                .host_header
                .clone()
                .unwrap_or_else(|| target.host.clone());
            let default_port = if svc.service.protocol.is_tls() {
                443
            } else {
                80
            };
            let host_value = if target.port == default_port {
                upstream_host.clone()
            } else {
                format!("{upstream_host}:{}", target.port)
            };
            let key = ConnKey {
                addr,
                tls: svc.tls_target(upstream_host.trim_start_matches('[').trim_end_matches(']')),
                h2: svc.h2,
            };
            match self.pool.get(&key, svc.connect_timeout, upgrade).await {
                Ok(c) => break (c, ti, host_value),
                Err(e) => {
                    let timeout = matches!(e, ConnectError::Timeout(_));
                    svc.balancer.report_passive(
                        ti,
                        if timeout {
                            Outcome::Timeout
                        } else {
                            Outcome::TcpFailure
                        },
                    );
                    tracing::warn!(target = %target.target(), "upstream connect failed: {e}");
                    tried.push(ti);
                    attempts += 1;
                    if attempts > svc.service.retries {
                        return if timeout {
                            error_response(
                                StatusCode::GATEWAY_TIMEOUT,
                                "The upstream server is timing out",
                            )
                        } else {
                            bad_gateway()
                        };
                    }
                }
            }
        };

        // Host header
        if rt.route.preserve_host {
            if let Some(h) = original_host {
                headers.insert(header::HOST, h);
            }
        } else if let Ok(h) = HeaderValue::from_str(&host_value) {
            headers.insert(header::HOST, h);
        }

        let target = &svc.balancer.targets[target_idx];
        target.active.fetch_add(1, Ordering::Relaxed);
        let guard = ActiveGuard {
            balancer: svc.balancer.clone(),
            target: target_idx,
        };

        let uri_str = if svc.h2 {
            let scheme = if svc.tls.is_some() { "https" } else { "http" };
            let authority = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(&host_value)
                .to_string();
            headers.remove(header::HOST);
            format!("{scheme}://{authority}{path_and_query}")
        } else {
            path_and_query
        };
        let Ok(uri) = uri_str.parse::<http::Uri>() else {
            return error_response(StatusCode::BAD_REQUEST, "invalid request path");
        };
        // A request with a body gets the write/read timeout watch; a bodyless one
        // only waits for the response within read_timeout.
        let body_empty = rewritten
            .as_ref()
            .map_or(body.is_end_stream(), |b| b.is_empty());
        let watch = (!body_empty && rewritten.is_none()).then(|| Arc::new(BodyWatch::new()));
        let up_body = match (&watch, rewritten) {
            (_, Some(b)) => full(b),
            (watch, None) => match watch {
                Some(w) => RequestBody {
                    inner: body,
                    watch: w.clone(),
                }
                .boxed(),
                None => body.map_err(|e| -> BoxError { Box::new(e) }).boxed(),
            },
        };
        let too_large = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let up_body = match max_body {
            Some(limit) if !body_empty => LimitedBody {
                inner: up_body,
                left: limit,
                flag: too_large.clone(),
            }
            .boxed(),
            _ => up_body,
        };
        let mut up_req = Request::new(up_body);
        *up_req.method_mut() = head.method;
        *up_req.uri_mut() = uri;
        *up_req.version_mut() = if svc.h2 {
            Version::HTTP_2
        } else {
            Version::HTTP_11
        };
        *up_req.headers_mut() = headers;

        let proxy_latency = start.elapsed();
        let sent_at = Instant::now();
        // A kept-alive connection the upstream closed meanwhile fails before any
        // response: a bodyless idempotent request is then sent again on a fresh
        // connection, as nginx does.
        let replay = (conn_up.reused && body_empty && is_idempotent(up_req.method()))
            .then(|| clone_head(&up_req));
        let mut key = conn_up.key.clone();
        let mut outcome = self
            .send(conn_up.sender, up_req, &svc, watch.as_deref())
            .await;
        if let (Err(SendError::Failed(e)), Some(again)) = (&outcome, replay)
            && (e.is_incomplete_message() || e.is_canceled() || e.is_closed())
        {
            tracing::debug!(target = %target.target(), "kept-alive connection was closed upstream; retrying on a new one: {e}");
            match self.pool.get(&key, svc.connect_timeout, false).await {
                Ok(fresh) => {
                    key = fresh.key.clone();
                    outcome = self.send(fresh.sender, again, &svc, None).await;
                }
                Err(ce) => outcome = Err(SendError::Connect(ce)),
            }
        }
        let (resp, h1_sender) = match outcome {
            Ok(x) => x,
            Err(SendError::Timeout) => {
                svc.balancer.report_passive(target_idx, Outcome::Timeout);
                return error_response(
                    StatusCode::GATEWAY_TIMEOUT,
                    "The upstream server is timing out",
                );
            }
            Err(_) if too_large.load(Ordering::Relaxed) => {
                return error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    crate::plugins::request_size_limiting::TOO_LARGE,
                );
            }
            Err(_)
                if watch
                    .as_ref()
                    .is_some_and(|w| w.client_error.load(Ordering::Relaxed)) =>
            {
                return error_response(StatusCode::BAD_REQUEST, "Bad request");
            }
            Err(e) => {
                svc.balancer.report_passive(target_idx, Outcome::TcpFailure);
                tracing::warn!(target = %target.target(), "upstream request failed: {e}");
                return bad_gateway();
            }
        };
        let upstream_latency = sent_at.elapsed();
        if let Some(a) = meta {
            a.upstream_us = Some(upstream_latency.as_micros() as u64);
            a.upstream_status = Some(resp.status().as_u16());
            a.source = graphql_schema::analytics::Source::Upstream;
        }
        svc.balancer
            .report_passive(target_idx, Outcome::Status(resp.status().as_u16()));

        let (mut rhead, rbody) = resp.into_parts();
        // the client gets its own protocol version, whatever the upstream spoke
        rhead.version = client_version;
        let switching = rhead.status == StatusCode::SWITCHING_PROTOCOLS;
        strip_hop_by_hop(&mut rhead.headers, switching);
        let h = &mut rhead.headers;
        let via_version = if svc.h2 { "2" } else { "1.1" };
        if h.contains_key(header::VIA) {
            append_header(h, header::VIA, &format!("{via_version} {SERVER}"));
        } else {
            h.insert(header::VIA, via_value(via_version));
        }
        if !h.contains_key(header::SERVER) {
            h.insert(header::SERVER, HeaderValue::from_static(SERVER));
        }
        h.insert(
            const { HeaderName::from_static("x-kong-upstream-latency") },
            HeaderValue::from(upstream_latency.as_millis() as u64),
        );
        h.insert(
            const { HeaderName::from_static("x-kong-proxy-latency") },
            HeaderValue::from(proxy_latency.as_millis() as u64),
        );
        if let Some((_, Some(cookie))) = &hash
            && let Ok(v) = HeaderValue::from_str(cookie)
        {
            h.append(header::SET_COOKIE, v);
        }

        if switching && let Some(client_up) = client_upgrade {
            let mut tmp = Response::from_parts(rhead, rbody);
            let upstream_up = hyper::upgrade::on(&mut tmp);
            let (rhead, _) = tmp.into_parts();
            tokio::spawn(async move {
                let _guard = guard;
                match tokio::try_join!(client_up, upstream_up) {
                    Ok((c, u)) => {
                        let mut c = hyper_util::rt::TokioIo::new(c);
                        let mut u = hyper_util::rt::TokioIo::new(u);
                        let _ = tokio::io::copy_bidirectional(&mut c, &mut u).await;
                    }
                    Err(e) => tracing::debug!("upgrade failed: {e}"),
                }
            });
            return Response::from_parts(rhead, full(Bytes::new()));
        }

        let body = UpstreamBody {
            inner: rbody,
            timeout: svc.read_timeout,
            idle: None,
            ended: false,
            finish: Some(Finish {
                pool: self.pool,
                key,
                sender: h1_sender,
                _guard: guard,
            }),
        };
        // a plugin rewrites JSON response bodies: buffer (bounded), rewrite, resend
        let mut body: ProxyBody = body.boxed();
        if let Some(rw) = response_rewrite {
            let ct = rhead
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            if ct.starts_with("application/json")
                && !rhead.headers.contains_key(header::CONTENT_ENCODING)
            {
                let Some(original) = collect_limited(body, MAX_REWRITE_BODY).await else {
                    return bad_gateway();
                };
                let new = rw.rewrite(&ct, &original).unwrap_or(original);
                rhead
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(new.len() as u64));
                body = full(new);
            }
        }
        let taps: Vec<_> = taps
            .into_iter()
            .filter_map(|mut t| t.head(rhead.status, &rhead.headers).then_some(t))
            .collect();
        if taps.is_empty() {
            Response::from_parts(rhead, body)
        } else {
            Response::from_parts(rhead, TapBody { inner: body, taps }.boxed())
        }
    }
}

impl Drop for TapBody {
    fn drop(&mut self) {
        // hyper may drop a body it knows is complete without polling its end
        if self.inner.is_end_stream() {
            for t in self.taps.drain(..) {
                t.end();
            }
        }
    }
}

/// A response body shown to [`crate::plugin::ResponseTap`]s as it streams.
struct TapBody {
    inner: ProxyBody,
    taps: Vec<Box<dyn crate::plugin::ResponseTap>>,
}

impl Body for TapBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        match &r {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    for t in &mut this.taps {
                        t.chunk(d);
                    }
                }
            }
            Poll::Ready(None) => {
                for t in this.taps.drain(..) {
                    t.end();
                }
            }
            Poll::Ready(Some(Err(_))) => this.taps.clear(),
            Poll::Pending => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Connect(ConnectError),
    #[error("{0}")]
    Failed(hyper::Error),
}

/// Kong's 502 for an upstream that could not be reached or answered badly.
fn bad_gateway() -> Response<ProxyBody> {
    error_response(
        StatusCode::BAD_GATEWAY,
        "An invalid response was received from the upstream server",
    )
}

type H1Sender = hyper::client::conn::http1::SendRequest<ProxyBody>;
type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<Incoming>, hyper::Error>> + Send>>;

impl Proxy {
    /// Sends a request and waits for the response head: within `write_timeout` of
    /// each request-body chunk the upstream must take it, and within `read_timeout`
    /// of the body's end (or of sending, without a body) the response must start.
    async fn send(
        &self,
        sender: Sender,
        req: Request<ProxyBody>,
        svc: &ServiceRt,
        watch: Option<&BodyWatch>,
    ) -> Result<(Response<Incoming>, Option<H1Sender>), SendError> {
        let (fut, h1): (ResponseFuture, Option<H1Sender>) = match sender {
            Sender::H1(mut s) => {
                let f = s.send_request(req);
                (Box::pin(f), Some(s))
            }
            Sender::H2(mut s) => (Box::pin(s.send_request(req)), None),
        };
        let result = match watch {
            None => tokio::time::timeout(svc.read_timeout, fut)
                .await
                .map_err(|_| SendError::Timeout)?,
            Some(w) => tokio::select! {
                r = fut => r,
                () = w.expired(svc.read_timeout, svc.write_timeout) => return Err(SendError::Timeout),
            },
        };
        result.map(|r| (r, h1)).map_err(SendError::Failed)
    }
}

fn is_idempotent(m: &http::Method) -> bool {
    matches!(
        *m,
        http::Method::GET
            | http::Method::HEAD
            | http::Method::OPTIONS
            | http::Method::PUT
            | http::Method::DELETE
            | http::Method::TRACE
    )
}

/// A bodyless copy of a request's head, for a replay.
fn clone_head(r: &Request<ProxyBody>) -> Request<ProxyBody> {
    let mut c = Request::new(full(Bytes::new()));
    *c.method_mut() = r.method().clone();
    *c.uri_mut() = r.uri().clone();
    *c.version_mut() = r.version();
    *c.headers_mut() = r.headers().clone();
    c
}

/// Where a streamed request body is: waiting for the client, handed to the
/// upstream connection (which must take it within `write_timeout`), or finished
/// (the response must then start within `read_timeout`).
struct BodyWatch {
    base: Instant,
    /// 0 waiting for the client, 1 waiting for the upstream to take a chunk, 2 done.
    phase: std::sync::atomic::AtomicU8,
    since_ms: AtomicU64,
    /// The client's body failed (e.g. malformed chunked encoding): the request
    /// is the client's fault, answered 400, not the upstream's.
    client_error: std::sync::atomic::AtomicBool,
}

const WAIT_CLIENT: u8 = 0;
const WAIT_UPSTREAM: u8 = 1;
const BODY_DONE: u8 = 2;

impl BodyWatch {
    fn new() -> Self {
        BodyWatch {
            base: Instant::now(),
            phase: std::sync::atomic::AtomicU8::new(WAIT_CLIENT),
            since_ms: AtomicU64::new(0),
            client_error: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn set(&self, phase: u8) {
        self.since_ms
            .store(self.base.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
    }

    /// Resolves when the upstream has let a deadline pass.
    async fn expired(&self, read: Duration, write: Duration) {
        loop {
            let phase = self.phase.load(Ordering::Acquire);
            let since = Duration::from_millis(self.since_ms.load(Ordering::Relaxed));
            let now = self.base.elapsed();
            let deadline = match phase {
                WAIT_UPSTREAM => Some(since + write),
                BODY_DONE => Some(since + read),
                _ => None,
            };
            match deadline {
                Some(d) if now >= d => return,
                Some(d) => tokio::time::sleep((d - now).min(Duration::from_millis(250))).await,
                None => tokio::time::sleep(Duration::from_millis(250).min(write)).await,
            }
        }
    }
}

/// A request body cut off (with an error, so the upstream request fails) once it
/// passes `left` bytes; `flag` tells the proxy to answer 413.
struct LimitedBody {
    inner: ProxyBody,
    left: u64,
    flag: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("request body larger than the limit")]
struct BodyTooLarge;

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &r
            && let Some(d) = f.data_ref()
        {
            if d.len() as u64 > this.left {
                this.flag.store(true, Ordering::Relaxed);
                return Poll::Ready(Some(Err(Box::new(BodyTooLarge))));
            }
            this.left -= d.len() as u64;
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The client's request body on its way up, reporting progress to a [`BodyWatch`].
struct RequestBody {
    inner: Incoming,
    watch: Arc<BodyWatch>,
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => {
                this.watch.set(if this.inner.is_end_stream() {
                    BODY_DONE
                } else {
                    WAIT_UPSTREAM
                });
                Poll::Ready(Some(Ok(f)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.watch.client_error.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(None) => {
                this.watch.set(BODY_DONE);
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.watch.phase.load(Ordering::Relaxed) != WAIT_CLIENT {
                    this.watch.set(WAIT_CLIENT);
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The first half of Kong's log entry: the request, route, service, consumer.
#[allow(clippy::too_many_arguments)]
fn log_start(
    chain: Arc<crate::plugin::Chain>,
    conn: &ConnInfo,
    rt: &RouteRt,
    method: &http::Method,
    headers: &HeaderMap,
    host: &str,
    raw_path: &str,
    query: Option<&str>,
    identity: Option<&crate::plugin::Identity>,
    start: Instant,
) -> crate::plugin::LogCtx {
    let uri = match query {
        Some(q) => format!("{raw_path}?{q}"),
        None => raw_path.to_string(),
    };
    let scheme = if conn.tls { "https" } else { "http" };
    let size = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let mut e = serde_json::Map::new();
    e.insert(
        "request".into(),
        serde_json::json!({
            "method": method.as_str(),
            "uri": uri,
            "url": format!("{scheme}://{host}{uri}"),
            "size": size,
            "headers": crate::plugin::headers_json(headers),
        }),
    );
    e.insert(
        "route".into(),
        serde_json::json!({ "id": rt.route.id, "name": rt.route.name, "paths": rt.route.paths }),
    );
    if let Some(s) = &rt.service {
        e.insert(
            "service".into(),
            serde_json::json!({ "id": s.service.id, "name": s.service.name, "host": s.service.host, "port": s.service.port, "protocol": s.service.protocol.as_str(), "path": s.service.path }),
        );
    }
    if let Some(i) = identity {
        e.insert("consumer".into(), serde_json::json!({ "id": i.consumer.id, "username": i.consumer.username, "custom_id": i.consumer.custom_id }));
    }
    e.insert("client_ip".into(), conn.remote.ip().to_string().into());
    let started_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
        .saturating_sub(start.elapsed().as_millis() as u64);
    e.insert("started_at".into(), started_at.into());
    crate::plugin::LogCtx {
        chain,
        tls: conn.tls,
        entry: e,
        started: start,
    }
}

/// Wraps a response so that the log phase runs once its body has been sent.
fn with_log(resp: Response<ProxyBody>, log: crate::plugin::LogCtx) -> Response<ProxyBody> {
    let (head, body) = resp.into_parts();
    let upstream_ms = head
        .headers
        .get("x-kong-upstream-latency")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let logged = LoggedBody {
        inner: body,
        bytes: 0,
        pending: Some((
            log,
            head.status.as_u16(),
            crate::plugin::headers_json(&head.headers),
            upstream_ms,
        )),
    };
    Response::from_parts(head, logged.boxed())
}

/// A response body that counts what it sends and runs the log phase when done.
struct LoggedBody {
    inner: ProxyBody,
    bytes: u64,
    pending: Option<(crate::plugin::LogCtx, u16, serde_json::Value, Option<u64>)>,
}

impl Body for LoggedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &r
            && let Some(d) = f.data_ref()
        {
            this.bytes += d.len() as u64;
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        if let Some((log, status, headers, upstream_ms)) = self.pending.take() {
            log.finish(status, headers, self.bytes, upstream_ms);
        }
    }
}

/// Kong's answer to a plain request on an https-only route: 426, or a redirect to
/// `https://` + the host (without the plain port) + the request URI.
fn https_redirect(rt: &RouteRt, host: &str, uri: &http::Uri) -> Response<ProxyBody> {
    let code = rt.route.https_redirect_status_code;
    if code == 426 {
        let mut r = error_response(StatusCode::UPGRADE_REQUIRED, "Please use HTTPS protocol");
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        r.headers_mut().insert(
            header::UPGRADE,
            HeaderValue::from_static("TLS/1.2, HTTP/1.1"),
        );
        return r;
    }
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::MOVED_PERMANENTLY);
    if let Ok(v) = HeaderValue::from_str(&format!("https://{host}{pq}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::SERVER, HeaderValue::from_static(SERVER));
    r
}

/// `X-Forwarded-*`, `X-Real-IP` and `Via`, as Kong sets them for a client that is
/// not a trusted proxy: the client's values are replaced, except X-Forwarded-For
/// which is appended to.
fn forwarded_headers(
    h: &mut HeaderMap,
    conn: &ConnInfo,
    host: &str,
    raw_path: &str,
    prefix: Option<&str>,
    v: Version,
) {
    let xff = const { HeaderName::from_static("x-forwarded-for") };
    if h.contains_key(&xff) {
        append_header(h, xff, conn.remote_ip_value.to_str().unwrap_or(""));
    } else {
        h.insert(xff, conn.remote_ip_value.clone());
    }
    h.insert(
        const { HeaderName::from_static("x-forwarded-proto") },
        HeaderValue::from_static(if conn.tls { "https" } else { "http" }),
    );
    set(
        h,
        const { HeaderName::from_static("x-forwarded-host") },
        host,
    );
    h.insert(
        const { HeaderName::from_static("x-forwarded-port") },
        conn.local_port_value.clone(),
    );
    set(
        h,
        const { HeaderName::from_static("x-forwarded-path") },
        raw_path,
    );
    match prefix {
        Some(p) if p != "/" => set(
            h,
            const { HeaderName::from_static("x-forwarded-prefix") },
            p,
        ),
        _ => {
            h.remove("x-forwarded-prefix");
        }
    }
    h.insert(
        const { HeaderName::from_static("x-real-ip") },
        conn.remote_ip_value.clone(),
    );
    if h.contains_key(header::VIA) {
        append_header(h, header::VIA, &format!("{} {SERVER}", version_str(v)));
    } else {
        h.insert(header::VIA, via_value(version_str(v)));
    }
}

/// The consistent-hashing key for a request (and a Set-Cookie to send when the
/// hash cookie had to be created).
fn hash_value(
    b: &Balancer,
    req: &Request<Incoming>,
    conn: &ConnInfo,
    path: &str,
    query: Option<&str>,
    m: Match<'_>,
    _route: &graphql_schema::entity::Route,
) -> Option<(u64, Option<String>)> {
    if b.algorithm != graphql_schema::entity::Algorithm::ConsistentHashing {
        return None;
    }
    let (on, fallback) = b.hash_config();
    for h in [on, fallback] {
        let v: Option<(String, Option<String>)> = match h {
            HashOn::None | HashOn::Consumer => None,
            HashOn::Ip => Some((conn.remote.ip().to_string(), None)),
            HashOn::Path => Some((path.to_string(), None)),
            HashOn::Header(name) => req
                .headers()
                .get_all(name.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .next()
                .map(|v| (v.to_string(), None)),
            HashOn::QueryArg(name) => query.and_then(|q| {
                q.split('&').find_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k == name).then(|| (v.to_string(), None))
                })
            }),
            HashOn::UriCapture(name) => m
                .regex
                .and_then(|re| re.captures(path))
                .and_then(|c| c.name(name).map(|x| (x.as_str().to_string(), None))),
            HashOn::Cookie { name, path: cpath } => {
                let found = req
                    .headers()
                    .get_all(header::COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(';'))
                    .find_map(|kv| {
                        kv.trim()
                            .split_once('=')
                            .filter(|(k, _)| k == name)
                            .map(|(_, v)| v.to_string())
                    });
                Some(match found {
                    Some(v) => (v, None),
                    None => {
                        let v = uuid::Uuid::new_v4().to_string();
                        let cookie = format!("{name}={v}; Path={cpath}; SameSite=Lax; HttpOnly");
                        (v, Some(cookie))
                    }
                })
            }
        };
        if let Some((v, cookie)) = v {
            return Some((hash_key(v.as_bytes()), cookie));
        }
    }
    None
}

/// Decrements the target's in-flight count when the exchange is over.
struct ActiveGuard {
    balancer: Arc<Balancer>,
    target: usize,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if let Some(t) = self.balancer.targets.get(self.target) {
            t.active.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

struct Finish {
    pool: Pool,
    key: ConnKey,
    sender: Option<hyper::client::conn::http1::SendRequest<ProxyBody>>,
    _guard: ActiveGuard,
}

/// The upstream response body on its way to the client: applies the service's read
/// timeout between chunks and returns the HTTP/1 connection to the pool once the
/// body has been read to its end.
struct UpstreamBody {
    inner: Incoming,
    timeout: Duration,
    idle: Option<Pin<Box<tokio::time::Sleep>>>,
    ended: bool,
    finish: Option<Finish>,
}

#[derive(Debug, thiserror::Error)]
#[error("upstream read timed out")]
struct ReadTimeout;

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => {
                this.idle = None;
                Poll::Ready(Some(Ok(f)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish.take();
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(None) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let sleep = this
                    .idle
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.finish.take();
                        Poll::Ready(Some(Err(Box::new(ReadTimeout))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        if let Some(f) = self.finish.take()
            && (self.ended || self.inner.is_end_stream())
            && let Some(s) = f.sender
        {
            f.pool.put_back(f.key, s);
        }
    }
}

use std::future::Future;
