//! The `ControlPlanes` supervisor and its handle, `Planes`: it creates a control
//! plane (row, cluster CA, version 0 in one transaction) and starts its actor,
//! deletes one (revoking its node certificates in the same transaction), and
//! restarts a failed plane actor from the database. It shares the plane actors'
//! `Registry` (what readers see) with them.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde_json::Value;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::ask;
use super::control_plane::{Committed, ControlPlane, ControlPlaneMsg, Deps, Meta, Registry};
use crate::config::{ChangeEvent, Op, View, rules};
use crate::error::{Error, Field};
use crate::store::{self, Notice, control_planes as rows};

/// The handle readers and writers of control planes use.
#[derive(Clone)]
pub struct Planes {
    sup: ActorRef<ControlPlanesMsg>,
    registry: Arc<Registry>,
}

/// A control plane to create.
#[derive(Clone, Debug)]
pub struct NewPlane {
    pub name: String,
    pub description: Option<String>,
    pub labels: Value,
}

impl Planes {
    /// Starts the supervisor and an actor for every stored plane.
    pub async fn start(deps: PlanesDeps) -> anyhow::Result<Planes> {
        let registry = Arc::new(Registry::new(deps.retention));
        let args = Arc::new(Deps {
            db: deps.db,
            sealer: deps.sealer,
            metrics: deps.metrics,
            registry: registry.clone(),
        });
        let (sup, _) = Actor::spawn(None, ControlPlanes, args)
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the control plane supervisor: {e}"))?;
        Ok(Planes { sup, registry })
    }

    pub fn view(&self, id: Uuid) -> Option<Arc<View>> {
        self.registry.views.read().ok()?.get(&id).cloned()
    }

    /// Every plane, oldest first.
    pub fn views(&self) -> Vec<Arc<View>> {
        let mut v: Vec<Arc<View>> = self
            .registry
            .views
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by_key(|x| (x.created_at, x.id));
        v
    }

    pub fn by_name(&self, name: &str) -> Option<Arc<View>> {
        self.views().into_iter().find(|v| v.name == name)
    }

    /// A plane by id or by name.
    pub fn by_ref(&self, r: &str) -> Option<Arc<View>> {
        match Uuid::parse_str(r) {
            Ok(id) => self.view(id),
            Err(_) => self.by_name(r),
        }
    }

    /// The plane's committed changes from now on.
    pub fn subscribe(&self, id: Uuid) -> broadcast::Receiver<Arc<ChangeEvent>> {
        let mut hub = self.registry.hub.lock().unwrap_or_else(|e| e.into_inner());
        hub.entry(id)
            .or_insert_with(|| broadcast::channel(1024).0)
            .subscribe()
    }

    fn actor(&self, id: Uuid) -> Result<ActorRef<ControlPlaneMsg>, Error> {
        self.registry
            .actors
            .read()
            .ok()
            .and_then(|m| m.get(&id).cloned())
            .ok_or_else(|| Error::NotFound(format!("control plane {id}")))
    }

    /// A change through the plane's actor.
    pub async fn mutate(&self, id: Uuid, op: Op) -> Result<Committed, Error> {
        let a = self.actor(id)?;
        ask(&a, |r| ControlPlaneMsg::Mutate(op, r), "the control plane").await?
    }

    pub async fn update_meta(&self, id: Uuid, meta: Meta) -> Result<Arc<View>, Error> {
        if let Some(n) = &meta.name
            && self.views().iter().any(|v| &v.name == n && v.id != id)
        {
            return Err(Error::Conflict {
                field: Field::Input("name".into()),
                message: "a control plane with this name exists".into(),
            });
        }
        let a = self.actor(id)?;
        ask(
            &a,
            |r| ControlPlaneMsg::UpdateMeta(meta, r),
            "the control plane",
        )
        .await?
    }

    pub async fn create(&self, p: NewPlane) -> Result<Arc<View>, Error> {
        rules::check_plane_name(&p.name)?;
        rules::check_labels(&p.labels)?;
        rules::check_text("description", &p.description, 1000)?;
        if self.by_name(&p.name).is_some() {
            return Err(Error::Conflict {
                field: Field::Input("name".into()),
                message: "a control plane with this name exists".into(),
            });
        }
        let id = ask(
            &self.sup,
            |r| ControlPlanesMsg::Create(p, r),
            "the control plane supervisor",
        )
        .await??;
        self.view(id)
            .ok_or_else(|| Error::internal("the new control plane has no view"))
    }

    /// Deletes a plane: its entities, change log and node list, and revokes its
    /// node certificates (one transaction).
    pub async fn delete(&self, id: Uuid) -> Result<(), Error> {
        ask(
            &self.sup,
            |r| ControlPlanesMsg::Delete(id, r),
            "the control plane supervisor",
        )
        .await?
    }

    /// Starts the actor of a plane another replica created.
    pub async fn start_existing(&self, id: Uuid) {
        if self.actor(id).is_err() {
            let _ = ask(
                &self.sup,
                |r| ControlPlanesMsg::Start(id, r),
                "the control plane supervisor",
            )
            .await;
        }
    }

    /// Stops the actor of a plane another replica deleted.
    pub async fn forget(&self, id: Uuid) {
        let _ = ask(
            &self.sup,
            |r| ControlPlanesMsg::Forget(id, r),
            "the control plane supervisor",
        )
        .await;
    }

    /// Has a plane's actor catch up with what another replica committed.
    pub fn refresh(&self, id: Uuid) {
        if let Ok(a) = self.actor(id) {
            let _ = a.cast(ControlPlaneMsg::Refresh);
        }
    }

    /// Failure injection: the plane's actor fails; its supervisor restarts it.
    pub fn crash(&self, id: Uuid) -> Result<(), Error> {
        self.actor(id)?
            .cast(ControlPlaneMsg::Crash)
            .map_err(|e| Error::Unavailable(e.to_string()))
    }

    pub fn stop(&self) {
        self.sup.stop(None);
    }
}

/// What the supervisor needs to start plane actors.
pub struct PlanesDeps {
    pub db: sea_orm::DatabaseConnection,
    pub sealer: Arc<crate::seal::Sealer>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub retention: i64,
}

pub struct ControlPlanes;

pub enum ControlPlanesMsg {
    Create(NewPlane, RpcReplyPort<Result<Uuid, Error>>),
    Delete(Uuid, RpcReplyPort<Result<(), Error>>),
    Start(Uuid, RpcReplyPort<()>),
    Forget(Uuid, RpcReplyPort<()>),
}

pub struct ControlPlanesState {
    deps: Arc<Deps>,
    by_actor: HashMap<ractor::ActorId, Uuid>,
}

impl ControlPlanes {
    async fn spawn(me: &ActorCell, st: &mut ControlPlanesState, id: Uuid) -> Result<(), Error> {
        let (a, _) = Actor::spawn_linked(None, ControlPlane, (st.deps.clone(), id), me.clone())
            .await
            .map_err(|e| Error::internal(format!("control plane {id} did not start: {e}")))?;
        st.by_actor.insert(a.get_id(), id);
        if let Ok(mut m) = st.deps.registry.actors.write() {
            m.insert(id, a);
        }
        Ok(())
    }

    async fn create(
        me: &ActorCell,
        st: &mut ControlPlanesState,
        p: NewPlane,
    ) -> Result<Uuid, Error> {
        let id = Uuid::new_v4();
        let now = store::now_ms();
        let ca = crate::pki::plane_ca_row(&st.deps.sealer, id, now).map_err(Error::internal)?;
        rows::create_control_plane(
            &st.deps.db,
            rows::control_plane::Model {
                id: id.to_string(),
                name: p.name,
                description: p.description,
                labels: p.labels.to_string(),
                version: 0,
                created_at: now,
                updated_at: now,
            },
            ca,
            &Notice::PlaneCreated { plane: id }.payload(),
        )
        .await
        .map_err(|e| {
            Error::taken(
                e,
                Field::Input("name".into()),
                "a control plane with this name exists",
            )
        })?;
        ControlPlanes::spawn(me, st, id).await?;
        Ok(id)
    }

    fn stop_actor(st: &mut ControlPlanesState, id: Uuid) {
        if let Some(a) = st.deps.registry.forget(id) {
            st.by_actor.remove(&a.get_id());
            a.stop(None);
        }
    }
}

impl Actor for ControlPlanes {
    type Msg = ControlPlanesMsg;
    type State = ControlPlanesState;
    type Arguments = Arc<Deps>;

    async fn pre_start(
        &self,
        me: ActorRef<ControlPlanesMsg>,
        deps: Arc<Deps>,
    ) -> Result<ControlPlanesState, ActorProcessingErr> {
        let mut st = ControlPlanesState {
            deps: deps.clone(),
            by_actor: HashMap::new(),
        };
        for cp in rows::control_planes(&deps.db).await? {
            let id = Uuid::parse_str(&cp.id)?;
            ControlPlanes::spawn(&me.get_cell(), &mut st, id).await?;
        }
        Ok(st)
    }

    async fn handle(
        &self,
        me: ActorRef<ControlPlanesMsg>,
        msg: ControlPlanesMsg,
        st: &mut ControlPlanesState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ControlPlanesMsg::Create(p, reply) => {
                let r = ControlPlanes::create(&me.get_cell(), st, p).await;
                let _ = reply.send(r);
            }
            ControlPlanesMsg::Delete(id, reply) => {
                ControlPlanes::stop_actor(st, id);
                let r = rows::delete_control_plane(
                    &st.deps.db,
                    &id.to_string(),
                    &Notice::PlaneDeleted { plane: id }.payload(),
                )
                .await
                .map_err(Error::from);
                let _ = reply.send(r);
            }
            ControlPlanesMsg::Start(id, reply) => {
                // a plane created here between the caller's look and this message
                // has its actor already: a second one would serve a stale view
                let running = st
                    .deps
                    .registry
                    .actors
                    .read()
                    .map(|m| m.contains_key(&id))
                    .unwrap_or(false);
                if !running && let Err(e) = ControlPlanes::spawn(&me.get_cell(), st, id).await {
                    tracing::warn!("{e}");
                }
                let _ = reply.send(());
            }
            ControlPlanesMsg::Forget(id, reply) => {
                ControlPlanes::stop_actor(st, id);
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<ControlPlanesMsg>,
        ev: SupervisionEvent,
        st: &mut ControlPlanesState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, err) = ev
            && let Some(id) = st.by_actor.remove(&cell.get_id())
        {
            tracing::warn!("control plane {id} actor failed ({err}); restarting from the database");
            st.deps.metrics.restart();
            if let Err(e) = ControlPlanes::spawn(&me.get_cell(), st, id).await {
                tracing::error!("control plane {id} could not restart: {e}");
            }
        }
        Ok(())
    }
}
