//! `basic-auth`: the consumer is whoever owns the username and password of an
//! `Authorization: Basic` header.

use serde::{Deserialize, Serialize};

use super::CheckConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "BasicAuthConfig")
)]
pub struct BasicAuthConfig {
    pub anonymous: Option<String>,
    pub hide_credentials: bool,
    pub realm: String,
}

impl Default for BasicAuthConfig {
    fn default() -> Self {
        BasicAuthConfig {
            anonymous: None,
            hide_credentials: false,
            realm: "service".into(),
        }
    }
}

impl CheckConfig for BasicAuthConfig {}
