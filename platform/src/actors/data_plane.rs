//! Gateway nodes: a `DataPlaneConnection` actor per connected node, linked to the
//! `DataPlaneConnections` supervisor, writes what the node reports to the node
//! list in the database (so every replica lists the same nodes, and a restart
//! forgets none). The `Nodes` handle lists a plane's nodes with their status, and
//! disconnects nodes whose certificate was revoked or whose plane was deleted.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use graphql_schema::sync::NodeReport;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use uuid::Uuid;

use super::ask;
use crate::config::View;
use crate::error::Error;
use crate::store::{self, Notice, cluster as rows};

/// Nodes are known per control plane: a node id means something only within the
/// plane its certificate belongs to.
pub type NodeKey = (Uuid, Uuid);

/// A node that has not been heard from for this long is listed as disconnected,
/// whatever its row says (the replica it was connected to may have died).
pub const STALE_MS: i64 = 60_000;
/// A node's `last_seen` is written at least this often while it is connected.
const SEEN_EVERY_MS: i64 = 15_000;

/// How a node stands with its plane's config.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    InSync,
    Lagging,
    Incompatible,
    Disconnected,
}

/// A node as the platform lists it.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub id: Uuid,
    pub control_plane_id: Uuid,
    pub cert_id: Uuid,
    pub report: NodeReport,
    pub remote: String,
    pub status: NodeStatus,
    /// Why it is incompatible, when it is.
    pub reason: Option<String>,
    pub connected_since: Option<i64>,
    pub last_seen: i64,
}

/// A node that has just connected.
pub struct NodeConnect {
    pub plane: Uuid,
    pub cert_id: Uuid,
    pub remote: String,
    pub report: NodeReport,
    /// Why its version cannot take this platform's config, when it cannot.
    pub incompatible: Option<String>,
    /// Closes the node's connection.
    pub kill: watch::Sender<bool>,
}

pub enum NodeMsg {
    Report(NodeReport),
    /// Close the connection (revoked, or its plane deleted).
    Disconnect,
    /// The connection ended.
    Gone,
}

/// A connected node's actor on this replica.
#[derive(Clone)]
struct Local {
    actor: ActorRef<NodeMsg>,
    cert_id: Uuid,
}

/// What node actors work with.
pub struct NodeDeps {
    db: DatabaseConnection,
    /// This replica, in the node list's `replica` column.
    replica: String,
    local: RwLock<HashMap<NodeKey, Local>>,
    tick: watch::Sender<u64>,
}

impl NodeDeps {
    fn changed(&self) {
        self.tick.send_modify(|t| *t += 1);
    }
}

/// The handle the cluster endpoint and the API use.
#[derive(Clone)]
pub struct Nodes {
    sup: ActorRef<SupMsg>,
    deps: Arc<NodeDeps>,
}

impl Nodes {
    pub async fn start(db: DatabaseConnection) -> anyhow::Result<Nodes> {
        let deps = Arc::new(NodeDeps {
            db,
            replica: Uuid::new_v4().to_string(),
            local: RwLock::default(),
            tick: watch::channel(0).0,
        });
        let (sup, _) = Actor::spawn(None, DataPlaneConnections, deps.clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the node supervisor: {e}"))?;
        Ok(Nodes { sup, deps })
    }

    /// Starts a connected node's actor (refused when another certificate has
    /// the node id connected).
    pub async fn connect(&self, c: NodeConnect) -> Result<ActorRef<NodeMsg>, Error> {
        ask(&self.sup, |r| SupMsg::Connect(c, r), "the node supervisor").await?
    }

    /// A plane's nodes, as the database has them, with their status against the
    /// plane's view.
    pub async fn list(&self, view: &View) -> Result<Vec<NodeInfo>, Error> {
        let now = store::now_ms();
        let mut out = Vec::new();
        for m in rows::nodes(&self.deps.db, &view.id.to_string()).await? {
            let (Ok(id), Ok(cert_id)) = (Uuid::parse_str(&m.id), Uuid::parse_str(&m.cert_id))
            else {
                continue;
            };
            let report: NodeReport = serde_json::from_str(&m.report).unwrap_or_default();
            let connected = m.connected && now - m.last_seen < STALE_MS;
            let refused = report
                .refused
                .as_ref()
                .map(|r| format!("refused config version {}: {}", r.version, r.reason));
            let status = if !connected {
                NodeStatus::Disconnected
            } else if m.incompatible.is_some() || refused.is_some() {
                NodeStatus::Incompatible
            } else if view.version == report.config_version && view.hash == report.config_hash {
                NodeStatus::InSync
            } else {
                NodeStatus::Lagging
            };
            out.push(NodeInfo {
                id,
                control_plane_id: view.id,
                cert_id,
                remote: m.remote,
                status,
                reason: m.incompatible.or(refused),
                connected_since: if connected { m.connected_since } else { None },
                last_seen: m.last_seen,
                report,
            });
        }
        out.sort_by(|a, b| {
            a.report
                .hostname
                .cmp(&b.report.hostname)
                .then(a.id.cmp(&b.id))
        });
        Ok(out)
    }

    /// Changes whenever a node list may have changed.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.deps.tick.subscribe()
    }

    /// Another replica changed a node list.
    pub fn changed(&self) {
        self.deps.changed();
    }

    /// Disconnects this replica's nodes connected with any of these certificates.
    pub fn disconnect_certs(&self, certs: &[Uuid]) {
        self.disconnect(|_, l| certs.contains(&l.cert_id));
    }

    /// Disconnects this replica's nodes of a plane.
    pub fn disconnect_plane(&self, plane: Uuid) {
        self.disconnect(|k, _| k.0 == plane);
    }

    fn disconnect(&self, which: impl Fn(&NodeKey, &Local) -> bool) {
        let victims: Vec<ActorRef<NodeMsg>> = self
            .deps
            .local
            .read()
            .map(|m| {
                m.iter()
                    .filter(|(k, l)| which(k, l))
                    .map(|(_, l)| l.actor.clone())
                    .collect()
            })
            .unwrap_or_default();
        for a in victims {
            let _ = a.cast(NodeMsg::Disconnect);
        }
    }

    pub fn stop(&self) {
        self.sup.stop(None);
    }
}

pub struct DataPlaneConnection;

pub struct NodeState {
    deps: Arc<NodeDeps>,
    key: NodeKey,
    row: rows::data_plane_node::Model,
    kill: watch::Sender<bool>,
    /// When `last_seen` was last written.
    written: i64,
}

impl NodeState {
    async fn save(&mut self) {
        self.written = self.row.last_seen;
        if let Err(e) = rows::save_node(&self.deps.db, self.row.clone()).await {
            tracing::error!(node = %self.key.1, "writing the node list: {e}");
        }
        self.deps.changed();
        let _ = store::announce(&self.deps.db, &Notice::Nodes { plane: self.key.0 }).await;
    }
}

impl Actor for DataPlaneConnection {
    type Msg = NodeMsg;
    type State = NodeState;
    type Arguments = (Arc<NodeDeps>, NodeConnect);

    async fn pre_start(
        &self,
        me: ActorRef<NodeMsg>,
        (deps, c): (Arc<NodeDeps>, NodeConnect),
    ) -> Result<NodeState, ActorProcessingErr> {
        let now = store::now_ms();
        let id = c.report.node_id;
        let key = (c.plane, id);
        // another certificate cannot take over a node id that is connected (here
        // or on another replica); the same certificate replaces its connection
        let existing = rows::node(&deps.db, &c.plane.to_string(), &id.to_string()).await?;
        if let Some(o) = &existing
            && o.connected
            && now - o.last_seen < STALE_MS
            && o.cert_id != c.cert_id.to_string()
        {
            return Err(
                format!("node id {id} is already connected with another certificate").into(),
            );
        }
        let old = deps.local.write().ok().and_then(|mut m| {
            m.insert(
                key,
                Local {
                    actor: me.clone(),
                    cert_id: c.cert_id,
                },
            )
        });
        if let Some(o) = old {
            let _ = o.actor.cast(NodeMsg::Disconnect);
        }
        let row = rows::data_plane_node::Model {
            control_plane_id: c.plane.to_string(),
            id: id.to_string(),
            cert_id: c.cert_id.to_string(),
            report: serde_json::to_string(&c.report).unwrap_or_default(),
            remote: c.remote,
            connected: true,
            connected_since: Some(now),
            last_seen: now,
            incompatible: c.incompatible,
            replica: deps.replica.clone(),
        };
        let mut st = NodeState {
            deps,
            key,
            row,
            kill: c.kill,
            written: 0,
        };
        st.save().await;
        Ok(st)
    }

    async fn handle(
        &self,
        me: ActorRef<NodeMsg>,
        msg: NodeMsg,
        st: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            NodeMsg::Report(r) => {
                let report = serde_json::to_string(&r).unwrap_or_default();
                st.row.last_seen = store::now_ms();
                // a change of state is written at once; a plain heartbeat only
                // now and then, to keep `last_seen` fresh
                if report != st.row.report || st.row.last_seen - st.written >= SEEN_EVERY_MS {
                    st.row.report = report;
                    st.save().await;
                }
            }
            NodeMsg::Disconnect => {
                let _ = st.kill.send(true);
            }
            NodeMsg::Gone => {
                let mine = st
                    .deps
                    .local
                    .write()
                    .ok()
                    .map(|mut m| match m.get(&st.key) {
                        Some(l) if l.actor.get_id() == me.get_id() => {
                            m.remove(&st.key);
                            true
                        }
                        _ => false,
                    })
                    .unwrap_or(false);
                if mine {
                    st.row.connected = false;
                    st.row.connected_since = None;
                    st.row.last_seen = store::now_ms();
                    st.save().await;
                }
                me.stop(None);
            }
        }
        Ok(())
    }
}

pub struct DataPlaneConnections;

pub enum SupMsg {
    Connect(NodeConnect, RpcReplyPort<Result<ActorRef<NodeMsg>, Error>>),
}

impl Actor for DataPlaneConnections {
    type Msg = SupMsg;
    type State = Arc<NodeDeps>;
    type Arguments = Arc<NodeDeps>;

    async fn pre_start(
        &self,
        _me: ActorRef<SupMsg>,
        deps: Arc<NodeDeps>,
    ) -> Result<Arc<NodeDeps>, ActorProcessingErr> {
        Ok(deps)
    }

    async fn handle(
        &self,
        me: ActorRef<SupMsg>,
        msg: SupMsg,
        deps: &mut Arc<NodeDeps>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupMsg::Connect(c, reply) => {
                let r = Actor::spawn_linked(
                    None,
                    DataPlaneConnection,
                    (deps.clone(), c),
                    me.get_cell(),
                )
                .await
                .map(|(a, _)| a)
                .map_err(|e| Error::Forbidden(e.to_string()));
                let _ = reply.send(r);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _me: ActorRef<SupMsg>,
        ev: SupervisionEvent,
        deps: &mut Arc<NodeDeps>,
    ) -> Result<(), ActorProcessingErr> {
        // a failed connection actor ends its connection: the node reconnects
        if let SupervisionEvent::ActorFailed(cell, err) = ev {
            tracing::warn!("a node connection's actor failed: {err}");
            let gone: Vec<NodeKey> = deps
                .local
                .read()
                .map(|m| {
                    m.iter()
                        .filter(|(_, l)| l.actor.get_id() == cell.get_id())
                        .map(|(k, _)| *k)
                        .collect()
                })
                .unwrap_or_default();
            if let Ok(mut m) = deps.local.write() {
                for k in gone {
                    m.remove(&k);
                }
            }
            deps.changed();
        }
        Ok(())
    }
}
