//! `file-log` and `http-log`: one JSON entry per request (Kong's log serializer
//! shape), written after the response, off the request path.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{CheckConfig, check_no_lua};
use crate::error::{Errors, Path};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "FileLogConfig")
)]
pub struct FileLogConfig {
    pub path: Option<String>,
    pub reopen: bool,
    /// Kong's `typedefs.lua_code`: only empty, Portico runs no Lua.
    pub custom_fields_by_lua: Option<BTreeMap<String, String>>,
}

/// Kong's file-log `path` pattern: no `*`, `&`, `%`, `` ` `` anywhere, no
/// whitespace at either end, at least two characters.
fn kong_filename_ok(p: &str) -> bool {
    let bad = |c: char| matches!(c, '*' | '&' | '%' | '`' | '\\');
    let chars: Vec<char> = p.chars().collect();
    chars.len() >= 2
        && !chars.iter().any(|c| bad(*c))
        && chars.first().is_some_and(|c| !c.is_whitespace())
        && chars.last().is_some_and(|c| !c.is_whitespace())
}

impl CheckConfig for FileLogConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        match &self.path {
            None => errors.add(path.field("path"), "required field missing"),
            Some(p) if !kong_filename_ok(p) => {
                errors.add(path.field("path"), "not a valid filename")
            }
            Some(p) if !p.starts_with('/') || p.contains("..") => errors.add(
                path.field("path"),
                format!("not a valid filename: '{p}' (an absolute path without '..')"),
            ),
            Some(_) => {}
        }
        check_no_lua(
            &self.custom_fields_by_lua,
            &path.field("custom_fields_by_lua"),
            errors,
        );
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "HttpLogQueue")
)]
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
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "HttpLogConfig")
)]
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
    /// Kong's `typedefs.lua_code`: only empty, Portico runs no Lua.
    pub custom_fields_by_lua: Option<BTreeMap<String, String>>,
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
        self.queue.check(&path.field("queue"), errors);
        for name in self.headers.keys() {
            let p = path.field("headers").field(name);
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                errors.add(
                    p,
                    format!(
                        "bad header name '{name}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
                    ),
                );
            } else if let Some(h) = ["Host", "Content-Length", "Content-Type"]
                .into_iter()
                .find(|h| name.eq_ignore_ascii_case(h))
            {
                errors.add(p, format!("cannot contain '{h}' header"));
            }
        }
        if let Some(u) = &self.http_endpoint
            && has_userinfo(u)
            && self
                .headers
                .keys()
                .any(|h| h.eq_ignore_ascii_case("authorization"))
        {
            errors.add(
                path.to_string(),
                "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed",
            );
        }
        check_no_lua(
            &self.custom_fields_by_lua,
            &path.field("custom_fields_by_lua"),
            errors,
        );
    }
}

/// Whether a URL has `user[:password]@` before its host.
fn has_userinfo(u: &str) -> bool {
    let rest = u.split_once("://").map_or(u, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.contains('@')
}

impl QueueConfig {
    /// Kong's `typedefs.queue` ranges.
    pub fn check(&self, path: &Path, errors: &mut Errors) {
        if !(1..=1_000_000).contains(&self.max_batch_size) {
            errors.add(
                path.field("max_batch_size"),
                "value should be between 1 and 1000000",
            );
        }
        if !(0.0..=3600.0).contains(&self.max_coalescing_delay) {
            errors.add(
                path.field("max_coalescing_delay"),
                "value should be between 0 and 3600",
            );
        }
        if !(1..=1_000_000).contains(&self.max_entries) {
            errors.add(
                path.field("max_entries"),
                "value should be between 1 and 1000000",
            );
        }
        for (field, v) in [
            ("initial_retry_delay", self.initial_retry_delay),
            ("max_retry_delay", self.max_retry_delay),
        ] {
            if !(0.001..=1_000_000.0).contains(&v) {
                errors.add(
                    path.field(field),
                    "value should be between 0.001 and 1000000",
                );
            }
        }
        if self.concurrency_limit != -1 && self.concurrency_limit != 1 {
            errors.add(
                path.field("concurrency_limit"),
                format!("expected one of: -1, 1; got {}", self.concurrency_limit),
            );
        }
    }
}
