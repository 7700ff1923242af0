//! What platform and node exchange: config entities in Kong's JSON form with
//! their kind and id (references as `{"id": ...}`), the decK document built from a
//! set of them (what both sides validate and hash), and the messages of the sync
//! protocol (snapshots and deltas).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    Certificate,
    CaCertificate,
    Sni,
    Upstream,
    Target,
    Service,
    Route,
    ConsumerGroup,
    Consumer,
    KeyAuthCredential,
    BasicAuthCredential,
    JwtSecret,
    Acl,
    Plugin,
    Application,
    ApplicationCredential,
}

/// Kinds in the order a document lists them (referenced before referencing).
pub const KINDS: &[Kind] = &[
    Kind::Certificate,
    Kind::CaCertificate,
    Kind::Sni,
    Kind::Upstream,
    Kind::Target,
    Kind::Service,
    Kind::Route,
    Kind::ConsumerGroup,
    Kind::Consumer,
    Kind::KeyAuthCredential,
    Kind::BasicAuthCredential,
    Kind::JwtSecret,
    Kind::Acl,
    Kind::Plugin,
    Kind::Application,
    Kind::ApplicationCredential,
];

impl Kind {
    /// The decK key for a list of these.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Certificate => "certificates",
            Kind::CaCertificate => "ca_certificates",
            Kind::Sni => "snis",
            Kind::Upstream => "upstreams",
            Kind::Target => "targets",
            Kind::Service => "services",
            Kind::Route => "routes",
            Kind::ConsumerGroup => "consumer_groups",
            Kind::Consumer => "consumers",
            Kind::KeyAuthCredential => "keyauth_credentials",
            Kind::BasicAuthCredential => "basicauth_credentials",
            Kind::JwtSecret => "jwt_secrets",
            Kind::Acl => "acls",
            Kind::Plugin => "plugins",
            Kind::Application => "applications",
            Kind::ApplicationCredential => "application_credentials",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        KINDS
            .iter()
            .copied()
            .find(|k| k.key() == s || k.as_str() == s)
    }

    /// The stored name (SCREAMING_SNAKE_CASE, as in GraphQL).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Certificate => "CERTIFICATE",
            Kind::CaCertificate => "CA_CERTIFICATE",
            Kind::Sni => "SNI",
            Kind::Upstream => "UPSTREAM",
            Kind::Target => "TARGET",
            Kind::Service => "SERVICE",
            Kind::Route => "ROUTE",
            Kind::ConsumerGroup => "CONSUMER_GROUP",
            Kind::Consumer => "CONSUMER",
            Kind::KeyAuthCredential => "KEY_AUTH_CREDENTIAL",
            Kind::BasicAuthCredential => "BASIC_AUTH_CREDENTIAL",
            Kind::JwtSecret => "JWT_SECRET",
            Kind::Acl => "ACL",
            Kind::Plugin => "PLUGIN",
            Kind::Application => "APPLICATION",
            Kind::ApplicationCredential => "APPLICATION_CREDENTIAL",
        }
    }

    /// Credentials live nested in their consumer in a decK file.
    pub fn is_credential(self) -> bool {
        matches!(
            self,
            Kind::KeyAuthCredential | Kind::BasicAuthCredential | Kind::JwtSecret | Kind::Acl
        )
    }

    /// The keys a decK file nests other entities under, inside this kind (never
    /// fields of the kind itself: through the API each nested entity is created
    /// as its own kind, and authorized as such).
    pub fn nested_keys(self) -> &'static [&'static str] {
        match self {
            Kind::Service => &["routes", "plugins"],
            Kind::Route => &["plugins"],
            Kind::Upstream => &["targets"],
            Kind::Certificate => &["snis"],
            Kind::ConsumerGroup => &["plugins", "consumers"],
            Kind::Consumer => &[
                "plugins",
                "keyauth_credentials",
                "basicauth_credentials",
                "jwt_secrets",
                "acls",
                "hmacauth_credentials",
                "oauth2_credentials",
                "mtls_auth_credentials",
            ],
            _ => &[],
        }
    }

    /// References this kind holds: (field, kind it points to, required).
    pub fn references(self) -> &'static [(&'static str, Kind)] {
        match self {
            Kind::Sni => &[("certificate", Kind::Certificate)],
            Kind::Target => &[("upstream", Kind::Upstream)],
            Kind::Route => &[("service", Kind::Service)],
            Kind::KeyAuthCredential | Kind::BasicAuthCredential | Kind::JwtSecret | Kind::Acl => {
                &[("consumer", Kind::Consumer)]
            }
            Kind::Plugin => &[
                ("service", Kind::Service),
                ("route", Kind::Route),
                ("consumer", Kind::Consumer),
                ("consumer_group", Kind::ConsumerGroup),
            ],
            Kind::ApplicationCredential => &[("application", Kind::Application)],
            _ => &[],
        }
    }

    /// The field a user names this entity by, when it has one.
    pub fn name_field(self) -> Option<&'static str> {
        match self {
            Kind::Service | Kind::Route | Kind::Upstream | Kind::ConsumerGroup | Kind::Sni => {
                Some("name")
            }
            Kind::Consumer => Some("username"),
            Kind::Target => Some("target"),
            Kind::BasicAuthCredential => Some("username"),
            Kind::Acl => Some("group"),
            Kind::Plugin => Some("name"),
            Kind::JwtSecret => Some("key"),
            Kind::Application => Some("name"),
            Kind::ApplicationCredential => Some("display_name"),
            _ => None,
        }
    }
}

/// One stored entity.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub kind: Kind,
    pub id: Uuid,
    pub seq: i64,
    /// Kong's JSON form with `id`; references are `{"id": ...}`.
    pub data: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record {
    pub fn name(&self) -> Option<String> {
        let f = self.kind.name_field()?;
        self.data.get(f).and_then(Value::as_str).map(str::to_string)
    }

    pub fn tags(&self) -> Vec<String> {
        self.data
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The id this record's `field` references.
    pub fn reference(&self, field: &str) -> Option<Uuid> {
        ref_id(self.data.get(field)?)
    }

    /// The data without write-only fields.
    pub fn public_data(&self) -> Value {
        strip_secrets(self.kind, &self.data)
    }
}

/// The data without secrets (see [`crate::secrets`]).
pub fn strip_secrets(kind: Kind, data: &Value) -> Value {
    crate::secrets::strip(kind, data)
}

/// `{"id": "..."}` or a bare id string.
pub fn ref_id(v: &Value) -> Option<Uuid> {
    match v {
        Value::String(s) => Uuid::parse_str(s).ok(),
        Value::Object(m) => m.get("id")?.as_str().and_then(|s| Uuid::parse_str(s).ok()),
        _ => None,
    }
}

/// The decK document of a set of records, and where each record sits in it (for
/// mapping validation errors back to the entity that caused them).
pub fn document<'a>(
    records: impl Iterator<Item = &'a Record>,
    with_secrets: bool,
) -> (Value, HashMap<Uuid, String>) {
    let mut by_kind: BTreeMap<Kind, Vec<&Record>> = BTreeMap::new();
    for r in records {
        by_kind.entry(r.kind).or_default().push(r);
    }
    for v in by_kind.values_mut() {
        v.sort_by_key(|r| r.seq);
    }
    let mut doc = Map::new();
    doc.insert("_format_version".into(), json!("3.0"));
    let mut paths = HashMap::new();
    let data = |r: &Record| {
        if with_secrets {
            r.data.clone()
        } else {
            r.public_data()
        }
    };
    // credentials, grouped by consumer
    let mut creds: HashMap<Uuid, Vec<&Record>> = HashMap::new();
    for k in KINDS.iter().filter(|k| k.is_credential()) {
        for r in by_kind.get(k).into_iter().flatten() {
            if let Some(c) = r.reference("consumer") {
                creds.entry(c).or_default().push(r);
            }
        }
    }
    for k in KINDS.iter().filter(|k| !k.is_credential()) {
        let Some(list) = by_kind.get(k) else { continue };
        let mut out = Vec::with_capacity(list.len());
        for (i, r) in list.iter().enumerate() {
            let path = format!("{}[{i}]", k.key());
            let mut d = data(r);
            if *k == Kind::Consumer
                && let (Some(cs), Value::Object(m)) = (creds.get(&r.id), &mut d)
            {
                let mut nested: BTreeMap<Kind, Vec<Value>> = BTreeMap::new();
                for c in cs {
                    let list = nested.entry(c.kind).or_default();
                    paths.insert(c.id, format!("{path}.{}[{}]", c.kind.key(), list.len()));
                    let mut cd = data(c);
                    if let Value::Object(cm) = &mut cd {
                        cm.remove("consumer");
                    }
                    list.push(cd);
                }
                for (ck, l) in nested {
                    m.insert(ck.key().into(), Value::Array(l));
                }
            }
            paths.insert(r.id, path);
            out.push(d);
        }
        doc.insert(k.key().into(), Value::Array(out));
    }
    (Value::Object(doc), paths)
}

/// One entity on the wire (node sync): with write-only fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncEntity {
    pub kind: Kind,
    pub id: Uuid,
    /// Creation order (route order breaks router ties).
    pub seq: i64,
    pub data: Value,
}

impl SyncEntity {
    pub fn from_record(r: &Record) -> SyncEntity {
        SyncEntity {
            kind: r.kind,
            id: r.id,
            seq: r.seq,
            data: r.data.clone(),
        }
    }

    pub fn into_record(self) -> Record {
        Record {
            kind: self.kind,
            id: self.id,
            seq: self.seq,
            data: self.data,
            created_at: 0,
            updated_at: 0,
        }
    }
}

/// A node's whole config at a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeSnapshot {
    pub version: i64,
    pub hash: String,
    pub entities: Vec<SyncEntity>,
}

/// What the platform sends a node: the changes of one version, or a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeUpdate {
    pub version: i64,
    /// The config hash after this version.
    pub hash: String,
    /// Upserts (`entity`) and deletes (`deleted`).
    #[serde(default)]
    pub upserts: Vec<SyncEntity>,
    #[serde(default)]
    pub deletes: Vec<Uuid>,
    /// Replaces everything when present.
    #[serde(default)]
    pub snapshot: Option<NodeSnapshot>,
}

impl NodeUpdate {
    /// A snapshot update that rebuilds `st` (e.g. from a disk cache).
    pub fn snapshot_of(st: &NodeState) -> Result<NodeUpdate, String> {
        Ok(NodeUpdate {
            version: st.version,
            hash: st.hash.clone(),
            upserts: Vec::new(),
            deletes: Vec::new(),
            snapshot: Some(NodeSnapshot {
                version: st.version,
                hash: st.hash.clone(),
                entities: st.entities.clone(),
            }),
        })
    }
}

/// A node's config store: entities by id, updated by snapshots and deltas.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeState {
    pub version: i64,
    pub hash: String,
    pub entities: Vec<SyncEntity>,
}

/// Why an update could not be applied.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// The update does not follow this state, or the result's hash differs from
    /// the platform's: the node is out of step and asks for a snapshot.
    #[error("{0}")]
    OutOfStep(String),
    /// The resulting config does not load on this node: the node reports why, and
    /// keeps the entities so that later updates apply on top of them.
    #[error("{reason}")]
    Invalid { state: NodeState, reason: String },
}

/// A config version a node could not install, and why (reported to the platform,
/// which shows the node as incompatible with this reason).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RefusedConfig {
    pub version: i64,
    pub reason: String,
}

/// What a node tells the platform about itself: on connecting and in every
/// heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeReport {
    pub node_id: Uuid,
    pub hostname: String,
    pub version: String,
    /// The config the node serves.
    #[serde(default)]
    pub config_version: i64,
    #[serde(default)]
    pub config_hash: String,
    #[serde(default)]
    pub labels: Map<String, Value>,
    /// The plugins this node runs (its `--plugins`).
    #[serde(default)]
    pub plugins: Vec<String>,
    /// The newest config the node received and could not install.
    #[serde(default)]
    pub refused: Option<RefusedConfig>,
}

impl NodeState {
    /// Applies an update; the state and config it yields, or why not. The state
    /// is left unchanged on error.
    pub fn apply(&self, u: &NodeUpdate) -> Result<(NodeState, crate::Config), ApplyError> {
        let mut by_id: HashMap<Uuid, SyncEntity> = match &u.snapshot {
            Some(s) => s.entities.iter().map(|e| (e.id, e.clone())).collect(),
            None => {
                if u.version != self.version + 1 {
                    return Err(ApplyError::OutOfStep(format!(
                        "update to version {} does not follow version {}",
                        u.version, self.version
                    )));
                }
                self.entities.iter().map(|e| (e.id, e.clone())).collect()
            }
        };
        if u.snapshot.is_none() {
            for id in &u.deletes {
                by_id.remove(id);
            }
            for e in &u.upserts {
                by_id.insert(e.id, e.clone());
            }
        }
        let mut entities: Vec<SyncEntity> = by_id.into_values().collect();
        entities.sort_by_key(|e| (e.seq, e.id));
        let records: Vec<Record> = entities
            .iter()
            .cloned()
            .map(SyncEntity::into_record)
            .collect();
        let (doc, _) = document(records.iter(), true);
        let config = match crate::deck::load_value(&doc) {
            Ok(l) => l.config,
            Err(e) => {
                return Err(ApplyError::Invalid {
                    state: NodeState {
                        version: u.version,
                        hash: u.hash.clone(),
                        entities,
                    },
                    reason: format!("the config of version {} is invalid: {e}", u.version),
                });
            }
        };
        let hash = config.hash();
        if hash != u.hash {
            return Err(ApplyError::OutOfStep(format!(
                "config hash mismatch at version {}: computed {hash}, platform says {}",
                u.version, u.hash
            )));
        }
        Ok((
            NodeState {
                version: u.version,
                hash,
                entities,
            },
            config,
        ))
    }
}
