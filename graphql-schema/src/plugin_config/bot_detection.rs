//! `bot-detection`: refuses requests whose `User-Agent` matches a `deny` regex or
//! one of Kong's known-bot patterns, unless it matches an `allow` regex first.

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use crate::error::{Errors, Path};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "BotDetectionConfig")
)]
pub struct BotDetectionConfig {
    /// Regexes for User-Agents let through (checked first).
    pub allow: Vec<String>,
    /// Regexes for User-Agents refused (checked before Kong's bot list).
    pub deny: Vec<String>,
}

impl CheckConfig for BotDetectionConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        for (field, list) in [("allow", &self.allow), ("deny", &self.deny)] {
            for (i, r) in list.iter().enumerate() {
                if let Err(e) = regex::Regex::new(r) {
                    errors.add(
                        path.field(field).index(i),
                        format!(
                            "not a valid regex: {r} ({})",
                            e.to_string().lines().last().unwrap_or("").trim()
                        ),
                    );
                }
            }
        }
    }
}
