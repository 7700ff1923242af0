//! `request-termination`: answer every request with a fixed status and body.

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use crate::error::{Errors, Path};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "RequestTerminationConfig")
)]
pub struct RequestTerminationConfig {
    pub status_code: i64,
    pub message: Option<String>,
    pub body: Option<String>,
    pub content_type: Option<String>,
    /// Only terminate when this header or query argument is present.
    pub trigger: Option<String>,
    pub echo: bool,
}

impl Default for RequestTerminationConfig {
    fn default() -> Self {
        RequestTerminationConfig {
            status_code: 503,
            message: None,
            body: None,
            content_type: None,
            trigger: None,
            echo: false,
        }
    }
}

impl CheckConfig for RequestTerminationConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        if !(100..=599).contains(&self.status_code) {
            errors.add(
                path.field("status_code"),
                "value should be between 100 and 599",
            );
        }
        // Kong's custom validator: an empty string counts as absent
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        if present(&self.message) && (present(&self.content_type) || present(&self.body)) {
            errors.add(
                path.to_string(),
                "message cannot be used with content_type or body",
            );
        }
        if present(&self.content_type) && !present(&self.body) {
            errors.add(path.field("content_type"), "content_type requires a body");
        }
        if self.echo && (present(&self.content_type) || present(&self.body)) {
            errors.add(
                path.to_string(),
                "echo cannot be used with content_type and body",
            );
        }
        if let Some(t) = &self.trigger
            && (t.is_empty()
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            errors.add(
                path.field("trigger"),
                format!(
                    "bad header name '{t}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
                ),
            );
        }
    }
}
