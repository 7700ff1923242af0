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

use crate::compiled::{Compiled, RouteRt};
use crate::router::{Match, RequestParts, uri};
use crate::upstream::balancer::{Balancer, Outcome, PickError, hash_key};
use crate::upstream::pool::{BoxError, ConnKey, ConnectError, Pool, ProxyBody, Sender};

pub const SERVER: &str = concat!("portico/", env!("CARGO_PKG_VERSION"));

/// What the listener knows about a client connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    pub local_port: u16,
    pub tls: bool,
    pub sni: Option<String>,
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
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
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

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

fn append_header(h: &mut HeaderMap, name: HeaderName, add: &str) {
    let v = match h.get(&name).and_then(|v| v.to_str().ok()) {
        Some(old) if !old.is_empty() => format!("{old}, {add}"),
        _ => add.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&v) {
        h.insert(name, v);
    }
}

fn set(h: &mut HeaderMap, name: &'static str, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(HeaderName::from_static(name), v);
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
        req: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, Infallible> {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let Some(cfg) = self.config.load_full() else {
            return Ok(error_response(
                StatusCode::NOT_FOUND,
                "no Route matched with those values",
            ));
        };
        Ok(self.route_and_proxy(&cfg, &conn, req).await)
    }

    async fn route_and_proxy(
        &self,
        cfg: &Compiled,
        conn: &ConnInfo,
        mut req: Request<Incoming>,
    ) -> Response<ProxyBody> {
        let start = Instant::now();
        let host_header: String = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri().authority().map(|a| a.as_str().to_string()))
            .unwrap_or_default();
        let (host, host_port) = split_host(&host_header);
        let raw_path = req.uri().path().to_string();
        let query = req.uri().query().map(str::to_string);
        let path = uri::normalize(&raw_path);
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

        // an https-only route reached over plain http
        if !conn.tls && rt.route.protocols.iter().all(|p| p.is_tls()) {
            return https_redirect(rt, &host_header, req.uri());
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
        let joined = uri::upstream_path(svc.service.path.as_deref(), prefix, &path);
        let mut path_and_query = uri::escape(&joined).into_owned();
        if let Some(q) = &query {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }

        let hash = hash_value(
            &svc.balancer,
            &req,
            conn,
            &path,
            query.as_deref(),
            m,
            &rt.route,
        );
        let upgrade = is_upgrade(&req);
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let client_version = req.version();
        let (mut head, body) = req.into_parts();
        let mut headers = std::mem::take(&mut head.headers);
        strip_hop_by_hop(&mut headers, upgrade);
        forwarded_headers(&mut headers, conn, &host, &raw_path, prefix, client_version);
        let original_host = HeaderValue::from_str(&host_header).ok();

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
                            return error_response(
                                StatusCode::BAD_GATEWAY,
                                "An invalid response was received from the upstream server",
                            );
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
                            error_response(
                                StatusCode::BAD_GATEWAY,
                                "An invalid response was received from the upstream server",
                            )
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
        let mut up_req = Request::new(body.map_err(|e| -> BoxError { Box::new(e) }).boxed());
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
        let key = conn_up.key.clone();
        let (result, h1_sender) = match conn_up.sender {
            Sender::H1(mut s) => {
                let r = tokio::time::timeout(svc.read_timeout, s.send_request(up_req)).await;
                (r, Some(s))
            }
            Sender::H2(mut s) => (
                tokio::time::timeout(svc.read_timeout, s.send_request(up_req)).await,
                None,
            ),
        };
        let resp = match result {
            Err(_) => {
                svc.balancer.report_passive(target_idx, Outcome::Timeout);
                return error_response(
                    StatusCode::GATEWAY_TIMEOUT,
                    "The upstream server is timing out",
                );
            }
            Ok(Err(e)) => {
                svc.balancer.report_passive(target_idx, Outcome::TcpFailure);
                tracing::warn!(target = %target.target(), "upstream request failed: {e}");
                return error_response(
                    StatusCode::BAD_GATEWAY,
                    "An invalid response was received from the upstream server",
                );
            }
            Ok(Ok(r)) => r,
        };
        let upstream_latency = sent_at.elapsed();
        svc.balancer
            .report_passive(target_idx, Outcome::Status(resp.status().as_u16()));

        let (mut rhead, rbody) = resp.into_parts();
        // the client gets its own protocol version, whatever the upstream spoke
        rhead.version = client_version;
        let switching = rhead.status == StatusCode::SWITCHING_PROTOCOLS;
        strip_hop_by_hop(&mut rhead.headers, switching);
        let h = &mut rhead.headers;
        let via = format!("{} {SERVER}", if svc.h2 { "2" } else { "1.1" });
        append_header(h, header::VIA, &via);
        if !h.contains_key(header::SERVER) {
            h.insert(header::SERVER, HeaderValue::from_static(SERVER));
        }
        set(
            h,
            "x-kong-upstream-latency",
            &upstream_latency.as_millis().to_string(),
        );
        set(
            h,
            "x-kong-proxy-latency",
            &proxy_latency.as_millis().to_string(),
        );
        if let Some((_, Some(cookie))) = &hash {
            if let Ok(v) = HeaderValue::from_str(cookie) {
                h.append(header::SET_COOKIE, v);
            }
        }

        if switching {
            if let Some(client_up) = client_upgrade {
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
        }

        let body = UpstreamBody {
            inner: rbody,
            timeout: svc.read_timeout,
            idle: None,
            ended: false,
            finish: Some(Finish {
                pool: self.pool.clone(),
                key,
                sender: h1_sender,
                _guard: guard,
            }),
        };
        Response::from_parts(rhead, body.boxed())
    }
}

fn https_redirect(rt: &RouteRt, host_header: &str, uri: &http::Uri) -> Response<ProxyBody> {
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
    if let Ok(v) = HeaderValue::from_str(&format!("https://{host_header}{pq}")) {
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
    let ip = conn.remote.ip().to_string();
    append_header(h, HeaderName::from_static("x-forwarded-for"), &ip);
    set(
        h,
        "x-forwarded-proto",
        if conn.tls { "https" } else { "http" },
    );
    set(h, "x-forwarded-host", host);
    set(h, "x-forwarded-port", &conn.local_port.to_string());
    set(h, "x-forwarded-path", raw_path);
    match prefix {
        Some(p) if p != "/" => set(h, "x-forwarded-prefix", p),
        _ => {
            h.remove("x-forwarded-prefix");
        }
    }
    set(h, "x-real-ip", &ip);
    append_header(h, header::VIA, &format!("{} {SERVER}", version_str(v)));
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
        if let Some(f) = self.finish.take() {
            if self.ended || self.inner.is_end_stream() {
                if let Some(s) = f.sender {
                    f.pool.put_back(f.key, s);
                }
            }
        }
    }
}

use std::future::Future;
