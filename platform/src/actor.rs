//! The control plane actors: a supervisor (`Planes`) with one `ControlPlane` actor
//! per control plane. The actor is the only writer of its plane: it validates a
//! change against its in-memory config, commits entities and the change-log row in
//! one transaction, swaps the view readers use, and publishes the delta. A crashed
//! actor is restarted by its supervisor and rebuilds from the database.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::error::{ApiError, Code, Problem};
use crate::model::{self, Kind, Plan, PlanItem, Record};
use crate::store;

/// What readers see of one control plane: immutable, replaced on every commit.
#[derive(Clone, Debug)]
pub struct View {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub labels: Value,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub records: Arc<HashMap<Uuid, Record>>,
    /// Hash of the canonical config (what a node computes for the same config).
    pub hash: String,
    next_seq: i64,
}

impl View {
    /// Records of one kind in creation order.
    pub fn list(&self, kind: Option<Kind>) -> Vec<&Record> {
        let mut v: Vec<&Record> = self
            .records
            .values()
            .filter(|r| kind.is_none_or(|k| r.kind == k))
            .collect();
        v.sort_by_key(|r| r.seq);
        v
    }

    /// The decK document; with secrets only for nodes.
    pub fn document(&self, with_secrets: bool) -> Value {
        model::document(self.records.values(), with_secrets).0
    }
}

/// One entity's part of a committed change.
#[derive(Clone, Debug, Serialize, Deserialize, async_graphql::SimpleObject)]
pub struct EntityChange {
    pub op: ChangeOp,
    pub kind: Kind,
    pub id: Uuid,
    /// Creation order of the entity.
    pub seq: i64,
    /// The entity after the change; null for deletes. The change log and nodes
    /// get write-only fields; API readers never do.
    pub data: Option<async_graphql::Json<Value>>,
}

#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeOp {
    Upsert,
    Delete,
}

/// A committed version: what subscribers receive.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub control_plane_id: Uuid,
    pub version: i64,
    pub hash: String,
    pub at: i64,
    pub changes: Vec<EntityChange>,
}

/// A change a caller asks for.
#[derive(Clone)]
pub enum Op {
    Create {
        kind: Kind,
        data: Map<String, Value>,
    },
    /// Fields in `patch` replace the stored ones; `null` removes a field.
    Update {
        id: Uuid,
        patch: Map<String, Value>,
    },
    Delete {
        id: Uuid,
    },
    /// Make the plane match a decK document (only entities carrying all
    /// `select_tags` are owned).
    Apply {
        document: Value,
        select_tags: Vec<String>,
        dry_run: bool,
        /// The kinds the caller may write (`None`: all); a plan touching another
        /// kind is refused as a whole.
        allowed: Option<Vec<Kind>>,
    },
}

/// What a committed (or planned) change returns.
#[derive(Clone, Debug)]
pub struct Committed {
    pub version: i64,
    pub plan: Plan,
    /// The entity a create or update produced.
    pub record: Option<Record>,
}

pub enum Msg {
    Mutate(Op, RpcReplyPort<Result<Committed, ApiError>>),
    UpdateMeta {
        name: Option<String>,
        description: Option<Option<String>>,
        labels: Option<Value>,
        reply: RpcReplyPort<Result<(), ApiError>>,
    },
    /// Failure injection: the actor returns an error and its supervisor restarts it.
    Crash,
    /// Another replica committed: reload from the database and publish what changed.
    Refresh,
}

/// Shared by the actors and the API: the database, the current views and the
/// change broadcasts.
pub struct Shared {
    pub db: DatabaseConnection,
    pub views: RwLock<HashMap<Uuid, Arc<View>>>,
    pub actors: RwLock<HashMap<Uuid, ActorRef<Msg>>>,
    hub: std::sync::Mutex<HashMap<Uuid, broadcast::Sender<Arc<ChangeEvent>>>>,
    pub metrics: crate::metrics::Metrics,
    /// Registered node certificates (for the cluster handshake).
    pub certs: crate::cluster::Certs,
    /// The CA nodes verify the cluster endpoint with.
    pub cluster_ca: RwLock<String>,
    /// Gateway nodes, connected or last seen.
    pub nodes: RwLock<HashMap<crate::cluster::NodeKey, crate::cluster::NodeEntry>>,
    /// Bumped when the node list changes (for the `dataPlaneNodes` subscription).
    pub nodes_tick: tokio::sync::watch::Sender<u64>,
    /// Versions the change log keeps per plane.
    pub retention: std::sync::atomic::AtomicI64,
    /// Teams, roles and the authorizer.
    pub access: crate::auth::Access,
    /// One actor per team: the writers of team roles and members.
    pub teams: crate::teams::Teams,
    /// Seals secrets before they reach the database.
    pub sealer: Arc<crate::seal::Sealer>,
}

impl Shared {
    pub fn new(
        db: DatabaseConnection,
        certs: crate::cluster::Certs,
        access: crate::auth::Access,
        sealer: Arc<crate::seal::Sealer>,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            db,
            views: RwLock::default(),
            actors: RwLock::default(),
            hub: Default::default(),
            metrics: Default::default(),
            certs,
            cluster_ca: RwLock::default(),
            nodes: RwLock::default(),
            nodes_tick: tokio::sync::watch::channel(0).0,
            retention: std::sync::atomic::AtomicI64::new(10_000),
            access,
            teams: Default::default(),
            sealer,
        })
    }

    pub fn nodes_changed(&self) {
        self.nodes_tick.send_modify(|t| *t += 1);
    }

    pub fn view(&self, id: Uuid) -> Option<Arc<View>> {
        self.views.read().ok()?.get(&id).cloned()
    }

    pub fn views(&self) -> Vec<Arc<View>> {
        let mut v: Vec<Arc<View>> = self
            .views
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by_key(|x| (x.created_at, x.id));
        v
    }

    pub fn actor(&self, id: Uuid) -> Option<ActorRef<Msg>> {
        self.actors.read().ok()?.get(&id).cloned()
    }

    pub fn subscribe(&self, id: Uuid) -> broadcast::Receiver<Arc<ChangeEvent>> {
        let mut hub = self.hub.lock().unwrap_or_else(|e| e.into_inner());
        hub.entry(id)
            .or_insert_with(|| broadcast::channel(1024).0)
            .subscribe()
    }

    fn publish(&self, ev: ChangeEvent) {
        let hub = self.hub.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = hub.get(&ev.control_plane_id) {
            let _ = tx.send(Arc::new(ev));
        }
    }

    fn set_view(&self, v: View) {
        if let Ok(mut m) = self.views.write() {
            m.insert(v.id, Arc::new(v));
        }
    }

    /// Sends a change to a plane's actor and waits for the outcome.
    pub async fn mutate(&self, plane: Uuid, op: Op) -> Result<Committed, ApiError> {
        let actor = self
            .actor(plane)
            .ok_or_else(|| ApiError::not_found(format!("control plane {plane}")))?;
        match actor.call(|r| Msg::Mutate(op, r), None).await {
            Ok(ractor::rpc::CallResult::Success(r)) => r,
            Ok(_) => Err(ApiError::internal("the control plane did not answer")),
            Err(e) => Err(ApiError::internal(format!(
                "the control plane is restarting, retry: {e}"
            ))),
        }
    }
}

/// A change-log row as the event it records, its secrets opened.
pub fn read_change(
    sealer: &crate::seal::Sealer,
    row: &store::change_log::Model,
) -> anyhow::Result<ChangeEvent> {
    let mut ev: ChangeEvent = serde_json::from_str(&row.changes)?;
    for c in &mut ev.changes {
        if let Some(d) = &mut c.data {
            d.0 = sealer.open_entity(c.kind, &d.0)?;
        }
    }
    Ok(ev)
}

/// Loads a plane's view from the database.
async fn load_view(
    db: &DatabaseConnection,
    sealer: &crate::seal::Sealer,
    id: Uuid,
) -> anyhow::Result<View> {
    let cp = store::control_plane(db, &id.to_string())
        .await?
        .ok_or_else(|| anyhow::anyhow!("control plane {id} is not in the database"))?;
    let rows = store::entities(db, &cp.id).await?;
    let mut records = HashMap::with_capacity(rows.len());
    let mut next_seq = 0;
    for r in rows {
        let (Some(kind), Ok(eid), Ok(data)) = (
            Kind::parse(&r.kind),
            Uuid::parse_str(&r.id),
            serde_json::from_str::<Value>(&r.data),
        ) else {
            anyhow::bail!("stored entity {} of {} is unreadable", r.id, cp.id);
        };
        let data = sealer
            .open_entity(kind, &data)
            .map_err(|e| anyhow::anyhow!("stored entity {} of {}: {e}", r.id, cp.id))?;
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
    let (doc, _) = model::document(records.values(), true);
    let hash = model::validate(&doc).map(|c| c.hash()).unwrap_or_default();
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
        next_seq,
    })
}

pub struct ControlPlane;

pub struct PlaneState {
    shared: Arc<Shared>,
    view: View,
}

impl Actor for ControlPlane {
    type Msg = Msg;
    type State = PlaneState;
    type Arguments = (Arc<Shared>, Uuid);

    async fn pre_start(
        &self,
        _me: ActorRef<Msg>,
        (shared, id): (Arc<Shared>, Uuid),
    ) -> Result<PlaneState, ActorProcessingErr> {
        let view = load_view(&shared.db, &shared.sealer, id).await?;
        shared.set_view(view.clone());
        Ok(PlaneState { shared, view })
    }

    async fn handle(
        &self,
        _me: ActorRef<Msg>,
        msg: Msg,
        st: &mut PlaneState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Mutate(op, reply) => {
                let started = std::time::Instant::now();
                let mut r = st.mutate(op.clone()).await;
                // another replica wrote first: catch up and try again (optimistic
                // concurrency between replicas; within one, the actor serialises)
                let mut tries = 0;
                while tries < 50
                    && r.as_ref()
                        .is_err_and(|e| e.to_string().contains(store::CONFLICT))
                {
                    tries += 1;
                    st.refresh().await?;
                    r = st.mutate(op.clone()).await;
                }
                if r.as_ref().is_ok_and(|c| !c.plan.is_empty()) {
                    st.shared.metrics.commit(started.elapsed());
                }
                let _ = reply.send(r);
            }
            Msg::UpdateMeta {
                name,
                description,
                labels,
                reply,
            } => {
                let _ = reply.send(st.update_meta(name, description, labels).await);
            }
            Msg::Crash => return Err("failure injected".into()),
            Msg::Refresh => st.refresh().await?,
        }
        Ok(())
    }
}

fn validation(errors: Vec<graphql_schema::InvalidField>, map: impl Fn(&str) -> String) -> ApiError {
    ApiError(
        errors
            .into_iter()
            .map(|e| Problem {
                code: match e.problem {
                    graphql_schema::Problem::Duplicate => Code::Conflict,
                    graphql_schema::Problem::Invalid => Code::Validation,
                },
                message: e.message,
                field: Some(map(&e.path)),
            })
            .collect(),
    )
}

impl PlaneState {
    /// Opens the sealed values of a document (a dump made with its secrets):
    /// they must open with this platform's key.
    fn open_sealed(&self, doc: &mut Value) -> Result<(), ApiError> {
        let problems: Vec<Problem> = crate::seal::open_document(&self.shared.sealer, doc)
            .into_iter()
            .map(|(field, message)| Problem {
                code: Code::Validation,
                message,
                field: Some(field),
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError(problems))
        }
    }

    /// Reloads the plane from the database and publishes the versions committed
    /// elsewhere (another replica) to this replica's subscribers, in order.
    async fn refresh(&mut self) -> anyhow::Result<()> {
        let before = self.view.version;
        let v = load_view(&self.shared.db, &self.shared.sealer, self.view.id).await?;
        if v.version == before && v.name == self.view.name && v.labels == self.view.labels {
            return Ok(());
        }
        let rows = store::changes_since(&self.shared.db, &self.view.id.to_string(), before).await?;
        self.shared.set_view(v.clone());
        self.view = v;
        for row in rows {
            match read_change(&self.shared.sealer, &row) {
                Ok(ev) => self.shared.publish(ev),
                Err(e) => tracing::error!("change log of {}: {e}", self.view.id),
            }
        }
        Ok(())
    }

    async fn update_meta(
        &mut self,
        name: Option<String>,
        description: Option<Option<String>>,
        labels: Option<Value>,
    ) -> Result<(), ApiError> {
        let mut v = self.view.clone();
        if let Some(n) = name {
            check_plane_name(&n)?;
            v.name = n;
        }
        if let Some(d) = description {
            check_text("input.description", &d, 1000)?;
            v.description = d;
        }
        if let Some(l) = labels {
            check_labels(&l)?;
            v.labels = l;
        }
        v.updated_at = store::now_ms();
        store::update_control_plane(
            &self.shared.db,
            store::control_plane::Model {
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
        .map_err(|e| ApiError::unique(e, "input.name", "a control plane with this name exists"))?;
        let _ = store::notify(&self.shared.db, &format!("plane-meta:{}", v.id)).await;
        self.shared.set_view(v.clone());
        self.view = v;
        Ok(())
    }

    async fn mutate(&mut self, op: Op) -> Result<Committed, ApiError> {
        let now = store::now_ms();
        let mut records: HashMap<Uuid, Record> = (*self.view.records).clone();
        let mut next_seq = self.view.next_seq;
        // the entity whose fields validation errors are about, and how they are named
        let mut focus: Option<(Uuid, &'static str)> = None;
        let mut plan = Plan::default();
        let mut dry_run = false;
        let mut allowed: Option<Vec<Kind>> = None;
        match op {
            Op::Create { kind, mut data } => {
                refuse_nested(kind, &data)?;
                let id = match data.get("id") {
                    None | Some(Value::Null) => Uuid::new_v4(),
                    Some(Value::String(s)) => Uuid::parse_str(s).map_err(|_| {
                        ApiError::field(Code::Validation, "input.data.id", "expected a UUID")
                    })?,
                    Some(_) => {
                        return Err(ApiError::field(
                            Code::Validation,
                            "input.data.id",
                            "expected a UUID string",
                        ));
                    }
                };
                if records.contains_key(&id) {
                    return Err(ApiError::field(
                        Code::Conflict,
                        "input.data.id",
                        format!("an entity with id {id} exists"),
                    ));
                }
                data.insert("id".into(), Value::String(id.to_string()));
                resolve_refs(kind, &mut data, &records)?;
                let mut data = Value::Object(data);
                model::hash_secrets(kind, &mut data);
                let r = Record {
                    kind,
                    id,
                    seq: next_seq,
                    data,
                    created_at: now,
                    updated_at: now,
                };
                next_seq += 1;
                plan.creates.push(item(&r));
                records.insert(id, r);
                focus = Some((id, "input.data"));
            }
            Op::Update { id, patch } => {
                let mut r = records
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| ApiError::not_found(format!("entity {id}")))?;
                refuse_nested(r.kind, &patch)?;
                let Value::Object(m) = &mut r.data else {
                    return Err(ApiError::internal("stored entity is not an object"));
                };
                for (k, v) in patch {
                    if k == "id" {
                        if v.as_str() != Some(&id.to_string()) {
                            return Err(ApiError::field(
                                Code::Validation,
                                "input.data.id",
                                "the id of an entity cannot change",
                            ));
                        }
                        continue;
                    }
                    if v.is_null() {
                        m.remove(&k);
                    } else {
                        m.insert(k, v);
                    }
                }
                resolve_refs(r.kind, m, &records)?;
                model::hash_secrets(r.kind, &mut r.data);
                r.updated_at = now;
                plan.updates.push(item(&r));
                records.insert(id, r);
                focus = Some((id, "input.data"));
            }
            Op::Delete { id } => {
                if !records.contains_key(&id) {
                    return Err(ApiError::not_found(format!("entity {id}")));
                }
                for gone in model::cascade(self.view.records.values(), id) {
                    if let Some(r) = records.remove(&gone) {
                        plan.deletes.push(item(&r));
                    }
                }
            }
            Op::Apply {
                document,
                select_tags,
                dry_run: d,
                allowed: may_write,
            } => {
                dry_run = d;
                allowed = may_write;
                // the file as Kong reads it: format 1.1/2.1 migrated, `_transform`
                let mut document = graphql_schema::deck::prepared(&document);
                let select_tags = model::select_tags(&document, select_tags)
                    .map_err(|m| ApiError::field(Code::Validation, "input.selectTags", m))?;
                // a dump made with its secrets carries them sealed
                self.open_sealed(&mut document)?;
                model::fill_secrets(&mut document, &self.view.records);
                // the file as the user wrote it (errors carry its own paths),
                // checked against the rest of the plane it does not manage
                let unmanaged = self
                    .view
                    .records
                    .values()
                    .filter(|r| !model::owned(r, &select_tags));
                let config = model::validate(&model::with_unmanaged(&document, unmanaged))
                    .map_err(|es| validation(es, |p| p.to_string()))?;
                let lookup = model::lookup_records(
                    &document,
                    self.view
                        .records
                        .values()
                        .filter(|r| !model::owned(r, &select_tags)),
                );
                let derived = config.ids_by_source();
                let mut desired = model::flatten(&document, &derived);
                for d in &mut desired {
                    if !select_tags.is_empty() {
                        let tags = d
                            .data
                            .entry("tags")
                            .or_insert_with(|| Value::Array(Vec::new()));
                        if let Value::Array(a) = tags {
                            for t in &select_tags {
                                if !a.iter().any(|x| x.as_str() == Some(t)) {
                                    a.push(Value::String(t.clone()));
                                }
                            }
                        }
                    }
                }
                let owned: Vec<&Record> = self
                    .view
                    .records
                    .values()
                    .filter(|r| model::owned(r, &select_tags))
                    .collect();
                let settled = model::settle(desired, &owned, &lookup, &derived).map_err(|es| {
                    ApiError(
                        es.into_iter()
                            .map(|m| Problem {
                                code: Code::Validation,
                                message: m,
                                field: Some("input.document".into()),
                            })
                            .collect(),
                    )
                })?;
                let mut seen = std::collections::HashSet::new();
                for (kind, id, mut data) in settled {
                    seen.insert(id);
                    match records.get_mut(&id) {
                        Some(r) if !model::owned(r, &select_tags) => {
                            return Err(ApiError::field(
                                Code::Conflict,
                                "input.document",
                                format!(
                                    "{} {id} exists but is not tagged {select_tags:?}",
                                    kind.key()
                                ),
                            ));
                        }
                        Some(r) if r.kind != kind => {
                            return Err(ApiError::field(
                                Code::Conflict,
                                "input.document",
                                format!("id {id} is a {} already", r.kind.key()),
                            ));
                        }
                        Some(r) => {
                            model::keep_secrets(kind, &mut data, &r.data);
                            let mut nd = Value::Object(data);
                            model::hash_secrets(kind, &mut nd);
                            if !model::same_data(&r.data, &nd) {
                                r.data = nd;
                                r.updated_at = now;
                                plan.updates.push(item(r));
                            }
                        }
                        None => {
                            let mut data = Value::Object(data);
                            model::hash_secrets(kind, &mut data);
                            let r = Record {
                                kind,
                                id,
                                seq: next_seq,
                                data,
                                created_at: now,
                                updated_at: now,
                            };
                            next_seq += 1;
                            plan.creates.push(item(&r));
                            records.insert(id, r);
                        }
                    }
                }
                let gone: Vec<Uuid> = owned
                    .iter()
                    .filter(|r| !seen.contains(&r.id))
                    .map(|r| r.id)
                    .collect();
                for id in gone {
                    if let Some(r) = records.remove(&id) {
                        plan.deletes.push(item(&r));
                    }
                }
            }
        }

        // a caller limited to some kinds changes nothing when the plan touches others
        if let Some(kinds) = &allowed {
            let mut refused: Vec<&str> = plan
                .creates
                .iter()
                .chain(&plan.updates)
                .chain(&plan.deletes)
                .filter(|it| !kinds.contains(&it.kind))
                .map(|it| it.kind.key())
                .collect();
            refused.sort_unstable();
            refused.dedup();
            if !refused.is_empty() {
                return Err(ApiError::new(
                    Code::Forbidden,
                    format!("not allowed to write {}", refused.join(", ")),
                ));
            }
        }

        // validate the whole would-be config with the node's loader
        let (doc, paths) = model::document(records.values(), true);
        let config = model::validate(&doc).map_err(|es| {
            let entity_path = focus.and_then(|(id, _)| paths.get(&id).cloned());
            validation(es, |p| match (&entity_path, focus) {
                (Some(ep), Some((_, prefix))) => match model::relative_path(p, ep) {
                    Some(rest) if rest.is_empty() => prefix.to_string(),
                    Some(rest) if rest.starts_with('[') => format!("{prefix}{rest}"),
                    Some(rest) => format!("{prefix}.{rest}"),
                    None => p.to_string(),
                },
                _ => p.to_string(),
            })
        })?;
        expired_cas(&plan, &records, &paths, focus)?;
        let record = focus.and_then(|(id, _)| records.get(&id).cloned());
        if plan.is_empty() || dry_run {
            return Ok(Committed {
                version: self.view.version,
                plan,
                record,
            });
        }

        // commit: entity rows + version + change log, in one transaction
        let version = self.view.version + 1;
        let plane = self.view.id.to_string();
        let mut writes = Vec::new();
        let mut changes = Vec::new();
        // what the database and the change log keep: secrets sealed
        let mut sealed_changes = Vec::new();
        let sealer = &self.shared.sealer;
        for it in plan.creates.iter().chain(&plan.updates) {
            if let Some(r) = records.get(&it.id) {
                let sealed = sealer
                    .seal_entity(r.kind, &r.data)
                    .map_err(ApiError::internal)?;
                writes.push(store::EntityWrite {
                    id: r.id.to_string(),
                    existed: self.view.records.contains_key(&r.id),
                    row: Some(store::config_entity::Model {
                        control_plane_id: plane.clone(),
                        id: r.id.to_string(),
                        kind: r.kind.as_str().to_string(),
                        seq: r.seq,
                        data: sealed.to_string(),
                        created_at: r.created_at,
                        updated_at: r.updated_at,
                    }),
                });
                let change = EntityChange {
                    op: ChangeOp::Upsert,
                    kind: r.kind,
                    id: r.id,
                    seq: r.seq,
                    data: Some(async_graphql::Json(r.data.clone())),
                };
                sealed_changes.push(EntityChange {
                    data: Some(async_graphql::Json(sealed)),
                    ..change.clone()
                });
                changes.push(change);
            }
        }
        for it in &plan.deletes {
            writes.push(store::EntityWrite {
                id: it.id.to_string(),
                existed: true,
                row: None,
            });
            let change = EntityChange {
                op: ChangeOp::Delete,
                kind: it.kind,
                id: it.id,
                seq: 0,
                data: None,
            };
            sealed_changes.push(change.clone());
            changes.push(change);
        }
        let hash = config.hash();
        let ev = ChangeEvent {
            control_plane_id: self.view.id,
            version,
            hash: hash.clone(),
            at: now,
            changes,
        };
        let json = serde_json::to_string(&ChangeEvent {
            changes: sealed_changes,
            ..ev.clone()
        })
        .map_err(ApiError::internal)?;
        store::commit(&self.shared.db, &plane, version, writes, json)
            .await
            .map_err(ApiError::internal)?;
        let mut v = self.view.clone();
        v.records = Arc::new(records);
        v.version = version;
        v.hash = hash;
        v.next_seq = next_seq;
        v.updated_at = now;
        self.shared.set_view(v.clone());
        self.view = v;
        self.shared.publish(ev);
        // the change log keeps the last `retention` versions
        let keep = self
            .shared
            .retention
            .load(std::sync::atomic::Ordering::Relaxed);
        if version > keep
            && let Err(e) = store::prune_changes(&self.shared.db, &plane, version - keep).await
        {
            tracing::warn!("pruning the change log of {plane}: {e}");
        }
        Ok(Committed {
            version,
            plan,
            record,
        })
    }
}

fn item(r: &Record) -> PlanItem {
    PlanItem {
        kind: r.kind,
        id: r.id,
        name: r.name(),
    }
}

/// A nested decK key (`routes` in a service, `keyauth_credentials` in a
/// consumer, ...) is not a field of the kind: refused with its path, as Kong's
/// Admin API refuses an unknown field. Each nested entity is created as its own
/// kind, so it is authorized and listed as that kind.
fn refuse_nested(kind: Kind, data: &Map<String, Value>) -> Result<(), ApiError> {
    let problems: Vec<Problem> = data
        .keys()
        .filter(|k| kind.nested_keys().contains(&k.as_str()))
        .map(|k| Problem {
            code: Code::Validation,
            message: match Kind::parse(k) {
                Some(n) => format!(
                    "unknown field: create each of these as its own entity (kind {})",
                    n.as_str()
                ),
                None => "unknown field".to_string(),
            },
            field: Some(format!("input.data.{k}")),
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError(problems))
    }
}

/// References to other entities become `{"id": ...}` as stored, whether given as
/// a bare id, `{"id"}`, or by name (`{"name"}`, a consumer's `{"username"}` or
/// `{"custom_id"}`); each must name an existing entity of the right kind.
fn resolve_refs(
    kind: Kind,
    data: &mut Map<String, Value>,
    records: &HashMap<Uuid, Record>,
) -> Result<(), ApiError> {
    let mut problems = Vec::new();
    for (field, target) in kind.references() {
        let Some(v) = data.get(*field).cloned() else {
            continue;
        };
        if v.is_null() {
            continue;
        }
        let by_name = |key: &str, value: &str| {
            records
                .values()
                .find(|r| {
                    r.kind == *target && r.data.get(key).and_then(Value::as_str) == Some(value)
                })
                .map(|r| r.id)
        };
        let found = match &v {
            Value::String(s) => Uuid::parse_str(s).ok(),
            Value::Object(o) => match (
                o.get("id"),
                o.get("name"),
                o.get("username"),
                o.get("custom_id"),
            ) {
                (Some(Value::String(s)), ..) => Uuid::parse_str(s).ok(),
                (None, Some(Value::String(n)), ..) => by_name("name", n),
                (None, None, Some(Value::String(n)), _) => by_name("username", n),
                (None, None, None, Some(Value::String(n))) => by_name("custom_id", n),
                _ => None,
            },
            _ => None,
        };
        match found.filter(|id| records.get(id).is_some_and(|r| r.kind == *target)) {
            Some(id) => {
                data.insert((*field).into(), serde_json::json!({ "id": id.to_string() }));
            }
            None => problems.push(Problem {
                code: Code::Validation,
                message: format!(
                    "the foreign key '{v}' does not reference an existing '{}' entity",
                    target.key()
                ),
                field: Some(format!("input.data.{field}")),
            }),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError(problems))
    }
}

/// Kong refuses a CA certificate that has expired when it is written (a stored
/// one that expires later stays, and fails upstream verification then).
fn expired_cas(
    plan: &Plan,
    records: &HashMap<Uuid, Record>,
    paths: &HashMap<Uuid, String>,
    focus: Option<(Uuid, &'static str)>,
) -> Result<(), ApiError> {
    let now = graphql_schema::tls::now_unix();
    let mut problems = Vec::new();
    for it in plan.creates.iter().chain(&plan.updates) {
        let Some(r) = records
            .get(&it.id)
            .filter(|r| r.kind == Kind::CaCertificate)
        else {
            continue;
        };
        let der = r
            .data
            .get("cert")
            .and_then(Value::as_str)
            .and_then(|c| graphql_schema::tls::parse_certs(c).ok())
            .and_then(|c| c.into_iter().next());
        if let Some(m) = der.and_then(|d| graphql_schema::tls::expired(d.as_ref(), now)) {
            let field = match focus {
                Some((id, prefix)) if id == r.id => format!("{prefix}.cert"),
                _ => format!("{}.cert", paths.get(&r.id).cloned().unwrap_or_default()),
            };
            problems.push(Problem {
                code: Code::Validation,
                message: m,
                field: Some(field),
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError(problems))
    }
}

pub fn check_plane_name(n: &str) -> Result<(), ApiError> {
    if n.is_empty()
        || n.len() > 100
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
    {
        return Err(ApiError::field(
            Code::Validation,
            "input.name",
            "must be 1 to 100 characters of letters, digits, '-', '_', '.', '~'",
        ));
    }
    Ok(())
}

/// Konnect's label rules: at most 50; keys of 1 to 63 letters, digits, `.`,
/// `-` and `_`, starting with a letter or digit and not with a reserved prefix;
/// values strings of 1 to 63 characters.
pub fn check_labels(l: &Value) -> Result<(), ApiError> {
    let Value::Object(m) = l else {
        return Err(ApiError::field(
            Code::Validation,
            "input.labels",
            "expected an object of string values",
        ));
    };
    if m.len() > 50 {
        return Err(ApiError::field(
            Code::Validation,
            "input.labels",
            "at most 50 labels",
        ));
    }
    let mut problems = Vec::new();
    let mut bad = |field: String, message: &str| {
        problems.push(Problem {
            code: Code::Validation,
            message: message.to_string(),
            field: Some(field),
        })
    };
    for (k, v) in m {
        let key_ok = (1..=63).contains(&k.len())
            && k.starts_with(|c: char| c.is_ascii_alphanumeric())
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        let reserved = ["kong", "konnect", "mesh", "kic", "insomnia"]
            .iter()
            .any(|p| k.to_ascii_lowercase().starts_with(p));
        if !key_ok {
            bad(
                format!("input.labels.{}", k.escape_debug()),
                "a label key is 1 to 63 letters, digits, '.', '-' or '_', starting with a letter or digit",
            );
        } else if reserved {
            bad(
                format!("input.labels.{k}"),
                "label keys must not start with kong, konnect, mesh, kic or insomnia",
            );
        }
        match v.as_str() {
            Some(s)
                if (1..=63).contains(&s.chars().count()) && !s.chars().any(char::is_control) => {}
            Some(_) => bad(
                format!("input.labels.{}", k.escape_debug()),
                "a label value is 1 to 63 characters",
            ),
            None => bad(
                format!("input.labels.{}", k.escape_debug()),
                "expected a string",
            ),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError(problems))
    }
}

/// A free text field (descriptions): at most `max` characters.
pub fn check_text(field: &str, v: &Option<String>, max: usize) -> Result<(), ApiError> {
    match v {
        Some(s) if s.chars().count() > max => Err(ApiError::field(
            Code::Validation,
            field,
            format!("at most {max} characters"),
        )),
        _ => Ok(()),
    }
}

/// The supervisor: starts plane actors and restarts the ones that fail.
pub struct Planes;

pub enum SupMsg {
    Start(Uuid, RpcReplyPort<Result<(), String>>),
    Stop(Uuid, RpcReplyPort<()>),
}

pub struct SupState {
    shared: Arc<Shared>,
    by_actor: HashMap<ractor::ActorId, Uuid>,
}

impl Planes {
    async fn spawn(me: &ActorCell, st: &mut SupState, id: Uuid) -> Result<(), String> {
        let (a, _) = Actor::spawn_linked(None, ControlPlane, (st.shared.clone(), id), me.clone())
            .await
            .map_err(|e| e.to_string())?;
        st.by_actor.insert(a.get_id(), id);
        if let Ok(mut m) = st.shared.actors.write() {
            m.insert(id, a);
        }
        Ok(())
    }
}

impl Actor for Planes {
    type Msg = SupMsg;
    type State = SupState;
    type Arguments = Arc<Shared>;

    async fn pre_start(
        &self,
        me: ActorRef<SupMsg>,
        shared: Arc<Shared>,
    ) -> Result<SupState, ActorProcessingErr> {
        let mut st = SupState {
            shared: shared.clone(),
            by_actor: HashMap::new(),
        };
        for cp in store::control_planes(&shared.db).await? {
            let id = Uuid::parse_str(&cp.id)?;
            Planes::spawn(&me.get_cell(), &mut st, id).await?;
        }
        Ok(st)
    }

    async fn handle(
        &self,
        me: ActorRef<SupMsg>,
        msg: SupMsg,
        st: &mut SupState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupMsg::Start(id, reply) => {
                let r = Planes::spawn(&me.get_cell(), st, id).await;
                let _ = reply.send(r);
            }
            SupMsg::Stop(id, reply) => {
                let a = st
                    .shared
                    .actors
                    .write()
                    .ok()
                    .and_then(|mut m| m.remove(&id));
                if let Some(a) = a {
                    st.by_actor.remove(&a.get_id());
                    a.stop(None);
                }
                if let Ok(mut m) = st.shared.views.write() {
                    m.remove(&id);
                }
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<SupMsg>,
        ev: SupervisionEvent,
        st: &mut SupState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, err) = ev
            && let Some(id) = st.by_actor.remove(&cell.get_id())
        {
            tracing::warn!("control plane {id} actor failed ({err}); restarting from the database");
            st.shared.metrics.restart();
            if let Err(e) = Planes::spawn(&me.get_cell(), st, id).await {
                tracing::error!("control plane {id} could not restart: {e}");
            }
        }
        Ok(())
    }
}
