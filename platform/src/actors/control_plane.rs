//! The `ControlPlane` actor: the only writer of one control plane. It computes a
//! change with the config domain (`config::compute`, validated whole with the
//! node's loader), commits entity rows, the version and the change-log row in one
//! transaction (secrets sealed), swaps the view readers use, and publishes the
//! delta. A crashed actor is restarted by its supervisor and rebuilds from the
//! database; a commit another replica made first is caught up on and retried.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use sea_orm::DatabaseConnection;
use serde_json::{Map, Value};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::config::{self, ChangeEvent, ChangeOp, EntityChange, Kind, Op, Plan, Record, View};
use crate::error::{Error, Field};
use crate::metrics::Metrics;
use crate::seal::Sealer;
use crate::store::{self, Notice, StoreError, control_planes as rows};

/// What a committed (or planned) change returns.
#[derive(Clone, Debug)]
pub struct Committed {
    pub version: i64,
    pub plan: Plan,
    /// The entity a create or update produced.
    pub record: Option<Record>,
}

/// New values for a plane's own fields (`None`: unchanged).
#[derive(Clone, Debug, Default)]
pub struct Meta {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub labels: Option<Value>,
}

pub enum ControlPlaneMsg {
    Mutate(Op, RpcReplyPort<Result<Committed, Error>>),
    UpdateMeta(Meta, RpcReplyPort<Result<Arc<View>, Error>>),
    /// Failure injection (the test hook): the actor fails and is restarted.
    Crash,
    /// Another replica committed: reload from the database and publish.
    Refresh,
}

/// What every plane actor works with.
pub struct Deps {
    pub db: DatabaseConnection,
    pub sealer: Arc<Sealer>,
    pub metrics: Arc<Metrics>,
    pub registry: Arc<Registry>,
}

pub struct ControlPlane;

pub struct ControlPlaneState {
    deps: Arc<Deps>,
    view: View,
}

pub type ControlPlaneArgs = (Arc<Deps>, Uuid);

/// A change-log row as the event it records, its secrets opened.
pub fn read_change(sealer: &Sealer, row: &rows::change_log::Model) -> Result<ChangeEvent, Error> {
    let mut ev: ChangeEvent = serde_json::from_str(&row.changes)
        .map_err(|e| Error::internal(format!("change log row {}: {e}", row.version)))?;
    for c in &mut ev.changes {
        if let Some(d) = &mut c.data {
            *d = sealer.open_entity(c.kind, d).map_err(Error::internal)?;
        }
    }
    Ok(ev)
}

/// Loads a plane's view from the database. A stored config that no longer
/// validates is a loud error on the view (and in the log and metrics), never a
/// silent empty hash.
pub async fn load_view(deps: &Deps, id: Uuid) -> Result<View, Error> {
    let cp = rows::control_plane(&deps.db, &id.to_string())
        .await?
        .ok_or_else(|| Error::NotFound(format!("control plane {id}")))?;
    let mut records = HashMap::new();
    let mut next_seq = 0;
    for r in rows::entities(&deps.db, &cp.id).await? {
        let (Some(kind), Ok(eid), Ok(data)) = (
            Kind::parse(&r.kind),
            Uuid::parse_str(&r.id),
            serde_json::from_str::<Value>(&r.data),
        ) else {
            return Err(Error::internal(format!(
                "stored entity {} of {} is unreadable",
                r.id, cp.id
            )));
        };
        let data = deps
            .sealer
            .open_entity(kind, &data)
            .map_err(|e| Error::internal(format!("stored entity {} of {}: {e}", r.id, cp.id)))?;
        next_seq = next_seq.max(r.seq + 1);
        records.insert(
            eid,
            Record {
                kind,
                id: eid,
                seq: r.seq,
                data,
                created_at: r.created_at,
                updated_at: r.updated_at,
            },
        );
    }
    let (doc, _) = config::document(records.values(), true);
    let (hash, invalid) = match config::document::validate(&doc) {
        Ok(c) => (c.hash(), None),
        Err(es) => {
            let why = es
                .iter()
                .take(5)
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            tracing::error!(
                plane = %id,
                "the stored config of this control plane does not validate: {why}; nodes are sent nothing until a change fixes it"
            );
            (String::new(), Some(why))
        }
    };
    Ok(View {
        id,
        name: cp.name,
        description: cp.description,
        labels: serde_json::from_str(&cp.labels).unwrap_or(Value::Object(Map::new())),
        version: cp.version,
        created_at: cp.created_at,
        updated_at: cp.updated_at,
        records: Arc::new(records),
        hash,
        invalid,
        next_seq,
        typed: Arc::default(),
    })
}

impl Actor for ControlPlane {
    type Msg = ControlPlaneMsg;
    type State = ControlPlaneState;
    type Arguments = ControlPlaneArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<ControlPlaneMsg>,
        (deps, id): ControlPlaneArgs,
    ) -> Result<ControlPlaneState, ActorProcessingErr> {
        let view = load_view(&deps, id).await?;
        deps.registry.set_view(view.clone());
        Ok(ControlPlaneState { deps, view })
    }

    async fn handle(
        &self,
        _me: ActorRef<ControlPlaneMsg>,
        msg: ControlPlaneMsg,
        st: &mut ControlPlaneState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ControlPlaneMsg::Mutate(op, reply) => {
                let started = std::time::Instant::now();
                let mut r = st.mutate(op.clone()).await;
                // another replica wrote first: catch up and try again (optimistic
                // concurrency between replicas; within one, the actor serialises)
                let mut tries = 0;
                while tries < 50
                    && matches!(r, Err(Error::Store(StoreError::VersionConflict { .. })))
                {
                    tries += 1;
                    st.refresh().await?;
                    r = st.mutate(op.clone()).await;
                }
                if r.as_ref().is_ok_and(|c| !c.plan.is_empty()) {
                    st.deps.metrics.commit(started.elapsed());
                }
                let _ = reply.send(r);
            }
            ControlPlaneMsg::UpdateMeta(meta, reply) => {
                let _ = reply.send(st.update_meta(meta).await);
            }
            ControlPlaneMsg::Crash => return Err("failure injected".into()),
            ControlPlaneMsg::Refresh => st.refresh().await?,
        }
        Ok(())
    }
}

impl ControlPlaneState {
    fn set_view(&mut self, v: View) {
        self.deps.registry.set_view(v.clone());
        self.view = v;
    }

    /// Reloads the plane from the database and publishes the versions committed
    /// elsewhere (another replica) to this replica's subscribers, in order.
    async fn refresh(&mut self) -> Result<(), Error> {
        let before = self.view.version;
        let v = load_view(&self.deps, self.view.id).await?;
        if v.version == before && v.name == self.view.name && v.labels == self.view.labels {
            return Ok(());
        }
        let changes = rows::changes_since(&self.deps.db, &self.view.id.to_string(), before).await?;
        self.set_view(v);
        for row in changes {
            match read_change(&self.deps.sealer, &row) {
                Ok(ev) => self.deps.registry.publish(ev),
                Err(e) => tracing::error!("change log of {}: {e}", self.view.id),
            }
        }
        Ok(())
    }

    async fn update_meta(&mut self, meta: Meta) -> Result<Arc<View>, Error> {
        let mut v = self.view.clone();
        if let Some(n) = meta.name {
            config::rules::check_plane_name(&n)?;
            v.name = n;
        }
        if let Some(d) = meta.description {
            config::rules::check_text("description", &d, 1000)?;
            v.description = d;
        }
        if let Some(l) = meta.labels {
            config::rules::check_labels(&l)?;
            v.labels = l;
        }
        v.updated_at = store::now_ms();
        rows::update_control_plane(
            &self.deps.db,
            rows::control_plane::Model {
                id: v.id.to_string(),
                name: v.name.clone(),
                description: v.description.clone(),
                labels: v.labels.to_string(),
                version: v.version,
                created_at: v.created_at,
                updated_at: v.updated_at,
            },
        )
        .await
        .map_err(|e| {
            Error::taken(
                e,
                Field::Input("name".into()),
                "a control plane with this name exists",
            )
        })?;
        let _ = store::announce(&self.deps.db, &Notice::PlaneMeta { plane: v.id }).await;
        self.set_view(v);
        Ok(Arc::new(self.view.clone()))
    }

    async fn mutate(&mut self, op: Op) -> Result<Committed, Error> {
        let now = store::now_ms();
        let change = config::compute(&self.view, op, now, &self.deps.sealer)?;
        if change.plan.is_empty() || change.dry_run {
            return Ok(Committed {
                version: self.view.version,
                plan: change.plan,
                record: change.record,
            });
        }
        let version = self.view.version + 1;
        let (writes, changes, sealed) = self.entity_writes(&change)?;
        let ev = ChangeEvent {
            control_plane_id: self.view.id,
            version,
            hash: change.hash.clone(),
            at: now,
            changes,
        };
        // the change log keeps secrets hashed or sealed, as the rows do
        let json = serde_json::to_string(&ChangeEvent {
            changes: sealed,
            ..ev.clone()
        })
        .map_err(Error::internal)?;
        let plane = self.view.id.to_string();
        let notice = Notice::Committed {
            plane: self.view.id,
            version,
        };
        rows::commit(
            &self.deps.db,
            &plane,
            version,
            writes,
            json,
            &notice.payload(),
        )
        .await?;
        let mut v = self.view.clone();
        v.records = Arc::new(change.records);
        v.typed = Arc::default();
        v.version = version;
        v.hash = change.hash;
        v.invalid = None;
        v.next_seq = change.next_seq;
        v.updated_at = now;
        self.set_view(v);
        self.deps.registry.publish(ev);
        self.prune(version).await;
        Ok(Committed {
            version,
            plan: change.plan,
            record: change.record,
        })
    }

    /// The rows a change writes (secrets sealed), and its entity changes as
    /// subscribers get them and as the change log keeps them.
    #[allow(clippy::type_complexity)]
    fn entity_writes(
        &self,
        change: &config::Change,
    ) -> Result<(Vec<rows::EntityWrite>, Vec<EntityChange>, Vec<EntityChange>), Error> {
        let plane = self.view.id.to_string();
        let mut writes = Vec::new();
        let mut changes = Vec::new();
        let mut sealed_changes = Vec::new();
        for it in change.plan.creates.iter().chain(&change.plan.updates) {
            let Some(r) = change.records.get(&it.id) else {
                continue;
            };
            let sealed = self
                .deps
                .sealer
                .seal_entity(r.kind, &r.data)
                .map_err(Error::internal)?;
            writes.push(rows::EntityWrite {
                id: r.id.to_string(),
                existed: self.view.records.contains_key(&r.id),
                row: Some(rows::config_entity::Model {
                    control_plane_id: plane.clone(),
                    id: r.id.to_string(),
                    kind: r.kind.as_str().to_string(),
                    seq: r.seq,
                    data: sealed.to_string(),
                    created_at: r.created_at,
                    updated_at: r.updated_at,
                }),
            });
            let c = EntityChange {
                op: ChangeOp::Upsert,
                kind: r.kind,
                id: r.id,
                seq: r.seq,
                data: Some(r.data.clone()),
            };
            sealed_changes.push(EntityChange {
                data: Some(sealed),
                ..c.clone()
            });
            changes.push(c);
        }
        for it in &change.plan.deletes {
            writes.push(rows::EntityWrite {
                id: it.id.to_string(),
                existed: true,
                row: None,
            });
            let c = EntityChange {
                op: ChangeOp::Delete,
                kind: it.kind,
                id: it.id,
                seq: 0,
                data: None,
            };
            sealed_changes.push(c.clone());
            changes.push(c);
        }
        Ok((writes, changes, sealed_changes))
    }

    /// The change log keeps the last `retention` versions.
    async fn prune(&self, version: i64) {
        let keep = self.deps.registry.retention();
        let plane = self.view.id.to_string();
        if version > keep
            && let Err(e) = rows::prune_changes(&self.deps.db, &plane, version - keep).await
        {
            tracing::warn!("pruning the change log of {plane}: {e}");
        }
    }
}

/// What readers see of every plane, and the change broadcasts. Written only by
/// the plane actors and their supervisor.
pub struct Registry {
    pub(super) views: RwLock<HashMap<Uuid, Arc<View>>>,
    pub(super) actors: RwLock<HashMap<Uuid, ActorRef<ControlPlaneMsg>>>,
    pub(super) hub: std::sync::Mutex<HashMap<Uuid, broadcast::Sender<Arc<ChangeEvent>>>>,
    /// Versions the change log keeps per plane.
    pub(super) retention: AtomicI64,
}

impl Registry {
    pub(super) fn new(retention: i64) -> Registry {
        Registry {
            views: RwLock::default(),
            actors: RwLock::default(),
            hub: Default::default(),
            retention: AtomicI64::new(retention.max(1)),
        }
    }

    pub fn retention(&self) -> i64 {
        self.retention.load(Ordering::Relaxed)
    }

    pub(super) fn set_view(&self, v: View) {
        if let Ok(mut m) = self.views.write() {
            m.insert(v.id, Arc::new(v));
        }
    }

    pub(super) fn publish(&self, ev: ChangeEvent) {
        let hub = self.hub.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = hub.get(&ev.control_plane_id) {
            let _ = tx.send(Arc::new(ev));
        }
    }

    pub(super) fn forget(&self, id: Uuid) -> Option<ActorRef<ControlPlaneMsg>> {
        if let Ok(mut m) = self.views.write() {
            m.remove(&id);
        }
        if let Ok(mut h) = self.hub.lock() {
            h.remove(&id);
        }
        self.actors.write().ok().and_then(|mut m| m.remove(&id))
    }
}
