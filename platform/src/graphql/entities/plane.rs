//! `ControlPlane`: its own fields, its typed lists of entities (each filtered by
//! name and tags, paged both ways with cursors that survive writes), the generic
//! JSON list, and one entity by id.

use async_graphql::{Context, ID, Json, Object, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    Acl, BasicAuthCredential, CaCertificate, Certificate, Consumer, ConsumerGroup, ControlPlane,
    EntityFilter, GatewayApplication, GatewayApplicationCredential, GatewayEntity, JwtSecret,
    KeyAuthCredential, Plugin, Route, Service, Sni, Target, Upstream, page_of, paging,
};
use crate::config::Kind;
use crate::graphql::config::{ConfigEntity, ConfigEntityConnection};
use crate::graphql::connection::{datetime, page};
use crate::graphql::error::gql;
use crate::graphql::guard::parse_id;

/// `ControlPlane`'s fields: `$base` as written, and a typed list per kind.
macro_rules! control_plane_object {
    ({ $($base:tt)* } $($field:ident: $kind:ident, $obj:ident, $conn:ident;)*) => {
        #[Object]
        impl ControlPlane {
            $($base)*

            $(
            /// Entities of this kind, in creation order.
            async fn $field(
                &self,
                ctx: &Context<'_>,
                filter: Option<EntityFilter>,
                first: Option<i32>,
                after: Option<String>,
                last: Option<i32>,
                before: Option<String>,
            ) -> Result<super::$conn> {
                let f = filter.unwrap_or_default();
                let records = self
                    .view
                    .list(Some(Kind::$kind))
                    .into_iter()
                    .filter(|r| f.matches(r))
                    .collect();
                let p = page_of(
                    ctx,
                    &self.view,
                    records,
                    &paging(first, after, last, before),
                    $obj,
                )?;
                Ok(p.into())
            }
            )*
        }
    };
}

control_plane_object! {
{
    async fn id(&self) -> ID {
        ID(self.view.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.view.name
    }

    async fn description(&self) -> Option<&str> {
        self.view.description.as_deref()
    }

    async fn labels(&self) -> Json<Value> {
        Json(self.view.labels.clone())
    }

    /// Bumped by every committed change.
    async fn config_version(&self) -> i64 {
        self.view.version
    }

    /// Hash of the canonical config; a node with the same config reports the same.
    async fn config_hash(&self) -> &str {
        &self.view.hash
    }

    /// Why the stored config does not validate, when it does not (nodes are sent
    /// nothing until a change fixes it).
    async fn config_error(&self) -> Option<&str> {
        self.view.invalid.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        datetime(self.view.created_at)
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        datetime(self.view.updated_at)
    }

    /// One entity by id, typed.
    async fn entity(&self, id: ID) -> Result<Option<GatewayEntity>> {
        let id = parse_id(&id, "id")?;
        Ok(self
            .view
            .records
            .get(&id)
            .map(|r| GatewayEntity::of(&self.view, r)))
    }

    /// Every entity (or those of one kind) in Kong's JSON form, in creation
    /// order: for automation that handles any kind alike.
    #[allow(clippy::too_many_arguments)]
    async fn entities(
        &self,
        ctx: &Context<'_>,
        kind: Option<Kind>,
        filter: Option<EntityFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<ConfigEntityConnection> {
        let f = filter.unwrap_or_default();
        let list: Vec<ConfigEntity> = self
            .view
            .list(kind)
            .into_iter()
            .filter(|r| f.matches(r))
            .map(|r| ConfigEntity::from_record(self.view.id, r))
            .collect();
        let p = page(list, |e| e.seq, &paging(first, after, last, before)).map_err(gql)?;
        crate::graphql::limits::charge(ctx, p.items.len())?;
        Ok(p.into())
    }

}
    services: Service, Service, ServiceConnection;
    routes: Route, Route, RouteConnection;
    upstreams: Upstream, Upstream, UpstreamConnection;
    targets: Target, Target, TargetConnection;
    consumers: Consumer, Consumer, ConsumerConnection;
    consumer_groups: ConsumerGroup, ConsumerGroup, ConsumerGroupConnection;
    key_auth_credentials: KeyAuthCredential, KeyAuthCredential, KeyAuthCredentialConnection;
    basic_auth_credentials: BasicAuthCredential, BasicAuthCredential, BasicAuthCredentialConnection;
    jwt_secrets: JwtSecret, JwtSecret, JwtSecretConnection;
    acls: Acl, Acl, AclConnection;
    plugins: Plugin, Plugin, PluginConnection;
    certificates: Certificate, Certificate, CertificateConnection;
    snis: Sni, Sni, SniConnection;
    ca_certificates: CaCertificate, CaCertificate, CaCertificateConnection;
    applications: Application, GatewayApplication, GatewayApplicationConnection;
    application_credentials: ApplicationCredential, GatewayApplicationCredential, GatewayApplicationCredentialConnection;
}
