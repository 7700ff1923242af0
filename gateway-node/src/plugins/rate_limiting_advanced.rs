//! `rate-limiting-advanced` (priority 910, Kong Enterprise's): every (`limit`,
//! `window_size`) pair is a window of that many seconds, sliding (the previous
//! window's count weighted by how much of it still overlaps) or fixed. As Kong's:
//!
//! - a request is counted in each window until one is over its limit (`rate`,
//!   with this request, above `limit`); that one refuses it with `error_code` and
//!   `{"message": error_message}`. Refused requests count too (the "penalty"),
//!   except with `disable_penalty` on sliding windows;
//! - headers `X-RateLimit-Limit-<window>` and `X-RateLimit-Remaining-<window>`
//!   per window (`<window>` is `second`, `minute`, `hour`, `day`, `month`, `year`
//!   for 1, 60, 3600, 86400, 2592000, 31536000 seconds, else the number), and
//!   `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` for the window
//!   with the fewest requests left; `Retry-After` (plus up to
//!   `retry_after_jitter_max` seconds) on a refusal; none of them with
//!   `hide_client_headers`;
//! - the counter key is the `identifier` (or `compound_identifier`) value, the
//!   client IP when there is none; instances with the same `namespace` share
//!   counters.
//!
//! Strategy `local` and `cluster` (a single node has nothing to sync with) count
//! in the node, with the store rate-limiting uses; `redis` counts in Redis on
//! every request (whatever `sync_rate` says) and falls back to the node's
//! counters while Redis is unreachable, as Kong does.

use std::sync::Arc;

use graphql_schema::plugin_config::rate_limiting_advanced::RateLimitingAdvancedConfig;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use uuid::Uuid;

use super::counters::{self, RedisTarget, RedisWindow, Rule, Window};
use crate::plugin::{Ctx, Flow, Plugin, Waited};
use crate::upstream::pool::ProxyBody;

pub struct RateLimitingAdvanced {
    shared: Arc<Shared>,
    /// `<namespace>` (or the instance id): where the counters are.
    namespace: String,
    consumer_group: Option<Uuid>,
    redis: Option<RedisTarget>,
}

/// What the decision needs, shared with a Redis wait.
struct Shared {
    cfg: RateLimitingAdvancedConfig,
    windows: Vec<Win>,
    status: StatusCode,
    sliding: bool,
    /// Refused requests are counted (all but sliding with `disable_penalty`).
    penalty: bool,
}

/// One (limit, window) pair and its header names.
struct Win {
    size: u64,
    limit: f64,
    limit_header: HeaderName,
    remaining_header: HeaderName,
}

/// Kong's name for a window in the `X-RateLimit-*-<window>` headers.
fn window_name(size: u64) -> String {
    match size {
        1 => "second".into(),
        60 => "minute".into(),
        3600 => "hour".into(),
        86_400 => "day".into(),
        2_592_000 => "month".into(),
        31_536_000 => "year".into(),
        n => n.to_string(),
    }
}

/// A number as Lua prints it: `10`, `2.5`.
fn number(v: f64) -> HeaderValue {
    let s = if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    };
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// What one request gets: the index of the window that refused it (if any),
/// the answer, and the headers to add to the proxied response.
struct Decision {
    deny: Option<usize>,
    respond: Option<Response<ProxyBody>>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Shared {
    /// Kong's handler, from each window's usage before this request.
    fn decide(&self, used: &[f64], now: u64) -> Decision {
        let mut deny: Option<usize> = None;
        let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
        // (limit, window, remaining, reset) of the window with the fewest left
        let mut tight: Option<(f64, u64, f64, f64)> = None;
        for (i, (w, u)) in self.windows.iter().zip(used).enumerate() {
            // counted in every window until one refuses; later ones are only read
            let rate = if deny.is_none() { u + 1.0 } else { *u };
            let remaining = (w.limit - rate).max(0.0).floor();
            if !self.cfg.hide_client_headers {
                headers.push((w.limit_header.clone(), number(w.limit)));
                headers.push((w.remaining_header.clone(), number(remaining)));
                let tighter = tight.is_none_or(|(_, size, rem, _)| {
                    remaining < rem || (remaining == rem && w.size > size)
                });
                if tighter {
                    let start = now - now % w.size;
                    let mut reset = ((w.size - (now - start)) as f64).max(1.0);
                    if self.sliding && w.limit > 0.0 {
                        let adjustment = ((rate - w.limit) / w.limit * w.size as f64).max(0.0);
                        reset = (reset + adjustment).ceil();
                    }
                    tight = Some((w.limit, w.size, remaining, reset));
                }
            }
            if deny.is_none() && rate > w.limit {
                deny = Some(i);
            }
        }
        if let Some((limit, _, remaining, reset)) = tight {
            headers.push((
                const { HeaderName::from_static("ratelimit-limit") },
                number(limit),
            ));
            headers.push((
                const { HeaderName::from_static("ratelimit-remaining") },
                number(remaining),
            ));
            headers.push((
                const { HeaderName::from_static("ratelimit-reset") },
                number(reset),
            ));
        }
        let Some(i) = deny else {
            return Decision {
                deny,
                respond: None,
                headers,
            };
        };
        let mut r = crate::plugins::message(self.status, &self.cfg.error_message);
        let h = r.headers_mut();
        for (k, v) in headers {
            h.insert(k, v);
        }
        if let Some((_, _, _, reset)) = tight {
            h.insert(
                http::header::RETRY_AFTER,
                number(reset + jitter(self.cfg.retry_after_jitter_max)),
            );
        }
        Decision {
            deny: Some(i),
            respond: Some(r),
            headers: Vec::new(),
        }
    }

    /// How many windows, from the first, count a request with this decision.
    fn counted(&self, deny: Option<usize>) -> usize {
        match deny {
            None => self.windows.len(),
            Some(i) if self.penalty => i + 1,
            Some(_) => 0,
        }
    }

    fn local(&self, key: &str, now_ms: u64) -> Decision {
        let now = now_ms / 1000;
        let windows: Vec<Window> = self
            .windows
            .iter()
            .map(|w| Window {
                slot: w.size,
                start: now - now % w.size,
                len: w.size,
            })
            .collect();
        counters::check_and_count(key, &windows, now_ms, self.sliding, |used| {
            let d = self.decide(used, now);
            (self.counted(d.deny), d)
        })
    }
}

/// Kong's jitter: a whole number of seconds from 1 to `max` (0 when `max` < 1).
fn jitter(max: f64) -> f64 {
    let m = max.floor();
    if m < 1.0 {
        return 0.0;
    }
    let r = u64::from_le_bytes(
        Uuid::new_v4().as_bytes()[..8]
            .try_into()
            .unwrap_or([0u8; 8]),
    );
    (r % (m as u64).max(1) + 1) as f64
}

impl RateLimitingAdvanced {
    pub fn new(
        plugin: Uuid,
        consumer_group: Option<Uuid>,
        cfg: RateLimitingAdvancedConfig,
    ) -> Result<RateLimitingAdvanced, String> {
        let mut windows = Vec::new();
        for (size, limit) in cfg.pairs() {
            if size == 0 {
                return Err("window_size: value must be greater than 0".into());
            }
            let name = window_name(size);
            windows.push(Win {
                size,
                limit,
                limit_header: HeaderName::from_bytes(
                    format!("x-ratelimit-limit-{name}").as_bytes(),
                )
                .map_err(|e| format!("window_size: {e}"))?,
                remaining_header: HeaderName::from_bytes(
                    format!("x-ratelimit-remaining-{name}").as_bytes(),
                )
                .map_err(|e| format!("window_size: {e}"))?,
            });
        }
        let redis = if cfg.strategy == "redis" {
            let r = &cfg.redis;
            Some(RedisTarget::new(
                r.host.as_deref().unwrap_or("127.0.0.1"),
                r.port,
                r.username.as_deref(),
                r.password.as_deref(),
                r.database,
                r.timeout_ms(),
                r.ssl,
            )?)
        } else {
            None
        };
        let namespace = cfg
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| plugin.to_string());
        let sliding = cfg.window_type != "fixed";
        let status =
            StatusCode::from_u16(cfg.error_code as u16).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
        Ok(RateLimitingAdvanced {
            shared: Arc::new(Shared {
                penalty: !(sliding && cfg.disable_penalty),
                cfg,
                windows,
                status,
                sliding,
            }),
            namespace,
            consumer_group,
            redis,
        })
    }

    /// The value of one identifier for this request, if it has one.
    fn identifier(&self, which: &str, ctx: &Ctx<'_>) -> Option<String> {
        let cfg = &self.shared.cfg;
        match which {
            "ip" => Some(ctx.conn.remote.ip().to_string()),
            "credential" => ctx
                .identity
                .as_ref()
                .and_then(|i| i.credential)
                .map(|c| c.to_string()),
            "consumer" => ctx.identity.as_ref().map(|i| i.consumer.id.to_string()),
            "service" => ctx.service_id.map(|s| s.to_string()),
            "route" => Some(ctx.route_id.to_string()),
            "header" => cfg
                .header_name
                .as_deref()
                .and_then(|h| ctx.headers.get(h.to_ascii_lowercase().as_str()))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            "path" => cfg.path.as_ref().filter(|p| ctx.path == *p).cloned(),
            "consumer-group" => {
                let g = self.consumer_group?;
                ctx.identity
                    .as_ref()
                    .filter(|i| i.consumer.group_ids.contains(&g))
                    .map(|_| g.to_string())
            }
            _ => None,
        }
    }

    /// The counter key: the identifiers' values, or the client IP when one is
    /// missing (Kong's fallback).
    fn key(&self, ctx: &Ctx<'_>) -> String {
        let parts: Option<Vec<String>> = self
            .shared
            .cfg
            .identifiers()
            .into_iter()
            .map(|w| self.identifier(w, ctx))
            .collect();
        parts
            .map(|p| p.join(":"))
            .unwrap_or_else(|| ctx.conn.remote.ip().to_string())
    }
}

impl Plugin for RateLimitingAdvanced {
    fn name(&self) -> &'static str {
        "rate-limiting-advanced"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        let now_ms = counters::now_ms();
        let id = self.key(ctx);
        let local_key = format!("rla|{}|{id}", self.namespace);
        let Some(target) = &self.redis else {
            let d = self.shared.local(&local_key, now_ms);
            if let Some(r) = d.respond {
                return Flow::Respond(r);
            }
            ctx.response_headers.extend(d.headers);
            return Flow::Continue;
        };
        let now = now_ms / 1000;
        let shared = &self.shared;
        let windows: Vec<RedisWindow> = shared
            .windows
            .iter()
            .map(|w| {
                let start = now - now % w.size;
                let base = format!("portico:rla:{}:{id}:{}", self.namespace, w.size);
                RedisWindow {
                    key: format!("{base}:{start}"),
                    prev_key: format!("{base}:{}", start.saturating_sub(w.size)),
                    limit: w.limit,
                    ttl: w.size * 2,
                    weight: counters::prev_weight(start, w.size, now_ms, shared.sliding),
                }
            })
            .collect();
        let shared = self.shared.clone();
        let url = target.url.clone();
        let timeout = target.timeout;
        Flow::Wait(Box::pin(async move {
            let rule = Rule::Exceeded {
                penalty: shared.penalty,
            };
            let d = match counters::redis_check(&url, timeout, &windows, rule).await {
                Ok(used) => shared.decide(&used, now),
                Err(e) => {
                    tracing::warn!(
                        "rate-limiting-advanced: Redis unavailable, counting in this node: {e}"
                    );
                    shared.local(&local_key, now_ms)
                }
            };
            Waited {
                respond: d.respond,
                response_headers: d.headers,
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rla(cfg: serde_json::Value) -> RateLimitingAdvanced {
        let cfg: RateLimitingAdvancedConfig =
            serde_json::from_value(cfg).unwrap_or_else(|e| panic!("{e}"));
        RateLimitingAdvanced::new(Uuid::new_v4(), None, cfg).unwrap_or_else(|e| panic!("{e}"))
    }

    fn header<'a>(d: &'a Decision, name: &str) -> Option<&'a str> {
        d.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.to_str().ok())
    }

    #[test]
    fn window_names_are_kongs() {
        assert_eq!(window_name(60), "minute");
        assert_eq!(window_name(31_536_000), "year");
        assert_eq!(window_name(30), "30");
    }

    #[test]
    fn fixed_windows_count_refusals_and_name_the_tightest() {
        let p = rla(
            serde_json::json!({"limit": [2, 10], "window_size": [30, 3600], "window_type": "fixed"}),
        );
        let key = format!("t|{}", Uuid::new_v4());
        let now_ms = 1_800_000_010_000; // 10 s into a 30 s window
        let d = p.shared.local(&key, now_ms);
        assert!(d.deny.is_none());
        assert_eq!(header(&d, "x-ratelimit-remaining-30"), Some("1"));
        assert_eq!(header(&d, "x-ratelimit-remaining-hour"), Some("9"));
        assert_eq!(header(&d, "ratelimit-limit"), Some("2"));
        assert_eq!(header(&d, "ratelimit-reset"), Some("20"));
        let d = p.shared.local(&key, now_ms);
        assert_eq!(header(&d, "ratelimit-remaining"), Some("0"));
        let d = p.shared.local(&key, now_ms);
        assert_eq!(d.deny, Some(0));
        let r = d.respond.unwrap_or_else(|| panic!("refused"));
        assert_eq!(r.status(), 429);
        assert_eq!(
            r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
            Some("20")
        );
        // the refusal was counted in the 30 s window that refused it (penalty),
        // not in the hour after it: the hour has 2, 3 with this request
        let d = p.shared.local(&key, now_ms + 20_000);
        assert!(d.deny.is_none(), "a new 30 s window");
        assert_eq!(header(&d, "x-ratelimit-remaining-hour"), Some("7"));
    }

    #[test]
    fn sliding_without_penalty_does_not_count_refusals() {
        let p = rla(
            serde_json::json!({"limit": [1], "window_size": [60], "disable_penalty": true,
            "hide_client_headers": true}),
        );
        let key = format!("t|{}", Uuid::new_v4());
        let now_ms = 1_800_000_000_000;
        assert!(p.shared.local(&key, now_ms).deny.is_none());
        for _ in 0..3 {
            let d = p.shared.local(&key, now_ms);
            assert_eq!(d.deny, Some(0));
            assert!(d.headers.is_empty());
            let r = d.respond.unwrap_or_else(|| panic!("refused"));
            assert!(r.headers().get("retry-after").is_none(), "hidden");
        }
        // one minute later half of the previous minute (1 request) is left: 0.5 + 1 > 1
        let d = p.shared.local(&key, now_ms + 90_000);
        assert_eq!(d.deny, Some(0));
        // two minutes later it is free again
        assert!(p.shared.local(&key, now_ms + 180_000).deny.is_none());
    }

    #[test]
    fn jitter_stays_in_range() {
        assert_eq!(jitter(0.0), 0.0);
        for _ in 0..100 {
            let j = jitter(3.0);
            assert!((1.0..=3.0).contains(&j), "{j}");
        }
    }
}
