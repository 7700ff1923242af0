//! `proxy-cache`: caches upstream responses in the node's memory by method, path,
//! query, the `vary_*` headers and arguments, and the consumer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use crate::error::{Errors, Path};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "ProxyCacheConfig")
)]
pub struct ProxyCacheConfig {
    pub response_code: Vec<u16>,
    pub request_method: Vec<String>,
    pub content_type: Vec<String>,
    pub cache_ttl: f64,
    pub strategy: String,
    pub memory: MemoryConfig,
    pub cache_control: bool,
    pub ignore_uri_case: bool,
    pub storage_ttl: Option<f64>,
    pub vary_headers: Option<Vec<String>>,
    pub vary_query_params: Option<Vec<String>>,
    pub response_headers: BTreeMap<String, bool>,
}

/// Kong's `memory` record: the nginx shared dict holding the cache. Portico
/// keeps its cache in the node's own memory, so the name has no effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "ProxyCacheMemory")
)]
pub struct MemoryConfig {
    pub dictionary_name: String,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            dictionary_name: "kong_db_cache".into(),
        }
    }
}

impl Default for ProxyCacheConfig {
    fn default() -> Self {
        ProxyCacheConfig {
            response_code: vec![200, 301, 404],
            request_method: vec!["GET".into(), "HEAD".into()],
            content_type: vec!["text/plain".into(), "application/json".into()],
            cache_ttl: 300.0,
            strategy: "memory".into(),
            memory: MemoryConfig::default(),
            cache_control: false,
            ignore_uri_case: false,
            storage_ttl: None,
            vary_headers: None,
            vary_query_params: None,
            response_headers: BTreeMap::from([
                ("age".to_string(), true),
                ("X-Cache-Status".to_string(), true),
                ("X-Cache-Key".to_string(), true),
            ]),
        }
    }
}

impl CheckConfig for ProxyCacheConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        if self.strategy != "memory" {
            errors.add(
                path.field("strategy"),
                format!("expected one of: memory; got '{}'", self.strategy),
            );
        }
        super::check_integer(self.cache_ttl, &path.field("cache_ttl"), errors);
        if self.cache_ttl <= 0.0 {
            errors.add(path.field("cache_ttl"), "value must be greater than 0");
        }
        if let Some(t) = self.storage_ttl {
            super::check_integer(t, &path.field("storage_ttl"), errors);
        }
        for (i, c) in self.response_code.iter().enumerate() {
            if !(100..=900).contains(c) {
                errors.add(
                    path.field("response_code").index(i),
                    "value should be between 100 and 900",
                );
            }
        }
        if self.response_code.is_empty() {
            errors.add(path.field("response_code"), "length must be at least 1");
        }
        for (i, m) in self.request_method.iter().enumerate() {
            if !["GET", "HEAD", "POST", "PATCH", "PUT"].contains(&m.as_str()) {
                errors.add(
                    path.field("request_method").index(i),
                    format!("expected one of: HEAD, GET, POST, PATCH, PUT; got '{m}'"),
                );
            }
        }
        for k in self.response_headers.keys() {
            if !["age", "X-Cache-Status", "X-Cache-Key"].contains(&k.as_str()) {
                errors.add(path.field("response_headers").field(k), "unknown field");
            }
        }
    }
}
