//! Upstream (a virtual host name balanced over targets) and Target, with Kong's
//! balancing options and health-check tree (defaults as in Kong's schema).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{check_name, derive_id, int_in_range, is_valid_host, parse_id, split_host_port};
use crate::error::{Errors, Path};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub id: Option<String>,
    pub name: Option<String>,
    pub algorithm: Option<String>,
    pub hash_on: Option<String>,
    pub hash_fallback: Option<String>,
    pub hash_on_header: Option<String>,
    pub hash_fallback_header: Option<String>,
    pub hash_on_cookie: Option<String>,
    pub hash_on_cookie_path: Option<String>,
    pub hash_on_query_arg: Option<String>,
    pub hash_fallback_query_arg: Option<String>,
    pub hash_on_uri_capture: Option<String>,
    pub hash_fallback_uri_capture: Option<String>,
    pub slots: Option<i64>,
    pub healthchecks: Option<Healthchecks>,
    pub host_header: Option<String>,
    pub client_certificate: Option<serde_json::Value>,
    pub use_srv_name: Option<bool>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    RoundRobin,
    ConsistentHashing,
    LeastConnections,
}

/// What a consistent-hashing upstream hashes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HashOn {
    None,
    Consumer,
    Ip,
    Header(String),
    Cookie { name: String, path: String },
    Path,
    QueryArg(String),
    UriCapture(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "Healthchecks")
)]
pub struct Healthchecks {
    pub active: ActiveHealthcheck,
    pub passive: PassiveHealthcheck,
    pub threshold: f64,
}

impl Default for Healthchecks {
    fn default() -> Self {
        Healthchecks {
            active: ActiveHealthcheck::default(),
            passive: PassiveHealthcheck::default(),
            threshold: 0.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "ActiveHealthcheck")
)]
pub struct ActiveHealthcheck {
    #[serde(rename = "type")]
    #[cfg_attr(feature = "graphql", graphql(name = "type"))]
    pub kind: String,
    pub timeout: f64,
    pub concurrency: u32,
    pub http_path: String,
    pub https_sni: Option<String>,
    pub https_verify_certificate: bool,
    pub headers: Option<std::collections::BTreeMap<String, Vec<String>>>,
    pub healthy: ActiveHealthy,
    pub unhealthy: ActiveUnhealthy,
}

impl Default for ActiveHealthcheck {
    fn default() -> Self {
        ActiveHealthcheck {
            kind: "http".into(),
            timeout: 1.0,
            concurrency: 10,
            http_path: "/".into(),
            https_sni: None,
            https_verify_certificate: true,
            headers: None,
            healthy: ActiveHealthy::default(),
            unhealthy: ActiveUnhealthy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "ActiveHealthy")
)]
pub struct ActiveHealthy {
    pub interval: f64,
    pub http_statuses: Vec<u16>,
    pub successes: u32,
}

impl Default for ActiveHealthy {
    fn default() -> Self {
        ActiveHealthy {
            interval: 0.0,
            http_statuses: vec![200, 302],
            successes: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "ActiveUnhealthy")
)]
pub struct ActiveUnhealthy {
    pub interval: f64,
    pub http_statuses: Vec<u16>,
    pub tcp_failures: u32,
    pub timeouts: u32,
    pub http_failures: u32,
}

impl Default for ActiveUnhealthy {
    fn default() -> Self {
        ActiveUnhealthy {
            interval: 0.0,
            http_statuses: vec![429, 404, 500, 501, 502, 503, 504, 505],
            tcp_failures: 0,
            timeouts: 0,
            http_failures: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "PassiveHealthcheck")
)]
pub struct PassiveHealthcheck {
    #[serde(rename = "type")]
    #[cfg_attr(feature = "graphql", graphql(name = "type"))]
    pub kind: String,
    pub healthy: PassiveHealthy,
    pub unhealthy: PassiveUnhealthy,
}

impl Default for PassiveHealthcheck {
    fn default() -> Self {
        PassiveHealthcheck {
            kind: "http".into(),
            healthy: PassiveHealthy::default(),
            unhealthy: PassiveUnhealthy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "PassiveHealthy")
)]
pub struct PassiveHealthy {
    pub http_statuses: Vec<u16>,
    pub successes: u32,
}

impl Default for PassiveHealthy {
    fn default() -> Self {
        PassiveHealthy {
            http_statuses: vec![
                200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305,
                306, 307, 308,
            ],
            successes: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "PassiveUnhealthy")
)]
pub struct PassiveUnhealthy {
    pub http_statuses: Vec<u16>,
    pub tcp_failures: u32,
    pub timeouts: u32,
    pub http_failures: u32,
}

impl Default for PassiveUnhealthy {
    fn default() -> Self {
        PassiveUnhealthy {
            http_statuses: vec![429, 500, 503],
            tcp_failures: 0,
            timeouts: 0,
            http_failures: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Upstream {
    pub id: Uuid,
    pub name: String,
    pub algorithm: Algorithm,
    pub hash_on: HashOn,
    pub hash_fallback: HashOn,
    pub slots: u32,
    pub healthchecks: Healthchecks,
    pub host_header: Option<String>,
    pub use_srv_name: bool,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub source: String,
}

impl UpstreamConfig {
    pub fn validate(&self, path: &Path, errors: &mut Errors) -> Option<Upstream> {
        let before = errors.list.len();
        let id = parse_id(&self.id, path, errors);
        let name = match &self.name {
            None => {
                errors.add(path.field("name"), "required field missing");
                String::new()
            }
            Some(n) if !is_valid_host(n) => {
                errors.add(
                    path.field("name"),
                    format!("invalid value '{n}': must be a valid hostname"),
                );
                n.clone()
            }
            Some(n) => n.to_ascii_lowercase(),
        };
        let _ = check_name; // upstream names are hostnames, checked above
        let algorithm = match self.algorithm.as_deref() {
            None | Some("round-robin") => Algorithm::RoundRobin,
            Some("consistent-hashing") => Algorithm::ConsistentHashing,
            Some("least-connections") => Algorithm::LeastConnections,
            Some("latency") => {
                errors.add(
                    path.field("algorithm"),
                    "algorithm 'latency' is not supported by Portico yet",
                );
                Algorithm::RoundRobin
            }
            Some(o) => {
                errors.add(
                    path.field("algorithm"),
                    format!("expected one of: consistent-hashing, least-connections, round-robin; got '{o}'"),
                );
                Algorithm::RoundRobin
            }
        };
        let hash_on = self.hash(
            "hash_on",
            self.hash_on.as_deref(),
            [
                &self.hash_on_header,
                &self.hash_on_query_arg,
                &self.hash_on_uri_capture,
            ],
            path,
            errors,
        );
        let hash_fallback = self.hash(
            "hash_fallback",
            self.hash_fallback.as_deref(),
            [
                &self.hash_fallback_header,
                &self.hash_fallback_query_arg,
                &self.hash_fallback_uri_capture,
            ],
            path,
            errors,
        );
        if matches!(hash_fallback, HashOn::Cookie { .. }) {
            errors.add(
                path.field("hash_fallback"),
                "expected one of: none, consumer, ip, header, path, query_arg, uri_capture",
            );
        }
        if hash_on == HashOn::None && hash_fallback != HashOn::None {
            errors.add(
                path.field("hash_fallback"),
                "must be 'none' when 'hash_on' is 'none'",
            );
        }
        if matches!(hash_on, HashOn::Cookie { .. }) && hash_fallback != HashOn::None {
            errors.add(
                path.field("hash_fallback"),
                "must be 'none' when 'hash_on' is 'cookie'",
            );
        }
        if hash_on != HashOn::None && hash_on == hash_fallback {
            errors.add(
                path.field("hash_fallback"),
                "must not be the same as 'hash_on'",
            );
        }
        let slots = int_in_range(self.slots, 10000, 10, 65536, path.field("slots"), errors) as u32;
        let healthchecks = self.healthchecks.clone().unwrap_or_default();
        check_healthchecks(&healthchecks, &path.field("healthchecks"), errors);
        if self.client_certificate.is_some() {
            errors.add(
                path.field("client_certificate"),
                "upstream client certificates are not supported by Portico yet",
            );
        }
        if errors.list.len() > before {
            return None;
        }
        Some(Upstream {
            id: id.unwrap_or_else(|| derive_id("upstream", &name)),
            name,
            algorithm,
            hash_on,
            hash_fallback,
            slots,
            healthchecks,
            host_header: self.host_header.clone(),
            use_srv_name: self.use_srv_name.unwrap_or(false),
            tags: self.tags.clone().unwrap_or_default(),
            source: path.to_string(),
        })
    }

    fn hash(
        &self,
        field: &str,
        value: Option<&str>,
        [header, query, capture]: [&Option<String>; 3],
        path: &Path,
        errors: &mut Errors,
    ) -> HashOn {
        let need = |companion: &Option<String>, suffix: &str, errors: &mut Errors| -> String {
            match companion {
                Some(v) if !v.is_empty() => v.clone(),
                _ => {
                    errors.add(
                        path.field(&format!("{field}_{suffix}")),
                        format!(
                            "required field missing when '{field}' is set to '{}'",
                            value.unwrap_or("")
                        ),
                    );
                    String::new()
                }
            }
        };
        match value {
            None | Some("none") => HashOn::None,
            Some("consumer") => HashOn::Consumer,
            Some("ip") => HashOn::Ip,
            Some("path") => HashOn::Path,
            Some("header") => HashOn::Header(need(header, "header", errors).to_ascii_lowercase()),
            Some("query_arg") => HashOn::QueryArg(need(query, "query_arg", errors)),
            Some("uri_capture") => HashOn::UriCapture(need(capture, "uri_capture", errors)),
            Some("cookie") if field == "hash_on" => HashOn::Cookie {
                name: need(&self.hash_on_cookie, "cookie", errors),
                path: self
                    .hash_on_cookie_path
                    .clone()
                    .unwrap_or_else(|| "/".into()),
            },
            Some(o) => {
                errors.add(
                    path.field(field),
                    format!("expected one of: none, consumer, ip, header, cookie, path, query_arg, uri_capture; got '{o}'"),
                );
                HashOn::None
            }
        }
    }
}

fn check_healthchecks(h: &Healthchecks, path: &Path, errors: &mut Errors) {
    let a = path.field("active");
    if !["http", "https", "tcp"].contains(&h.active.kind.as_str()) {
        errors.add(
            a.field("type"),
            format!("expected one of: http, https, tcp; got '{}'", h.active.kind),
        );
    }
    if !["http", "https", "tcp"].contains(&h.passive.kind.as_str()) {
        errors.add(
            path.field("passive").field("type"),
            format!(
                "expected one of: http, https, tcp; got '{}'",
                h.passive.kind
            ),
        );
    }
    if !(0.0..=65535.0).contains(&h.active.timeout) {
        errors.add(a.field("timeout"), "value should be between 0 and 65535");
    }
    if !(1..=2_147_483_648u32).contains(&h.active.concurrency) {
        errors.add(
            a.field("concurrency"),
            "value should be between 1 and 2147483648",
        );
    }
    if !h.active.http_path.starts_with('/') {
        errors.add(a.field("http_path"), "should start with: /");
    }
    for (p, v) in [
        (
            a.field("healthy").field("interval"),
            h.active.healthy.interval,
        ),
        (
            a.field("unhealthy").field("interval"),
            h.active.unhealthy.interval,
        ),
    ] {
        if !(0.0..=65535.0).contains(&v) {
            errors.add(p, "value should be between 0 and 65535");
        }
    }
    let counters = [
        (
            a.field("healthy").field("successes"),
            h.active.healthy.successes,
        ),
        (
            a.field("unhealthy").field("tcp_failures"),
            h.active.unhealthy.tcp_failures,
        ),
        (
            a.field("unhealthy").field("timeouts"),
            h.active.unhealthy.timeouts,
        ),
        (
            a.field("unhealthy").field("http_failures"),
            h.active.unhealthy.http_failures,
        ),
        (
            path.field("passive").field("healthy").field("successes"),
            h.passive.healthy.successes,
        ),
        (
            path.field("passive")
                .field("unhealthy")
                .field("tcp_failures"),
            h.passive.unhealthy.tcp_failures,
        ),
        (
            path.field("passive").field("unhealthy").field("timeouts"),
            h.passive.unhealthy.timeouts,
        ),
        (
            path.field("passive")
                .field("unhealthy")
                .field("http_failures"),
            h.passive.unhealthy.http_failures,
        ),
    ];
    for (p, v) in counters {
        if v > 255 {
            errors.add(p, "value should be between 0 and 255");
        }
    }
    let statuses = [
        (
            a.field("healthy").field("http_statuses"),
            &h.active.healthy.http_statuses,
        ),
        (
            a.field("unhealthy").field("http_statuses"),
            &h.active.unhealthy.http_statuses,
        ),
        (
            path.field("passive")
                .field("healthy")
                .field("http_statuses"),
            &h.passive.healthy.http_statuses,
        ),
        (
            path.field("passive")
                .field("unhealthy")
                .field("http_statuses"),
            &h.passive.unhealthy.http_statuses,
        ),
    ];
    for (p, list) in statuses {
        for (i, s) in list.iter().enumerate() {
            if !(100..=999).contains(s) {
                errors.add(p.index(i), "value should be between 100 and 999");
            }
        }
    }
    if !(0.0..=100.0).contains(&h.threshold) {
        errors.add(path.field("threshold"), "value should be between 0 and 100");
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub id: Option<String>,
    pub target: Option<String>,
    pub weight: Option<i64>,
    pub tags: Option<Vec<String>>,
    /// Only on top-level `targets:` entries.
    pub upstream: Option<serde_json::Value>,
    pub created_at: Option<f64>,
    pub updated_at: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub id: Uuid,
    pub upstream_id: Uuid,
    /// Host name or IP (IPv6 in brackets).
    pub host: String,
    pub port: u16,
    pub weight: u32,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub source: String,
}

impl Target {
    /// `host:port` as written in Kong's `target` field.
    pub fn target(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl TargetConfig {
    pub fn validate(
        &self,
        upstream: &Upstream,
        path: &Path,
        errors: &mut Errors,
    ) -> Option<Target> {
        let before = errors.list.len();
        let id = parse_id(&self.id, path, errors);
        let (host, port) = match &self.target {
            None => {
                errors.add(path.field("target"), "required field missing");
                (String::new(), None)
            }
            Some(t) => match split_host_port(t) {
                Ok((h, p)) => {
                    let bare = h.trim_start_matches('[').trim_end_matches(']');
                    if !is_valid_host(bare) {
                        errors.add(
                            path.field("target"),
                            format!("invalid target '{t}': must be a hostname or an IP address"),
                        );
                    }
                    (h.to_ascii_lowercase(), p)
                }
                Err(m) => {
                    errors.add(path.field("target"), format!("invalid target '{t}': {m}"));
                    (String::new(), None)
                }
            },
        };
        let weight = int_in_range(self.weight, 100, 0, 65535, path.field("weight"), errors) as u32;
        if errors.list.len() > before {
            return None;
        }
        let port = port.unwrap_or(8000);
        Some(Target {
            id: id.unwrap_or_else(|| {
                derive_id("target", &format!("{}/{host}:{port}", upstream.name))
            }),
            upstream_id: upstream.id,
            host,
            port,
            weight,
            tags: self.tags.clone().unwrap_or_default(),
            source: path.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(json: serde_json::Value) -> Result<Upstream, Vec<String>> {
        let cfg: UpstreamConfig = serde_json::from_value(json).map_err(|e| vec![e.to_string()])?;
        let mut e = Errors::default();
        let r = cfg.validate(&Path::root().field("upstreams").index(0), &mut e);
        r.ok_or_else(|| e.list.iter().map(|x| x.to_string()).collect())
    }

    #[test]
    fn defaults_match_kong() {
        let u = up(serde_json::json!({"name":"u"})).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((u.algorithm, u.slots), (Algorithm::RoundRobin, 10000));
        assert_eq!(u.healthchecks.active.healthy.http_statuses, vec![200, 302]);
        assert_eq!(
            u.healthchecks.passive.unhealthy.http_statuses,
            vec![429, 500, 503]
        );
        assert_eq!(u.healthchecks.active.http_path, "/");
    }

    #[test]
    fn hash_rules() {
        let u = up(serde_json::json!({"name":"u","algorithm":"consistent-hashing","hash_on":"header","hash_on_header":"X-User"})).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(u.hash_on, HashOn::Header("x-user".into()));
        let e = up(serde_json::json!({"name":"u","hash_on":"header"}))
            .err()
            .unwrap_or_default();
        assert!(
            e[0].starts_with("upstreams[0].hash_on_header: required field missing"),
            "{e:?}"
        );
        let e = up(serde_json::json!({"name":"u","hash_on":"cookie","hash_on_cookie":"c","hash_fallback":"ip"})).err().unwrap_or_default();
        assert!(
            e.iter().any(|m| m.starts_with(
                "upstreams[0].hash_fallback: must be 'none' when 'hash_on' is 'cookie'"
            )),
            "{e:?}"
        );
        let e = up(serde_json::json!({"name":"u","algorithm":"fastest"}))
            .err()
            .unwrap_or_default();
        assert!(
            e[0].starts_with("upstreams[0].algorithm: expected one of"),
            "{e:?}"
        );
    }

    #[test]
    fn target_defaults() {
        let u = up(serde_json::json!({"name":"u"})).unwrap_or_else(|e| panic!("{e:?}"));
        let t: TargetConfig =
            serde_json::from_value(serde_json::json!({"target":"10.0.0.1"})).unwrap_or_default();
        let mut e = Errors::default();
        let t = t
            .validate(&u, &Path::root(), &mut e)
            .unwrap_or_else(|| panic!("{:?}", e.list));
        assert_eq!((t.port, t.weight), (8000, 100));
        let t: TargetConfig =
            serde_json::from_value(serde_json::json!({"target":"a:1","weight":70000}))
                .unwrap_or_default();
        assert!(t.validate(&u, &Path::root().field("t"), &mut e).is_none());
        assert_eq!(
            e.list[0].to_string(),
            "t.weight: value should be between 0 and 65535"
        );
    }
}
