//! `acl`: allow or deny authenticated consumers by their ACL groups.

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use crate::error::{Errors, Path};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "AclConfig")
)]
pub struct AclConfig {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
    pub hide_groups_header: bool,
    pub include_consumer_groups: bool,
    pub always_use_authenticated_groups: bool,
}

impl CheckConfig for AclConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        let allow = self.allow.as_ref().is_some_and(|a| !a.is_empty());
        let deny = self.deny.as_ref().is_some_and(|a| !a.is_empty());
        if allow == deny {
            errors.add(
                path.to_string(),
                "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'",
            );
        }
    }
}
