//! Plugin instances, their typed configs (a union with one member per bundled
//! plugin, derived from the contract crate's config types) and the `@oneOf`
//! input that names a plugin by the config it carries.

use async_graphql::{Json, OneofObject, Result, Union};
use graphql_schema::plugin_config::{
    acl::AclConfig, basic_auth::BasicAuthConfig, bot_detection::BotDetectionConfig,
    correlation_id::CorrelationIdConfig, cors::CorsConfig, ip_restriction::IpRestrictionConfig,
    jwt::JwtConfig, key_auth::KeyAuthConfig, logging::FileLogConfig, logging::HttpLogConfig,
    portal_auth::PortalAuthConfig, prometheus::PrometheusConfig, proxy_cache::ProxyCacheConfig,
    rate_limiting::RateLimitingConfig, rate_limiting_advanced::RateLimitingAdvancedConfig,
    request_size_limiting::RequestSizeLimitingConfig,
    request_termination::RequestTerminationConfig, transformer::RequestTransformerConfig,
    transformer::ResponseTransformerConfig,
};
use serde_json::{Map, Value, json};

use super::partial::Partial;
use super::{Consumer, ConsumerGroup, Plugin, Protocol, Route, Service, entity_object};
use crate::config::Kind;

macro_rules! plugins {
    ($($variant:ident($ty:ty) = $name:literal;)*) => {
        /// A plugin's config, typed by plugin (Kong's fields in camelCase,
        /// defaults filled in, write-only fields left out).
        #[derive(Union, Clone)]
        #[graphql(name = "PluginConfig")]
        #[allow(clippy::large_enum_variant)]
        pub enum PluginConfigValue {
            $($variant($ty),)*
        }

        impl PluginConfigValue {
            /// The typed config of plugin `name`, from its validated JSON.
            pub fn of(name: &str, config: &Value) -> Option<PluginConfigValue> {
                match name {
                    $($name => serde_json::from_value(config.clone()).ok().map(PluginConfigValue::$variant),)*
                    _ => None,
                }
            }
        }

        /// A plugin named by its config: exactly one field, the plugin's.
        #[derive(OneofObject)]
        pub enum PluginConfigInput {
            $($variant(Partial<$ty>),)*
        }

        impl PluginConfigInput {
            /// Kong's plugin name and its config as Kong's JSON.
            pub fn kong(&self) -> (&'static str, &Map<String, Value>) {
                match self {
                    $(PluginConfigInput::$variant(p) => ($name, &p.fields),)*
                }
            }

            /// The name of the input field that carries plugin `name`'s config.
            pub fn field_of(name: &str) -> Option<String> {
                let variant = match name {
                    $($name => stringify!($variant),)*
                    _ => return None,
                };
                let mut c = variant.chars();
                c.next().map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
            }
        }
    };
}

plugins! {
    KeyAuth(KeyAuthConfig) = "key-auth";
    BasicAuth(BasicAuthConfig) = "basic-auth";
    Jwt(JwtConfig) = "jwt";
    Acl(AclConfig) = "acl";
    Cors(CorsConfig) = "cors";
    IpRestriction(IpRestrictionConfig) = "ip-restriction";
    RateLimiting(RateLimitingConfig) = "rate-limiting";
    RateLimitingAdvanced(RateLimitingAdvancedConfig) = "rate-limiting-advanced";
    RequestTransformer(RequestTransformerConfig) = "request-transformer";
    ResponseTransformer(ResponseTransformerConfig) = "response-transformer";
    RequestSizeLimiting(RequestSizeLimitingConfig) = "request-size-limiting";
    RequestTermination(RequestTerminationConfig) = "request-termination";
    CorrelationId(CorrelationIdConfig) = "correlation-id";
    ProxyCache(ProxyCacheConfig) = "proxy-cache";
    HttpLog(HttpLogConfig) = "http-log";
    FileLog(FileLogConfig) = "file-log";
    Prometheus(PrometheusConfig) = "prometheus";
    BotDetection(BotDetectionConfig) = "bot-detection";
    PortalAuth(PortalAuthConfig) = "portal-auth";
}

/// A plugin's validated config without its write-only fields.
fn public_config(p: &graphql_schema::entity::Plugin) -> Value {
    let whole = json!({"name": p.name, "config": p.config});
    crate::config::strip_secrets(Kind::Plugin, &whole)
        .get("config")
        .cloned()
        .unwrap_or(Value::Null)
}

entity_object!(
    /// A plugin instance: a bundled plugin, its config, and where it applies
    /// (everywhere, or a service, route, consumer or consumer group).
    Plugin, Kind::Plugin, {
    async fn name(&self) -> Result<String> {
        Ok(self.0.get(|t, id| t.plugin(id))?.name.clone())
    }

    async fn instance_name(&self) -> Result<Option<String>> {
        Ok(self.0.get(|t, id| t.plugin(id))?.instance_name.clone())
    }

    async fn enabled(&self) -> Result<bool> {
        Ok(self.0.get(|t, id| t.plugin(id))?.enabled)
    }

    async fn protocols(&self) -> Result<Vec<Protocol>> {
        Ok(self
            .0
            .get(|t, id| t.plugin(id))?
            .protocols
            .iter()
            .filter_map(|p| Protocol::parse(p))
            .collect())
    }

    /// The config, typed by plugin (defaults filled in).
    async fn config(&self) -> Result<Option<PluginConfigValue>> {
        let p = self.0.get(|t, id| t.plugin(id))?;
        Ok(PluginConfigValue::of(&p.name, &public_config(p)))
    }

    /// The config in Kong's JSON form (defaults filled in).
    async fn raw_config(&self) -> Result<Json<Value>> {
        Ok(Json(public_config(self.0.get(|t, id| t.plugin(id))?)))
    }

    async fn service(&self) -> Result<Option<Service>> {
        Ok(self.0.get(|t, id| t.plugin(id))?.scope.service.map(|s| Service(self.0.other(s))))
    }

    async fn route(&self) -> Result<Option<Route>> {
        Ok(self.0.get(|t, id| t.plugin(id))?.scope.route.map(|s| Route(self.0.other(s))))
    }

    async fn consumer(&self) -> Result<Option<Consumer>> {
        Ok(self.0.get(|t, id| t.plugin(id))?.scope.consumer.map(|s| Consumer(self.0.other(s))))
    }

    async fn consumer_group(&self) -> Result<Option<ConsumerGroup>> {
        Ok(self
            .0
            .get(|t, id| t.plugin(id))?
            .scope
            .consumer_group
            .map(|s| ConsumerGroup(self.0.other(s))))
    }
});
