//! `jwt`: the consumer is whoever owns the `jwt_secrets` entry whose `key` is the
//! token's `key_claim_name` claim, once the signature and the claims check out.

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use crate::error::{Errors, Path};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "JwtConfig")
)]
pub struct JwtConfig {
    pub uri_param_names: Vec<String>,
    pub cookie_names: Vec<String>,
    pub header_names: Vec<String>,
    pub key_claim_name: String,
    pub secret_is_base64: bool,
    pub claims_to_verify: Option<Vec<String>>,
    pub anonymous: Option<String>,
    pub run_on_preflight: bool,
    pub maximum_expiration: f64,
    pub realm: Option<String>,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            uri_param_names: vec!["jwt".into()],
            cookie_names: Vec::new(),
            header_names: vec!["authorization".into()],
            key_claim_name: "iss".into(),
            secret_is_base64: false,
            claims_to_verify: None,
            anonymous: None,
            run_on_preflight: true,
            maximum_expiration: 0.0,
            realm: None,
        }
    }
}

impl CheckConfig for JwtConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        for (i, c) in self.claims_to_verify.iter().flatten().enumerate() {
            if c != "exp" && c != "nbf" {
                errors.add(
                    path.field("claims_to_verify").index(i),
                    format!("expected one of: exp, nbf; got '{c}'"),
                );
            }
        }
        if !(0.0..=31_536_000.0).contains(&self.maximum_expiration) {
            errors.add(
                path.field("maximum_expiration"),
                "value should be between 0 and 31536000",
            );
        }
        if self.maximum_expiration > 0.0
            && !self.claims_to_verify.iter().flatten().any(|c| c == "exp")
        {
            errors.add(
                path.field("claims_to_verify"),
                "expected to contain: exp (when 'maximum_expiration' is set)",
            );
        }
    }
}
