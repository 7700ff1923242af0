//! `file-log` and `http-log`: one JSON entry per request (Kong's log serializer
//! shape), written after the response, off the request path.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use crate::error::{Errors, Path};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileLogConfig {
    pub path: Option<String>,
    pub reopen: bool,
    pub custom_fields_by_lua: Option<serde_json::Value>,
}

impl CheckConfig for FileLogConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        match &self.path {
            None => errors.add(path.field("path"), "required field missing"),
            Some(p) if !p.starts_with('/') || p.contains("..") => errors.add(
                path.field("path"),
                format!("not a valid filename: '{p}' (an absolute path without '..')"),
            ),
            Some(_) => {}
        }
        if self
            .custom_fields_by_lua
            .as_ref()
            .is_some_and(|v| !v.is_null())
        {
            errors.add(
                path.field("custom_fields_by_lua"),
                "Lua is not supported by Portico",
            );
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    pub max_batch_size: u32,
    pub max_coalescing_delay: f64,
    pub max_entries: u32,
    pub max_bytes: Option<u64>,
    pub max_retry_time: f64,
    pub initial_retry_delay: f64,
    pub max_retry_delay: f64,
    pub concurrency_limit: i32,
    pub name: Option<String>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_batch_size: 1,
            max_coalescing_delay: 1.0,
            max_entries: 10_000,
            max_bytes: None,
            max_retry_time: 60.0,
            initial_retry_delay: 0.01,
            max_retry_delay: 60.0,
            concurrency_limit: 1,
            name: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpLogConfig {
    pub http_endpoint: Option<String>,
    pub method: String,
    pub content_type: String,
    pub timeout: f64,
    pub keepalive: f64,
    pub retry_count: Option<i64>,
    pub queue_size: Option<i64>,
    pub flush_timeout: Option<f64>,
    pub headers: BTreeMap<String, String>,
    pub queue: QueueConfig,
    pub custom_fields_by_lua: Option<serde_json::Value>,
}

impl Default for HttpLogConfig {
    fn default() -> Self {
        HttpLogConfig {
            http_endpoint: None,
            method: "POST".into(),
            content_type: "application/json".into(),
            timeout: 10_000.0,
            keepalive: 60_000.0,
            retry_count: None,
            queue_size: None,
            flush_timeout: None,
            headers: BTreeMap::new(),
            queue: QueueConfig::default(),
            custom_fields_by_lua: None,
        }
    }
}

impl CheckConfig for HttpLogConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        match &self.http_endpoint {
            None => errors.add(path.field("http_endpoint"), "required field missing"),
            Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => errors.add(
                path.field("http_endpoint"),
                format!("missing scheme or unsupported scheme in '{u}' (http or https)"),
            ),
            Some(_) => {}
        }
        if !["POST", "PUT", "PATCH"].contains(&self.method.as_str()) {
            errors.add(
                path.field("method"),
                format!("expected one of: POST, PUT, PATCH; got '{}'", self.method),
            );
        }
        if !["application/json", "application/json; charset=utf-8"]
            .contains(&self.content_type.as_str())
        {
            errors.add(
                path.field("content_type"),
                "expected one of: application/json, application/json; charset=utf-8",
            );
        }
        if self.queue.max_batch_size == 0 {
            errors.add(
                path.field("queue").field("max_batch_size"),
                "value should be between 1 and 1000000",
            );
        }
        if self.queue.max_entries == 0 {
            errors.add(
                path.field("queue").field("max_entries"),
                "value should be between 1 and 1000000",
            );
        }
        if self
            .custom_fields_by_lua
            .as_ref()
            .is_some_and(|v| !v.is_null())
        {
            errors.add(
                path.field("custom_fields_by_lua"),
                "Lua is not supported by Portico",
            );
        }
    }
}
