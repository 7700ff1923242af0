//! The plugin pipeline: the API a plugin sees, the registry (one line per
//! plugin), and the chains compiled per route with Kong's scoping precedence.
//!
//! Phases, each with a no-op default so a plugin writes only what it uses:
//! - `rewrite`: before routing, for global instances only (neither route nor
//!   consumer is known yet); may change the request headers the router sees, or
//!   answer the request;
//! - `access`: after the route (and, for later plugins, the consumer) is known;
//!   may answer the request itself;
//! - `response_headers`: the response head, upstream's or a plugin's, before it is
//!   sent.
//!
//! Plugins run in descending priority (Kong's numbers). Which instance of a plugin
//! applies to a request is decided when the config is compiled: per route a chain
//! without consumer-scoped instances, and per (route, consumer) a chain for the
//! consumers that have consumer- or consumer-group-scoped instances. When an
//! authentication plugin identifies a consumer, the rest of the request runs on
//! that consumer's chain.
//!
//! `access` returns [`Flow::Wait`] when it needs I/O (rate-limiting with Redis);
//! the others are synchronous. `log` hands its entry to a background task.

use std::collections::HashMap;
use std::sync::Arc;

use graphql_schema::entity::{Plugin as PluginEntity, PluginScope};
use graphql_schema::{Config, InvalidField};
use http::{HeaderMap, HeaderName, HeaderValue, Response};
use uuid::Uuid;

use crate::proxy::ConnInfo;
use crate::upstream::pool::ProxyBody;

/// A consumer as the request path sees it.
#[derive(Debug)]
pub struct ConsumerRt {
    pub id: Uuid,
    pub id_value: HeaderValue,
    pub username: Option<String>,
    pub custom_id: Option<String>,
    pub group_ids: Vec<Uuid>,
    /// Group names, comma-separated (`X-Consumer-Groups`).
    pub groups: Option<String>,
    /// ACL groups (`acls` entries), for the acl plugin.
    pub acl_groups: Vec<String>,
}

/// Consumers and credentials, indexed for authentication plugins.
#[derive(Debug, Default)]
pub struct Consumers {
    pub by_id: HashMap<Uuid, Arc<ConsumerRt>>,
    pub by_username: HashMap<String, Arc<ConsumerRt>>,
    /// key-auth: SHA-256 of the key -> (consumer, credential id)
    pub keyauth: HashMap<String, (Arc<ConsumerRt>, Uuid)>,
    /// basic-auth: username -> (consumer, credential id, password digest)
    pub basicauth: HashMap<
        String,
        (
            Arc<ConsumerRt>,
            Uuid,
            graphql_schema::entity::consumer::PasswordDigest,
        ),
    >,
    /// jwt: credential key -> verification material
    pub jwt: HashMap<String, Arc<crate::plugins::jwt::JwtKey>>,
    /// portal-auth: Dev Portal applications and their keys
    pub apps: crate::plugins::portal_auth::AppIndex,
}

impl Consumers {
    pub fn build(config: &Config) -> Consumers {
        let names: HashMap<Uuid, &str> = config
            .consumer_groups
            .iter()
            .map(|g| (g.id, g.name.as_str()))
            .collect();
        let mut c = Consumers {
            apps: crate::plugins::portal_auth::AppIndex::build(config),
            ..Consumers::default()
        };
        for k in &config.consumers {
            let groups: Vec<&str> = k
                .groups
                .iter()
                .filter_map(|g| names.get(g).copied())
                .collect();
            let rt = Arc::new(ConsumerRt {
                id: k.id,
                id_value: HeaderValue::from_str(&k.id.to_string())
                    .unwrap_or_else(|_| HeaderValue::from_static("")),
                username: k.username.clone(),
                custom_id: k.custom_id.clone(),
                group_ids: k.groups.clone(),
                groups: (!groups.is_empty()).then(|| groups.join(", ")),
                acl_groups: config
                    .acls
                    .iter()
                    .filter(|a| a.consumer_id == k.id)
                    .map(|a| a.group.clone())
                    .collect(),
            });
            c.by_id.insert(k.id, rt.clone());
            if let Some(u) = &k.username {
                c.by_username.insert(u.clone(), rt.clone());
            }
        }
        for cred in &config.basicauth_credentials {
            if let Some(rt) = c.by_id.get(&cred.consumer_id) {
                c.basicauth.insert(
                    cred.username.clone(),
                    (rt.clone(), cred.id, cred.password.clone()),
                );
            }
        }
        for cred in &config.keyauth_credentials {
            if let Some(rt) = c.by_id.get(&cred.consumer_id) {
                c.keyauth
                    .insert(cred.key_sha256.clone(), (rt.clone(), cred.id));
            }
        }
        c
    }

    /// A consumer by id or username (how `anonymous` names one).
    pub fn find(&self, key: &str) -> Option<Arc<ConsumerRt>> {
        Uuid::parse_str(key)
            .ok()
            .and_then(|id| self.by_id.get(&id).cloned())
            .or_else(|| self.by_username.get(key).cloned())
    }
}

/// Who the request is, once an authentication plugin has run.
#[derive(Debug, Clone)]
pub struct Identity {
    pub consumer: Arc<ConsumerRt>,
    pub credential: Option<Uuid>,
    pub anonymous: bool,
}

/// What a plugin sees of a request: the plugin API.
pub struct Ctx<'a> {
    pub conn: &'a ConnInfo,
    pub route_id: Uuid,
    pub service_id: Option<Uuid>,
    pub method: &'a http::Method,
    /// The normalised request path.
    pub path: &'a str,
    /// The query string sent upstream (plugins may rewrite it).
    pub query: Option<String>,
    /// The request headers sent upstream (plugins may change them).
    pub headers: &'a mut HeaderMap,
    pub consumers: &'a Consumers,
    pub identity: Option<Identity>,
    /// The Dev Portal application and API a request was let in for
    /// (`portal-auth`), for analytics.
    pub application: Option<(Uuid, Uuid)>,
    /// Headers to add to the response to the client.
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
    /// A path that replaces the joined upstream path (request-transformer).
    pub upstream_path: Option<String>,
    /// A method that replaces the client's upstream (request-transformer).
    pub upstream_method: Option<http::Method>,
    /// Largest request body to stream upstream (request-size-limiting, for bodies
    /// without a Content-Length).
    pub max_body_bytes: Option<u64>,
    /// Observers of the upstream response (the streamed `response_body` phase).
    pub taps: Vec<Box<dyn ResponseTap>>,
    /// Named and numbered captures of the route's regex path (for templates).
    pub uri_captures: Vec<(String, String)>,
    /// Rewrites the (buffered) request body (request-transformer's `body` parts).
    pub request_body: Option<Arc<dyn BodyRewrite>>,
    /// Rewrites the (buffered) JSON response body (response-transformer's `json`).
    pub response_body: Option<Arc<dyn BodyRewrite>>,
}

/// Rewrites a request body of a given content type; `None` leaves it as it is.
pub trait BodyRewrite: Send + Sync {
    fn rewrite(&self, content_type: &str, body: &bytes::Bytes) -> Option<bytes::Bytes>;
}

/// Sees the upstream response as it streams to the client (e.g. to cache it).
pub trait ResponseTap: Send + Sync {
    /// The response head; `false` means the tap does not want the body.
    fn head(&mut self, status: http::StatusCode, headers: &HeaderMap) -> bool;
    /// One body chunk, as it is sent on.
    fn chunk(&mut self, data: &bytes::Bytes);
    /// The body ended normally (not called when it was cut off).
    fn end(self: Box<Self>);
}

/// What a `rewrite` plugin sees: the request before it is routed.
pub struct RewriteCtx<'a> {
    pub conn: &'a ConnInfo,
    pub method: &'a http::Method,
    /// The request headers (routing by header sees the changes).
    pub headers: &'a mut HeaderMap,
    /// Headers to add to the response to the client, whatever it is (a 404 too).
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
}

/// What `access` decided.
pub enum Flow {
    Continue,
    Respond(Response<ProxyBody>),
    /// The plugin waits for I/O (e.g. Redis). The future owns what it needs and
    /// resolves to what the plugin decided.
    Wait(std::pin::Pin<Box<dyn std::future::Future<Output = Waited> + Send>>),
}

/// The outcome of a [`Flow::Wait`].
pub struct Waited {
    pub respond: Option<Response<ProxyBody>>,
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
}

pub trait Plugin: Send + Sync {
    fn name(&self) -> &'static str;

    /// Before routing; only global instances run it. May answer the request.
    /// Default: continue.
    fn rewrite(&self, _ctx: &mut RewriteCtx<'_>) -> Option<Response<ProxyBody>> {
        None
    }

    /// Whether this plugin has a rewrite phase.
    fn rewrites(&self) -> bool {
        false
    }

    /// After routing; may answer the request (a 401, a termination) instead of
    /// proxying it. Default: continue.
    fn access(&self, _ctx: &mut Ctx<'_>) -> Flow {
        Flow::Continue
    }

    /// The response head before it goes to the client. Default: nothing.
    fn response_headers(&self, _status: http::StatusCode, _headers: &mut HeaderMap) {}

    /// After the response has been sent, with Kong's log entry. Must not block:
    /// hand the entry to a background task. Default: nothing.
    fn log(&self, _entry: &Arc<serde_json::Value>) {}

    /// Whether this plugin has a log phase.
    fn logs(&self) -> bool {
        false
    }
}

/// Builds a plugin's handler from its validated config: the registry, one line
/// per plugin.
fn build(p: &PluginEntity, consumers: &Consumers) -> Result<Arc<dyn Plugin>, String> {
    use crate::plugins::*;
    let cfg = p.config.clone();
    let de = |e: serde_json::Error| format!("invalid config: {e}");
    Ok(match p.name.as_str() {
        "correlation-id" => Arc::new(correlation_id::CorrelationId::new(
            serde_json::from_value(cfg).map_err(de)?,
        )?),
        "key-auth" => Arc::new(key_auth::KeyAuth::new(
            serde_json::from_value(cfg).map_err(de)?,
            consumers,
        )?),
        "portal-auth" => Arc::new(portal_auth::PortalAuth::new(
            serde_json::from_value(cfg).map_err(de)?,
            &consumers.apps,
        )?),
        "rate-limiting" => Arc::new(rate_limiting::RateLimiting::new(
            p.id,
            serde_json::from_value(cfg).map_err(de)?,
        )?),
        "rate-limiting-advanced" => Arc::new(rate_limiting_advanced::RateLimitingAdvanced::new(
            p.id,
            p.scope.consumer_group,
            serde_json::from_value(cfg).map_err(de)?,
        )?),
        "bot-detection" => Arc::new(bot_detection::BotDetection::new(
            serde_json::from_value(cfg).map_err(de)?,
        )?),
        "jwt" => Arc::new(crate::plugins::jwt::Jwt::new(
            serde_json::from_value(cfg).map_err(de)?,
            consumers,
        )?),
        "basic-auth" => Arc::new(basic_auth::BasicAuth::new(
            serde_json::from_value(cfg).map_err(de)?,
            consumers,
        )?),
        "acl" => Arc::new(acl::Acl::new(serde_json::from_value(cfg).map_err(de)?)),
        "ip-restriction" => Arc::new(ip_restriction::IpRestriction::new(
            serde_json::from_value(cfg).map_err(de)?,
        )?),
        "cors" => Arc::new(cors::Cors::new(serde_json::from_value(cfg).map_err(de)?)?),
        "request-transformer" => Arc::new(transformer::RequestTransformer::new(
            serde_json::from_value(cfg).map_err(de)?,
        )?),
        "response-transformer" => Arc::new(transformer::ResponseTransformer::new(
            serde_json::from_value(cfg).map_err(de)?,
        )?),
        "proxy-cache" => Arc::new(crate::plugins::proxy_cache::ProxyCache::new(
            p.id,
            serde_json::from_value(cfg).map_err(de)?,
        )),
        "prometheus" => Arc::new(crate::plugins::prometheus::Prometheus::new(
            serde_json::from_value(cfg).map_err(de)?,
        )),
        "request-size-limiting" => Arc::new(
            crate::plugins::request_size_limiting::RequestSizeLimiting::new(
                serde_json::from_value(cfg).map_err(de)?,
            ),
        ),
        "file-log" => Arc::new(crate::plugins::logging::FileLog::new(
            serde_json::from_value(cfg).map_err(de)?,
        )?),
        "http-log" => Arc::new(crate::plugins::logging::HttpLog::new(
            serde_json::from_value(cfg).map_err(de)?,
        )?),
        "request-termination" => Arc::new(request_termination::RequestTermination::new(
            serde_json::from_value(cfg).map_err(de)?,
        )),
        other => return Err(format!("plugin '{other}' has no handler")),
    })
}

/// One plugin instance in a chain.
#[derive(Clone)]
pub struct Step {
    pub priority: i32,
    pub plain: bool,
    pub tls: bool,
    pub handler: Arc<dyn Plugin>,
}

/// Plugins for one route (and maybe one consumer), highest priority first.
#[derive(Clone, Default)]
pub struct Chain {
    pub steps: Vec<Step>,
    /// Whether any step has a log phase (entries are only built then).
    pub logs: bool,
}

/// Every chain of a config.
#[derive(Default)]
pub struct Chains {
    pub consumers: Consumers,
    /// Global instances with a rewrite phase, highest priority first.
    rewrite: Vec<Step>,
    /// Per router route index; `None` when no plugin applies.
    by_route: Vec<Option<Arc<Chain>>>,
    /// (route index, consumer id) -> chain, for consumers with scoped plugins.
    by_consumer: HashMap<(usize, Uuid), Arc<Chain>>,
}

/// Kong's scoping precedence (1 = most specific), or `None` when the instance does
/// not apply to this route/service/consumer/groups.
pub fn precedence(
    s: &PluginScope,
    route: Option<Uuid>,
    service: Option<Uuid>,
    consumer: Option<Uuid>,
    groups: &[Uuid],
) -> Option<u8> {
    if s.route.is_some() && s.route != route
        || s.service.is_some() && s.service != service
        || s.consumer.is_some() && s.consumer != consumer
        || s.consumer_group.is_some_and(|g| !groups.contains(&g))
    {
        return None;
    }
    let (c, g, r, sv) = (
        s.consumer.is_some(),
        s.consumer_group.is_some(),
        s.route.is_some(),
        s.service.is_some(),
    );
    Some(match (c, g, r, sv) {
        (true, _, true, true) => 1,
        (false, true, true, true) => 2,
        (true, _, true, false) => 3,
        (true, _, false, true) => 4,
        (false, true, true, false) => 5,
        (false, true, false, true) => 6,
        (false, false, true, true) => 7,
        (true, _, false, false) => 8,
        (false, true, false, false) => 9,
        (false, false, true, false) => 10,
        (false, false, false, true) => 11,
        (false, false, false, false) => 12,
    })
}

/// For each plugin name, the most specific enabled instance that applies.
pub fn resolve<'p>(
    plugins: &'p [PluginEntity],
    route: Option<Uuid>,
    service: Option<Uuid>,
    consumer: Option<Uuid>,
    groups: &[Uuid],
) -> Vec<&'p PluginEntity> {
    let mut best: HashMap<&str, (u8, &PluginEntity)> = HashMap::new();
    for p in plugins.iter().filter(|p| p.enabled) {
        if let Some(l) = precedence(&p.scope, route, service, consumer, groups) {
            match best.get(p.name.as_str()) {
                Some((bl, _)) if *bl <= l => {}
                _ => {
                    best.insert(p.name.as_str(), (l, p));
                }
            }
        }
    }
    let mut out: Vec<&PluginEntity> = best.into_values().map(|(_, p)| p).collect();
    out.sort_by_key(|p| {
        std::cmp::Reverse(
            graphql_schema::plugin_config::info(&p.name)
                .map(|i| i.priority)
                .unwrap_or(0),
        )
    });
    out
}

impl Chains {
    /// `routes` are the router's routes (index = router route index).
    pub fn build(
        config: &Config,
        routes: &[graphql_schema::entity::Route],
    ) -> Result<Chains, Vec<InvalidField>> {
        let mut consumers = Consumers::build(config);
        let mut errors = Vec::new();
        match crate::plugins::jwt::keys(config, &consumers.by_id) {
            Ok(k) => consumers.jwt = k,
            Err(es) => errors.extend(es),
        }
        let mut handlers: HashMap<Uuid, Arc<dyn Plugin>> = HashMap::new();
        for p in config.plugins.iter().filter(|p| p.enabled) {
            match build(p, &consumers) {
                Ok(h) => {
                    handlers.insert(p.id, h);
                }
                Err(m) => errors.push(InvalidField::new(format!("{}.config", p.source), m)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let step = |p: &PluginEntity| -> Option<Step> {
            Some(Step {
                priority: graphql_schema::plugin_config::info(&p.name)
                    .map(|i| i.priority)
                    .unwrap_or(0),
                plain: p.protocols.iter().any(|x| x == "http" || x == "grpc"),
                tls: p.protocols.iter().any(|x| x == "https" || x == "grpcs"),
                handler: handlers.get(&p.id)?.clone(),
            })
        };
        let chain = |ps: Vec<&PluginEntity>| -> Option<Arc<Chain>> {
            let steps: Vec<Step> = ps.into_iter().filter_map(step).collect();
            (!steps.is_empty()).then(|| {
                let logs = steps.iter().any(|s| s.handler.logs());
                Arc::new(Chain { steps, logs })
            })
        };
        let scoped: Vec<&graphql_schema::entity::Consumer> = {
            let has_consumer_scope = |c: &graphql_schema::entity::Consumer| {
                config.plugins.iter().any(|p| {
                    p.scope.consumer == Some(c.id)
                        || p.scope
                            .consumer_group
                            .is_some_and(|g| c.groups.contains(&g))
                })
            };
            config
                .consumers
                .iter()
                .filter(|c| has_consumer_scope(c))
                .collect()
        };
        let rewrite: Vec<Step> = {
            let global = |s: &PluginScope| {
                s.route.is_none()
                    && s.service.is_none()
                    && s.consumer.is_none()
                    && s.consumer_group.is_none()
            };
            let mut ps: Vec<&PluginEntity> = config
                .plugins
                .iter()
                .filter(|p| p.enabled && global(&p.scope))
                .collect();
            ps.sort_by_key(|p| {
                std::cmp::Reverse(
                    graphql_schema::plugin_config::info(&p.name)
                        .map(|i| i.priority)
                        .unwrap_or(0),
                )
            });
            ps.into_iter()
                .filter_map(step)
                .filter(|s| s.handler.rewrites())
                .collect()
        };
        let mut by_route = Vec::with_capacity(routes.len());
        let mut by_consumer = HashMap::new();
        for (i, r) in routes.iter().enumerate() {
            by_route.push(chain(resolve(
                &config.plugins,
                Some(r.id),
                r.service_id,
                None,
                &[],
            )));
            for c in &scoped {
                if let Some(ch) = chain(resolve(
                    &config.plugins,
                    Some(r.id),
                    r.service_id,
                    Some(c.id),
                    &c.groups,
                )) {
                    by_consumer.insert((i, c.id), ch);
                }
            }
        }
        Ok(Chains {
            consumers,
            rewrite,
            by_route,
            by_consumer,
        })
    }

    /// Whether any global plugin has a rewrite phase.
    pub fn rewrites(&self) -> bool {
        !self.rewrite.is_empty()
    }

    /// Runs the rewrite phase of the global plugins; a response when one answered.
    pub fn rewrite(&self, ctx: &mut RewriteCtx<'_>) -> Option<Response<ProxyBody>> {
        for s in &self.rewrite {
            if !(if ctx.conn.tls { s.tls } else { s.plain }) {
                continue;
            }
            if let Some(r) = s.handler.rewrite(ctx) {
                return Some(r);
            }
        }
        None
    }

    pub fn for_route(&self, route: usize) -> Option<&Arc<Chain>> {
        self.by_route.get(route).and_then(Option::as_ref)
    }

    pub fn for_consumer(&self, route: usize, consumer: Uuid) -> Option<&Arc<Chain>> {
        self.by_consumer.get(&(route, consumer))
    }

    /// Runs the access phase; returns the chain the rest of the request uses (the
    /// consumer's, once one is identified) and a response if a plugin answered.
    pub async fn access(
        &self,
        route: usize,
        ctx: &mut Ctx<'_>,
    ) -> (Option<Arc<Chain>>, Option<Response<ProxyBody>>) {
        let Some(mut chain) = self.for_route(route).cloned() else {
            return (None, None);
        };
        let mut i = 0;
        while i < chain.steps.len() {
            let step = chain.steps[i].clone();
            i += 1;
            if !(if ctx.conn.tls { step.tls } else { step.plain }) {
                continue;
            }
            let before = ctx.identity.as_ref().map(|id| id.consumer.id);
            match step.handler.access(ctx) {
                Flow::Continue => {}
                Flow::Respond(r) => return (Some(chain), Some(r)),
                Flow::Wait(f) => {
                    let w = f.await;
                    ctx.response_headers.extend(w.response_headers);
                    if let Some(r) = w.respond {
                        return (Some(chain), Some(r));
                    }
                }
            }
            let after = ctx.identity.as_ref().map(|id| id.consumer.id);
            if after != before {
                // as Kong's auth plugins do, right when the consumer is known, so
                // later plugins (acl) can refine these headers
                set_consumer_headers(ctx.headers, ctx.identity.as_ref());
            }
            if after != before
                && let Some(c) = after.and_then(|c| self.for_consumer(route, c))
            {
                // continue on the consumer's chain, after the current priority
                chain = c.clone();
                i = chain
                    .steps
                    .iter()
                    .position(|s| s.priority < step.priority)
                    .unwrap_or(chain.steps.len());
            }
        }
        (Some(chain), None)
    }
}

impl Chain {
    pub fn response_headers(&self, tls: bool, status: http::StatusCode, headers: &mut HeaderMap) {
        for s in &self.steps {
            if if tls { s.tls } else { s.plain } {
                s.handler.response_headers(status, headers);
            }
        }
    }
}

/// What the access phase leaves for the response: the chain in force and the
/// headers plugins asked to add.
pub struct AfterAccess {
    pub chain: Arc<Chain>,
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
}

impl AfterAccess {
    pub fn apply(&self, tls: bool, status: http::StatusCode, headers: &mut HeaderMap) {
        for (k, v) in &self.response_headers {
            headers.insert(k.clone(), v.clone());
        }
        self.chain.response_headers(tls, status, headers);
    }
}

/// Sets (or clears) the consumer headers Kong sends upstream after authentication.
pub fn set_consumer_headers(h: &mut HeaderMap, id: Option<&Identity>) {
    const NAMES: [HeaderName; 6] = [
        HeaderName::from_static("x-consumer-id"),
        HeaderName::from_static("x-consumer-username"),
        HeaderName::from_static("x-consumer-custom-id"),
        HeaderName::from_static("x-credential-identifier"),
        HeaderName::from_static("x-anonymous-consumer"),
        HeaderName::from_static("x-consumer-groups"),
    ];
    for n in &NAMES {
        h.remove(n);
    }
    let Some(id) = id else { return };
    let c = &id.consumer;
    h.insert(NAMES[0].clone(), c.id_value.clone());
    let mut put = |n: &HeaderName, v: Option<&str>| {
        if let Some(v) = v.and_then(|v| HeaderValue::from_str(v).ok()) {
            h.insert(n.clone(), v);
        }
    };
    put(&NAMES[1], c.username.as_deref());
    put(&NAMES[2], c.custom_id.as_deref());
    put(&NAMES[5], c.groups.as_deref());
    if let Some(cred) = id.credential {
        let mut buf = uuid::Uuid::encode_buffer();
        put(&NAMES[3], Some(cred.hyphenated().encode_lower(&mut buf)));
    }
    if id.anonymous {
        put(&NAMES[4], Some("true"));
    }
}

#[cfg(test)]
mod tests;

/// What the log phase needs: the chain, the entry so far, when the request began.
pub struct LogCtx {
    pub chain: Arc<Chain>,
    pub tls: bool,
    pub entry: serde_json::Map<String, serde_json::Value>,
    pub started: std::time::Instant,
}

/// Headers as Kong's serializer writes them (lower-case names; credentials hidden).
pub fn headers_json(h: &HeaderMap) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in h {
        let v = if k == http::header::AUTHORIZATION || k == http::header::PROXY_AUTHORIZATION {
            "REDACTED".to_string()
        } else {
            String::from_utf8_lossy(v.as_bytes()).into_owned()
        };
        match m.get_mut(k.as_str()) {
            Some(serde_json::Value::Array(a)) => a.push(v.into()),
            Some(old) => *old = serde_json::Value::Array(vec![old.clone(), v.into()]),
            None => {
                m.insert(k.as_str().to_string(), v.into());
            }
        }
    }
    serde_json::Value::Object(m)
}

impl LogCtx {
    /// Completes the entry and runs the log phase.
    pub fn finish(
        mut self,
        status: u16,
        headers: serde_json::Value,
        size: u64,
        upstream_ms: Option<u64>,
    ) {
        let total = self.started.elapsed().as_millis() as u64;
        self.entry.insert(
            "response".into(),
            serde_json::json!({ "status": status, "headers": headers, "size": size }),
        );
        let proxy = upstream_ms.unwrap_or(0);
        self.entry.insert("latencies".into(), serde_json::json!({ "request": total, "proxy": proxy, "kong": total.saturating_sub(proxy) }));
        let entry = Arc::new(serde_json::Value::Object(self.entry));
        for s in &self.chain.steps {
            if if self.tls { s.tls } else { s.plain } {
                s.handler.log(&entry);
            }
        }
    }
}
