//! `rate-limiting` (priority 910): counts requests per identifier in fixed
//! calendar windows (Kong's behaviour) or sliding ones, answers 429 `API rate limit
//! exceeded` with `Retry-After` once a limit is reached, and sends
//! `X-RateLimit-Limit-<Period>`, `X-RateLimit-Remaining-<Period>`,
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` as Kong does.
//!
//! Policy `local`: counters live in this node, in a store that outlives config
//! reloads (keys carry the plugin id), so a config change does not reset limits.
//! Policy `redis`: counters live in Redis, checked and counted in one Lua script,
//! so several nodes share one limit; with `fault_tolerant`, requests pass when
//! Redis is unreachable. Both are in [`super::counters`], shared with
//! rate-limiting-advanced.

use std::sync::Arc;

use graphql_schema::plugin_config::rate_limiting::RateLimitingConfig;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use uuid::Uuid;

use super::counters::{self, RedisTarget, RedisWindow, Rule, Window};
use crate::plugin::{Ctx, Flow, Plugin, Waited};
use crate::upstream::pool::ProxyBody;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Year,
}

impl Period {
    fn parse(s: &str) -> Option<Period> {
        Some(match s {
            "second" => Period::Second,
            "minute" => Period::Minute,
            "hour" => Period::Hour,
            "day" => Period::Day,
            "month" => Period::Month,
            "year" => Period::Year,
            _ => return None,
        })
    }

    fn title(self) -> &'static str {
        match self {
            Period::Second => "second",
            Period::Minute => "minute",
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Month => "month",
            Period::Year => "year",
        }
    }

    /// Start and length (seconds) of the window holding `now` (Unix seconds, UTC):
    /// calendar months and years, as Kong counts them.
    pub fn window(self, now: u64) -> (u64, u64) {
        let fixed = |len: u64| (now - now % len, len);
        match self {
            Period::Second => fixed(1),
            Period::Minute => fixed(60),
            Period::Hour => fixed(3600),
            Period::Day => fixed(86_400),
            Period::Month | Period::Year => {
                let days = (now / 86_400) as i64;
                let (y, m, _) = civil_from_days(days);
                let (start, end) = if self == Period::Month {
                    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                    (days_from_civil(y, m, 1), days_from_civil(ny, nm, 1))
                } else {
                    (days_from_civil(y, 1, 1), days_from_civil(y + 1, 1, 1))
                };
                (start as u64 * 86_400, (end - start) as u64 * 86_400)
            }
        }
    }
}

/// Howard Hinnant's civil-from-days: days since 1970-01-01 -> (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub struct RateLimiting {
    cfg: RateLimitingConfig,
    /// What the counters are named after: the plugin id, or (portal-auth) the
    /// API and application a plan's limits belong to.
    namespace: String,
    /// `<namespace>|`, the start of every local counter key.
    key_prefix: String,
    limits: Arc<Vec<Limit>>,
    status: StatusCode,
    redis: Option<RedisTarget>,
}

/// One configured limit and its header names.
struct Limit {
    period: Period,
    limit: f64,
    limit_header: HeaderName,
    remaining_header: HeaderName,
}

/// Usage of one limit before this request.
struct Usage {
    used: f64,
    reset: u64,
}

/// Kong's headers and answer from the usage of every limit: the first limit with
/// nothing remaining stops the request.
fn decide(
    limits: &[Limit],
    usage: &[Usage],
    cfg: &RateLimitingConfig,
    status: StatusCode,
) -> (Option<Response<ProxyBody>>, Vec<(HeaderName, HeaderValue)>) {
    let stop = limits
        .iter()
        .zip(usage)
        .position(|(l, u)| l.limit - u.used <= 0.0);
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    let mut tight: Option<(f64, f64, u64)> = None;
    for (i, (l, u)) in limits.iter().zip(usage).enumerate() {
        let mut rem = l.limit - u.used;
        if stop.is_none() || stop == Some(i) {
            rem -= 1.0;
        }
        let rem = rem.max(0.0).floor();
        if tight.is_none_or(|(_, r, _)| rem < r) {
            tight = Some((l.limit, rem, u.reset));
        }
        headers.push((l.limit_header.clone(), HeaderValue::from(l.limit as u64)));
        headers.push((l.remaining_header.clone(), HeaderValue::from(rem as u64)));
    }
    if let Some((limit, rem, reset)) = tight {
        headers.push((
            const { HeaderName::from_static("ratelimit-limit") },
            HeaderValue::from(limit as u64),
        ));
        headers.push((
            const { HeaderName::from_static("ratelimit-remaining") },
            HeaderValue::from(rem as u64),
        ));
        headers.push((
            const { HeaderName::from_static("ratelimit-reset") },
            HeaderValue::from(reset),
        ));
    }
    if cfg.hide_client_headers {
        headers.clear();
    }
    match stop {
        Some(i) => {
            let mut r = crate::plugins::message(status, &cfg.error_message);
            let h = r.headers_mut();
            for (k, v) in headers {
                h.insert(k, v);
            }
            h.insert(http::header::RETRY_AFTER, HeaderValue::from(usage[i].reset));
            (Some(r), Vec::new())
        }
        None => (None, headers),
    }
}

impl RateLimiting {
    pub fn new(plugin: Uuid, cfg: RateLimitingConfig) -> Result<RateLimiting, String> {
        RateLimiting::in_namespace(plugin.to_string(), cfg)
    }

    /// Limits counted under `namespace` (shared by every instance using it).
    pub fn in_namespace(
        namespace: String,
        cfg: RateLimitingConfig,
    ) -> Result<RateLimiting, String> {
        let limits = cfg
            .limits()
            .into_iter()
            .filter_map(|(p, l)| {
                let period = Period::parse(p)?;
                Some(Limit {
                    period,
                    limit: l,
                    limit_header: HeaderName::from_bytes(
                        format!("x-ratelimit-limit-{p}").as_bytes(),
                    )
                    .ok()?,
                    remaining_header: HeaderName::from_bytes(
                        format!("x-ratelimit-remaining-{p}").as_bytes(),
                    )
                    .ok()?,
                })
            })
            .collect();
        let redis = if cfg.policy == "redis" {
            let r = cfg.effective_redis();
            Some(RedisTarget::new(
                r.host.as_deref().unwrap_or_default(),
                r.port,
                r.username.as_deref(),
                r.password.as_deref(),
                r.database,
                r.timeout,
                r.ssl,
            )?)
        } else {
            None
        };
        let status =
            StatusCode::from_u16(cfg.error_code as u16).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
        Ok(RateLimiting {
            cfg,
            key_prefix: format!("{namespace}|"),
            namespace,
            limits: Arc::new(limits),
            status,
            redis,
        })
    }

    /// Kong's identifier for `limit_by` (falling back to the client IP).
    fn identifier(&self, ctx: &Ctx<'_>) -> String {
        let ip = || ctx.conn.remote.ip().to_string();
        match self.cfg.limit_by.as_str() {
            "consumer" => ctx
                .identity
                .as_ref()
                .and_then(|i| i.consumer.id_value.to_str().ok())
                .map(str::to_string)
                .unwrap_or_else(ip),
            "credential" => ctx
                .identity
                .as_ref()
                .and_then(|i| i.credential)
                .map(|c| c.to_string())
                .unwrap_or_else(ip),
            "service" => ctx.service_id.map(|s| s.to_string()).unwrap_or_else(ip),
            "header" => self
                .cfg
                .header_name
                .as_deref()
                .and_then(|h| ctx.headers.get(h.to_ascii_lowercase().as_str()))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .unwrap_or_else(ip),
            "path" => match &self.cfg.path {
                Some(p) if ctx.path == p => p.clone(),
                _ => ip(),
            },
            "consumer-group" => ctx
                .identity
                .as_ref()
                .and_then(|i| i.consumer.group_ids.first())
                .map(|g| g.to_string())
                .unwrap_or_else(ip),
            _ => ip(),
        }
    }
}

impl Plugin for RateLimiting {
    fn name(&self) -> &'static str {
        "rate-limiting"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        let id = self.identifier(ctx);
        self.count(ctx, &id)
    }
}

impl RateLimiting {
    /// Counts the request against every limit for identifier `id`: 429 once one
    /// is reached, else the limit headers on the response.
    pub fn count(&self, ctx: &mut Ctx<'_>, id: &str) -> Flow {
        let now_ms = counters::now_ms();
        let now = now_ms / 1000;
        let sliding = self.cfg.window_type == "sliding";
        if let Some(redis) = &self.redis {
            return self.access_redis(redis, id, now_ms, sliding);
        }
        let mut key = String::with_capacity(self.key_prefix.len() + id.len());
        key.push_str(&self.key_prefix);
        key.push_str(id);
        let windows: Vec<Window> = self
            .limits
            .iter()
            .map(|l| {
                let (start, len) = l.period.window(now);
                Window {
                    slot: l.period as u64,
                    start,
                    len,
                }
            })
            .collect();
        let (respond, headers) =
            counters::check_and_count(&key, &windows, now_ms, sliding, |used| {
                let usage: Vec<Usage> = used
                    .iter()
                    .zip(&windows)
                    .map(|(u, w)| Usage {
                        used: *u,
                        reset: (w.start + w.len).saturating_sub(now).max(1),
                    })
                    .collect();
                let d = decide(&self.limits, &usage, &self.cfg, self.status);
                (if d.0.is_none() { windows.len() } else { 0 }, d)
            });
        if let Some(r) = respond {
            return Flow::Respond(r);
        }
        ctx.response_headers.extend(headers);
        Flow::Continue
    }

    fn access_redis(&self, target: &RedisTarget, id: &str, now_ms: u64, sliding: bool) -> Flow {
        let now = now_ms / 1000;
        let mut windows = Vec::with_capacity(self.limits.len());
        let mut resets = Vec::with_capacity(self.limits.len());
        for l in self.limits.iter() {
            let (start, len) = l.period.window(now);
            let base = format!(
                "portico:ratelimit:{}:{}:{}",
                self.namespace,
                id,
                l.period.title()
            );
            windows.push(RedisWindow {
                key: format!("{base}:{start}"),
                prev_key: format!("{base}:{}", start.saturating_sub(len)),
                limit: l.limit,
                ttl: len * 2,
                weight: counters::prev_weight(start, len, now_ms, sliding),
            });
            resets.push((start + len).saturating_sub(now).max(1));
        }
        let url = target.url.clone();
        let timeout = target.timeout;
        let limits = self.limits.clone();
        let cfg = self.cfg.clone();
        let status = self.status;
        Flow::Wait(Box::pin(async move {
            match counters::redis_check(&url, timeout, &windows, Rule::Reached).await {
                Ok(used) => {
                    let usage: Vec<Usage> = used
                        .into_iter()
                        .zip(resets)
                        .map(|(used, reset)| Usage { used, reset })
                        .collect();
                    let (respond, response_headers) = decide(&limits, &usage, &cfg, status);
                    Waited {
                        respond,
                        response_headers,
                    }
                }
                Err(e) if cfg.fault_tolerant => {
                    tracing::warn!(
                        "rate-limiting: Redis unavailable, request let through (fault_tolerant): {e}"
                    );
                    Waited {
                        respond: None,
                        response_headers: Vec::new(),
                    }
                }
                Err(e) => {
                    tracing::error!("rate-limiting: Redis unavailable: {e}");
                    Waited {
                        respond: Some(crate::plugins::message(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "An unexpected error occurred",
                        )),
                        response_headers: Vec::new(),
                    }
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_windows() {
        // 2026-11-26T16:00:00Z
        let now = 1_795_708_800u64;
        assert_eq!(Period::Minute.window(now + 59), (now, 60));
        let (start, len) = Period::Month.window(now);
        assert_eq!(start, 1_793_491_200); // 2026-11-01
        assert_eq!(len, 30 * 86_400);
        let (start, len) = Period::Year.window(now);
        assert_eq!(start, 1_767_225_600); // 2026-01-01
        assert_eq!(len, 365 * 86_400);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }
}
