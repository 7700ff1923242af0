//! Plugin instances: a plugin name, its typed config (validated by the plugin's
//! schema in `plugin_config`, defaults filled in) and its scope (global, service,
//! route, consumer, consumer group, or a combination).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{derive_id, parse_id};
use crate::error::{Errors, Path};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    pub id: Option<String>,
    pub name: Option<String>,
    pub instance_name: Option<String>,
    pub config: Option<serde_json::Value>,
    pub enabled: Option<bool>,
    pub protocols: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub service: Option<serde_json::Value>,
    pub route: Option<serde_json::Value>,
    pub consumer: Option<serde_json::Value>,
    pub consumer_group: Option<serde_json::Value>,
    pub ordering: Option<serde_json::Value>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

/// Where a plugin instance applies; `None` everywhere is global.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct PluginScope {
    pub service: Option<Uuid>,
    pub route: Option<Uuid>,
    pub consumer: Option<Uuid>,
    pub consumer_group: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plugin {
    pub id: Uuid,
    pub name: String,
    pub instance_name: Option<String>,
    /// The config with every default filled in (the plugin schema's output).
    pub config: serde_json::Value,
    pub enabled: bool,
    pub protocols: Vec<String>,
    pub scope: PluginScope,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub source: String,
}

impl PluginConfig {
    /// `scope` comes from nesting and resolved references.
    pub fn validate(&self, scope: PluginScope, path: &Path, errors: &mut Errors) -> Option<Plugin> {
        let before = errors.list.len();
        let id = parse_id(&self.id, path, errors);
        let Some(name) = self.name.clone() else {
            errors.add(path.field("name"), "required field missing");
            return None;
        };
        if self.ordering.is_some() {
            errors.add(
                path.field("ordering"),
                "dynamic plugin ordering is not supported by Portico yet",
            );
        }
        let config = crate::plugin_config::validate(
            &name,
            self.config.as_ref(),
            &path.field("config"),
            &path.field("name"),
            errors,
        );
        // Kong's set for the plugin: `typedefs.protocols_http` or
        // `typedefs.protocols` (stream ones too), with the plugin's default
        let (allowed, default) = crate::plugin_config::info(&name)
            .map(|i| (i.protocols, i.default_protocols))
            .unwrap_or((
                crate::plugin_config::ALL_PROTOCOLS,
                crate::plugin_config::HTTP_PROTOCOLS,
            ));
        let protocols = match &self.protocols {
            None => default.iter().map(|s| s.to_string()).collect(),
            Some(ps) => {
                for (i, p) in ps.iter().enumerate() {
                    if !allowed.contains(&p.as_str()) {
                        errors.add(
                            path.field("protocols").index(i),
                            format!("expected one of: {}; got '{p}'", allowed.join(", ")),
                        );
                    }
                }
                ps.clone()
            }
        };
        if errors.list.len() > before {
            return None;
        }
        let key = format!(
            "{name}:{}:{}:{}:{}:{}",
            self.instance_name.as_deref().unwrap_or(""),
            scope.service.map(|u| u.to_string()).unwrap_or_default(),
            scope.route.map(|u| u.to_string()).unwrap_or_default(),
            scope.consumer.map(|u| u.to_string()).unwrap_or_default(),
            scope
                .consumer_group
                .map(|u| u.to_string())
                .unwrap_or_default(),
        );
        Some(Plugin {
            id: id.unwrap_or_else(|| derive_id("plugin", &key)),
            name,
            instance_name: self.instance_name.clone(),
            config: config?,
            enabled: self.enabled.unwrap_or(true),
            protocols,
            scope,
            tags: self.tags.clone().unwrap_or_default(),
            source: path.to_string(),
        })
    }
}
