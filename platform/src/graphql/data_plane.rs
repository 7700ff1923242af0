//! Hybrid mode in the API: a plane's gateway nodes (a query and a subscription,
//! from the node list every replica shares), and node certificates (issued,
//! pinned, revoked).

use async_graphql::{
    Context, Enum, ID, InputObject, Json, Object, Result, SimpleObject, Subscription,
};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use uuid::Uuid;

use super::connection::{Page, Paging, connection, datetime, page};
use super::control_plane::plane;
use super::error::{Gql, gql};
use super::guard::{caller, check, parse_id, state};
use crate::actors::data_plane::{NodeInfo, NodeStatus};
use crate::auth;
use crate::auth::Action;
use crate::cluster::certs::NodeCertificate;
use crate::error::{Error, Field};
use crate::pki::{NODE_DAYS, NODE_MAX_DAYS};
use crate::state::AppState;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SyncStatus {
    InSync,
    Lagging,
    Incompatible,
    Disconnected,
}

/// A gateway node as the platform sees it.
#[derive(SimpleObject, Clone)]
pub struct DataPlaneNode {
    pub id: ID,
    pub control_plane_id: ID,
    pub hostname: String,
    pub version: String,
    pub config_version: i64,
    pub config_hash: String,
    pub labels: Json<serde_json::Value>,
    pub status: SyncStatus,
    /// Why the node is incompatible, when it is.
    pub reason: Option<String>,
    pub certificate_id: ID,
    pub remote_address: String,
    pub connected_since: Option<DateTime<Utc>>,
    pub last_seen: DateTime<Utc>,
}

connection!(DataPlaneNodeConnection, DataPlaneNodeEdge, DataPlaneNode);

impl From<NodeInfo> for DataPlaneNode {
    fn from(n: NodeInfo) -> DataPlaneNode {
        DataPlaneNode {
            id: ID(n.id.to_string()),
            control_plane_id: ID(n.control_plane_id.to_string()),
            hostname: n.report.hostname,
            version: n.report.version,
            config_version: n.report.config_version,
            config_hash: n.report.config_hash,
            labels: Json(serde_json::Value::Object(n.report.labels)),
            status: match n.status {
                NodeStatus::InSync => SyncStatus::InSync,
                NodeStatus::Lagging => SyncStatus::Lagging,
                NodeStatus::Incompatible => SyncStatus::Incompatible,
                NodeStatus::Disconnected => SyncStatus::Disconnected,
            },
            reason: n.reason,
            certificate_id: ID(n.cert_id.to_string()),
            remote_address: n.remote,
            connected_since: n.connected_since.map(datetime),
            last_seen: datetime(n.last_seen),
        }
    }
}

/// A node certificate; its private key only in the answer that issued it.
#[derive(SimpleObject, Clone)]
pub struct DataPlaneCertificate {
    pub id: ID,
    pub control_plane_id: ID,
    pub name: String,
    /// SHA-256 of the certificate (DER), hex.
    pub fingerprint: String,
    pub certificate: String,
    /// Only when the platform issued the certificate, and only in this answer.
    pub private_key: Option<String>,
    /// The CA a node uses to verify the cluster endpoint (`--cluster-ca`).
    pub cluster_ca_certificate: String,
    pub revoked: bool,
    pub created_at: DateTime<Utc>,
    /// The end of its validity; issue a new one before then.
    pub expires_at: DateTime<Utc>,
}

#[derive(InputObject)]
pub struct RevokeDataPlaneCertificateInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct RevokeDataPlaneCertificatePayload {
    pub revoked_certificate_id: ID,
}

impl From<NodeCertificate> for DataPlaneCertificate {
    fn from(c: NodeCertificate) -> DataPlaneCertificate {
        DataPlaneCertificate {
            id: ID(c.id.to_string()),
            control_plane_id: ID(c.control_plane_id.to_string()),
            name: c.name,
            fingerprint: c.fingerprint,
            certificate: c.certificate,
            private_key: c.private_key,
            cluster_ca_certificate: c.cluster_ca_certificate,
            revoked: c.revoked,
            created_at: datetime(c.created_at),
            expires_at: DateTime::from_timestamp(c.expires_at, 0).unwrap_or_default(),
        }
    }
}

/// A page of a plane's node list (by node id), as every replica sees it.
async fn node_list(st: &AppState, id: Uuid, p: &Paging) -> Result<Page<DataPlaneNode>, Error> {
    let view = st
        .planes
        .view(id)
        .ok_or_else(|| Error::NotFound(format!("control plane {id}")))?;
    let mut list: Vec<DataPlaneNode> = st
        .nodes
        .list(&view)
        .await?
        .into_iter()
        .map(DataPlaneNode::from)
        .collect();
    list.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    page(list, |n| n.id.to_string(), p)
}

#[derive(Default)]
pub struct DataPlaneQuery;

#[Object]
impl DataPlaneQuery {
    /// Gateway nodes of a control plane: connected ones and those seen before.
    #[allow(clippy::too_many_arguments)]
    async fn data_plane_nodes(
        &self,
        ctx: &Context<'_>,
        control_plane_id: ID,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<DataPlaneNodeConnection> {
        let id = parse_id(&control_plane_id, "controlPlaneId")?;
        check(ctx, &auth::plane(id), Action::Read).await?;
        plane(ctx, id)?;
        let p = node_list(state(ctx), id, &Paging::new(first, after, last, before))
            .await
            .gql()?;
        super::limits::charge(ctx, p.items.len())?;
        Ok(p.into())
    }
}

#[derive(InputObject)]
pub struct CreateDataPlaneCertificateInput {
    pub control_plane_id: ID,
    pub name: String,
    /// How long the certificate is valid, in days (default 365, at most 730).
    /// Rotate by issuing a new one for the node before it expires.
    pub validity_days: Option<i32>,
}

#[derive(InputObject)]
pub struct PinDataPlaneCertificateInput {
    pub control_plane_id: ID,
    pub name: String,
    /// PEM.
    pub certificate: String,
}

#[derive(Default)]
pub struct DataPlaneMutation;

#[Object]
impl DataPlaneMutation {
    /// A client certificate for a gateway node of a control plane, signed by the
    /// plane's cluster CA. The private key is in this answer only.
    async fn create_data_plane_certificate(
        &self,
        ctx: &Context<'_>,
        input: CreateDataPlaneCertificateInput,
    ) -> Result<DataPlaneCertificate> {
        let id = parse_id(&input.control_plane_id, "input.controlPlaneId")?;
        check(ctx, &auth::plane(id), Action::NodesManage).await?;
        plane(ctx, id)?;
        let days = input.validity_days.map(i64::from).unwrap_or(NODE_DAYS);
        if !(1..=NODE_MAX_DAYS).contains(&days) {
            return Err(gql(Error::invalid(
                Field::Input("validityDays".into()),
                format!("1 to {NODE_MAX_DAYS}"),
            )));
        }
        let st = state(ctx);
        st.certs
            .issue(&st.db, &st.sealer, id, &input.name, days)
            .await
            .map(DataPlaneCertificate::from)
            .gql()
    }

    /// Pins a node certificate made elsewhere (e.g. self-signed): nodes
    /// presenting exactly this certificate are accepted for the control plane.
    async fn pin_data_plane_certificate(
        &self,
        ctx: &Context<'_>,
        input: PinDataPlaneCertificateInput,
    ) -> Result<DataPlaneCertificate> {
        let id = parse_id(&input.control_plane_id, "input.controlPlaneId")?;
        check(ctx, &auth::plane(id), Action::NodesManage).await?;
        plane(ctx, id)?;
        let st = state(ctx);
        st.certs
            .pin(&st.db, id, &input.name, &input.certificate)
            .await
            .map(DataPlaneCertificate::from)
            .gql()
    }

    /// Revokes a node certificate: nodes using it are disconnected now and
    /// refused from then on.
    async fn revoke_data_plane_certificate(
        &self,
        ctx: &Context<'_>,
        input: RevokeDataPlaneCertificateInput,
    ) -> Result<RevokeDataPlaneCertificatePayload> {
        let id = parse_id(&input.id, "input.id")?;
        let st = state(ctx);
        let plane_of = st.certs.plane_of(id);
        check(
            ctx,
            &auth::plane(plane_of.unwrap_or_default()),
            Action::NodesManage,
        )
        .await?;
        st.certs.revoke(&st.db, id).await.gql()?;
        st.nodes.disconnect_certs(&[id]);
        Ok(RevokeDataPlaneCertificatePayload {
            revoked_certificate_id: input.id,
        })
    }
}

#[derive(Default)]
pub struct DataPlaneSubscription;

#[Subscription]
impl DataPlaneSubscription {
    /// The node list of a control plane (its first `first` nodes, by id), now
    /// and whenever it changes.
    async fn data_plane_nodes(
        &self,
        ctx: &Context<'_>,
        control_plane_id: ID,
        first: Option<i32>,
    ) -> Result<impl Stream<Item = DataPlaneNodeConnection> + use<>> {
        let paging = Paging::new(first, None, None, None);
        paging.size().gql()?;
        let id = parse_id(&control_plane_id, "controlPlaneId")?;
        check(ctx, &auth::plane(id), Action::Read).await?;
        plane(ctx, id)?;
        let c = caller(ctx)?.clone();
        let st = state(ctx).clone();
        let mut rx = st.nodes.watch();
        rx.mark_changed();
        let access = st.access.watch();
        Ok(futures_util::stream::unfold(
            (st, rx, access, c),
            move |(st, mut rx, mut access, c)| {
                let paging = paging.clone();
                async move {
                    loop {
                        tokio::select! {
                            r = rx.changed() => { r.ok()?; break; }
                            r = access.changed() => {
                                r.ok()?;
                                if !super::changes::still_allowed(&st, &c, id).await { return None; }
                            }
                        }
                    }
                    if !super::changes::still_allowed(&st, &c, id).await {
                        return None;
                    }
                    let list = node_list(&st, id, &paging).await.ok()?;
                    Some((list.into(), (st, rx, access, c)))
                }
            },
        ))
    }
}
