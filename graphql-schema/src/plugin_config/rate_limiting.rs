//! `rate-limiting`: limits per second .. year, counted per consumer, credential,
//! IP, service, header, path or consumer group, in the node (`local`) or in a
//! shared Redis (`redis`), in fixed windows as Kong does or, as an option, sliding
//! ones.

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use crate::error::{Errors, Path};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "RateLimitingConfig")
)]
pub struct RateLimitingConfig {
    pub second: Option<f64>,
    pub minute: Option<f64>,
    pub hour: Option<f64>,
    pub day: Option<f64>,
    pub month: Option<f64>,
    pub year: Option<f64>,
    pub limit_by: String,
    pub header_name: Option<String>,
    pub path: Option<String>,
    pub policy: String,
    pub fault_tolerant: bool,
    pub hide_client_headers: bool,
    pub error_code: f64,
    pub error_message: String,
    pub sync_rate: f64,
    pub redis: RedisConfig,
    /// Portico's option: `fixed` (Kong's behaviour) or `sliding` (the previous
    /// window's count weighted by how much of it still overlaps).
    pub window_type: String,
    // Kong's older flat Redis fields, still accepted by Kong 3.x
    pub redis_host: Option<String>,
    pub redis_port: Option<u16>,
    pub redis_username: Option<String>,
    pub redis_password: Option<String>,
    pub redis_database: Option<i64>,
    pub redis_timeout: Option<u64>,
    pub redis_ssl: Option<bool>,
    pub redis_ssl_verify: Option<bool>,
    pub redis_server_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "RateLimitingRedis")
)]
pub struct RedisConfig {
    pub host: Option<String>,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub database: i64,
    pub timeout: u64,
    pub ssl: bool,
    pub ssl_verify: bool,
    pub server_name: Option<String>,
}

impl RedisConfig {
    /// Kong's ranges for `typedefs.timeout` (0 to 2^31-2 ms).
    pub fn check(&self, path: &Path, errors: &mut Errors) {
        if self.timeout > 2_147_483_646 {
            errors.add(
                path.field("timeout"),
                "value should be between 0 and 2147483646",
            );
        }
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            host: None,
            port: 6379,
            username: None,
            password: None,
            database: 0,
            timeout: 2000,
            ssl: false,
            ssl_verify: false,
            server_name: None,
        }
    }
}

impl Default for RateLimitingConfig {
    fn default() -> Self {
        RateLimitingConfig {
            second: None,
            minute: None,
            hour: None,
            day: None,
            month: None,
            year: None,
            limit_by: "consumer".into(),
            header_name: None,
            path: None,
            policy: "local".into(),
            fault_tolerant: true,
            hide_client_headers: false,
            error_code: 429.0,
            error_message: "API rate limit exceeded".into(),
            sync_rate: -1.0,
            redis: RedisConfig::default(),
            window_type: "fixed".into(),
            redis_host: None,
            redis_port: None,
            redis_username: None,
            redis_password: None,
            redis_database: None,
            redis_timeout: None,
            redis_ssl: None,
            redis_ssl_verify: None,
            redis_server_name: None,
        }
    }
}

pub const PERIODS: [&str; 6] = ["second", "minute", "hour", "day", "month", "year"];

impl RateLimitingConfig {
    /// `(period, limit)` for every configured limit, shortest period first.
    pub fn limits(&self) -> Vec<(&'static str, f64)> {
        let v = [
            self.second,
            self.minute,
            self.hour,
            self.day,
            self.month,
            self.year,
        ];
        PERIODS
            .iter()
            .zip(v)
            .filter_map(|(p, l)| l.map(|l| (*p, l)))
            .collect()
    }

    /// The Redis settings, with Kong's older flat fields folded in.
    pub fn effective_redis(&self) -> RedisConfig {
        let mut r = self.redis.clone();
        if let Some(h) = &self.redis_host {
            r.host = Some(h.clone());
        }
        if let Some(p) = self.redis_port {
            r.port = p;
        }
        if self.redis_username.is_some() {
            r.username = self.redis_username.clone();
        }
        if self.redis_password.is_some() {
            r.password = self.redis_password.clone();
        }
        if let Some(d) = self.redis_database {
            r.database = d;
        }
        if let Some(t) = self.redis_timeout {
            r.timeout = t;
        }
        if let Some(s) = self.redis_ssl {
            r.ssl = s;
        }
        if let Some(s) = self.redis_ssl_verify {
            r.ssl_verify = s;
        }
        if self.redis_server_name.is_some() {
            r.server_name = self.redis_server_name.clone();
        }
        r
    }
}

impl CheckConfig for RateLimitingConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        let limits = self.limits();
        if limits.is_empty() {
            errors.add(
                path.to_string(),
                "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'",
            );
        }
        for (p, l) in &limits {
            if *l <= 0.0 {
                errors.add(path.field(p), "value must be greater than 0");
            }
        }
        for w in limits.windows(2) {
            let ((p1, l1), (p2, l2)) = (w[0], w[1]);
            if l2 < l1 {
                errors.add(path.field(p2), format!("The limit for {p2}({l2:.1}) cannot be lower than the limit for {p1}({l1:.1})"));
            }
        }
        let by = [
            "consumer",
            "credential",
            "ip",
            "service",
            "header",
            "path",
            "consumer-group",
        ];
        if !by.contains(&self.limit_by.as_str()) {
            errors.add(
                path.field("limit_by"),
                format!(
                    "expected one of: {}; got '{}'",
                    by.join(", "),
                    self.limit_by
                ),
            );
        }
        if self.limit_by == "header" && self.header_name.as_deref().is_none_or(str::is_empty) {
            errors.add(
                path.field("header_name"),
                "required field missing when 'limit_by' is 'header'",
            );
        }
        if self.limit_by == "path" && self.path.as_deref().is_none_or(|p| !p.starts_with('/')) {
            errors.add(
                path.field("path"),
                "required field missing (a path starting with /) when 'limit_by' is 'path'",
            );
        }
        match self.policy.as_str() {
            "local" => {}
            "redis" => {
                let r = self.effective_redis();
                if r.host.is_none() {
                    errors.add(
                        path.field("redis").field("host"),
                        "required field missing when 'policy' is 'redis'",
                    );
                }
                if r.ssl {
                    // the node could not connect: refuse it here too
                    errors.add(
                        path.field("redis").field("ssl"),
                        "TLS to Redis is not supported by Portico yet",
                    );
                }
            }
            "cluster" => errors.add(
                path.field("policy"),
                "policy 'cluster' needs a database on the node; use 'redis' (as Konnect requires)",
            ),
            o => errors.add(
                path.field("policy"),
                format!("expected one of: local, cluster, redis; got '{o}'"),
            ),
        }
        if self.policy != "redis" && self.sync_rate != -1.0 {
            errors.add(
                path.field("sync_rate"),
                "sync_rate can only be used with the redis policy",
            );
        }
        if self.policy == "redis" && self.sync_rate != -1.0 && self.sync_rate < 0.02 {
            errors.add(
                path.field("sync_rate"),
                "sync_rate must be greater than 0.02, or -1 to disable",
            );
        }
        self.effective_redis().check(&path.field("redis"), errors);
        if !(100.0..=599.0).contains(&self.error_code) {
            errors.add(
                path.field("error_code"),
                "value should be between 100 and 599",
            );
        }
        if !["fixed", "sliding"].contains(&self.window_type.as_str()) {
            errors.add(
                path.field("window_type"),
                format!(
                    "expected one of: fixed, sliding; got '{}'",
                    self.window_type
                ),
            );
        }
    }
}
