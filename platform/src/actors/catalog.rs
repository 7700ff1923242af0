//! The catalog actor: the one writer of the API catalog and the portals' content
//! (APIs, versions, documents, implementations, publications, portals, pages,
//! snippets, developer teams). A change is computed by a domain function against
//! the actor's snapshot, committed with the catalog's version in one
//! transaction (another replica committing first makes it reload and compute the
//! change again), published to subscribers (`catalogChanges`), and announced to
//! the other replicas. The `CatalogSupervisor` restarts it from the database.

use std::sync::{Arc, RwLock};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use sea_orm::DatabaseConnection;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::ask;
use crate::catalog::model::{CatalogKind, Data, Entry};
use crate::catalog::{Catalog, CatalogCommit, Change};
use crate::error::Error;
use crate::store::{Notice, StoreError, catalog as rows};

/// A change to compute against the current snapshot (called again after a
/// version conflict).
pub type Compute = Box<dyn Fn(&Catalog) -> Result<Change, Error> + Send + Sync>;

/// What a commit produced.
#[derive(Debug)]
pub struct Committed {
    pub version: i64,
    /// The record the change was about (a create's new id).
    pub subject: Option<Uuid>,
    pub catalog: Arc<Catalog>,
}

pub enum CatalogMsg {
    Mutate(Compute, RpcReplyPort<Result<Committed, Error>>),
    /// Another replica committed: reload.
    Refresh,
}

/// What readers share with the actor: the snapshot and the commit broadcast.
pub struct Shared {
    view: RwLock<Arc<Catalog>>,
    hub: broadcast::Sender<Arc<CatalogCommit>>,
}

/// The handle readers and writers use.
#[derive(Clone)]
pub struct CatalogHandle {
    sup: ActorRef<SupervisorMsg>,
    shared: Arc<Shared>,
}

impl CatalogHandle {
    pub async fn start(db: DatabaseConnection) -> anyhow::Result<CatalogHandle> {
        let first = load(&db).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let shared = Arc::new(Shared {
            view: RwLock::new(Arc::new(first)),
            hub: broadcast::channel(1024).0,
        });
        let (sup, _) = Actor::spawn(None, CatalogSupervisor, (db, shared.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the catalog: {e}"))?;
        Ok(CatalogHandle { sup, shared })
    }

    /// The current snapshot.
    pub fn view(&self) -> Arc<Catalog> {
        self.shared
            .view
            .read()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// Commits from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CatalogCommit>> {
        self.shared.hub.subscribe()
    }

    /// A change through the catalog actor.
    pub async fn mutate(
        &self,
        compute: impl Fn(&Catalog) -> Result<Change, Error> + Send + Sync + 'static,
    ) -> Result<Committed, Error> {
        let a = ask(&self.sup, SupervisorMsg::Actor, "the catalog supervisor").await??;
        ask(
            &a,
            |r| CatalogMsg::Mutate(Box::new(compute), r),
            "the catalog",
        )
        .await?
    }

    /// Another replica committed.
    pub async fn refresh(&self) {
        if let Ok(Ok(a)) = ask(&self.sup, SupervisorMsg::Actor, "the catalog supervisor").await {
            let _ = a.cast(CatalogMsg::Refresh);
        }
    }

    pub fn stop(&self) {
        self.sup.stop(None);
    }
}

/// The catalog as stored.
pub async fn load(db: &DatabaseConnection) -> Result<Catalog, Error> {
    let version = rows::catalog_version(db).await?;
    let mut cat = Catalog {
        version,
        ..Catalog::default()
    };
    for r in rows::catalog_objects(db).await? {
        let (Some(kind), Ok(id)) = (CatalogKind::parse(&r.kind), Uuid::parse_str(&r.id)) else {
            return Err(Error::internal(format!(
                "catalog record {} is unreadable",
                r.id
            )));
        };
        let data = Data::read(kind, &r.data)
            .map_err(|e| Error::internal(format!("catalog record {}: {e}", r.id)))?;
        cat.next_seq = cat.next_seq.max(r.seq + 1);
        cat.entries.insert(
            id,
            Entry {
                id,
                data,
                seq: r.seq,
                created_at: r.created_at,
                updated_at: r.updated_at,
            },
        );
    }
    Ok(cat)
}

pub struct CatalogActor;

pub struct CatalogState {
    db: DatabaseConnection,
    shared: Arc<Shared>,
}

impl CatalogState {
    fn current(&self) -> Arc<Catalog> {
        self.shared
            .view
            .read()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    fn set(&self, next: Arc<Catalog>) {
        if let Ok(mut v) = self.shared.view.write() {
            *v = next;
        }
    }

    async fn reload(&self) -> Result<(), Error> {
        let before = self.current();
        let after = Arc::new(load(&self.db).await?);
        if after.version != before.version {
            self.set(after.clone());
            // readers on this replica learn of the other replica's commit
            let _ = self.shared.hub.send(Arc::new(CatalogCommit {
                events: reload_events(&before, &after),
                before,
                after,
            }));
        }
        Ok(())
    }

    async fn mutate(&self, compute: &Compute) -> Result<Committed, Error> {
        for _ in 0..5 {
            let cat = self.current();
            let change = compute(&cat)?;
            if change.is_empty() {
                return Ok(Committed {
                    version: cat.version,
                    subject: change.subject,
                    catalog: cat,
                });
            }
            let version = cat.version + 1;
            let write = rows::CatalogWrite {
                version,
                upserts: change
                    .upserts
                    .iter()
                    .map(|e| {
                        (
                            rows::catalog_object::Model {
                                id: e.id.to_string(),
                                kind: e.kind().as_str().into(),
                                data: serde_json::to_string(&e.data).unwrap_or_default(),
                                seq: e.seq,
                                created_at: e.created_at,
                                updated_at: e.updated_at,
                            },
                            cat.entries.contains_key(&e.id),
                        )
                    })
                    .collect(),
                deletes: change.deletes.iter().map(Uuid::to_string).collect(),
                contents: change
                    .contents
                    .iter()
                    .map(|(id, c)| (id.to_string(), c.clone()))
                    .collect(),
            };
            let notice = Notice::Catalog { version }.payload();
            match rows::commit_catalog(&self.db, write, &notice).await {
                Ok(()) => {
                    let after = Arc::new(change.applied(&cat, version));
                    self.set(after.clone());
                    // teams deleted with the change take their memberships along
                    let gone_teams: Vec<String> = change
                        .deletes
                        .iter()
                        .filter(|id| cat.kind_of(**id) == Some(CatalogKind::DeveloperTeam))
                        .map(Uuid::to_string)
                        .collect();
                    rows::remove_team_memberships(&self.db, &gone_teams).await?;
                    let _ = self.shared.hub.send(Arc::new(CatalogCommit {
                        before: cat,
                        after: after.clone(),
                        events: change.events.clone(),
                    }));
                    return Ok(Committed {
                        version,
                        subject: change.subject,
                        catalog: after,
                    });
                }
                Err(StoreError::VersionConflict { .. }) => self.reload().await?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable(
            "the catalog kept changing underneath; retry".into(),
        ))
    }
}

/// What changed between two snapshots, as events (after a reload).
fn reload_events(before: &Catalog, after: &Catalog) -> Vec<crate::catalog::CatalogEvent> {
    use crate::catalog::CatalogEvent as E;
    let mut out = Vec::new();
    let ids: std::collections::HashSet<Uuid> = before
        .entries
        .keys()
        .chain(after.entries.keys())
        .copied()
        .collect();
    for id in ids {
        let (b, a) = (before.entries.get(&id), after.entries.get(&id));
        if b.map(|e| (&e.data, e.updated_at)) == a.map(|e| (&e.data, e.updated_at)) {
            continue;
        }
        let data = a.or(b).map(|e| &e.data);
        let ev = match data {
            Some(Data::ApiPublication(p)) => {
                out.push(E::ApiUnpublished {
                    api: p.api_id,
                    portal: p.portal_id,
                });
                E::ApiPublished {
                    api: p.api_id,
                    portal: p.portal_id,
                }
            }
            Some(Data::PortalPage(p)) => E::PageChanged {
                portal: p.portal_id,
                page: id,
            },
            Some(Data::PortalSnippet(p)) => E::PageChanged {
                portal: p.portal_id,
                page: id,
            },
            Some(Data::Portal(_)) => E::PortalChanged { portal: id },
            Some(Data::Api(_)) => E::ApiChanged { api: id },
            Some(Data::ApiVersion(v)) => E::ApiChanged { api: v.api_id },
            Some(Data::ApiDocument(d)) => E::ApiChanged { api: d.api_id },
            Some(Data::ApiImplementation(i)) => E::ApiChanged { api: i.api_id },
            Some(Data::DeveloperTeam(t)) => E::PortalChanged {
                portal: t.portal_id,
            },
            Some(Data::DeveloperTeamRole(r)) => E::PortalChanged {
                portal: r.portal_id,
            },
            Some(Data::ApiPlan(p)) => E::ApiChanged { api: p.api_id },
            Some(Data::Application(a)) => E::ApplicationChanged {
                portal: a.portal_id,
                application: id,
            },
            Some(Data::ApplicationRegistration(r)) => E::ApplicationChanged {
                portal: r.portal_id,
                application: r.application_id,
            },
            Some(Data::ApplicationCredential(c)) => E::ApplicationChanged {
                portal: c.portal_id,
                application: c.application_id,
            },
            Some(Data::PortalWebhook(_)) | None => continue,
        };
        if !out.contains(&ev) {
            out.push(ev);
        }
    }
    out
}

impl Actor for CatalogActor {
    type Msg = CatalogMsg;
    type State = CatalogState;
    type Arguments = (DatabaseConnection, Arc<Shared>);

    async fn pre_start(
        &self,
        _me: ActorRef<CatalogMsg>,
        (db, shared): (DatabaseConnection, Arc<Shared>),
    ) -> Result<CatalogState, ActorProcessingErr> {
        let st = CatalogState { db, shared };
        // a restarted actor starts from the database
        st.reload().await.map_err(|e| format!("{e}"))?;
        Ok(st)
    }

    async fn handle(
        &self,
        _me: ActorRef<CatalogMsg>,
        msg: CatalogMsg,
        st: &mut CatalogState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CatalogMsg::Mutate(compute, reply) => {
                let _ = reply.send(st.mutate(&compute).await);
            }
            CatalogMsg::Refresh => {
                if let Err(e) = st.reload().await {
                    tracing::error!("reloading the catalog: {e}");
                }
            }
        }
        Ok(())
    }
}

pub enum SupervisorMsg {
    Actor(RpcReplyPort<Result<ActorRef<CatalogMsg>, Error>>),
}

pub struct CatalogSupervisor;

pub struct SupervisorState {
    db: DatabaseConnection,
    shared: Arc<Shared>,
    actor: Option<ActorRef<CatalogMsg>>,
}

impl Actor for CatalogSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = (DatabaseConnection, Arc<Shared>);

    async fn pre_start(
        &self,
        _me: ActorRef<SupervisorMsg>,
        (db, shared): (DatabaseConnection, Arc<Shared>),
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState {
            db,
            shared,
            actor: None,
        })
    }

    async fn handle(
        &self,
        me: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Actor(reply) => {
                let r = match &st.actor {
                    Some(a) => Ok(a.clone()),
                    None => spawn(&me.get_cell(), st).await,
                };
                let _ = reply.send(r);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _me: ActorRef<SupervisorMsg>,
        ev: SupervisionEvent,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        // a failed catalog actor starts again (from the database) on the next call
        if let SupervisionEvent::ActorTerminated(..) | SupervisionEvent::ActorFailed(..) = ev {
            st.actor = None;
        }
        Ok(())
    }
}

async fn spawn(me: &ActorCell, st: &mut SupervisorState) -> Result<ActorRef<CatalogMsg>, Error> {
    let (a, _) = Actor::spawn_linked(
        None,
        CatalogActor,
        (st.db.clone(), st.shared.clone()),
        me.clone(),
    )
    .await
    .map_err(|e| Error::internal(format!("the catalog actor did not start: {e}")))?;
    st.actor = Some(a.clone());
    Ok(a)
}
