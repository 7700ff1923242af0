//! Balancers: pick a healthy target for each request (weighted round-robin,
//! consistent hashing or least-connections, as the upstream says), keep per-target
//! health from passive results and active probes, and re-resolve DNS names.
//!
//! A service whose host is not an upstream gets an implicit balancer with one
//! target (Kong does the same), so the proxy has one code path.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use graphql_schema::entity::{Algorithm, Healthchecks, Target, Upstream};

/// One target and its live state.
#[derive(Debug)]
pub struct TargetState {
    pub host: String,
    pub port: u16,
    pub weight: u32,
    /// Resolved addresses (IPv4 preferred, as Kong's default DNS order does).
    pub addrs: ArcSwap<Vec<SocketAddr>>,
    addr_rr: AtomicUsize,
    healthy: AtomicBool,
    successes: AtomicU32,
    tcp_failures: AtomicU32,
    timeouts: AtomicU32,
    http_failures: AtomicU32,
    /// Requests in flight, for least-connections.
    pub active: AtomicUsize,
}

impl TargetState {
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub fn target(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn addr(&self) -> Option<SocketAddr> {
        let a = self.addrs.load();
        match a.len() {
            0 => None,
            1 => Some(a[0]),
            n => Some(a[self.addr_rr.fetch_add(1, Ordering::Relaxed) % n]),
        }
    }
}

/// What happened to one request or probe, for health counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Status(u16),
    TcpFailure,
    Timeout,
}

/// Why no target could be picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickError {
    /// Every target is unhealthy or has weight 0.
    NoHealthy,
    /// No target's name resolved.
    NameResolution,
}

#[derive(Debug)]
pub struct Balancer {
    pub name: String,
    pub algorithm: Algorithm,
    hash_on: graphql_schema::entity::HashOn,
    hash_fallback: graphql_schema::entity::HashOn,
    pub healthchecks: Healthchecks,
    pub host_header: Option<String>,
    pub targets: Vec<TargetState>,
    /// Target indices interleaved by weight (smooth weighted round-robin order).
    schedule: Vec<u32>,
    rr: AtomicUsize,
    /// Consistent-hashing ring: (point, target index), sorted by point.
    ring: Vec<(u64, u32)>,
    /// What this balancer was built from; equal fingerprints reuse the balancer
    /// (and its health state) across reloads.
    pub fingerprint: String,
}

pub const DNS_REFRESH: Duration = Duration::from_secs(30);

impl Balancer {
    /// Builds a balancer for an upstream entity and its targets.
    pub async fn for_upstream(up: &Upstream, targets: &[&Target]) -> Arc<Balancer> {
        let fingerprint = serde_json::to_string(&(up, targets)).unwrap_or_default();
        let list: Vec<(String, u16, u32)> = targets
            .iter()
            .map(|t| (t.host.clone(), t.port, t.weight))
            .collect();
        Self::build(
            up.name.clone(),
            up.algorithm,
            (up.hash_on.clone(), up.hash_fallback.clone()),
            up.healthchecks.clone(),
            up.host_header.clone(),
            &list,
            fingerprint,
        )
        .await
    }

    /// The implicit balancer of a service that points at a host directly.
    pub async fn for_host(host: &str, port: u16) -> Arc<Balancer> {
        Self::build(
            host.to_string(),
            Algorithm::RoundRobin,
            (
                graphql_schema::entity::HashOn::None,
                graphql_schema::entity::HashOn::None,
            ),
            Healthchecks::default(),
            None,
            &[(host.to_string(), port, 100)],
            format!("host:{host}:{port}"),
        )
        .await
    }

    async fn build(
        name: String,
        algorithm: Algorithm,
        (hash_on, hash_fallback): (
            graphql_schema::entity::HashOn,
            graphql_schema::entity::HashOn,
        ),
        healthchecks: Healthchecks,
        host_header: Option<String>,
        list: &[(String, u16, u32)],
        fingerprint: String,
    ) -> Arc<Balancer> {
        let mut targets = Vec::with_capacity(list.len());
        for (host, port, weight) in list {
            let addrs = resolve(host, *port).await;
            if addrs.is_empty() {
                tracing::warn!(target = %format!("{host}:{port}"), "name resolution failed; will retry");
            }
            targets.push(TargetState {
                host: host.clone(),
                port: *port,
                weight: *weight,
                addrs: ArcSwap::from_pointee(addrs),
                addr_rr: AtomicUsize::new(0),
                healthy: AtomicBool::new(true),
                successes: AtomicU32::new(0),
                tcp_failures: AtomicU32::new(0),
                timeouts: AtomicU32::new(0),
                http_failures: AtomicU32::new(0),
                active: AtomicUsize::new(0),
            });
        }
        let weights: Vec<u32> = targets.iter().map(|t| t.weight).collect();
        let b = Arc::new(Balancer {
            name,
            algorithm,
            hash_on,
            hash_fallback,
            schedule: smooth_schedule(&weights),
            ring: hash_ring(&targets),
            healthchecks,
            host_header,
            targets,
            rr: AtomicUsize::new(0),
            fingerprint,
        });
        spawn_maintenance(Arc::downgrade(&b));
        b
    }

    /// Picks a target, skipping unhealthy ones, weight-0 ones and `exclude` (targets
    /// already tried for this request). `hash` is the consistent-hashing key.
    pub fn pick(
        &self,
        hash: Option<u64>,
        exclude: &[usize],
    ) -> Result<(usize, SocketAddr), PickError> {
        let eligible = |i: usize| {
            let t = &self.targets[i];
            t.weight > 0 && t.is_healthy() && !exclude.contains(&i)
        };
        let mut unresolved = false;
        let mut with_addr = |i: usize| -> Option<(usize, SocketAddr)> {
            match self.targets[i].addr() {
                Some(a) => Some((i, a)),
                None => {
                    unresolved = true;
                    None
                }
            }
        };
        let found = match (self.algorithm, hash) {
            (Algorithm::ConsistentHashing, Some(h)) if !self.ring.is_empty() => {
                let start = self.ring.partition_point(|(p, _)| *p < h);
                (0..self.ring.len())
                    .map(|k| self.ring[(start + k) % self.ring.len()].1 as usize)
                    .find(|&i| eligible(i))
                    .and_then(&mut with_addr)
            }
            (Algorithm::LeastConnections, _) => {
                let offset = self.rr.fetch_add(1, Ordering::Relaxed);
                let n = self.targets.len();
                (0..n)
                    .map(|k| (offset + k) % n)
                    .filter(|&i| eligible(i))
                    .min_by(|&a, &b| {
                        // active/weight, compared without division
                        let (ta, tb) = (&self.targets[a], &self.targets[b]);
                        let la =
                            (ta.active.load(Ordering::Relaxed) as u64 + 1) * u64::from(tb.weight);
                        let lb =
                            (tb.active.load(Ordering::Relaxed) as u64 + 1) * u64::from(ta.weight);
                        la.cmp(&lb)
                    })
                    .and_then(&mut with_addr)
            }
            _ => {
                let n = self.schedule.len();
                if n == 0 {
                    None
                } else {
                    let start = self.rr.fetch_add(1, Ordering::Relaxed);
                    (0..n)
                        .map(|k| self.schedule[(start + k) % n] as usize)
                        .filter(|&i| eligible(i))
                        .find_map(&mut with_addr)
                }
            }
        };
        match found {
            Some(x) => Ok(x),
            None if unresolved => Err(PickError::NameResolution),
            None => Err(PickError::NoHealthy),
        }
    }

    /// Counts a passive result (a proxied request's outcome).
    pub fn report_passive(&self, i: usize, o: Outcome) {
        let p = &self.healthchecks.passive;
        self.count(
            i,
            o,
            &p.healthy.http_statuses,
            p.healthy.successes,
            &p.unhealthy.http_statuses,
            [
                p.unhealthy.tcp_failures,
                p.unhealthy.timeouts,
                p.unhealthy.http_failures,
            ],
        );
    }

    /// Counts an active probe's result.
    pub fn report_active(&self, i: usize, o: Outcome) {
        let a = &self.healthchecks.active;
        self.count(
            i,
            o,
            &a.healthy.http_statuses,
            a.healthy.successes,
            &a.unhealthy.http_statuses,
            [
                a.unhealthy.tcp_failures,
                a.unhealthy.timeouts,
                a.unhealthy.http_failures,
            ],
        );
    }

    /// Consecutive counters as lua-resty-healthcheck keeps them: a success resets the
    /// failure counters and vice versa; a threshold of 0 disables that counter.
    fn count(
        &self,
        i: usize,
        o: Outcome,
        ok_statuses: &[u16],
        ok_needed: u32,
        bad_statuses: &[u16],
        [tcp_max, to_max, http_max]: [u32; 3],
    ) {
        let Some(t) = self.targets.get(i) else { return };
        let fail = |c: &AtomicU32, max: u32| {
            t.successes.store(0, Ordering::Relaxed);
            let n = c.fetch_add(1, Ordering::Relaxed) + 1;
            if max > 0 && n >= max && t.healthy.swap(false, Ordering::Relaxed) {
                tracing::warn!(upstream = %self.name, target = %t.target(), "target marked unhealthy");
                for c in [&t.tcp_failures, &t.timeouts, &t.http_failures] {
                    c.store(0, Ordering::Relaxed);
                }
            }
        };
        match o {
            Outcome::TcpFailure => fail(&t.tcp_failures, tcp_max),
            Outcome::Timeout => fail(&t.timeouts, to_max),
            Outcome::Status(s) if bad_statuses.contains(&s) => fail(&t.http_failures, http_max),
            Outcome::Status(s) if ok_statuses.contains(&s) => {
                for c in [&t.tcp_failures, &t.timeouts, &t.http_failures] {
                    c.store(0, Ordering::Relaxed);
                }
                let n = t.successes.fetch_add(1, Ordering::Relaxed) + 1;
                if ok_needed > 0 && n >= ok_needed && !t.healthy.swap(true, Ordering::Relaxed) {
                    tracing::info!(upstream = %self.name, target = %t.target(), "target marked healthy");
                    t.successes.store(0, Ordering::Relaxed);
                }
            }
            Outcome::Status(_) => {}
        }
    }

    /// What consistent hashing hashes on, and the fallback.
    pub fn hash_config(
        &self,
    ) -> (
        &graphql_schema::entity::HashOn,
        &graphql_schema::entity::HashOn,
    ) {
        (&self.hash_on, &self.hash_fallback)
    }

    /// `(target, healthy)` for every target, for `/status`.
    pub fn health(&self) -> Vec<(String, bool)> {
        self.targets
            .iter()
            .map(|t| (t.target(), t.is_healthy()))
            .collect()
    }

    fn active_enabled(&self) -> bool {
        let a = &self.healthchecks.active;
        a.healthy.interval > 0.0 || a.unhealthy.interval > 0.0
    }
}

/// Stable 64-bit hash of a balancing key.
pub fn hash_key(s: &[u8]) -> u64 {
    // FNV-1a then a final mix: stable across processes and releases, so every node
    // sends the same key to the same target.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

fn hash_ring(targets: &[TargetState]) -> Vec<(u64, u32)> {
    let mut ring = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        if t.weight == 0 {
            continue;
        }
        // 100 points per 100 weight, at least 1
        let points = (u64::from(t.weight)).clamp(1, 1000);
        for p in 0..points {
            ring.push((
                hash_key(format!("{}:{}#{p}", t.host, t.port).as_bytes()),
                i as u32,
            ));
        }
    }
    ring.sort_unstable();
    ring
}

/// Smooth weighted round-robin order (nginx's), weights reduced by their gcd and the
/// schedule capped at ~10k entries.
fn smooth_schedule(weights: &[u32]) -> Vec<u32> {
    let g = weights
        .iter()
        .filter(|w| **w > 0)
        .fold(0u64, |a, &w| gcd(a, u64::from(w)));
    if g == 0 {
        return Vec::new();
    }
    let mut w: Vec<u64> = weights.iter().map(|&x| u64::from(x) / g).collect();
    let total: u64 = w.iter().sum();
    if total > 10_000 {
        let scale = total as f64 / 10_000.0;
        for x in w.iter_mut() {
            if *x > 0 {
                *x = ((*x as f64 / scale).round() as u64).max(1);
            }
        }
    }
    let total: i64 = w.iter().sum::<u64>() as i64;
    let mut current = vec![0i64; w.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for i in 0..w.len() {
            current[i] += w[i] as i64;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        out.push(best as u32);
    }
    out
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Resolves `host:port`; IP literals are returned as they are.
pub async fn resolve(host: &str, port: u16) -> Vec<SocketAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return vec![SocketAddr::new(ip, port)];
    }
    match tokio::net::lookup_host((bare, port)).await {
        Ok(it) => {
            let all: Vec<SocketAddr> = it.collect();
            let v4: Vec<SocketAddr> = all.iter().copied().filter(|a| a.is_ipv4()).collect();
            if v4.is_empty() { all } else { v4 }
        }
        Err(e) => {
            tracing::debug!("resolving {host}: {e}");
            Vec::new()
        }
    }
}

/// Background work of one balancer: DNS refresh and active health probes. Ends when
/// the balancer is dropped (its config replaced by one that no longer uses it).
fn spawn_maintenance(weak: Weak<Balancer>) {
    tokio::spawn(async move {
        let mut last_dns = tokio::time::Instant::now();
        let mut last_healthy_probe = tokio::time::Instant::now();
        let mut last_unhealthy_probe = tokio::time::Instant::now();
        loop {
            let tick = match weak.upgrade() {
                None => return,
                Some(b) => {
                    let a = &b.healthchecks.active;
                    let mut tick = DNS_REFRESH.as_secs_f64();
                    for iv in [a.healthy.interval, a.unhealthy.interval] {
                        if iv > 0.0 {
                            tick = tick.min(iv);
                        }
                    }
                    Duration::from_secs_f64(tick.max(0.05))
                }
            };
            tokio::time::sleep(tick).await;
            let Some(b) = weak.upgrade() else { return };
            let now = tokio::time::Instant::now();
            if now.duration_since(last_dns) >= DNS_REFRESH {
                last_dns = now;
                for t in &b.targets {
                    let fresh = resolve(&t.host, t.port).await;
                    if !fresh.is_empty() && **t.addrs.load() != fresh {
                        t.addrs.store(Arc::new(fresh));
                    }
                }
            }
            if b.active_enabled() {
                let a = b.healthchecks.active.clone();
                let due_h = a.healthy.interval > 0.0
                    && now.duration_since(last_healthy_probe).as_secs_f64()
                        >= a.healthy.interval * 0.999;
                let due_u = a.unhealthy.interval > 0.0
                    && now.duration_since(last_unhealthy_probe).as_secs_f64()
                        >= a.unhealthy.interval * 0.999;
                if due_h {
                    last_healthy_probe = now;
                }
                if due_u {
                    last_unhealthy_probe = now;
                }
                let mut probes = Vec::new();
                for (i, t) in b.targets.iter().enumerate() {
                    let healthy = t.is_healthy();
                    if ((healthy && due_h) || (!healthy && due_u))
                        && let Some(addr) = t.addr()
                    {
                        probes.push((i, addr, t.host.clone(), t.port));
                    }
                }
                let sem = Arc::new(tokio::sync::Semaphore::new(a.concurrency.max(1) as usize));
                let mut set = tokio::task::JoinSet::new();
                for (i, addr, host, port) in probes {
                    let a = a.clone();
                    let sem = sem.clone();
                    set.spawn(async move {
                        let _permit = sem.acquire().await;
                        (i, super::health::probe(&a, addr, &host, port).await)
                    });
                }
                drop(b);
                while let Some(r) = set.join_next().await {
                    if let (Ok((i, o)), Some(b)) = (r, weak.upgrade()) {
                        b.report_active(i, o);
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_follows_weights_smoothly() {
        let s = smooth_schedule(&[5, 1, 1]);
        assert_eq!(s.len(), 7);
        assert_eq!(s.iter().filter(|x| **x == 0).count(), 5);
        assert_eq!(&s[..3], &[0, 0, 1]); // nginx's documented a a b a c a a
        assert_eq!(smooth_schedule(&[100, 100]), vec![0, 1]);
        assert!(smooth_schedule(&[0, 0]).is_empty());
        let big = smooth_schedule(&[65535, 1]);
        assert!(big.len() <= 10_001 && big.contains(&1));
    }

    #[tokio::test]
    async fn passive_counting_marks_unhealthy_and_pick_skips_it() {
        let up: graphql_schema::entity::UpstreamConfig =
            serde_json::from_value(serde_json::json!({
                "name": "u",
                "healthchecks": {"passive": {"unhealthy": {"http_failures": 2, "tcp_failures": 1}}}
            }))
            .unwrap_or_default();
        let mut e = graphql_schema::error::Errors::default();
        let up = up
            .validate(&graphql_schema::error::Path::root(), &mut e)
            .unwrap_or_else(|| panic!("{:?}", e.list));
        let t = |h: &str| Target {
            id: uuid::Uuid::nil(),
            upstream_id: up.id,
            host: h.into(),
            port: 1,
            weight: 100,
            tags: vec![],
            source: String::new(),
        };
        let (a, b) = (t("127.0.0.1"), t("127.0.0.2"));
        let bal = Balancer::for_upstream(&up, &[&a, &b]).await;
        bal.report_passive(0, Outcome::Status(500));
        assert!(bal.targets[0].is_healthy());
        bal.report_passive(0, Outcome::Status(500));
        assert!(!bal.targets[0].is_healthy());
        for _ in 0..10 {
            assert_eq!(bal.pick(None, &[]).map(|x| x.0), Ok(1));
        }
        bal.report_passive(1, Outcome::TcpFailure);
        assert_eq!(bal.pick(None, &[]), Err(PickError::NoHealthy));
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(hash_key(b"user-1"), hash_key(b"user-1"));
        assert_ne!(hash_key(b"user-1"), hash_key(b"user-2"));
    }
}
