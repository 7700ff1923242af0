//! Each plugin's config schema: Kong's field names and defaults, validated with a
//! path on every error. A validated config is stored with all defaults filled in,
//! so the node never guesses a default.

pub mod acl;
pub mod basic_auth;
pub mod bot_detection;
pub mod correlation_id;
pub mod cors;
pub mod ip_restriction;
pub mod jwt;
pub mod key_auth;
pub mod logging;
pub mod portal_auth;
pub mod prometheus;
pub mod proxy_cache;
pub mod rate_limiting;
pub mod rate_limiting_advanced;
pub mod request_size_limiting;
pub mod request_termination;
pub mod transformer;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Errors, Path};
use crate::fields::read_entity;

/// A plugin's own checks beyond types and unknown fields.
pub trait CheckConfig {
    fn check(&self, _path: &Path, _errors: &mut Errors) {}

    /// What Kong's schema does to a valid config before storing it (e.g.
    /// rate-limiting-advanced sorts its limit/window pairs). Runs after `check`
    /// found nothing wrong.
    fn normalize(&mut self) {}
}

/// Name, execution priority (Kong's numbers: higher runs first), the config
/// fields that are secrets (the ones Kong marks `encrypted`: write-only, sealed at
/// rest) as dotted paths inside `config`, and the plugin entity's `protocols`:
/// the ones it may list and its default, as in the plugin's Kong schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: &'static str,
    pub priority: i32,
    pub secrets: &'static [&'static str],
    pub protocols: &'static [&'static str],
    pub default_protocols: &'static [&'static str],
}

/// Kong's `typedefs.protocols_http`: the HTTP subsystem's protocols (also the
/// default of `typedefs.protocols`).
pub const HTTP_PROTOCOLS: &[&str] = &["grpc", "grpcs", "http", "https"];

/// Kong's `typedefs.protocols`: every protocol, stream ones included. Portico
/// proxies HTTP only, so an instance does nothing for the stream ones.
pub const ALL_PROTOCOLS: &[&str] = &[
    "grpc",
    "grpcs",
    "http",
    "https",
    "tcp",
    "tls",
    "tls_passthrough",
    "udp",
];

/// A plugin whose Kong schema uses `typedefs.protocols_http`.
const fn http_only(
    name: &'static str,
    priority: i32,
    secrets: &'static [&'static str],
) -> PluginInfo {
    PluginInfo {
        name,
        priority,
        secrets,
        protocols: HTTP_PROTOCOLS,
        default_protocols: HTTP_PROTOCOLS,
    }
}

/// A plugin whose Kong schema uses `typedefs.protocols` (stream ones allowed;
/// the default is still the HTTP ones).
const fn any_protocol(
    name: &'static str,
    priority: i32,
    secrets: &'static [&'static str],
) -> PluginInfo {
    PluginInfo {
        name,
        priority,
        secrets,
        protocols: ALL_PROTOCOLS,
        default_protocols: HTTP_PROTOCOLS,
    }
}

/// Every plugin Portico runs. One line per plugin.
pub const PLUGINS: &[PluginInfo] = &[
    http_only("correlation-id", 100_001, &[]),
    http_only("bot-detection", 2500, &[]),
    http_only("cors", 2000, &[]),
    http_only("key-auth", 1250, &[]),
    http_only("portal-auth", 1260, &["redis.password"]),
    http_only("basic-auth", 1100, &[]),
    http_only("jwt", 1450, &[]),
    PluginInfo {
        default_protocols: &["grpc", "grpcs", "http", "https", "tcp", "tls"],
        ..any_protocol("ip-restriction", 990, &[])
    },
    http_only("acl", 950, &[]),
    http_only("request-size-limiting", 951, &[]),
    http_only("rate-limiting", 910, &["redis.password", "redis_password"]),
    http_only(
        "rate-limiting-advanced",
        910,
        &["redis.password", "redis.sentinel_password"],
    ),
    any_protocol("request-transformer", 801, &[]),
    http_only("response-transformer", 800, &[]),
    http_only("request-termination", 2, &[]),
    any_protocol("proxy-cache", 100, &[]),
    any_protocol("prometheus", 13, &[]),
    any_protocol("http-log", 12, &["http_endpoint", "headers"]),
    any_protocol("file-log", 9, &[]),
];

/// Kong plugins a later Portico release adds: named as such in errors.
const LATER: &[&str] = &[
    "hmac-auth",
    "oauth2",
    "tcp-log",
    "udp-log",
    "syslog",
    "zipkin",
    "opentelemetry",
    "response-ratelimiting",
    "aws-lambda",
    "grpc-gateway",
    "grpc-web",
    "session",
    "acme",
    "datadog",
    "statsd",
    "loggly",
    "ldap-auth",
    "pre-function",
    "post-function",
    "request-validator",
];

pub fn info(name: &str) -> Option<PluginInfo> {
    PLUGINS.iter().copied().find(|p| p.name == name)
}

/// Validates `config` for plugin `name`; the config with defaults, or `None` with
/// the problems added to `errors`.
pub fn validate(
    name: &str,
    config: Option<&Value>,
    path: &Path,
    name_path: &Path,
    errors: &mut Errors,
) -> Option<Value> {
    match name {
        "correlation-id" => typed::<correlation_id::CorrelationIdConfig>(config, path, errors),
        "key-auth" => typed::<key_auth::KeyAuthConfig>(config, path, errors),
        "portal-auth" => typed::<portal_auth::PortalAuthConfig>(config, path, errors),
        "basic-auth" => typed::<basic_auth::BasicAuthConfig>(config, path, errors),
        "jwt" => typed::<jwt::JwtConfig>(config, path, errors),
        "acl" => typed::<acl::AclConfig>(config, path, errors),
        "ip-restriction" => typed::<ip_restriction::IpRestrictionConfig>(config, path, errors),
        "cors" => typed::<cors::CorsConfig>(config, path, errors),
        "file-log" => typed::<logging::FileLogConfig>(config, path, errors),
        "request-size-limiting" => {
            typed::<request_size_limiting::RequestSizeLimitingConfig>(config, path, errors)
        }
        "prometheus" => typed::<prometheus::PrometheusConfig>(config, path, errors),
        "proxy-cache" => typed::<proxy_cache::ProxyCacheConfig>(config, path, errors),
        "http-log" => typed::<logging::HttpLogConfig>(config, path, errors),
        "request-transformer" => {
            typed::<transformer::RequestTransformerConfig>(config, path, errors)
        }
        "response-transformer" => {
            typed::<transformer::ResponseTransformerConfig>(config, path, errors)
        }
        "rate-limiting" => typed::<rate_limiting::RateLimitingConfig>(config, path, errors),
        "rate-limiting-advanced" => {
            typed::<rate_limiting_advanced::RateLimitingAdvancedConfig>(config, path, errors)
        }
        "bot-detection" => typed::<bot_detection::BotDetectionConfig>(config, path, errors),
        "request-termination" => {
            typed::<request_termination::RequestTerminationConfig>(config, path, errors)
        }
        other if LATER.contains(&other) => {
            errors.add(
                name_path,
                format!("plugin '{other}' is not supported by Portico yet"),
            );
            None
        }
        other => {
            errors.add(
                name_path,
                format!(
                    "plugin '{other}' not enabled; add it to the 'plugins' configuration property"
                ),
            );
            None
        }
    }
}

fn typed<T: DeserializeOwned + Serialize + CheckConfig>(
    config: Option<&Value>,
    path: &Path,
    errors: &mut Errors,
) -> Option<Value> {
    let empty = Value::Object(Default::default());
    let v = match config {
        None | Some(Value::Null) => &empty,
        Some(v) => v,
    };
    let before = errors.list.len();
    let mut t: T = read_entity(v, path, &[], errors)?;
    t.check(path, errors);
    if errors.list.len() > before {
        return None;
    }
    t.normalize();
    serde_json::to_value(&t).ok()
}

/// Kong's `typedefs.lua_code` fields (`custom_fields_by_lua`, ...): Portico runs
/// no Lua, so only the empty map (or nothing) is accepted.
pub fn check_no_lua(
    value: &Option<std::collections::BTreeMap<String, String>>,
    path: &Path,
    errors: &mut Errors,
) {
    if value.as_ref().is_some_and(|m| !m.is_empty()) {
        errors.add(
            path,
            "Portico runs no Lua: only an empty map (or null) is accepted here",
        );
    }
}

/// Kong's `integer` type for a field Portico stores as a number.
pub fn check_integer(v: f64, path: &Path, errors: &mut Errors) {
    if v.fract() != 0.0 || !v.is_finite() {
        errors.add(path, "expected an integer");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, v: Value) -> Result<Value, Vec<String>> {
        let mut e = Errors::default();
        let p = Path::root().field("plugins").index(0);
        validate(name, Some(&v), &p.field("config"), &p.field("name"), &mut e)
            .ok_or_else(|| e.list.iter().map(|x| x.to_string()).collect())
    }

    #[test]
    fn defaults_are_filled_in() {
        let v = run("key-auth", serde_json::json!({})).unwrap_or_default();
        assert_eq!(v["key_names"], serde_json::json!(["apikey"]));
        assert_eq!(v["hide_credentials"], false);
        assert_eq!(v["key_in_header"], true);
        let v = run("request-termination", serde_json::json!(null)).unwrap_or_default();
        assert_eq!(v["status_code"], 503);
        let v = run("correlation-id", serde_json::json!({})).unwrap_or_default();
        assert_eq!(v["header_name"], "Kong-Request-ID");
        assert_eq!(v["generator"], "uuid#counter");
    }

    /// The fields Kong 3.x added, with Kong's defaults.
    #[test]
    fn newer_kong_fields_have_kong_defaults() {
        let v = run("cors", serde_json::json!({})).unwrap_or_default();
        assert_eq!(v["allow_origin_absent"], true);
        assert_eq!(v["private_network"], false);
        let v = run("prometheus", serde_json::json!({})).unwrap_or_default();
        assert_eq!(v["wasm_metrics"], false);
        assert_eq!(v["ai_metrics"], false);
        let v = run(
            "key-auth",
            serde_json::json!({"identity_realms": [{"scope": "cp"}]}),
        )
        .unwrap_or_default();
        assert_eq!(v["identity_realms"][0]["scope"], "cp");
        let v = run(
            "http-log",
            serde_json::json!({"http_endpoint": "http://h/", "custom_fields_by_lua": {}}),
        )
        .unwrap_or_default();
        assert_eq!(v["queue"]["concurrency_limit"], 1);
        assert_eq!(v["queue"]["max_coalescing_delay"], 1.0);
        assert_eq!(v["custom_fields_by_lua"], serde_json::json!({}));
        let v = run("proxy-cache", serde_json::json!({})).unwrap_or_default();
        assert_eq!(v["memory"]["dictionary_name"], "kong_db_cache");
        // `null` means the default, at the top and nested
        let v = run(
            "rate-limiting",
            serde_json::json!({"minute": 5, "hour": null, "policy": "local", "redis": {"port": null}}),
        )
        .unwrap_or_default();
        assert_eq!(v["hour"], Value::Null);
        assert_eq!(v["redis"]["port"], 6379);
        assert_eq!(v["sync_rate"], -1.0);
    }

    #[test]
    fn rate_limiting_advanced_defaults_and_sorted_pairs() {
        let v = run(
            "rate-limiting-advanced",
            serde_json::json!({"limit": [100, 5], "window_size": [3600, 30], "namespace": "n1"}),
        )
        .unwrap_or_default();
        assert_eq!(v["limit"], serde_json::json!([5.0, 100.0]));
        assert_eq!(v["window_size"], serde_json::json!([30.0, 3600.0]));
        assert_eq!(v["window_type"], "sliding");
        assert_eq!(v["identifier"], "consumer");
        assert_eq!(v["strategy"], "local");
        assert_eq!(v["sync_rate"], -1.0);
        assert_eq!(v["dictionary_name"], "kong_rate_limiting_counters");
        assert_eq!(v["lock_dictionary_name"], "kong_locks");
        assert_eq!(v["error_code"], 429.0);
        assert_eq!(v["error_message"], "API rate limit exceeded");
        assert_eq!(v["retry_after_jitter_max"], 0.0);
        assert_eq!(v["redis"]["port"], 6379);
        // cluster is accepted (as local on this node) with a sync_rate
        assert!(
            run(
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "strategy": "cluster", "sync_rate": 10}),
            )
            .is_ok()
        );
        // a Kong Enterprise redis record loads
        assert!(
            run(
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "strategy": "redis", "sync_rate": 0,
                    "redis": {"host": "r", "port": 6380, "connect_timeout": 100, "send_timeout": 100,
                        "read_timeout": 100, "keepalive_pool_size": 30, "cluster_max_redirections": 5,
                        "connection_is_proxied": false, "sentinel_nodes": null, "cluster_nodes": null}}),
            )
            .is_ok()
        );
    }

    #[test]
    fn bot_detection_defaults() {
        let v = run("bot-detection", serde_json::json!({})).unwrap_or_default();
        assert_eq!(v["allow"], serde_json::json!([]));
        assert_eq!(v["deny"], serde_json::json!([]));
    }

    fn plugin_entity(v: Value) -> Result<crate::entity::Plugin, Vec<String>> {
        let mut e = Errors::default();
        let cfg: crate::entity::PluginConfig =
            serde_json::from_value(v).map_err(|e| vec![e.to_string()])?;
        cfg.validate(
            crate::entity::PluginScope::default(),
            &Path::root().field("plugins").index(0),
            &mut e,
        )
        .ok_or_else(|| e.list.iter().map(|x| x.to_string()).collect())
    }

    /// Each plugin takes Kong's protocol set (`protocols_http` or `protocols`)
    /// and Kong's default.
    #[test]
    fn protocols_follow_each_plugins_kong_schema() {
        let p = plugin_entity(
            serde_json::json!({"name": "ip-restriction", "config": {"allow": ["10.0.0.0/8"]}}),
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            p.protocols,
            ["grpc", "grpcs", "http", "https", "tcp", "tls"]
        );
        let p = plugin_entity(
            serde_json::json!({"name": "ip-restriction", "config": {"allow": ["10.0.0.0/8"]},
            "protocols": ["tcp", "tls", "udp", "tls_passthrough", "http"]}),
        );
        assert!(p.is_ok(), "{p:?}");
        let p = plugin_entity(
            serde_json::json!({"name": "http-log", "config": {"http_endpoint": "http://h/"},
            "protocols": ["tcp", "udp"]}),
        );
        assert!(p.is_ok(), "{p:?}");
        let p =
            plugin_entity(serde_json::json!({"name": "cors"})).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(p.protocols, ["grpc", "grpcs", "http", "https"]);
        let e =
            plugin_entity(serde_json::json!({"name": "key-auth", "protocols": ["http", "tcp"]}))
                .err()
                .unwrap_or_default();
        assert_eq!(
            e,
            ["plugins[0].protocols[1]: expected one of: grpc, grpcs, http, https; got 'tcp'"]
        );
        let e = plugin_entity(
            serde_json::json!({"name": "file-log", "config": {"path": "/tmp/x"},
            "protocols": ["smtp"]}),
        )
        .err()
        .unwrap_or_default();
        assert_eq!(
            e,
            [
                "plugins[0].protocols[0]: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp; got 'smtp'"
            ]
        );
        // Kong's set per plugin: protocols_http for these, all for the rest
        let all: Vec<&str> = PLUGINS
            .iter()
            .filter(|p| p.protocols == ALL_PROTOCOLS)
            .map(|p| p.name)
            .collect();
        assert_eq!(
            all,
            [
                "ip-restriction",
                "request-transformer",
                "proxy-cache",
                "prometheus",
                "http-log",
                "file-log"
            ]
        );
    }

    #[test]
    fn errors_have_paths() {
        let rows: &[(&str, Value, &str)] = &[
            (
                "key-auth",
                serde_json::json!({"key_name": ["x"]}),
                "plugins[0].config.key_name: unknown field",
            ),
            (
                "key-auth",
                serde_json::json!({"key_names": []}),
                "plugins[0].config.key_names: length must be at least 1",
            ),
            (
                "key-auth",
                serde_json::json!({"hide_credentials": "yes"}),
                "plugins[0].config.hide_credentials: invalid type",
            ),
            (
                "request-termination",
                serde_json::json!({"status_code": 99}),
                "plugins[0].config.status_code: value should be between 100 and 599",
            ),
            (
                "request-termination",
                serde_json::json!({"message": "a", "body": "b"}),
                "plugins[0].config: message cannot be used with content_type or body",
            ),
            (
                "request-termination",
                serde_json::json!({"echo": true, "body": "b"}),
                "plugins[0].config: echo cannot be used with content_type and body",
            ),
            (
                "request-termination",
                serde_json::json!({"trigger": "x y"}),
                "plugins[0].config.trigger: bad header name 'x y'",
            ),
            (
                "cors",
                serde_json::json!({"allow_origin_absent": "no"}),
                "plugins[0].config.allow_origin_absent: invalid type",
            ),
            (
                "prometheus",
                serde_json::json!({"wasm_metrics": 1}),
                "plugins[0].config.wasm_metrics: invalid type",
            ),
            (
                "key-auth",
                serde_json::json!({"identity_realms": [{"scope": "realm", "id": "x", "region": "us"}]}),
                "plugins[0].config.identity_realms[0].scope: Konnect realms",
            ),
            (
                "key-auth",
                serde_json::json!({"identity_realms": [{"scope": "org"}]}),
                "plugins[0].config.identity_realms[0].scope: expected one of: cp, realm",
            ),
            (
                "http-log",
                serde_json::json!({"http_endpoint": "http://h/", "custom_fields_by_lua": {"x": "return 1"}}),
                "plugins[0].config.custom_fields_by_lua: Portico runs no Lua",
            ),
            (
                "file-log",
                serde_json::json!({"path": "/tmp/x.log", "custom_fields_by_lua": {"x": "return 1"}}),
                "plugins[0].config.custom_fields_by_lua: Portico runs no Lua",
            ),
            (
                "file-log",
                serde_json::json!({"path": "/tmp/a*b.log"}),
                "plugins[0].config.path: not a valid filename",
            ),
            (
                "http-log",
                serde_json::json!({"http_endpoint": "http://h/", "queue": {"max_coalescing_delay": 3601}}),
                "plugins[0].config.queue.max_coalescing_delay: value should be between 0 and 3600",
            ),
            (
                "http-log",
                serde_json::json!({"http_endpoint": "http://h/", "queue": {"concurrency_limit": 2}}),
                "plugins[0].config.queue.concurrency_limit: expected one of: -1, 1",
            ),
            (
                "http-log",
                serde_json::json!({"http_endpoint": "http://h/", "queue": {"initial_retry_delay": 0}}),
                "plugins[0].config.queue.initial_retry_delay: value should be between 0.001 and 1000000",
            ),
            (
                "http-log",
                serde_json::json!({"http_endpoint": "http://h/", "headers": {"Host": "x"}}),
                "plugins[0].config.headers.Host: cannot contain 'Host' header",
            ),
            (
                "http-log",
                serde_json::json!({"http_endpoint": "http://u:p@h/", "headers": {"authorization": "x"}}),
                "plugins[0].config: specifying both an 'Authorization' header and user info",
            ),
            (
                "rate-limiting",
                serde_json::json!({"minute": 10, "sync_rate": 1}),
                "plugins[0].config.sync_rate: sync_rate can only be used with the redis policy",
            ),
            (
                "rate-limiting",
                serde_json::json!({"minute": 10, "policy": "redis", "redis": {"host": "r"}, "sync_rate": 0.01}),
                "plugins[0].config.sync_rate: sync_rate must be greater than 0.02, or -1 to disable",
            ),
            (
                "request-size-limiting",
                serde_json::json!({"allowed_payload_size": 1.5}),
                "plugins[0].config.allowed_payload_size: expected an integer",
            ),
            (
                "proxy-cache",
                serde_json::json!({"memory": {"dictionary_name": "x", "size": 1}}),
                "plugins[0].config.memory.size: unknown field",
            ),
            (
                "proxy-cache",
                serde_json::json!({"cache_ttl": 0.5}),
                "plugins[0].config.cache_ttl: expected an integer",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({}),
                "plugins[0].config.limit: required field missing",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5, 10], "window_size": [60]}),
                "plugins[0].config: You must provide the same number of windows and limits",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [0]}),
                "plugins[0].config.window_size[0]: value must be greater than 0",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "window_type": "rolling"}),
                "plugins[0].config.window_type: expected one of: fixed, sliding",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "identifier": "header"}),
                "plugins[0].config.header_name: No header name provided",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "compound_identifier": ["ip", "path"]}),
                "plugins[0].config.path: No path provided",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "compound_identifier": ["ip", "planet"]}),
                "plugins[0].config.compound_identifier[1]: expected one of",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "sync_rate": 10}),
                "plugins[0].config.sync_rate: sync_rate cannot be configured when using a local strategy",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "strategy": "cluster"}),
                "plugins[0].config.sync_rate: sync_rate is required if not using a local strategy",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "strategy": "cluster", "sync_rate": 0.01}),
                "plugins[0].config.sync_rate: Config option 'sync_rate' must not be a decimal between 0 and 0.02",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "strategy": "redis", "sync_rate": -1}),
                "plugins[0].config.redis.host: No redis config provided",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "strategy": "redis", "sync_rate": -1, "redis": {"host": "r", "sentinel_master": "m"}}),
                "plugins[0].config.redis.sentinel_master: Redis Sentinel is not supported by Portico yet",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "retry_after_jitter_max": -1}),
                "plugins[0].config.retry_after_jitter_max: Non-negative retry_after_jitter_max value is expected",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "enforce_consumer_groups": true}),
                "plugins[0].config.consumer_groups: No consumer groups provided",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "throttling": {"enabled": true}}),
                "plugins[0].config.throttling.enabled: throttling is not supported by Portico yet",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "error_code": 0}),
                "plugins[0].config.error_code: value should be between 100 and 599",
            ),
            (
                "rate-limiting",
                serde_json::json!({"minute": 10, "policy": "redis", "redis": {"host": "r", "ssl": true}}),
                "plugins[0].config.redis.ssl: TLS to Redis is not supported by Portico yet",
            ),
            (
                "rate-limiting-advanced",
                serde_json::json!({"limit": [5], "window_size": [60], "strategy": "redis", "sync_rate": -1, "redis": {"host": "r", "ssl": true}}),
                "plugins[0].config.redis.ssl: TLS to Redis is not supported by Portico yet",
            ),
            (
                "bot-detection",
                serde_json::json!({"deny": ["ok", "(unclosed"]}),
                "plugins[0].config.deny[1]: not a valid regex: (unclosed",
            ),
            (
                "bot-detection",
                serde_json::json!({"allow": "curl"}),
                "plugins[0].config.allow: invalid type",
            ),
            (
                "correlation-id",
                serde_json::json!({"generator": "random"}),
                "plugins[0].config.generator: expected one of: uuid, uuid#counter, tracker",
            ),
            (
                "hmac-auth",
                serde_json::json!({}),
                "plugins[0].name: plugin 'hmac-auth' is not supported by Portico yet",
            ),
            (
                "proxy-cache",
                serde_json::json!({"strategy": "redis"}),
                "plugins[0].config.strategy: expected one of: memory",
            ),
            (
                "jwt",
                serde_json::json!({"claims_to_verify": ["iat"]}),
                "plugins[0].config.claims_to_verify[0]: expected one of: exp, nbf",
            ),
            (
                "jwt",
                serde_json::json!({"maximum_expiration": 60}),
                "plugins[0].config.claims_to_verify: expected to contain: exp",
            ),
            (
                "ip-restriction",
                serde_json::json!({}),
                "plugins[0].config: at least one of these fields must be non-empty",
            ),
            (
                "ip-restriction",
                serde_json::json!({"allow": ["10.0.0.0/33"]}),
                "plugins[0].config.allow[0]: invalid ip or cidr range",
            ),
            (
                "acl",
                serde_json::json!({"allow": ["a"], "deny": ["b"]}),
                "plugins[0].config: exactly one of these fields must be non-empty",
            ),
            (
                "cors",
                serde_json::json!({"methods": ["FETCH"]}),
                "plugins[0].config.methods[0]: expected one of",
            ),
            (
                "request-transformer",
                serde_json::json!({"add": {"headers": ["nocolon"]}}),
                "plugins[0].config.add.headers[0]: invalid value: nocolon",
            ),
            (
                "request-transformer",
                serde_json::json!({"add": {"body": ["nocolon"]}}),
                "plugins[0].config.add.body[0]: invalid value: nocolon",
            ),
            (
                "request-transformer",
                serde_json::json!({"replace": {"uri": "/x/$(ngx.var.x)"}}),
                "plugins[0].config.replace.uri: unsupported template expression",
            ),
            (
                "response-transformer",
                serde_json::json!({"add": {"json": ["n:x"], "json_types": ["number"]}}),
                "plugins[0].config.add.json[0]: 'x' is not a number",
            ),
            (
                "response-transformer",
                serde_json::json!({"remove": {"header": ["x"]}}),
                "plugins[0].config.remove.header: unknown field",
            ),
            (
                "cors",
                serde_json::json!({"origins": ["https://(a"]}),
                "plugins[0].config.origins[0]: invalid regex",
            ),
            (
                "rate-limiting",
                serde_json::json!({}),
                "plugins[0].config: at least one of these fields must be non-empty",
            ),
            (
                "rate-limiting",
                serde_json::json!({"minute": 10, "hour": 5}),
                "plugins[0].config.hour: The limit for hour(5.0) cannot be lower than the limit for minute(10.0)",
            ),
            (
                "rate-limiting",
                serde_json::json!({"minute": 10, "limit_by": "header"}),
                "plugins[0].config.header_name: required field missing",
            ),
            (
                "rate-limiting",
                serde_json::json!({"minute": 10, "policy": "redis"}),
                "plugins[0].config.redis.host: required field missing",
            ),
            (
                "rate-limiting",
                serde_json::json!({"minute": 10, "policy": "cluster"}),
                "plugins[0].config.policy: policy 'cluster' needs a database",
            ),
            (
                "no-such",
                serde_json::json!({}),
                "plugins[0].name: plugin 'no-such' not enabled",
            ),
        ];
        for (name, cfg, want) in rows {
            let e = run(name, cfg.clone()).err().unwrap_or_default();
            assert!(
                e.iter().any(|m| m.starts_with(want)),
                "{name} {cfg}: want {want}, got {e:?}"
            );
        }
    }

    fn minimal(name: &str) -> Value {
        match name {
            "rate-limiting" => serde_json::json!({"minute": 1}),
            "rate-limiting-advanced" => serde_json::json!({"limit": [5], "window_size": [60]}),
            "ip-restriction" => serde_json::json!({"allow": ["127.0.0.1"]}),
            "acl" => serde_json::json!({"allow": ["admins"]}),
            "file-log" => serde_json::json!({"path": "/tmp/x.log"}),
            "http-log" => serde_json::json!({"http_endpoint": "http://127.0.0.1:1/"}),
            "portal-auth" => {
                serde_json::json!({"api_id": "7f0c54a9-5c1e-4b7a-9a53-0c7d3c1e2f10"})
            }
            _ => serde_json::json!({}),
        }
    }

    #[test]
    fn every_plugin_has_a_schema() {
        for p in PLUGINS {
            assert!(run(p.name, minimal(p.name)).is_ok(), "{}", p.name);
        }
    }

    /// A value of the wrong type for what `v` is (every field has a default or
    /// was set, so the filled-in config shows each field's kind).
    fn wrong_type(v: &Value) -> Value {
        match v {
            Value::String(_) | Value::Null => serde_json::json!([[{"x": 1}]]),
            Value::Number(_) | Value::Bool(_) => serde_json::json!("not-a-scalar"),
            Value::Array(_) => serde_json::json!(42),
            Value::Object(_) => serde_json::json!(42),
        }
    }

    /// Every field of every plugin: a value of the wrong type is refused, with an
    /// error whose path names that field; the other fields stay valid.
    #[test]
    fn every_field_error_names_its_field() {
        let mut checked = 0;
        for p in PLUGINS {
            let full = match run(p.name, minimal(p.name)) {
                Ok(Value::Object(m)) => m,
                other => panic!("{}: {other:?}", p.name),
            };
            for (field, v) in &full {
                let mut bad = full.clone();
                bad.insert(field.clone(), wrong_type(v));
                let want = format!("plugins[0].config.{field}");
                match run(p.name, Value::Object(bad)) {
                    Ok(_) => panic!("{}.{field}: accepted {}", p.name, wrong_type(v)),
                    Err(es) => assert!(
                        es.iter().any(|e| e.starts_with(&want)),
                        "{}.{field}: want an error at {want}, got {es:?}",
                        p.name
                    ),
                }
                checked += 1;
            }
        }
        assert!(checked > 100, "{checked} fields checked");
    }

    /// Unknown fields are named, with their path, for every plugin.
    #[test]
    fn unknown_fields_are_named() {
        for p in PLUGINS {
            let mut cfg = minimal(p.name);
            if let Value::Object(m) = &mut cfg {
                m.insert("no_such_field".into(), Value::Bool(true));
            }
            let es = run(p.name, cfg).err().unwrap_or_default();
            assert!(
                es.iter()
                    .any(|e| e.starts_with("plugins[0].config.no_such_field")),
                "{}: {es:?}",
                p.name
            );
        }
    }
}
