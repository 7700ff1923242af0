//! `cors`: answers CORS preflight requests and adds the CORS headers to responses.

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use crate::error::{Errors, Path};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "CorsConfig")
)]
pub struct CorsConfig {
    /// `*`, exact origins, or regexes (anything that is not a plain origin).
    pub origins: Option<Vec<String>>,
    pub headers: Option<Vec<String>>,
    pub exposed_headers: Option<Vec<String>>,
    pub methods: Vec<String>,
    pub max_age: Option<f64>,
    pub credentials: bool,
    pub private_network: bool,
    pub preflight_continue: bool,
    /// Whether responses to requests without an `Origin` get the CORS headers.
    pub allow_origin_absent: bool,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            origins: None,
            headers: None,
            exposed_headers: None,
            methods: [
                "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            max_age: None,
            credentials: false,
            private_network: false,
            preflight_continue: false,
            allow_origin_absent: true,
        }
    }
}

const METHODS: &[&str] = &[
    "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

impl CheckConfig for CorsConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        for (i, m) in self.methods.iter().enumerate() {
            if !METHODS.contains(&m.as_str()) {
                errors.add(
                    path.field("methods").index(i),
                    format!("expected one of: {}; got '{m}'", METHODS.join(", ")),
                );
            }
        }
        for (i, o) in self.origins.iter().flatten().enumerate() {
            if o != "*"
                && !is_plain_origin(o)
                && let Err(e) = regex::Regex::new(o)
            {
                errors.add(
                    path.field("origins").index(i),
                    format!(
                        "invalid regex: {}",
                        e.to_string().lines().last().unwrap_or("")
                    ),
                );
            }
        }
    }
}

/// `scheme://host[:port]` with nothing regex-like: compared exactly.
pub fn is_plain_origin(o: &str) -> bool {
    o.split_once("://").is_some_and(|(s, rest)| {
        !s.is_empty()
            && !rest.is_empty()
            && !o.contains(['*', '^', '$', '(', ')', '[', ']', '\\', '|', '+', '?', '{'])
    })
}
