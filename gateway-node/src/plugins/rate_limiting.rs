//! `rate-limiting` (priority 910): counts requests per identifier in fixed
//! calendar windows (Kong's behaviour) or sliding ones, answers 429 `API rate limit
//! exceeded` with `Retry-After` once a limit is reached, and sends
//! `X-RateLimit-Limit-<Period>`, `X-RateLimit-Remaining-<Period>`,
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` as Kong does.
//!
//! Policy `local`: counters live in this node, in a store that outlives config
//! reloads (keys carry the plugin id), so a config change does not reset limits.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use graphql_schema::plugin_config::rate_limiting::RateLimitingConfig;
use http::{HeaderName, HeaderValue, StatusCode};
use uuid::Uuid;

use crate::plugin::{Ctx, Flow, Plugin};

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

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    window: u64,
    count: u64,
    prev: u64,
}

/// The node-local counters: sharded maps, shared by every config generation.
struct Store {
    shards: Vec<Mutex<HashMap<String, Slot>>>,
}

static STORE: LazyLock<Store> = LazyLock::new(|| Store {
    shards: (0..64).map(|_| Mutex::new(HashMap::new())).collect(),
});

const MAX_KEYS_PER_SHARD: usize = 50_000;

impl Store {
    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Slot>> {
        let i = crate::upstream::balancer::hash_key(key.as_bytes()) as usize % self.shards.len();
        &self.shards[i]
    }

    /// The usage of `key` in the window starting at `start` (len `len`), before
    /// this request: the count, or with `sliding` the count plus the previous
    /// window's share that still overlaps.
    fn usage(&self, key: &str, start: u64, len: u64, now_ms: u64, sliding: bool) -> f64 {
        let Ok(g) = self.shard(key).lock() else {
            return 0.0;
        };
        let slot = g.get(key).copied().unwrap_or_default();
        let (count, prev) = roll(slot, start, len);
        if sliding {
            let elapsed = (now_ms as f64 / 1000.0 - start as f64).clamp(0.0, len as f64);
            prev as f64 * (1.0 - elapsed / len as f64) + count as f64
        } else {
            count as f64
        }
    }

    fn increment(&self, key: &str, start: u64, len: u64, now: u64) {
        let Ok(mut g) = self.shard(key).lock() else {
            return;
        };
        if g.len() > MAX_KEYS_PER_SHARD {
            // windows that ended more than a day ago can go
            g.retain(|_, s| s.window + 86_400 * 366 > now);
        }
        let slot = g.entry(key.to_string()).or_default();
        let (count, prev) = roll(*slot, start, len);
        *slot = Slot {
            window: start,
            count: count + 1,
            prev,
        };
    }
}

/// The slot's (count, previous count) as seen from the window starting at `start`.
fn roll(s: Slot, start: u64, len: u64) -> (u64, u64) {
    if s.window == start {
        (s.count, s.prev)
    } else if s.window + len == start {
        (0, s.count)
    } else {
        (0, 0)
    }
}

pub struct RateLimiting {
    cfg: RateLimitingConfig,
    plugin: Uuid,
    limits: Vec<(Period, f64, HeaderName, HeaderName)>,
    status: StatusCode,
}

impl RateLimiting {
    pub fn new(plugin: Uuid, cfg: RateLimitingConfig) -> Result<RateLimiting, String> {
        if cfg.policy == "redis" {
            return Err("policy 'redis' is not implemented by this node yet".into());
        }
        let limits = cfg
            .limits()
            .into_iter()
            .filter_map(|(p, l)| {
                let period = Period::parse(p)?;
                let t = format!("{}{}", &p[..1].to_ascii_uppercase(), &p[1..]);
                let lim = HeaderName::from_bytes(
                    format!("x-ratelimit-limit-{}", t.to_ascii_lowercase()).as_bytes(),
                )
                .ok()?;
                let rem = HeaderName::from_bytes(
                    format!("x-ratelimit-remaining-{}", t.to_ascii_lowercase()).as_bytes(),
                )
                .ok()?;
                Some((period, l, lim, rem))
            })
            .collect();
        let status =
            StatusCode::from_u16(cfg.error_code as u16).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
        Ok(RateLimiting {
            cfg,
            plugin,
            limits,
            status,
        })
    }

    /// Kong's identifier for `limit_by` (falling back to the client IP).
    fn identifier(&self, ctx: &Ctx<'_>) -> String {
        let ip = || ctx.conn.remote.ip().to_string();
        match self.cfg.limit_by.as_str() {
            "consumer" => ctx
                .identity
                .as_ref()
                .map(|i| i.consumer.id.to_string())
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
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let now = now_ms / 1000;
        let id = self.identifier(ctx);
        let sliding = self.cfg.window_type == "sliding";
        // usage per limit, and the limit that stops this request
        let mut rows = Vec::with_capacity(self.limits.len());
        let mut stop: Option<usize> = None;
        for (i, (period, limit, _, _)) in self.limits.iter().enumerate() {
            let (start, len) = period.window(now);
            let key = format!("{}|{}|{}", self.plugin, id, period.title());
            let used = STORE.usage(&key, start, len, now_ms, sliding);
            let remaining = limit - used;
            if remaining <= 0.0 && stop.is_none() {
                stop = Some(i);
            }
            let reset = (start + len).saturating_sub(now).max(1);
            rows.push((key, start, len, remaining, reset));
        }
        // headers: each limit, then the tightest one as RateLimit-*
        let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
        let mut tight: Option<(f64, f64, u64)> = None;
        for (i, ((_, limit, lim_h, rem_h), (_, _, _, remaining, reset))) in
            self.limits.iter().zip(&rows).enumerate()
        {
            let mut rem = *remaining;
            if stop.is_none() || stop == Some(i) {
                rem -= 1.0;
            }
            let rem = rem.max(0.0).floor();
            if tight.is_none_or(|(_, r, _)| rem < r) {
                tight = Some((*limit, rem, *reset));
            }
            headers.push((lim_h.clone(), HeaderValue::from(*limit as u64)));
            headers.push((rem_h.clone(), HeaderValue::from(rem as u64)));
        }
        if let Some((limit, rem, reset)) = tight {
            headers.push((
                HeaderName::from_static("ratelimit-limit"),
                HeaderValue::from(limit as u64),
            ));
            headers.push((
                HeaderName::from_static("ratelimit-remaining"),
                HeaderValue::from(rem as u64),
            ));
            headers.push((
                HeaderName::from_static("ratelimit-reset"),
                HeaderValue::from(reset),
            ));
        }
        if let Some(i) = stop {
            let mut r = crate::plugins::message(self.status, &self.cfg.error_message);
            let h = r.headers_mut();
            if !self.cfg.hide_client_headers {
                for (k, v) in headers {
                    h.insert(k, v);
                }
            }
            h.insert(http::header::RETRY_AFTER, HeaderValue::from(rows[i].4));
            return Flow::Respond(r);
        }
        for (key, start, len, _, _) in &rows {
            STORE.increment(key, *start, *len, now);
        }
        if !self.cfg.hide_client_headers {
            ctx.response_headers.extend(headers);
        }
        Flow::Continue
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

    #[test]
    fn rolling_keeps_the_previous_window_for_sliding() {
        let s = Slot {
            window: 60,
            count: 7,
            prev: 3,
        };
        assert_eq!(roll(s, 60, 60), (7, 3));
        assert_eq!(roll(s, 120, 60), (0, 7));
        assert_eq!(roll(s, 180, 60), (0, 0));
    }
}
