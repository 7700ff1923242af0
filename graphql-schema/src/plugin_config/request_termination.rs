//! `request-termination`: answer every request with a fixed status and body.

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use crate::error::{Errors, Path};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
        if self.message.is_some() && self.body.is_some() {
            errors.add(path.to_string(), "message and body are mutually exclusive");
        }
        if self.content_type.is_some() && self.body.is_none() {
            errors.add(path.field("content_type"), "content_type requires a body");
        }
    }
}
