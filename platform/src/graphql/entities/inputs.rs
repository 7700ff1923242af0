//! The fields of each kind's typed mutations (shared by its create and update
//! inputs), turned into Kong's JSON for the same validation decK files get.
//! References are ids; write-only fields (keys, passwords, secrets, private
//! keys) are accepted here and never returned.

use async_graphql::{ID, InputObject};
use graphql_schema::entity::upstream::Healthchecks;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::consumer::JwtAlgorithm;
use super::partial::Partial;
use super::plugin::PluginConfigInput;
use super::upstream::{HashOn, UpstreamAlgorithm};
use super::{PathHandling, Protocol};

/// Kong's JSON of a kind's fields: those the caller set.
pub trait KongFields {
    fn kong(&self) -> Map<String, Value>;
}

fn without_nulls<T: Serialize>(t: &T) -> Map<String, Value> {
    match serde_json::to_value(t) {
        Ok(Value::Object(m)) => m.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        _ => Map::new(),
    }
}

/// `{"id": ...}`, as Kong writes a reference.
fn reference<S: Serializer>(id: &Option<ID>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => serde_json::json!({"id": id.as_str()}).serialize(s),
        None => s.serialize_none(),
    }
}

fn partial<T, S: Serializer>(p: &Option<Partial<T>>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => p.fields.serialize(s),
        None => s.serialize_none(),
    }
}

macro_rules! kong_fields {
    ($($ty:ident),*) => {
        $(impl KongFields for $ty {
            fn kong(&self) -> Map<String, Value> {
                without_nulls(self)
            }
        })*
    };
}

kong_fields!(
    ServiceFields,
    UpstreamFields,
    TargetFields,
    ConsumerFields,
    ConsumerGroupFields,
    KeyAuthCredentialFields,
    BasicAuthCredentialFields,
    JwtSecretFields,
    AclFields,
    CertificateFields,
    SniFields,
    CaCertificateFields
);

#[derive(InputObject, Serialize, Default)]
#[graphql(visible = false)]
pub struct ServiceFields {
    pub name: Option<String>,
    /// `protocol://host:port/path` in one (Kong's shorthand).
    pub url: Option<String>,
    pub protocol: Option<Protocol>,
    pub host: Option<String>,
    pub port: Option<i32>,
    pub path: Option<String>,
    pub retries: Option<i32>,
    /// Milliseconds.
    pub connect_timeout: Option<i32>,
    /// Milliseconds.
    pub write_timeout: Option<i32>,
    /// Milliseconds.
    pub read_timeout: Option<i32>,
    pub enabled: Option<bool>,
    pub tls_verify: Option<bool>,
    pub tls_verify_depth: Option<i32>,
    /// CA certificate ids.
    pub ca_certificates: Option<Vec<ID>>,
    pub tags: Option<Vec<String>>,
}

/// A header a route matches.
#[derive(InputObject, Serialize, Clone)]
pub struct RouteHeaderInput {
    pub name: String,
    pub values: Vec<String>,
}

#[derive(InputObject, Serialize, Default)]
#[graphql(visible = false)]
pub struct RouteFields {
    pub name: Option<String>,
    /// The service's id.
    #[serde(serialize_with = "reference")]
    pub service: Option<ID>,
    pub protocols: Option<Vec<Protocol>>,
    pub methods: Option<Vec<String>>,
    pub hosts: Option<Vec<String>>,
    pub paths: Option<Vec<String>>,
    #[serde(skip)]
    pub headers: Option<Vec<RouteHeaderInput>>,
    pub snis: Option<Vec<String>>,
    pub https_redirect_status_code: Option<i32>,
    pub regex_priority: Option<i32>,
    pub strip_path: Option<bool>,
    pub preserve_host: Option<bool>,
    pub path_handling: Option<PathHandling>,
    pub request_buffering: Option<bool>,
    pub response_buffering: Option<bool>,
    pub tags: Option<Vec<String>>,
}

impl KongFields for RouteFields {
    fn kong(&self) -> Map<String, Value> {
        let mut m = without_nulls(self);
        if let Some(h) = &self.headers {
            let headers: Map<String, Value> = h
                .iter()
                .map(|h| (h.name.clone(), Value::from(h.values.clone())))
                .collect();
            m.insert("headers".into(), Value::Object(headers));
        }
        m
    }
}

#[derive(InputObject, Serialize, Default)]
#[graphql(visible = false)]
pub struct UpstreamFields {
    pub name: Option<String>,
    pub algorithm: Option<UpstreamAlgorithm>,
    pub hash_on: Option<HashOn>,
    pub hash_fallback: Option<HashOn>,
    pub hash_on_header: Option<String>,
    pub hash_fallback_header: Option<String>,
    pub hash_on_cookie: Option<String>,
    pub hash_on_cookie_path: Option<String>,
    pub hash_on_query_arg: Option<String>,
    pub hash_fallback_query_arg: Option<String>,
    pub hash_on_uri_capture: Option<String>,
    pub hash_fallback_uri_capture: Option<String>,
    pub slots: Option<i32>,
    #[serde(serialize_with = "partial")]
    pub healthchecks: Option<Partial<Healthchecks>>,
    pub host_header: Option<String>,
    pub use_srv_name: Option<bool>,
    pub tags: Option<Vec<String>>,
}

#[derive(InputObject, Serialize, Default)]
#[graphql(visible = false)]
pub struct TargetFields {
    /// The upstream's id.
    #[serde(serialize_with = "reference")]
    pub upstream: Option<ID>,
    /// `host:port` (port 8000 when left out).
    pub target: Option<String>,
    pub weight: Option<i32>,
    pub tags: Option<Vec<String>>,
}

#[derive(InputObject, Serialize, Default)]
#[graphql(visible = false)]
pub struct ConsumerFields {
    pub username: Option<String>,
    pub custom_id: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(InputObject, Serialize, Default)]
#[graphql(visible = false)]
pub struct ConsumerGroupFields {
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(InputObject, Serialize, Default)]
#[graphql(visible = false)]
pub struct KeyAuthCredentialFields {
    /// The consumer's id.
    #[serde(serialize_with = "reference")]
    pub consumer: Option<ID>,
    /// The API key (write-only; generated when left out on create).
    #[graphql(secret)]
    pub key: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(InputObject, Serialize, Default)]
#[graphql(visible = false)]
pub struct BasicAuthCredentialFields {
    /// The consumer's id.
    #[serde(serialize_with = "reference")]
    pub consumer: Option<ID>,
    pub username: Option<String>,
    /// Write-only.
    #[graphql(secret)]
    pub password: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(InputObject, Serialize, Default)]
#[graphql(visible = false)]
pub struct JwtSecretFields {
    /// The consumer's id.
    #[serde(serialize_with = "reference")]
    pub consumer: Option<ID>,
    pub key: Option<String>,
    /// The HMAC secret (write-only).
    #[graphql(secret)]
    pub secret: Option<String>,
    pub algorithm: Option<JwtAlgorithm>,
    pub rsa_public_key: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(InputObject, Serialize, Default)]
#[graphql(visible = false)]
pub struct AclFields {
    /// The consumer's id.
    #[serde(serialize_with = "reference")]
    pub consumer: Option<ID>,
    pub group: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(InputObject, Default)]
#[graphql(visible = false)]
pub struct PluginFields {
    /// The plugin, named by its config (one field: `keyAuth`, `rateLimiting`,
    /// ...); an absent config field takes Kong's default.
    pub config: Option<PluginConfigInput>,
    pub instance_name: Option<String>,
    pub enabled: Option<bool>,
    pub protocols: Option<Vec<Protocol>>,
    /// Scope: a service id.
    pub service: Option<ID>,
    /// Scope: a route id.
    pub route: Option<ID>,
    /// Scope: a consumer id.
    pub consumer: Option<ID>,
    /// Scope: a consumer group id.
    pub consumer_group: Option<ID>,
    pub tags: Option<Vec<String>>,
}

/// The parts of `PluginFields` that are Kong's plain fields.
#[derive(Serialize)]
struct PluginPlain {
    instance_name: Option<String>,
    enabled: Option<bool>,
    protocols: Option<Vec<Protocol>>,
    #[serde(serialize_with = "reference")]
    service: Option<ID>,
    #[serde(serialize_with = "reference")]
    route: Option<ID>,
    #[serde(serialize_with = "reference")]
    consumer: Option<ID>,
    #[serde(serialize_with = "reference")]
    consumer_group: Option<ID>,
    tags: Option<Vec<String>>,
}

impl KongFields for PluginFields {
    /// Without `config` (the mutation merges it, with the plugin's name).
    fn kong(&self) -> Map<String, Value> {
        without_nulls(&PluginPlain {
            instance_name: self.instance_name.clone(),
            enabled: self.enabled,
            protocols: self.protocols.clone(),
            service: self.service.clone(),
            route: self.route.clone(),
            consumer: self.consumer.clone(),
            consumer_group: self.consumer_group.clone(),
            tags: self.tags.clone(),
        })
    }
}

#[derive(InputObject, Serialize, Default)]
#[graphql(visible = false)]
pub struct CertificateFields {
    /// PEM.
    pub cert: Option<String>,
    /// PEM (write-only).
    #[graphql(secret)]
    pub key: Option<String>,
    pub cert_alt: Option<String>,
    #[graphql(secret)]
    pub key_alt: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(InputObject, Serialize, Default)]
#[graphql(visible = false)]
pub struct SniFields {
    pub name: Option<String>,
    /// The certificate's id.
    #[serde(serialize_with = "reference")]
    pub certificate: Option<ID>,
    pub tags: Option<Vec<String>>,
}

#[derive(InputObject, Serialize, Default)]
#[graphql(visible = false)]
pub struct CaCertificateFields {
    /// PEM.
    pub cert: Option<String>,
    pub tags: Option<Vec<String>>,
}
