//! Each plugin's config schema: Kong's field names and defaults, validated with a
//! path on every error. A validated config is stored with all defaults filled in,
//! so the node never guesses a default.

pub mod acl;
pub mod basic_auth;
pub mod correlation_id;
pub mod cors;
pub mod ip_restriction;
pub mod jwt;
pub mod key_auth;
pub mod logging;
pub mod prometheus;
pub mod proxy_cache;
pub mod rate_limiting;
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
}

/// Name, execution priority (Kong's numbers: higher runs first) and the config
/// fields that are secrets (the ones Kong marks `encrypted`: write-only, sealed at
/// rest), as dotted paths inside `config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: &'static str,
    pub priority: i32,
    pub secrets: &'static [&'static str],
}

/// Every plugin Portico runs. One line per plugin.
pub const PLUGINS: &[PluginInfo] = &[
    PluginInfo {
        name: "correlation-id",
        priority: 100_001,
        secrets: &[],
    },
    PluginInfo {
        name: "cors",
        priority: 2000,
        secrets: &[],
    },
    PluginInfo {
        name: "key-auth",
        priority: 1250,
        secrets: &[],
    },
    PluginInfo {
        name: "basic-auth",
        priority: 1100,
        secrets: &[],
    },
    PluginInfo {
        name: "jwt",
        priority: 1450,
        secrets: &[],
    },
    PluginInfo {
        name: "ip-restriction",
        priority: 990,
        secrets: &[],
    },
    PluginInfo {
        name: "acl",
        priority: 950,
        secrets: &[],
    },
    PluginInfo {
        name: "request-size-limiting",
        priority: 951,
        secrets: &[],
    },
    PluginInfo {
        name: "rate-limiting",
        priority: 910,
        secrets: &["redis.password", "redis_password"],
    },
    PluginInfo {
        name: "request-transformer",
        priority: 801,
        secrets: &[],
    },
    PluginInfo {
        name: "response-transformer",
        priority: 800,
        secrets: &[],
    },
    PluginInfo {
        name: "request-termination",
        priority: 2,
        secrets: &[],
    },
    PluginInfo {
        name: "proxy-cache",
        priority: 100,
        secrets: &[],
    },
    PluginInfo {
        name: "prometheus",
        priority: 13,
        secrets: &[],
    },
    PluginInfo {
        name: "http-log",
        priority: 12,
        secrets: &["http_endpoint", "headers"],
    },
    PluginInfo {
        name: "file-log",
        priority: 9,
        secrets: &[],
    },
];

/// Kong plugins a later Portico release adds: named as such in errors.
const LATER: &[&str] = &[
    "hmac-auth",
    "oauth2",
    "bot-detection",
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
    let t: T = read_entity(v, path, &[], errors)?;
    t.check(path, errors);
    if errors.list.len() > before {
        return None;
    }
    serde_json::to_value(&t).ok()
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
                "plugins[0].config: message and body are mutually exclusive",
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
            "ip-restriction" => serde_json::json!({"allow": ["127.0.0.1"]}),
            "acl" => serde_json::json!({"allow": ["admins"]}),
            "file-log" => serde_json::json!({"path": "/tmp/x.log"}),
            "http-log" => serde_json::json!({"http_endpoint": "http://127.0.0.1:1/"}),
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
