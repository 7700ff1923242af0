//! `rate-limiting-advanced` (Kong Enterprise's): any number of `limit` /
//! `window_size` pairs, sliding (default) or fixed windows, counted per
//! consumer, credential, IP, service, route, header, path or consumer group (or a
//! combination), in the node (`local`, and `cluster`, which is the same on a node
//! without a database) or in Redis. Instances with the same `namespace` share
//! their counters.

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use crate::error::{Errors, Path};

pub const IDENTIFIERS: &[&str] = &[
    "ip",
    "credential",
    "consumer",
    "service",
    "route",
    "header",
    "path",
    "consumer-group",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "RateLimitingAdvancedConfig")
)]
pub struct RateLimitingAdvancedConfig {
    pub identifier: String,
    /// Several identifiers combined into one key; used instead of `identifier`
    /// when set.
    pub compound_identifier: Option<Vec<String>>,
    pub window_size: Option<Vec<f64>>,
    pub window_type: String,
    pub limit: Option<Vec<f64>>,
    /// How often Kong syncs counters with the data store. Portico counts `local`
    /// and `cluster` in the node and `redis` in Redis on every request.
    pub sync_rate: Option<f64>,
    /// Counters are shared by instances with the same namespace (Kong generates
    /// one per instance; Portico uses the instance id when it is not set).
    pub namespace: Option<String>,
    pub strategy: String,
    /// nginx shared dicts in Kong; no effect in Portico.
    pub dictionary_name: String,
    pub lock_dictionary_name: String,
    pub hide_client_headers: bool,
    pub retry_after_jitter_max: f64,
    pub header_name: Option<String>,
    pub path: Option<String>,
    pub redis: RlaRedisConfig,
    pub enforce_consumer_groups: bool,
    pub consumer_groups: Option<Vec<String>>,
    pub disable_penalty: bool,
    pub error_code: f64,
    pub error_message: String,
    /// Kong's throttling (delaying requests over the limit): only off.
    pub throttling: Option<ThrottlingConfig>,
}

impl Default for RateLimitingAdvancedConfig {
    fn default() -> Self {
        RateLimitingAdvancedConfig {
            identifier: "consumer".into(),
            compound_identifier: None,
            window_size: None,
            window_type: "sliding".into(),
            limit: None,
            sync_rate: None,
            namespace: None,
            strategy: "local".into(),
            dictionary_name: "kong_rate_limiting_counters".into(),
            lock_dictionary_name: "kong_locks".into(),
            hide_client_headers: false,
            retry_after_jitter_max: 0.0,
            header_name: None,
            path: None,
            redis: RlaRedisConfig::default(),
            enforce_consumer_groups: false,
            consumer_groups: None,
            disable_penalty: false,
            error_code: 429.0,
            error_message: "API rate limit exceeded".into(),
            throttling: None,
        }
    }
}

/// Kong Enterprise's Redis record (a superset of the open-source one that
/// `rate-limiting` uses). Portico talks to one Redis server (host and port);
/// Sentinel, Cluster and cloud authentication are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "RateLimitingAdvancedRedis")
)]
pub struct RlaRedisConfig {
    pub host: Option<String>,
    pub port: u16,
    /// Kong's older single timeout (ms); when set it is the three below.
    pub timeout: Option<u64>,
    pub connect_timeout: u64,
    pub send_timeout: u64,
    pub read_timeout: u64,
    pub username: Option<String>,
    pub password: Option<String>,
    pub database: i64,
    pub ssl: bool,
    pub ssl_verify: bool,
    pub server_name: Option<String>,
    pub keepalive_pool_size: u64,
    pub keepalive_backlog: Option<u64>,
    pub connection_is_proxied: bool,
    pub redis_proxy_type: Option<String>,
    pub sentinel_master: Option<String>,
    pub sentinel_role: Option<String>,
    pub sentinel_nodes: Option<Vec<serde_json::Value>>,
    pub sentinel_addresses: Option<Vec<String>>,
    pub sentinel_username: Option<String>,
    pub sentinel_password: Option<String>,
    pub cluster_nodes: Option<Vec<serde_json::Value>>,
    pub cluster_addresses: Option<Vec<String>>,
    pub cluster_max_redirections: i64,
    pub cloud_authentication: Option<serde_json::Value>,
}

impl Default for RlaRedisConfig {
    fn default() -> Self {
        RlaRedisConfig {
            host: None,
            port: 6379,
            timeout: None,
            connect_timeout: 2000,
            send_timeout: 2000,
            read_timeout: 2000,
            username: None,
            password: None,
            database: 0,
            ssl: false,
            ssl_verify: false,
            server_name: None,
            keepalive_pool_size: 256,
            keepalive_backlog: None,
            connection_is_proxied: false,
            redis_proxy_type: None,
            sentinel_master: None,
            sentinel_role: None,
            sentinel_nodes: None,
            sentinel_addresses: None,
            sentinel_username: None,
            sentinel_password: None,
            cluster_nodes: None,
            cluster_addresses: None,
            cluster_max_redirections: 5,
            cloud_authentication: None,
        }
    }
}

impl RlaRedisConfig {
    /// The timeout to use for one Redis exchange (ms).
    pub fn timeout_ms(&self) -> u64 {
        self.timeout.unwrap_or_else(|| {
            self.connect_timeout
                .max(self.send_timeout)
                .max(self.read_timeout)
        })
    }

    /// Kong's ranges; with `used` (strategy `redis`), what Portico cannot do.
    fn check(&self, path: &Path, used: bool, errors: &mut Errors) {
        const MAX_TIMEOUT: u64 = 2_147_483_646;
        for (field, v) in [
            ("timeout", self.timeout.unwrap_or(0)),
            ("connect_timeout", self.connect_timeout),
            ("send_timeout", self.send_timeout),
            ("read_timeout", self.read_timeout),
        ] {
            if v > MAX_TIMEOUT {
                errors.add(
                    path.field(field),
                    format!("value should be between 0 and {MAX_TIMEOUT}"),
                );
            }
        }
        if !(1..=2_147_483_646).contains(&self.keepalive_pool_size) {
            errors.add(
                path.field("keepalive_pool_size"),
                "value should be between 1 and 2147483646",
            );
        }
        if let Some(r) = &self.sentinel_role
            && !["master", "slave", "any"].contains(&r.as_str())
        {
            errors.add(
                path.field("sentinel_role"),
                format!("expected one of: master, slave, any; got '{r}'"),
            );
        }
        if let Some(t) = &self.redis_proxy_type
            && t != "envoy_v1.31"
        {
            errors.add(
                path.field("redis_proxy_type"),
                format!("expected one of: envoy_v1.31; got '{t}'"),
            );
        }
        fn set<T>(v: &Option<Vec<T>>) -> bool {
            v.as_ref().is_some_and(|l| !l.is_empty())
        }
        if !used {
            return;
        }
        if self.ssl {
            errors.add(
                path.field("ssl"),
                "TLS to Redis is not supported by Portico yet",
            );
        }
        if self.sentinel_master.is_some()
            || self.sentinel_role.is_some()
            || set(&self.sentinel_nodes)
            || set(&self.sentinel_addresses)
        {
            errors.add(
                path.field("sentinel_master"),
                "Redis Sentinel is not supported by Portico yet; use host and port",
            );
        }
        if set(&self.cluster_nodes) || set(&self.cluster_addresses) {
            errors.add(
                path.field("cluster_nodes"),
                "Redis Cluster is not supported by Portico yet; use host and port",
            );
        }
        if self.cloud_authentication.as_ref().is_some_and(|v| {
            v.as_object()
                .is_none_or(|m| m.values().any(|x| !x.is_null()))
        }) {
            errors.add(
                path.field("cloud_authentication"),
                "Redis cloud authentication is not supported by Portico yet",
            );
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "RateLimitingAdvancedThrottling")
)]
pub struct ThrottlingConfig {
    pub enabled: bool,
    pub interval: f64,
    pub retry_times: f64,
    pub queue_limit: f64,
}

impl Default for ThrottlingConfig {
    fn default() -> Self {
        ThrottlingConfig {
            enabled: false,
            interval: 5.0,
            retry_times: 3.0,
            queue_limit: 5.0,
        }
    }
}

impl RateLimitingAdvancedConfig {
    /// `(window size in seconds, limit)` pairs, in config order.
    pub fn pairs(&self) -> Vec<(u64, f64)> {
        self.window_size
            .iter()
            .flatten()
            .zip(self.limit.iter().flatten())
            .map(|(w, l)| (*w as u64, *l))
            .collect()
    }

    /// The identifiers the counter key is made of.
    pub fn identifiers(&self) -> Vec<&str> {
        match &self.compound_identifier {
            Some(c) if !c.is_empty() => c.iter().map(String::as_str).collect(),
            _ => vec![self.identifier.as_str()],
        }
    }
}

impl CheckConfig for RateLimitingAdvancedConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        for (field, list) in [("window_size", &self.window_size), ("limit", &self.limit)] {
            match list {
                None => errors.add(path.field(field), "required field missing"),
                Some(l) if l.is_empty() => {
                    errors.add(path.field(field), "length must be at least 1")
                }
                Some(_) => {}
            }
        }
        for (i, w) in self.window_size.iter().flatten().enumerate() {
            let p = path.field("window_size").index(i);
            if *w <= 0.0 {
                errors.add(p, "value must be greater than 0");
            } else if w.fract() != 0.0 || *w > 1e10 {
                errors.add(p, "expected a whole number of seconds");
            }
        }
        for (i, l) in self.limit.iter().flatten().enumerate() {
            if *l < 0.0 || !l.is_finite() {
                errors.add(
                    path.field("limit").index(i),
                    "value must be greater than or equal to 0",
                );
            }
        }
        if let (Some(w), Some(l)) = (&self.window_size, &self.limit)
            && w.len() != l.len()
        {
            errors.add(
                path.to_string(),
                "You must provide the same number of windows and limits",
            );
        }
        if !["sliding", "fixed"].contains(&self.window_type.as_str()) {
            errors.add(
                path.field("window_type"),
                format!(
                    "expected one of: fixed, sliding; got '{}'",
                    self.window_type
                ),
            );
        }
        if !IDENTIFIERS.contains(&self.identifier.as_str()) {
            errors.add(
                path.field("identifier"),
                format!(
                    "expected one of: {}; got '{}'",
                    IDENTIFIERS.join(", "),
                    self.identifier
                ),
            );
        }
        for (i, id) in self.compound_identifier.iter().flatten().enumerate() {
            if !IDENTIFIERS.contains(&id.as_str()) {
                errors.add(
                    path.field("compound_identifier").index(i),
                    format!("expected one of: {}; got '{id}'", IDENTIFIERS.join(", ")),
                );
            }
        }
        let ids = self.identifiers();
        if ids.contains(&"header") && self.header_name.as_deref().is_none_or(str::is_empty) {
            errors.add(path.field("header_name"), "No header name provided");
        }
        if let Some(h) = &self.header_name
            && (h.is_empty()
                || !h
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            errors.add(
                path.field("header_name"),
                format!(
                    "bad header name '{h}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
                ),
            );
        }
        if ids.contains(&"path") && self.path.is_none() {
            errors.add(path.field("path"), "No path provided");
        }
        if let Some(p) = &self.path {
            if !p.starts_with('/') {
                errors.add(path.field("path"), "should start with: /");
            } else if p.contains("//") {
                errors.add(path.field("path"), "must not have empty segments");
            }
        }
        match self.strategy.as_str() {
            "local" => {
                if self.sync_rate.is_some_and(|r| r > -1.0) {
                    errors.add(
                        path.field("sync_rate"),
                        "sync_rate cannot be configured when using a local strategy",
                    );
                }
            }
            "cluster" | "redis" => {
                if self.sync_rate.is_none() {
                    errors.add(
                        path.field("sync_rate"),
                        "sync_rate is required if not using a local strategy",
                    );
                }
            }
            o => errors.add(
                path.field("strategy"),
                format!("expected one of: cluster, redis, local; got '{o}'"),
            ),
        }
        if self.sync_rate.is_some_and(|r| r > 0.0 && r < 0.02) {
            errors.add(
                path.field("sync_rate"),
                "Config option 'sync_rate' must not be a decimal between 0 and 0.02",
            );
        }
        if self.strategy == "redis"
            && self.redis.host.is_none()
            && self.redis.sentinel_addresses.is_none()
            && self.redis.cluster_addresses.is_none()
        {
            errors.add(
                path.field("redis").field("host"),
                "No redis config provided",
            );
        }
        self.redis
            .check(&path.field("redis"), self.strategy == "redis", errors);
        if self.retry_after_jitter_max < 0.0 {
            errors.add(
                path.field("retry_after_jitter_max"),
                "Non-negative retry_after_jitter_max value is expected",
            );
        }
        if self.enforce_consumer_groups && self.consumer_groups.is_none() {
            errors.add(path.field("consumer_groups"), "No consumer groups provided");
        }
        if !(100.0..=599.0).contains(&self.error_code) {
            errors.add(
                path.field("error_code"),
                "value should be between 100 and 599",
            );
        }
        if self.throttling.as_ref().is_some_and(|t| t.enabled) {
            errors.add(
                path.field("throttling").field("enabled"),
                "throttling is not supported by Portico yet",
            );
        }
    }

    /// As Kong: the pairs sorted by limit, `sync_rate` -1 for `local`.
    fn normalize(&mut self) {
        if let (Some(w), Some(l)) = (&mut self.window_size, &mut self.limit) {
            let mut pairs: Vec<(f64, f64)> = l.iter().copied().zip(w.iter().copied()).collect();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            *l = pairs.iter().map(|p| p.0).collect();
            *w = pairs.iter().map(|p| p.1).collect();
        }
        if self.strategy == "local" {
            self.sync_rate = Some(-1.0);
        }
    }
}
