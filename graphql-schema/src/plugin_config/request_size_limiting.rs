//! `request-size-limiting`: refuses request bodies above a size.

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use crate::error::{Errors, Path};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "RequestSizeLimitingConfig")
)]
pub struct RequestSizeLimitingConfig {
    pub allowed_payload_size: f64,
    pub size_unit: String,
    pub require_content_length: bool,
}

impl Default for RequestSizeLimitingConfig {
    fn default() -> Self {
        RequestSizeLimitingConfig {
            allowed_payload_size: 128.0,
            size_unit: "megabytes".into(),
            require_content_length: false,
        }
    }
}

impl RequestSizeLimitingConfig {
    pub fn limit_bytes(&self) -> u64 {
        let unit = match self.size_unit.as_str() {
            "bytes" => 1.0,
            "kilobytes" => 1024.0,
            _ => 1024.0 * 1024.0,
        };
        (self.allowed_payload_size * unit) as u64
    }
}

impl CheckConfig for RequestSizeLimitingConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        if !["bytes", "kilobytes", "megabytes"].contains(&self.size_unit.as_str()) {
            errors.add(
                path.field("size_unit"),
                format!(
                    "expected one of: megabytes, kilobytes, bytes; got '{}'",
                    self.size_unit
                ),
            );
        }
        super::check_integer(
            self.allowed_payload_size,
            &path.field("allowed_payload_size"),
            errors,
        );
        if self.allowed_payload_size < 0.0 {
            errors.add(
                path.field("allowed_payload_size"),
                "value must be greater than or equal to 0",
            );
        }
    }
}
