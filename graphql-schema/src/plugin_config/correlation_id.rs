//! `correlation-id`: give every request an id in a header, upstream and optionally
//! back to the client.

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use crate::error::{Errors, Path};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "CorrelationIdConfig")
)]
pub struct CorrelationIdConfig {
    pub header_name: String,
    pub generator: String,
    pub echo_downstream: bool,
}

impl Default for CorrelationIdConfig {
    fn default() -> Self {
        CorrelationIdConfig {
            header_name: "Kong-Request-ID".into(),
            generator: "uuid#counter".into(),
            echo_downstream: false,
        }
    }
}

impl CheckConfig for CorrelationIdConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        if http_header_name_ok(&self.header_name).is_err() {
            errors.add(
                path.field("header_name"),
                format!("bad header name '{}'", self.header_name),
            );
        }
        if !["uuid", "uuid#counter", "tracker"].contains(&self.generator.as_str()) {
            errors.add(
                path.field("generator"),
                format!(
                    "expected one of: uuid, uuid#counter, tracker; got '{}'",
                    self.generator
                ),
            );
        }
    }
}

fn http_header_name_ok(s: &str) -> Result<(), ()> {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_!#$%&'*+.^`|~".contains(&b))
    {
        Ok(())
    } else {
        Err(())
    }
}
