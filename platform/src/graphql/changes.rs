//! The `configChanges` subscription: every committed change of a control plane,
//! once and in order (a snapshot first when the change log no longer reaches
//! back), from the change stream the nodes use too; never with secrets; ending
//! when the caller loses access.

use async_graphql::{ComplexObject, Context, Enum, ID, Json, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde_json::Value;
use uuid::Uuid;

use super::config::{ConfigSnapshot, snapshot};
use super::connection::datetime;
use super::entities::GatewayEntity;
use super::error::Gql;
use super::guard::{caller, check, parse_id, state};
use crate::auth::Action;
use crate::auth::{self, Caller};
use crate::cluster::stream::{ChangeStream, Item};
use crate::config::{ChangeEvent, ChangeOp, Kind};
use crate::state::AppState;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "ChangeOp")]
pub enum ChangeOpOut {
    Upsert,
    Delete,
}

/// One entity's part of a committed change.
#[derive(SimpleObject, Clone)]
#[graphql(name = "EntityChange", complex)]
pub struct EntityChangeOut {
    pub op: ChangeOpOut,
    pub kind: Kind,
    pub id: ID,
    /// Creation order of the entity.
    pub seq: i64,
    /// The entity after the change in Kong's JSON form; null for deletes. Never
    /// with secrets.
    pub data: Option<Json<Value>>,
    #[graphql(skip)]
    pub plane: Uuid,
    #[graphql(skip)]
    pub entity_id: Uuid,
}

#[ComplexObject]
impl EntityChangeOut {
    /// The entity, typed, as the control plane has it now (null for a delete,
    /// or once it is deleted).
    async fn entity(&self, ctx: &Context<'_>) -> Option<GatewayEntity> {
        if self.op == ChangeOpOut::Delete {
            return None;
        }
        let v = state(ctx).planes.view(self.plane)?;
        let r = v.records.get(&self.entity_id)?;
        Some(GatewayEntity::of(&v, r))
    }
}

/// One committed version, or a snapshot when the change log no longer covers the
/// version a subscriber asked from.
#[derive(SimpleObject, Clone)]
pub struct ConfigChange {
    pub control_plane_id: ID,
    pub version: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
    pub changes: Vec<EntityChangeOut>,
    pub snapshot: Option<ConfigSnapshot>,
}

impl From<&ChangeEvent> for ConfigChange {
    fn from(e: &ChangeEvent) -> ConfigChange {
        ConfigChange {
            control_plane_id: ID(e.control_plane_id.to_string()),
            version: e.version,
            hash: e.hash.clone(),
            at: datetime(e.at),
            // API readers never see secrets
            changes: e
                .changes
                .iter()
                .map(|c| EntityChangeOut {
                    op: match c.op {
                        ChangeOp::Upsert => ChangeOpOut::Upsert,
                        ChangeOp::Delete => ChangeOpOut::Delete,
                    },
                    kind: c.kind,
                    id: ID(c.id.to_string()),
                    seq: c.seq,
                    plane: e.control_plane_id,
                    entity_id: c.id,
                    data: c
                        .data
                        .as_ref()
                        .map(|d| Json(crate::config::strip_secrets(c.kind, d))),
                })
                .collect(),
            snapshot: None,
        }
    }
}

impl From<&Item> for ConfigChange {
    fn from(i: &Item) -> ConfigChange {
        match i {
            Item::Change(ev) => ConfigChange::from(ev.as_ref()),
            Item::Snapshot(v) => ConfigChange {
                control_plane_id: ID(v.id.to_string()),
                version: v.version,
                hash: v.hash.clone(),
                at: datetime(v.updated_at),
                changes: Vec::new(),
                snapshot: Some(snapshot(v)),
            },
        }
    }
}

/// Whether a subscriber may still read a plane (its token and user still good).
pub async fn still_allowed(st: &AppState, c: &Caller, plane: Uuid) -> bool {
    st.access
        .allowed(c, &auth::plane(plane), Action::Read)
        .await
        && auth::tokens::still_valid(&st.db, c).await
}

#[derive(Default)]
pub struct ConfigSubscription;

#[Subscription]
impl ConfigSubscription {
    /// Every committed change of a control plane after `sinceVersion`, once and in
    /// order; first a snapshot when the change log no longer reaches back that far.
    async fn config_changes(
        &self,
        ctx: &Context<'_>,
        control_plane_id: ID,
        since_version: Option<i64>,
    ) -> Result<impl Stream<Item = ConfigChange> + use<>> {
        let id = parse_id(&control_plane_id, "controlPlaneId")?;
        check(ctx, &auth::plane(id), Action::Read).await?;
        let c = caller(ctx)?.clone();
        let st = state(ctx).clone();
        super::control_plane::plane(ctx, id)?;
        let cs = ChangeStream::open(
            st.planes.clone(),
            st.db.clone(),
            st.sealer.clone(),
            id,
            since_version,
        )
        .await
        .gql()?;
        let access = st.access.watch();
        Ok(futures_util::stream::unfold(
            (cs, access, st, c),
            move |(mut cs, mut access, st, c)| async move {
                // the stream ends when its caller loses access (or its token, or
                // is deactivated)
                loop {
                    let next = tokio::select! {
                        i = cs.next() => i,
                        r = access.changed() => {
                            r.ok()?;
                            if !still_allowed(&st, &c, id).await {
                                return None;
                            }
                            continue;
                        }
                    };
                    if !still_allowed(&st, &c, id).await {
                        return None;
                    }
                    match next? {
                        Ok(item) => return Some((ConfigChange::from(&item), (cs, access, st, c))),
                        Err(e) => {
                            tracing::warn!("config change stream of {id}: {e}");
                            return None;
                        }
                    }
                }
            },
        ))
    }
}
