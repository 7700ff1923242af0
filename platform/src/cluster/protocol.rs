//! The node protocol's GraphQL schema, served over graphql-transport-ws on the
//! cluster endpoint: `configUpdates(sinceVersion)` (snapshots and deltas, with
//! secrets, from the change stream) and the `heartbeat` mutation. Its SDL is
//! `graphql-schema/cluster.graphql`, and the node's operations are in
//! `graphql-schema/operations/`.

use async_graphql::{Context, Json, Object, Result, Schema, Subscription};
use futures_util::Stream;
use graphql_schema::analytics::Batch;
use graphql_schema::sync::{NodeReport, NodeSnapshot, NodeUpdate, SyncEntity};
use ractor::ActorRef;
use uuid::Uuid;

use super::ClusterDeps;
use super::stream::{ChangeStream, Item};
use crate::actors::data_plane::NodeMsg;
use crate::config::{ChangeEvent, ChangeOp, View};

pub type ClusterSchema = Schema<ClusterQuery, ClusterMutation, ClusterSubscription>;

pub fn schema(deps: ClusterDeps) -> ClusterSchema {
    Schema::build(ClusterQuery, ClusterMutation, ClusterSubscription)
        .data(deps)
        .finish()
}

/// The cluster schema without a connection's data: for its SDL (the snapshot
/// in `graphql-schema/cluster.graphql`) and for validating the node's
/// operations against it.
pub fn unbound() -> ClusterSchema {
    Schema::build(ClusterQuery, ClusterMutation, ClusterSubscription).finish()
}

pub fn sdl() -> String {
    unbound().sdl()
}

/// One connection's session data.
#[derive(Clone)]
pub struct Session {
    pub plane: Uuid,
    pub node: Uuid,
    pub actor: ActorRef<NodeMsg>,
    pub incompatible: Option<String>,
}

fn session<'a>(ctx: &Context<'a>) -> Result<&'a Session> {
    ctx.data::<Session>()
        .map_err(|_| async_graphql::Error::new("no session"))
}

pub struct ClusterQuery;

#[Object]
impl ClusterQuery {
    /// The platform's software version.
    async fn platform_version(&self) -> &'static str {
        super::VERSION
    }
}

pub struct ClusterMutation;

#[Object]
impl ClusterMutation {
    /// The node's current state; also its heartbeat.
    async fn heartbeat(&self, ctx: &Context<'_>, report: Json<NodeReport>) -> Result<bool> {
        let s = session(ctx)?;
        if report.0.node_id != s.node {
            return Err(async_graphql::Error::new(
                "nodeId differs from the connection's",
            ));
        }
        let _ = s.actor.cast(NodeMsg::Report(report.0));
        Ok(true)
    }

    /// A batch of the node's analytics (`graphql_schema::analytics::Batch`);
    /// true once stored (also when it was stored before: a batch counts once).
    async fn analytics_batch(&self, ctx: &Context<'_>, batch: Json<Batch>) -> Result<bool> {
        let s = session(ctx)?;
        if batch.0.node_id != s.node {
            return Err(async_graphql::Error::new(
                "nodeId differs from the connection's",
            ));
        }
        let deps = ctx.data_unchecked::<ClusterDeps>();
        deps.analytics
            .ingest(s.plane, batch.0)
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        Ok(true)
    }
}

/// A snapshot of a plane for a node.
fn snapshot_update(view: &View) -> NodeUpdate {
    let entities: Vec<SyncEntity> = view
        .list(None)
        .into_iter()
        .map(SyncEntity::from_record)
        .collect();
    NodeUpdate {
        version: view.version,
        hash: view.hash.clone(),
        upserts: Vec::new(),
        deletes: Vec::new(),
        snapshot: Some(NodeSnapshot {
            version: view.version,
            hash: view.hash.clone(),
            entities,
        }),
    }
}

/// One committed change for a node.
pub fn node_update(ev: &ChangeEvent) -> NodeUpdate {
    let mut u = NodeUpdate {
        version: ev.version,
        hash: ev.hash.clone(),
        upserts: Vec::new(),
        deletes: Vec::new(),
        snapshot: None,
    };
    for c in &ev.changes {
        match c.op {
            ChangeOp::Upsert => u.upserts.push(SyncEntity {
                kind: c.kind,
                id: c.id,
                seq: c.seq,
                data: c.data.clone().unwrap_or_default(),
            }),
            ChangeOp::Delete => u.deletes.push(c.id),
        }
    }
    u
}

pub struct ClusterSubscription;

#[Subscription]
impl ClusterSubscription {
    /// Config updates for the node's control plane after `sinceVersion` (a
    /// snapshot first when the change log does not reach back, or when
    /// `sinceVersion` is -1).
    async fn config_updates(
        &self,
        ctx: &Context<'_>,
        since_version: i64,
    ) -> Result<impl Stream<Item = Result<Json<NodeUpdate>>> + use<>> {
        let s = session(ctx)?.clone();
        if let Some(why) = &s.incompatible {
            return Err(async_graphql::Error::new(format!("INCOMPATIBLE: {why}")));
        }
        let deps = ctx.data_unchecked::<ClusterDeps>().clone();
        let cs = ChangeStream::open(
            deps.planes.clone(),
            deps.db.clone(),
            deps.sealer.clone(),
            s.plane,
            Some(since_version),
        )
        .await
        .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        Ok(futures_util::stream::unfold(cs, |mut cs| async move {
            let item = match cs.next().await? {
                Ok(Item::Snapshot(v)) if v.invalid.is_some() => {
                    Err(async_graphql::Error::new(format!(
                        "the control plane's stored config does not validate ({}); nothing is sent until a change fixes it",
                        v.invalid.clone().unwrap_or_default()
                    )))
                }
                Ok(Item::Snapshot(v)) => Ok(Json(snapshot_update(&v))),
                Ok(Item::Change(ev)) => Ok(Json(node_update(&ev))),
                Err(e) => Err(async_graphql::Error::new(e.to_string())),
            };
            Some((item, cs))
        }))
    }
}
