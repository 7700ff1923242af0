//! The typed gateway config in the API: one object type per entity kind, all
//! implementing `GatewayEntity`, with Kong's fields in camelCase as the node's
//! loader reads them (defaults applied), relations resolved from the plane's
//! in-memory view (no query per relation), and typed mutations per kind.
//!
//! The types live here and their fields in one file per domain (`plane.rs`:
//! the control plane and its typed connections; `service.rs`: services and
//! routes; `upstream.rs`; `consumer.rs`: consumers, groups and credentials;
//! `plugin.rs`: plugins and their typed configs; `certificate.rs`), so that the
//! files import this module and never each other.

pub mod application;
pub mod certificate;
pub mod consumer;
pub mod inputs;
pub mod mutations;
pub mod partial;
pub mod plane;
pub mod plugin;
pub mod service;
pub mod upstream;

use std::sync::Arc;

use async_graphql::{Context, Enum, Interface, Json, Result, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::connection::{Page, Paging, connection, page};
use super::error::gql;
use crate::config::typed::Typed;
use crate::config::{Kind, Record, View};
use crate::error::Error;

/// A control plane: a named set of gateway configuration, versioned.
#[derive(Clone)]
pub struct ControlPlane {
    pub view: Arc<View>,
}

impl ControlPlane {
    pub fn from_view(view: Arc<View>) -> ControlPlane {
        ControlPlane { view }
    }
}

/// One entity of one plane's view.
#[derive(Clone)]
pub struct Ent {
    pub view: Arc<View>,
    pub typed: Arc<Typed>,
    pub id: Uuid,
}

impl Ent {
    pub fn new(view: &Arc<View>, id: Uuid) -> Ent {
        Ent {
            typed: view.typed(),
            view: view.clone(),
            id,
        }
    }

    pub fn record(&self) -> Result<&Record> {
        self.view
            .records
            .get(&self.id)
            .ok_or_else(|| gql(Error::NotFound(format!("entity {}", self.id))))
    }

    /// The entity as the node's loader reads it.
    pub fn get<'a, T>(&'a self, f: fn(&'a Typed, Uuid) -> Option<&'a T>) -> Result<&'a T> {
        f(&self.typed, self.id).ok_or_else(|| {
            gql(Error::Unavailable(format!(
                "the stored config of this control plane does not load ({}); a change that fixes it makes it readable again",
                self.typed.error.as_deref().unwrap_or("entity missing")
            )))
        })
    }

    /// Another entity of the same view.
    pub fn other(&self, id: Uuid) -> Ent {
        Ent {
            view: self.view.clone(),
            typed: self.typed.clone(),
            id,
        }
    }

    /// The record's data field, as stored (Kong's form).
    pub fn data(&self, field: &str) -> Option<&Value> {
        self.view.records.get(&self.id)?.data.get(field)
    }
}

macro_rules! kinds {
    ($($variant:ident => $kind:ident),* $(,)?) => {
        $(
            #[derive(Clone)]
            pub struct $variant(pub Ent);
        )*

        /// Any gateway config entity.
        #[derive(Interface, Clone)]
        #[graphql(
            field(name = "id", ty = "async_graphql::ID"),
            field(name = "control_plane", ty = "ControlPlane"),
            field(name = "kind", ty = "Kind"),
            field(name = "tags", ty = "Vec<String>"),
            field(name = "created_at", ty = "DateTime<Utc>"),
            field(name = "updated_at", ty = "DateTime<Utc>"),
            field(name = "raw", ty = "Json<Value>", desc = "The entity in Kong's JSON form (write-only fields left out).")
        )]
        pub enum GatewayEntity {
            $($variant($variant),)*
        }

        impl GatewayEntity {
            /// The typed object of an entity of a view.
            pub fn of(view: &Arc<View>, r: &Record) -> GatewayEntity {
                let e = Ent::new(view, r.id);
                match r.kind {
                    $(Kind::$kind => GatewayEntity::$variant($variant(e)),)*
                }
            }
        }
    };
}

kinds! {
    Service => Service,
    Route => Route,
    Upstream => Upstream,
    Target => Target,
    Consumer => Consumer,
    ConsumerGroup => ConsumerGroup,
    KeyAuthCredential => KeyAuthCredential,
    BasicAuthCredential => BasicAuthCredential,
    JwtSecret => JwtSecret,
    Acl => Acl,
    Plugin => Plugin,
    Certificate => Certificate,
    Sni => Sni,
    CaCertificate => CaCertificate,
    GatewayApplication => Application,
    GatewayApplicationCredential => ApplicationCredential,
}

connection!(ControlPlaneConnection, ControlPlaneEdge, ControlPlane);
connection!(ServiceConnection, ServiceEdge, Service);
connection!(RouteConnection, RouteEdge, Route);
connection!(UpstreamConnection, UpstreamEdge, Upstream);
connection!(TargetConnection, TargetEdge, Target);
connection!(ConsumerConnection, ConsumerEdge, Consumer);
connection!(ConsumerGroupConnection, ConsumerGroupEdge, ConsumerGroup);
connection!(
    KeyAuthCredentialConnection,
    KeyAuthCredentialEdge,
    KeyAuthCredential
);
connection!(
    BasicAuthCredentialConnection,
    BasicAuthCredentialEdge,
    BasicAuthCredential
);
connection!(JwtSecretConnection, JwtSecretEdge, JwtSecret);
connection!(AclConnection, AclEdge, Acl);
connection!(PluginConnection, PluginEdge, Plugin);
connection!(CertificateConnection, CertificateEdge, Certificate);
connection!(SniConnection, SniEdge, Sni);
connection!(CaCertificateConnection, CaCertificateEdge, CaCertificate);
connection!(
    GatewayApplicationConnection,
    GatewayApplicationEdge,
    GatewayApplication
);
connection!(
    GatewayApplicationCredentialConnection,
    GatewayApplicationCredentialEdge,
    GatewayApplicationCredential
);
connection!(CredentialConnection, CredentialEdge, Credential);

/// A consumer's credential, of any kind.
#[derive(async_graphql::Union, Clone)]
pub enum Credential {
    KeyAuth(KeyAuthCredential),
    BasicAuth(BasicAuthCredential),
    Jwt(JwtSecret),
    Acl(Acl),
}

/// The fields every entity has, then its own.
macro_rules! entity_object {
    ($(#[$meta:meta])* $ty:ident, $kind:expr, { $($body:tt)* }) => {
        $(#[$meta])*
        #[async_graphql::Object]
        impl $ty {
            pub(crate) async fn id(&self) -> async_graphql::ID {
                async_graphql::ID(self.0.id.to_string())
            }

            pub(crate) async fn control_plane(&self) -> $crate::graphql::entities::ControlPlane {
                $crate::graphql::entities::ControlPlane::from_view(self.0.view.clone())
            }

            pub(crate) async fn kind(&self) -> $crate::config::Kind {
                $kind
            }

            pub(crate) async fn tags(&self) -> async_graphql::Result<Vec<String>> {
                Ok(self.0.record()?.tags())
            }

            pub(crate) async fn created_at(&self) -> async_graphql::Result<chrono::DateTime<chrono::Utc>> {
                Ok($crate::graphql::connection::datetime(self.0.record()?.created_at))
            }

            pub(crate) async fn updated_at(&self) -> async_graphql::Result<chrono::DateTime<chrono::Utc>> {
                Ok($crate::graphql::connection::datetime(self.0.record()?.updated_at))
            }

            /// The entity in Kong's JSON form (write-only fields left out).
            pub(crate) async fn raw(&self) -> async_graphql::Result<async_graphql::Json<serde_json::Value>> {
                Ok(async_graphql::Json(self.0.record()?.public_data()))
            }

            $($body)*
        }
    };
}
pub(crate) use entity_object;

/// Filters of the typed lists.
#[derive(async_graphql::InputObject, Default, Clone)]
pub struct EntityFilter {
    /// Exact name (consumers: username; targets: target; plugins: plugin name).
    pub name: Option<String>,
    /// Entities carrying all of these tags.
    pub tags: Option<Vec<String>>,
}

impl EntityFilter {
    pub fn matches(&self, r: &Record) -> bool {
        self.name
            .as_ref()
            .is_none_or(|n| r.name().as_deref() == Some(n))
            && self
                .tags
                .as_ref()
                .is_none_or(|ts| crate::config::owned(r, ts))
    }
}

/// A page of `records` (in creation order), charged against the request's
/// item budget, as typed objects.
pub fn page_of<T>(
    ctx: &Context<'_>,
    view: &Arc<View>,
    records: Vec<&Record>,
    paging: &Paging,
    wrap: fn(Ent) -> T,
) -> Result<Page<T>> {
    let mut records = records;
    records.sort_by_key(|r| r.seq);
    let ids: Vec<(i64, Uuid)> = records.iter().map(|r| (r.seq, r.id)).collect();
    let p = page(ids, |(seq, _)| *seq, paging).map_err(gql)?;
    super::limits::charge(ctx, p.items.len())?;
    let typed = view.typed();
    Ok(p.map(|(_, id)| {
        wrap(Ent {
            view: view.clone(),
            typed: typed.clone(),
            id,
        })
    }))
}

/// The entities of `kind` referencing `parent`.
pub fn children(e: &Ent, kind: Kind) -> Vec<&Record> {
    e.typed
        .children(e.id)
        .iter()
        .filter_map(|id| e.view.records.get(id))
        .filter(|r| r.kind == kind)
        .collect()
}

/// The paging arguments every list takes.
pub fn paging(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Paging {
    Paging::new(first, after, last, before)
}

/// Kong's protocols.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Http,
    Https,
    Grpc,
    Grpcs,
    Tcp,
    Tls,
    Udp,
    TlsPassthrough,
    Ws,
    Wss,
}

impl Protocol {
    pub fn parse(s: &str) -> Option<Protocol> {
        serde_json::from_value(Value::String(s.to_string())).ok()
    }
}

/// How a route's matched path is handled when proxying (Kong's `path_handling`).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathHandling {
    V0,
    V1,
}

/// A header a route matches: its name and the values (any of them).
#[derive(SimpleObject, Clone)]
pub struct RouteHeader {
    pub name: String,
    pub values: Vec<String>,
}
