//! `portal-auth` (priority 1260): Dev Portal application keys. The key (a header
//! or query argument named in `key_names`) is looked up by its SHA-256 in one
//! hash probe; then:
//! - no key: 401 `No API key found in request` (with `WWW-Authenticate`);
//! - unknown key, or one past its `expires_at` (a rotated key after its grace):
//!   401 `Unauthorized`;
//! - the key's application is not registered for this plugin's `api_id`: 403
//!   `You cannot consume this service`;
//! - the registration's plan limits are counted per API and application (local
//!   or Redis, as `rate-limiting` counts them, so a plan shared by several
//!   routes of one API is one budget): 429 with `Retry-After` once reached, and
//!   `RateLimit-*` headers on every answer.
//!
//! The key is stripped before proxying (`hide_credentials`), and the upstream
//! gets `X-Application-Id`, `X-Application-Name`, `X-Developer-Id` and
//! `X-Portal-Id`. Nothing on the request path does I/O except the Redis policy.

use std::collections::HashMap;
use std::sync::Arc;

use graphql_schema::Config;
use graphql_schema::entity::PlanLimits;
use graphql_schema::plugin_config::portal_auth::PortalAuthConfig;
use graphql_schema::plugin_config::rate_limiting::RateLimitingConfig;
use http::{HeaderName, HeaderValue, StatusCode};
use uuid::Uuid;

use super::key_auth::KeySource;
use super::rate_limiting::RateLimiting;
use crate::plugin::{Ctx, Flow, Plugin};

/// An application as the plugin sends it upstream.
#[derive(Debug)]
pub struct AppRt {
    pub id: Uuid,
    /// `X-Application-*`, `X-Developer-Id`, `X-Portal-Id`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// API id -> the plan's limits.
    pub registrations: HashMap<Uuid, Option<PlanLimits>>,
}

/// One key of an application.
#[derive(Debug, Clone)]
pub struct AppKey {
    pub credential: Uuid,
    /// Unix seconds after which the key is refused.
    pub expires_at: Option<i64>,
    pub app: Arc<AppRt>,
}

/// Applications and their keys (by SHA-256 of the key), for `portal-auth`.
#[derive(Debug, Default)]
pub struct AppIndex {
    pub by_key: HashMap<String, AppKey>,
    pub by_id: HashMap<Uuid, Arc<AppRt>>,
}

fn header(name: &'static str, value: &str) -> Option<(HeaderName, HeaderValue)> {
    Some((
        HeaderName::from_static(name),
        HeaderValue::from_bytes(value.as_bytes()).ok()?,
    ))
}

impl AppIndex {
    pub fn build(config: &Config) -> AppIndex {
        let mut ix = AppIndex::default();
        for a in &config.applications {
            let headers = [
                header("x-application-id", &a.id.to_string()),
                header("x-application-name", &a.name),
                a.developer_id
                    .and_then(|d| header("x-developer-id", &d.to_string())),
                a.portal_id
                    .and_then(|p| header("x-portal-id", &p.to_string())),
            ]
            .into_iter()
            .flatten()
            .collect();
            let rt = Arc::new(AppRt {
                id: a.id,
                headers,
                registrations: a
                    .registrations
                    .iter()
                    .map(|r| (r.api_id, r.plan.clone()))
                    .collect(),
            });
            ix.by_id.insert(a.id, rt);
        }
        for k in &config.application_credentials {
            if let Some(app) = ix.by_id.get(&k.application_id) {
                ix.by_key.insert(
                    k.key_sha256.clone(),
                    AppKey {
                        credential: k.id,
                        expires_at: k.expires_at,
                        app: app.clone(),
                    },
                );
            }
        }
        ix
    }
}

pub struct PortalAuth {
    api: Uuid,
    source: KeySource,
    hide_credentials: bool,
    /// Applications registered for this API -> their plan's limiter (none
    /// for a plan without limits).
    registered: HashMap<Uuid, Option<RateLimiting>>,
    www_authenticate: HeaderValue,
}

impl PortalAuth {
    pub fn new(cfg: PortalAuthConfig, apps: &AppIndex) -> Result<PortalAuth, String> {
        let api = cfg
            .api_id
            .as_deref()
            .and_then(|a| Uuid::parse_str(a).ok())
            .ok_or("api_id: expected a UUID")?;
        let source = KeySource::new(&cfg.key_names, cfg.key_in_header, cfg.key_in_query)?;
        let mut registered = HashMap::new();
        for app in apps.by_id.values() {
            let Some(plan) = app.registrations.get(&api) else {
                continue;
            };
            let limiter = match plan.as_ref().map(PlanLimits::windows) {
                Some(w) if !w.is_empty() => {
                    let mut rl = RateLimitingConfig {
                        policy: cfg.policy.clone(),
                        redis: cfg.redis.clone(),
                        fault_tolerant: cfg.fault_tolerant,
                        hide_client_headers: cfg.hide_client_headers,
                        ..RateLimitingConfig::default()
                    };
                    for (period, limit) in w {
                        match period {
                            "second" => rl.second = Some(limit),
                            "minute" => rl.minute = Some(limit),
                            "hour" => rl.hour = Some(limit),
                            "day" => rl.day = Some(limit),
                            _ => rl.month = Some(limit),
                        }
                    }
                    // one budget per API and application, whichever route or
                    // plugin instance counts it
                    Some(RateLimiting::in_namespace(
                        format!("portal:{api}:{}", app.id),
                        rl,
                    )?)
                }
                _ => None,
            };
            registered.insert(app.id, limiter);
        }
        Ok(PortalAuth {
            api,
            source,
            hide_credentials: cfg.hide_credentials,
            registered,
            www_authenticate: HeaderValue::from_static("Key realm=\"portico\""),
        })
    }

    fn unauthorized(&self, msg: &str) -> Flow {
        let mut r = crate::plugins::message(StatusCode::UNAUTHORIZED, msg);
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            self.www_authenticate.clone(),
        );
        Flow::Respond(r)
    }
}

impl Plugin for PortalAuth {
    fn name(&self) -> &'static str {
        "portal-auth"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        let Some(found) = self.source.find(ctx) else {
            return self.unauthorized("No API key found in request");
        };
        let digest = graphql_schema::entity::consumer::digest(&found.key);
        let Some(key) = ctx.consumers.apps.by_key.get(&digest) else {
            return self.unauthorized("Unauthorized");
        };
        if let Some(exp) = key.expires_at
            && (super::counters::now_ms() / 1000) as i64 >= exp
        {
            return self.unauthorized("Unauthorized");
        }
        let app = &key.app;
        let Some(limiter) = self.registered.get(&app.id) else {
            return Flow::Respond(crate::plugins::message(
                StatusCode::FORBIDDEN,
                "You cannot consume this service",
            ));
        };
        if self.hide_credentials {
            self.source.hide(ctx, &found);
        }
        let app = app.clone();
        ctx.application = Some((app.id, self.api));
        for (k, v) in &app.headers {
            ctx.headers.insert(k.clone(), v.clone());
        }
        match limiter {
            // the limiter's namespace names the API and the application
            Some(l) => l.count(ctx, ""),
            None => Flow::Continue,
        }
    }
}
