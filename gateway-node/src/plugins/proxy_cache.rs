//! `proxy-cache` (priority 100), `strategy: memory`: answers repeated requests from
//! the node's memory. The key covers the plugin instance, consumer, method, path,
//! query (or only `vary_query_params`) and `vary_headers`. A miss streams the
//! upstream response to the client and stores it at the end when its status,
//! method and content type are cacheable. `X-Cache-Status` (Miss, Hit, Bypass),
//! `X-Cache-Key` and `Age` as Kong sends them, and the standard `Cache-Status`
//! (RFC 9211: `portico; hit; ttl=…`, `portico; fwd=miss; stored`, `portico;
//! fwd=bypass`).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use graphql_schema::plugin_config::proxy_cache::ProxyCacheConfig;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full};
use uuid::Uuid;

use crate::plugin::{Ctx, Flow, Plugin, ResponseTap};
use crate::upstream::pool::BoxError;

struct Cached {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    stored: Instant,
    ttl: Duration,
}

const MAX_ENTRIES: usize = 10_000;
/// Bodies larger than this are passed through without being stored.
const MAX_BODY: usize = 4 << 20;

static CACHE: LazyLock<Mutex<HashMap<String, Arc<Cached>>>> = LazyLock::new(Default::default);

fn store(key: String, c: Cached) {
    let Ok(mut g) = CACHE.lock() else { return };
    if g.len() >= MAX_ENTRIES {
        g.retain(|_, v| v.stored.elapsed() < v.ttl);
        if g.len() >= MAX_ENTRIES {
            return;
        }
    }
    g.insert(key, Arc::new(c));
}

pub struct ProxyCache {
    plugin: Uuid,
    cfg: ProxyCacheConfig,
    ttl: Duration,
    content_types: Vec<String>,
    vary_headers: Vec<String>,
}

impl ProxyCache {
    pub fn new(plugin: Uuid, cfg: ProxyCacheConfig) -> ProxyCache {
        let ttl = Duration::from_secs_f64(cfg.cache_ttl.max(0.001));
        let content_types = cfg
            .content_type
            .iter()
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let mut vary_headers: Vec<String> = cfg
            .vary_headers
            .iter()
            .flatten()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        vary_headers.sort();
        ProxyCache {
            plugin,
            cfg,
            ttl,
            content_types,
            vary_headers,
        }
    }

    fn show(&self, name: &str) -> bool {
        self.cfg.response_headers.get(name).copied().unwrap_or(true)
    }

    fn key(&self, ctx: &Ctx<'_>) -> String {
        let path = if self.cfg.ignore_uri_case {
            ctx.path.to_ascii_lowercase()
        } else {
            ctx.path.to_string()
        };
        let mut args: Vec<&str> = ctx
            .query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|a| !a.is_empty())
            .collect();
        if let Some(only) = &self.cfg.vary_query_params {
            args.retain(|a| only.iter().any(|o| a.split('=').next() == Some(o.as_str())));
        }
        args.sort_unstable();
        let mut material = format!(
            "{}|{}|{}|{}|{}",
            self.plugin,
            ctx.identity
                .as_ref()
                .map(|i| i.consumer.id.to_string())
                .unwrap_or_default(),
            ctx.method,
            path,
            args.join("&")
        );
        for h in &self.vary_headers {
            material.push('|');
            material.push_str(h);
            material.push('=');
            for v in ctx.headers.get_all(h.as_str()) {
                material.push_str(&String::from_utf8_lossy(v.as_bytes()));
            }
        }
        graphql_schema::entity::consumer::digest(&material)
    }
}

/// Whether a response's content type (parameters ignored) is one to cache.
fn cacheable_type(types: &[String], headers: &HeaderMap) -> bool {
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let main = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    types.iter().any(|c| {
        c == "*/*" || *c == main || c.split(';').next().map(str::trim) == Some(main.as_str())
    })
}

fn no_cache(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',').any(|d| {
                matches!(
                    d.trim().to_ascii_lowercase().as_str(),
                    "no-store" | "no-cache" | "private"
                )
            })
        })
}

impl Plugin for ProxyCache {
    fn name(&self) -> &'static str {
        "proxy-cache"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        let status_h = const { HeaderName::from_static("x-cache-status") };
        let bypass = !self
            .cfg
            .request_method
            .iter()
            .any(|m| m == ctx.method.as_str())
            || (self.cfg.cache_control && no_cache(ctx.headers));
        let cache_status = const { HeaderName::from_static("cache-status") };
        if bypass {
            if self.show("X-Cache-Status") {
                ctx.response_headers
                    .push((status_h, HeaderValue::from_static("Bypass")));
                ctx.response_headers.push((
                    cache_status,
                    HeaderValue::from_static("portico; fwd=bypass"),
                ));
            }
            return Flow::Continue;
        }
        let key = self.key(ctx);
        let hit = CACHE
            .lock()
            .ok()
            .and_then(|g| g.get(&key).cloned())
            .filter(|c| c.stored.elapsed() < c.ttl);
        if let Some(c) = hit {
            let mut r = http::Response::new(
                Full::new(c.body.clone())
                    .map_err(|e: std::convert::Infallible| -> BoxError { match e {} })
                    .boxed(),
            );
            *r.status_mut() = c.status;
            *r.headers_mut() = c.headers.clone();
            let h = r.headers_mut();
            if self.show("X-Cache-Status") {
                h.insert(status_h, HeaderValue::from_static("Hit"));
                let left = c.ttl.saturating_sub(c.stored.elapsed()).as_secs();
                if let Ok(v) = HeaderValue::from_str(&format!("portico; hit; ttl={left}")) {
                    h.insert(cache_status, v);
                }
            }
            if self.show("age") {
                h.insert(
                    http::header::AGE,
                    HeaderValue::from(c.stored.elapsed().as_secs()),
                );
            }
            if self.show("X-Cache-Key")
                && let Ok(v) = HeaderValue::from_str(&key)
            {
                h.insert(const { HeaderName::from_static("x-cache-key") }, v);
            }
            return Flow::Respond(r);
        }
        if self.show("X-Cache-Status") {
            ctx.response_headers
                .push((status_h, HeaderValue::from_static("Miss")));
            ctx.response_headers
                .push((cache_status, HeaderValue::from_static("portico; fwd=miss")));
        }
        if self.show("X-Cache-Key")
            && let Ok(v) = HeaderValue::from_str(&key)
        {
            ctx.response_headers
                .push((const { HeaderName::from_static("x-cache-key") }, v));
        }
        ctx.taps.push(Box::new(Tap {
            key,
            codes: self.cfg.response_code.clone(),
            cache_control: self.cfg.cache_control,
            ttl: self.ttl,
            content_types: self.content_types.clone(),
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: BytesMut::new(),
            overflow: false,
        }));
        Flow::Continue
    }
}

struct Tap {
    key: String,
    codes: Vec<u16>,
    cache_control: bool,
    ttl: Duration,
    content_types: Vec<String>,
    status: StatusCode,
    headers: HeaderMap,
    body: BytesMut,
    overflow: bool,
}

impl ResponseTap for Tap {
    fn head(&mut self, status: StatusCode, headers: &HeaderMap) -> bool {
        if !self.codes.contains(&status.as_u16())
            || !cacheable_type(&self.content_types, headers)
            || (self.cache_control && no_cache(headers))
        {
            return false;
        }
        self.status = status;
        self.headers = headers.clone();
        for h in ["x-cache-status", "cache-status", "x-cache-key", "age"] {
            self.headers.remove(h);
        }
        true
    }

    fn chunk(&mut self, data: &Bytes) {
        if self.overflow || self.body.len() + data.len() > MAX_BODY {
            self.overflow = true;
            self.body = BytesMut::new();
            return;
        }
        self.body.extend_from_slice(data);
    }

    fn end(self: Box<Self>) {
        if self.overflow {
            return;
        }
        let t = *self;
        store(
            t.key,
            Cached {
                status: t.status,
                headers: t.headers,
                body: t.body.freeze(),
                stored: Instant::now(),
                ttl: t.ttl,
            },
        );
    }
}
