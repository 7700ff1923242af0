//! The request counters behind `rate-limiting` and `rate-limiting-advanced`:
//! fixed or sliding windows, counted in the node or in Redis.
//!
//! Node-local counters live in one store that outlives config reloads (keys
//! carry the plugin instance or namespace), so a config change does not reset
//! limits. In Redis, one script reads every window and counts the request, so
//! nodes sharing the Redis never both take the last slot.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// One window a request is counted in: `slot` tells the windows of one key apart
/// (a period for rate-limiting, the window size for rate-limiting-advanced),
/// `start` and `len` (seconds) place the current window.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub slot: u64,
    pub start: u64,
    pub len: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    id: u64,
    window: u64,
    len: u64,
    count: u64,
    prev: u64,
}

/// The node-local counters: sharded maps keyed by instance and identifier, shared
/// by every config generation. A request takes one shard lock and one lookup for
/// all its windows.
struct Store {
    shards: Vec<Mutex<HashMap<String, Vec<Slot>>>>,
}

static STORE: LazyLock<Store> = LazyLock::new(|| Store {
    shards: (0..64).map(|_| Mutex::new(HashMap::new())).collect(),
});

const MAX_KEYS_PER_SHARD: usize = 50_000;

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

/// The usage of `w` (before this request): its count, plus for sliding windows
/// the previous window's count weighted by how much of it still overlaps.
fn usage(slots: &[Slot], w: &Window, now_ms: u64, sliding: bool) -> f64 {
    let s = slots
        .iter()
        .find(|s| s.id == w.slot)
        .copied()
        .unwrap_or_default();
    let (count, prev) = roll(s, w.start, w.len);
    if sliding {
        let elapsed = (now_ms as f64 / 1000.0 - w.start as f64).clamp(0.0, w.len as f64);
        prev as f64 * (1.0 - elapsed / w.len as f64) + count as f64
    } else {
        count as f64
    }
}

/// Sliding weight of the previous window at `now_ms` (0 for fixed windows).
pub fn prev_weight(start: u64, len: u64, now_ms: u64, sliding: bool) -> f64 {
    if sliding {
        1.0 - ((now_ms as f64 / 1000.0 - start as f64) / len as f64).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Reads the usage of every window of `key` (before this request) and lets
/// `decide` answer with how many of the windows, from the first, count the
/// request; all under one lock.
pub fn check_and_count<T>(
    key: &str,
    windows: &[Window],
    now_ms: u64,
    sliding: bool,
    decide: impl FnOnce(&[f64]) -> (usize, T),
) -> T {
    let now = now_ms / 1000;
    let i = crate::upstream::balancer::hash_key(key.as_bytes()) as usize % STORE.shards.len();
    let Ok(mut g) = STORE.shards[i].lock() else {
        return decide(&vec![0.0; windows.len()]).1;
    };
    let used: Vec<f64> = {
        let slots = g.get(key).map(Vec::as_slice).unwrap_or(&[]);
        windows
            .iter()
            .map(|w| usage(slots, w, now_ms, sliding))
            .collect()
    };
    let (count, out) = decide(&used);
    if count > 0 {
        if g.len() > MAX_KEYS_PER_SHARD {
            // keys whose windows (and the ones after them) are all over can go
            g.retain(|_, slots| slots.iter().any(|s| s.window + 2 * s.len > now));
        }
        let slots = match g.get_mut(key) {
            Some(s) => s,
            None => g.entry(key.to_string()).or_default(),
        };
        for w in windows.iter().take(count) {
            let pos = match slots.iter().position(|s| s.id == w.slot) {
                Some(p) => p,
                None => {
                    slots.push(Slot {
                        id: w.slot,
                        ..Slot::default()
                    });
                    slots.len() - 1
                }
            };
            let s = &mut slots[pos];
            let (c, prev) = roll(*s, w.start, w.len);
            *s = Slot {
                id: w.slot,
                window: w.start,
                len: w.len,
                count: c + 1,
                prev,
            };
        }
    }
    out
}

/// Where the Redis counters are.
pub struct RedisTarget {
    pub url: String,
    pub timeout: std::time::Duration,
}

impl RedisTarget {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        host: &str,
        port: u16,
        username: Option<&str>,
        password: Option<&str>,
        database: i64,
        timeout_ms: u64,
        ssl: bool,
    ) -> Result<RedisTarget, String> {
        if ssl {
            return Err("redis.ssl: TLS to Redis is not supported by Portico yet".into());
        }
        let auth = match (username, password) {
            (Some(u), Some(p)) => format!("{}:{}@", urlencode(u), urlencode(p)),
            (None, Some(p)) => format!(":{}@", urlencode(p)),
            _ => String::new(),
        };
        Ok(RedisTarget {
            url: format!("redis://{auth}{host}:{port}/{database}"),
            timeout: std::time::Duration::from_millis(timeout_ms.max(1)),
        })
    }
}

/// One window for [`redis_check`]: the counter keys of the current and the
/// previous window, the limit, how long the keys live, and the previous
/// window's sliding weight.
pub struct RedisWindow {
    pub key: String,
    pub prev_key: String,
    pub limit: f64,
    pub ttl: u64,
    pub weight: f64,
}

/// How a request over a limit is counted in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// rate-limiting: refused when the usage has reached the limit; a refused
    /// request is not counted.
    Reached,
    /// rate-limiting-advanced: refused when the usage with this request is over
    /// the limit; with `penalty`, a refused request is counted in the windows up
    /// to the one that refused it, as Kong does.
    Exceeded { penalty: bool },
}

/// Reads every window's usage and counts the request, in one script: see
/// [`Rule`]. `ARGV`: n, then (limit, ttl, weight) per window, then the rule.
const SCRIPT: &str = r#"
local n = tonumber(ARGV[1])
local mode = ARGV[2 + n * 3]
local used = {}
local stop = 0
for i = 1, n do
  local cur = tonumber(redis.call('GET', KEYS[i]) or '0')
  local w = tonumber(ARGV[1 + (i - 1) * 3 + 3])
  local prev = 0
  if w > 0 then prev = tonumber(redis.call('GET', KEYS[n + i]) or '0') end
  local u = cur + prev * w
  used[i] = tostring(u)
  local limit = tonumber(ARGV[1 + (i - 1) * 3 + 1])
  if stop == 0 then
    if (mode == 'reached' and u >= limit) or (mode ~= 'reached' and u + 1 > limit) then
      stop = i
    end
  end
end
local upto = n
if stop > 0 then
  if mode == 'penalty' then upto = stop else upto = 0 end
end
for i = 1, upto do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[1 + (i - 1) * 3 + 2]))
end
return {tostring(stop), unpack(used)}
"#;

static SCRIPT_OBJ: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SCRIPT));

/// One connection manager per Redis URL, shared by every instance and reload.
static REDIS: LazyLock<tokio::sync::Mutex<HashMap<String, redis::aio::ConnectionManager>>> =
    LazyLock::new(Default::default);

async fn redis_conn(
    url: &str,
    timeout: std::time::Duration,
) -> redis::RedisResult<redis::aio::ConnectionManager> {
    let mut g = REDIS.lock().await;
    if let Some(c) = g.get(url) {
        return Ok(c.clone());
    }
    let client = redis::Client::open(url)?;
    let cfg = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1);
    let c = client.get_connection_manager_with_config(cfg).await?;
    g.insert(url.to_string(), c.clone());
    Ok(c)
}

/// Every window's usage before this request, read and counted in Redis as
/// `rule` says; an error when Redis is unreachable or too slow.
pub async fn redis_check(
    url: &str,
    timeout: std::time::Duration,
    windows: &[RedisWindow],
    rule: Rule,
) -> Result<Vec<f64>, String> {
    let run = async {
        let mut con = redis_conn(url, timeout).await?;
        let mut inv = SCRIPT_OBJ.prepare_invoke();
        for w in windows {
            inv.key(&w.key);
        }
        for w in windows {
            inv.key(&w.prev_key);
        }
        inv.arg(windows.len().to_string());
        for w in windows {
            inv.arg(w.limit.to_string())
                .arg(w.ttl.to_string())
                .arg(w.weight.to_string());
        }
        inv.arg(match rule {
            Rule::Reached => "reached",
            Rule::Exceeded { penalty: true } => "penalty",
            Rule::Exceeded { penalty: false } => "exceeded",
        });
        inv.invoke_async::<Vec<String>>(&mut con).await
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(values)) => Ok(values
            .iter()
            .skip(1)
            .map(|u| u.parse().unwrap_or(0.0))
            .collect()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_string()),
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_keeps_the_previous_window_for_sliding() {
        let s = Slot {
            id: 0,
            window: 60,
            len: 60,
            count: 7,
            prev: 3,
        };
        assert_eq!(roll(s, 60, 60), (7, 3));
        assert_eq!(roll(s, 120, 60), (0, 7));
        assert_eq!(roll(s, 180, 60), (0, 0));
    }

    #[test]
    fn counts_a_prefix_of_the_windows() {
        let key = format!("test|{}", uuid::Uuid::new_v4());
        let ws = [
            Window {
                slot: 10,
                start: 0,
                len: 3600,
            },
            Window {
                slot: 20,
                start: 0,
                len: 86_400,
            },
        ];
        let now_ms = 1000;
        // count in the first window only
        check_and_count(&key, &ws, now_ms, false, |_| (1, ()));
        let used = check_and_count(&key, &ws, now_ms, false, |u| (2, u.to_vec()));
        assert_eq!(used, [1.0, 0.0]);
        let used = check_and_count(&key, &ws, now_ms, false, |u| (0, u.to_vec()));
        assert_eq!(used, [2.0, 1.0]);
        // sliding: half of the previous window still counts
        let key = format!("test|{}", uuid::Uuid::new_v4());
        let w = [Window {
            slot: 60,
            start: 0,
            len: 60,
        }];
        for _ in 0..4 {
            check_and_count(&key, &w, 10_000, true, |_| (1, ()));
        }
        let next = [Window {
            slot: 60,
            start: 60,
            len: 60,
        }];
        let used = check_and_count(&key, &next, 90_000, true, |u| (0, u.to_vec()));
        assert_eq!(used, [2.0]);
    }
}
