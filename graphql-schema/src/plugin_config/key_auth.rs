//! `key-auth`: an API key in a header, the query string or the body identifies the
//! consumer.

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use crate::error::{Errors, Path};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "KeyAuthConfig")
)]
pub struct KeyAuthConfig {
    pub key_names: Vec<String>,
    pub hide_credentials: bool,
    /// Consumer (id or username) to use when authentication fails.
    pub anonymous: Option<String>,
    pub key_in_header: bool,
    pub key_in_query: bool,
    pub key_in_body: bool,
    pub run_on_preflight: bool,
    pub realm: Option<String>,
    /// Konnect's (3.10+) where keys are looked up: `scope: cp` is this control
    /// plane's own consumers, the only scope Portico has.
    pub identity_realms: Option<Vec<IdentityRealm>>,
}

/// One entry of Konnect's `identity_realms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "KeyAuthIdentityRealm")
)]
pub struct IdentityRealm {
    pub scope: String,
    pub id: Option<String>,
    pub region: Option<String>,
}

impl Default for IdentityRealm {
    fn default() -> Self {
        IdentityRealm {
            scope: "cp".into(),
            id: None,
            region: None,
        }
    }
}

impl Default for KeyAuthConfig {
    fn default() -> Self {
        KeyAuthConfig {
            key_names: vec!["apikey".into()],
            hide_credentials: false,
            anonymous: None,
            key_in_header: true,
            key_in_query: true,
            key_in_body: false,
            run_on_preflight: true,
            realm: None,
            identity_realms: None,
        }
    }
}

impl CheckConfig for KeyAuthConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        if self.key_names.is_empty() {
            errors.add(path.field("key_names"), "length must be at least 1");
        }
        for (i, k) in self.key_names.iter().enumerate() {
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                errors.add(
                    path.field("key_names").index(i),
                    format!(
                        "bad header name '{k}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
                    ),
                );
            }
        }
        if self.key_in_body {
            errors.add(
                path.field("key_in_body"),
                "keys in request bodies are not supported by Portico yet",
            );
        }
        for (i, r) in self.identity_realms.iter().flatten().enumerate() {
            let p = path.field("identity_realms").index(i);
            match r.scope.as_str() {
                "cp" => {}
                "realm" => errors.add(
                    p.field("scope"),
                    "Konnect realms (centrally managed consumers) are not supported by Portico; use scope 'cp'",
                ),
                o => errors.add(
                    p.field("scope"),
                    format!("expected one of: cp, realm; got '{o}'"),
                ),
            }
        }
    }
}
