//! A validated gateway configuration: every entity checked, references resolved,
//! defaults applied. Platform and node agree on its canonical hash.

use serde::Serialize;
use sha2::Digest;

use crate::entity::{
    CaCertificate, Certificate, Consumer, ConsumerGroup, KeyAuthCredential, Plugin, Route, Service,
    Sni, Target, Upstream,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Config {
    pub services: Vec<Service>,
    pub routes: Vec<Route>,
    pub upstreams: Vec<Upstream>,
    pub targets: Vec<Target>,
    pub certificates: Vec<Certificate>,
    pub snis: Vec<Sni>,
    pub ca_certificates: Vec<CaCertificate>,
    pub consumers: Vec<Consumer>,
    pub consumer_groups: Vec<ConsumerGroup>,
    pub keyauth_credentials: Vec<KeyAuthCredential>,
    pub basicauth_credentials: Vec<crate::entity::BasicAuthCredential>,
    pub acls: Vec<crate::entity::AclGroup>,
    pub jwt_secrets: Vec<crate::entity::JwtSecret>,
    pub plugins: Vec<Plugin>,
    /// Dev Portal applications and their keys (left out of the hash's
    /// serialisation when empty, so configs without them hash as before).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<crate::entity::Application>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub application_credentials: Vec<crate::entity::ApplicationCredential>,
}

/// How many of each entity a config holds (shown on `/status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EntityCounts {
    pub services: usize,
    pub routes: usize,
    pub upstreams: usize,
    pub targets: usize,
    pub certificates: usize,
    pub snis: usize,
    pub ca_certificates: usize,
    pub consumers: usize,
    pub consumer_groups: usize,
    pub credentials: usize,
    pub plugins: usize,
    pub applications: usize,
}

impl Config {
    /// SHA-256 (hex) of the canonical JSON form: struct fields in declaration order,
    /// entities in file order, defaults applied; so the same config gives the same
    /// hash on the platform and on every node.
    pub fn hash(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        crate::entity::consumer::hex(&sha2::Sha256::digest(&bytes))
    }

    /// The id of every entity by where it sits in the file (`services[0]`,
    /// `consumers[1].keyauth_credentials[0]`, ...): the ids the loader derives for
    /// entities a file gives no id, which the platform stores for them too.
    pub fn ids_by_source(&self) -> std::collections::HashMap<&str, uuid::Uuid> {
        let mut m = std::collections::HashMap::new();
        macro_rules! each {
            ($($list:ident),*) => {
                $(for e in &self.$list {
                    m.insert(e.source.as_str(), e.id);
                })*
            };
        }
        each!(
            services,
            routes,
            upstreams,
            targets,
            certificates,
            snis,
            ca_certificates,
            consumers,
            consumer_groups,
            keyauth_credentials,
            basicauth_credentials,
            acls,
            jwt_secrets,
            plugins,
            applications,
            application_credentials
        );
        m
    }

    pub fn counts(&self) -> EntityCounts {
        EntityCounts {
            services: self.services.len(),
            routes: self.routes.len(),
            upstreams: self.upstreams.len(),
            targets: self.targets.len(),
            certificates: self.certificates.len(),
            snis: self.snis.len(),
            ca_certificates: self.ca_certificates.len(),
            consumers: self.consumers.len(),
            consumer_groups: self.consumer_groups.len(),
            credentials: self.keyauth_credentials.len()
                + self.basicauth_credentials.len()
                + self.jwt_secrets.len(),
            plugins: self.plugins.len(),
            applications: self.applications.len(),
        }
    }
}
