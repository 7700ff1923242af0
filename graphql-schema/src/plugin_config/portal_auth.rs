//! `portal-auth`: Dev Portal application keys. The key (from a header or the
//! query string) names an application credential; the application must be
//! registered for `api_id`, and its plan's limits are counted per application
//! and API, locally or in Redis as `rate-limiting` does. Konnect's counterpart
//! is the managed `konnect-application-auth` plugin; this one is ordinary
//! config, declarable by hand.

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use super::rate_limiting::RedisConfig;
use crate::error::{Errors, Path};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "PortalAuthConfig")
)]
pub struct PortalAuthConfig {
    /// The catalog API this route or service implements: applications must be
    /// registered for it (403 otherwise).
    pub api_id: Option<String>,
    pub key_names: Vec<String>,
    pub key_in_header: bool,
    pub key_in_query: bool,
    /// Remove the key before proxying.
    pub hide_credentials: bool,
    /// Where plan limits are counted: `local` or `redis`.
    pub policy: String,
    pub redis: RedisConfig,
    /// Let requests through when Redis cannot be reached.
    pub fault_tolerant: bool,
    pub hide_client_headers: bool,
}

impl Default for PortalAuthConfig {
    fn default() -> Self {
        PortalAuthConfig {
            api_id: None,
            key_names: vec!["apikey".into(), "x-api-key".into()],
            key_in_header: true,
            key_in_query: true,
            hide_credentials: true,
            policy: "local".into(),
            redis: RedisConfig::default(),
            fault_tolerant: true,
            hide_client_headers: false,
        }
    }
}

impl CheckConfig for PortalAuthConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        match &self.api_id {
            None => errors.add(path.field("api_id"), "required field missing"),
            Some(a) if uuid::Uuid::parse_str(a).is_err() => {
                errors.add(path.field("api_id"), format!("expected a UUID, got '{a}'"))
            }
            Some(_) => {}
        }
        if self.key_names.is_empty() {
            errors.add(path.field("key_names"), "length must be at least 1");
        }
        for (i, k) in self.key_names.iter().enumerate() {
            if k.is_empty()
                || k.len() > 64
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                errors.add(
                    path.field("key_names").index(i),
                    "1 to 64 letters, digits, '-' or '_'",
                );
            }
        }
        if !self.key_in_header && !self.key_in_query {
            errors.add(
                path.field("key_in_header"),
                "at least one of 'key_in_header', 'key_in_query' must be true",
            );
        }
        match self.policy.as_str() {
            "local" => {}
            "redis" => {
                if self.redis.host.is_none() {
                    errors.add(
                        path.field("redis").field("host"),
                        "required field missing when 'policy' is 'redis'",
                    );
                }
                if self.redis.ssl {
                    errors.add(
                        path.field("redis").field("ssl"),
                        "TLS to Redis is not supported by Portico yet",
                    );
                }
            }
            o => errors.add(
                path.field("policy"),
                format!("expected one of: local, redis; got '{o}'"),
            ),
        }
        self.redis.check(&path.field("redis"), errors);
    }
}
