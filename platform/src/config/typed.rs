//! A plane's config as the node's loader reads it (every entity typed, defaults
//! applied, references resolved), indexed for the typed API: an entity by id,
//! and each entity's children (a service's routes, an upstream's targets, a
//! consumer's credentials, ...) in creation order. Built once per version, on
//! first use, from the view's records.

use std::collections::HashMap;

use graphql_schema::Config;
use graphql_schema::entity::{
    AclGroup, Application, ApplicationCredential, BasicAuthCredential, CaCertificate, Certificate,
    Consumer, ConsumerGroup, JwtSecret, KeyAuthCredential, Plugin, Route, Service, Sni, Target,
    Upstream,
};
use uuid::Uuid;

use super::{Kind, Record};

pub struct Typed {
    pub config: Config,
    /// Why the config does not load, when it does not (the typed fields then
    /// answer with this).
    pub error: Option<String>,
    /// Each entity's position in its kind's list of `config`.
    at: HashMap<Uuid, usize>,
    /// Parent id -> the ids of entities referencing it (any kind), by creation
    /// order.
    children: HashMap<Uuid, Vec<Uuid>>,
    /// Consumer group id -> its consumers, by creation order.
    members: HashMap<Uuid, Vec<Uuid>>,
}

impl std::fmt::Debug for Typed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Typed")
            .field("entities", &self.at.len())
            .field("error", &self.error)
            .finish()
    }
}

macro_rules! getters {
    ($($fn:ident: $list:ident -> $ty:ty;)*) => {
        $(pub fn $fn(&self, id: Uuid) -> Option<&$ty> {
            self.config.$list.get(*self.at.get(&id)?).filter(|e| e.id == id)
        })*
    };
}

impl Typed {
    pub fn build(records: &HashMap<Uuid, Record>) -> Typed {
        let (doc, _) = super::document(records.values(), true);
        let (config, error) = match super::document::validate(&doc) {
            Ok(c) => (c, None),
            Err(es) => (
                Config::default(),
                Some(
                    es.iter()
                        .take(3)
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            ),
        };
        let mut at = HashMap::new();
        macro_rules! index {
            ($($list:ident),*) => {
                $(for (i, e) in config.$list.iter().enumerate() {
                    at.insert(e.id, i);
                })*
            };
        }
        index!(
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
        let mut ordered: Vec<&Record> = records.values().collect();
        ordered.sort_by_key(|r| r.seq);
        let mut children: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for r in &ordered {
            for (field, _) in r.kind.references() {
                if let Some(p) = r.reference(field) {
                    children.entry(p).or_default().push(r.id);
                }
            }
        }
        let mut members: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for r in ordered.iter().filter(|r| r.kind == Kind::Consumer) {
            let groups = at
                .get(&r.id)
                .and_then(|i| config.consumers.get(*i))
                .map(|c| c.groups.clone())
                .unwrap_or_default();
            for g in groups {
                members.entry(g).or_default().push(r.id);
            }
        }
        Typed {
            config,
            error,
            at,
            children,
            members,
        }
    }

    getters! {
        service: services -> Service;
        route: routes -> Route;
        upstream: upstreams -> Upstream;
        target: targets -> Target;
        certificate: certificates -> Certificate;
        sni: snis -> Sni;
        ca_certificate: ca_certificates -> CaCertificate;
        consumer: consumers -> Consumer;
        consumer_group: consumer_groups -> ConsumerGroup;
        key_auth_credential: keyauth_credentials -> KeyAuthCredential;
        basic_auth_credential: basicauth_credentials -> BasicAuthCredential;
        acl: acls -> AclGroup;
        jwt_secret: jwt_secrets -> JwtSecret;
        plugin: plugins -> Plugin;
        application: applications -> Application;
        application_credential: application_credentials -> ApplicationCredential;
    }

    /// The entities referencing `parent`, in creation order.
    pub fn children(&self, parent: Uuid) -> &[Uuid] {
        self.children.get(&parent).map_or(&[], Vec::as_slice)
    }

    /// A consumer group's consumers, in creation order.
    pub fn members(&self, group: Uuid) -> &[Uuid] {
        self.members.get(&group).map_or(&[], Vec::as_slice)
    }
}
