//! Team actors: one per team, the only writer of that team's roles, members and
//! existence. Each change is written to the database, then applied to the casbin
//! authorizer incrementally (the team's policies, or the member's team list),
//! and announced (open subscriptions re-check; other replicas reload). The
//! `Teams` supervisor starts a team's actor on its first change.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::ask;
use crate::auth::Access;
use crate::error::{Error, Field};
use crate::store::identity as rows;

pub enum TeamMsg {
    AssignRole(policies::Assignment, RpcReplyPort<Result<(), Error>>),
    RemoveRole(String, RpcReplyPort<Result<(), Error>>),
    AddMember(String, RpcReplyPort<Result<(), Error>>),
    RemoveMember(String, RpcReplyPort<Result<(), Error>>),
    /// Deletes the team with its roles and memberships; the actor stops.
    Delete(RpcReplyPort<Result<(), Error>>),
}

/// What team actors work with.
pub struct TeamDeps {
    pub db: DatabaseConnection,
    pub access: Arc<Access>,
}

pub struct Team;

pub struct TeamState {
    deps: Arc<TeamDeps>,
    id: Uuid,
}

impl TeamState {
    fn subject(&self) -> String {
        format!("team:{}", self.id)
    }

    /// The team's roles as stored, into the authorizer.
    async fn sync_roles(&self) -> Result<(), Error> {
        let roles: Vec<policies::Assignment> =
            rows::team_roles(&self.deps.db, &self.id.to_string())
                .await?
                .into_iter()
                .map(|r| policies::Assignment {
                    resource_type: r.resource_type,
                    role: r.role,
                    scope: r.scope,
                })
                .collect();
        self.deps.access.set_team(&self.subject(), &roles).await
    }

    /// A member's teams as stored, into the authorizer.
    async fn sync_member(&self, member: &str) -> Result<(), Error> {
        let teams: Vec<String> = rows::member_teams(&self.deps.db, member)
            .await?
            .into_iter()
            .map(|t| format!("team:{t}"))
            .collect();
        self.deps.access.set_member(member, &teams).await
    }

    async fn assign_role(&self, a: policies::Assignment) -> Result<(), Error> {
        policies::check(&a).map_err(|m| Error::invalid(Field::Input(String::new()), m))?;
        rows::insert_team_role(
            &self.deps.db,
            rows::team_role::Model {
                id: Uuid::new_v4().to_string(),
                team_id: self.id.to_string(),
                resource_type: a.resource_type,
                role: a.role,
                scope: a.scope,
            },
        )
        .await?;
        self.sync_roles().await
    }

    async fn remove_role(&self, role_id: String) -> Result<(), Error> {
        rows::delete_team_role(&self.deps.db, &self.id.to_string(), &role_id).await?;
        self.sync_roles().await
    }

    async fn add_member(&self, member: String) -> Result<(), Error> {
        rows::add_team_member(&self.deps.db, &self.id.to_string(), &member).await?;
        self.sync_member(&member).await
    }

    async fn remove_member(&self, member: String) -> Result<(), Error> {
        rows::remove_team_member(&self.deps.db, &self.id.to_string(), &member).await?;
        self.sync_member(&member).await
    }

    async fn delete(&self) -> Result<(), Error> {
        let id = self.id.to_string();
        let t = rows::team(&self.deps.db, &id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("team {id}")))?;
        if t.predefined {
            return Err(Error::Conflict {
                field: Field::None,
                message: "predefined teams cannot be deleted".into(),
            });
        }
        let members = rows::team_members(&self.deps.db, &id).await?;
        rows::delete_team(&self.deps.db, &id).await?;
        self.deps.access.remove_team(&self.subject()).await?;
        for m in members {
            self.sync_member(&m.member).await?;
        }
        Ok(())
    }
}

impl Actor for Team {
    type Msg = TeamMsg;
    type State = TeamState;
    type Arguments = (Arc<TeamDeps>, Uuid);

    async fn pre_start(
        &self,
        _me: ActorRef<TeamMsg>,
        (deps, id): (Arc<TeamDeps>, Uuid),
    ) -> Result<TeamState, ActorProcessingErr> {
        Ok(TeamState { deps, id })
    }

    async fn handle(
        &self,
        me: ActorRef<TeamMsg>,
        msg: TeamMsg,
        st: &mut TeamState,
    ) -> Result<(), ActorProcessingErr> {
        let (r, reply, stop) = match msg {
            TeamMsg::AssignRole(a, reply) => (st.assign_role(a).await, reply, false),
            TeamMsg::RemoveRole(id, reply) => (st.remove_role(id).await, reply, false),
            TeamMsg::AddMember(m, reply) => (st.add_member(m).await, reply, false),
            TeamMsg::RemoveMember(m, reply) => (st.remove_member(m).await, reply, false),
            TeamMsg::Delete(reply) => {
                let r = st.delete().await;
                let ok = r.is_ok();
                (r, reply, ok)
            }
        };
        st.deps.access.changed_everywhere(&st.deps.db).await;
        let _ = reply.send(r);
        if stop {
            me.stop(None);
        }
        Ok(())
    }
}

/// The team actors' supervisor and its handle.
#[derive(Clone)]
pub struct Teams {
    sup: ActorRef<TeamsMsg>,
}

pub enum TeamsMsg {
    /// The actor of a team (started if need be).
    Actor(Uuid, RpcReplyPort<Result<ActorRef<TeamMsg>, Error>>),
}

pub struct TeamsSupervisor;

pub struct TeamsState {
    deps: Arc<TeamDeps>,
    actors: HashMap<Uuid, ActorRef<TeamMsg>>,
}

impl Teams {
    pub async fn start(deps: TeamDeps) -> anyhow::Result<Teams> {
        let (sup, _) = Actor::spawn(None, TeamsSupervisor, Arc::new(deps))
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the team supervisor: {e}"))?;
        Ok(Teams { sup })
    }

    /// Sends a message to a team's actor and waits for the outcome.
    pub async fn call(
        &self,
        team: Uuid,
        msg: impl FnOnce(RpcReplyPort<Result<(), Error>>) -> TeamMsg,
    ) -> Result<(), Error> {
        let a = ask(
            &self.sup,
            |r| TeamsMsg::Actor(team, r),
            "the team supervisor",
        )
        .await??;
        ask(&a, msg, "the team").await?
    }

    pub fn stop(&self) {
        self.sup.stop(None);
    }
}

impl TeamsSupervisor {
    async fn spawn(
        me: &ActorCell,
        st: &mut TeamsState,
        id: Uuid,
    ) -> Result<ActorRef<TeamMsg>, Error> {
        let (a, _) = Actor::spawn_linked(None, Team, (st.deps.clone(), id), me.clone())
            .await
            .map_err(|e| Error::internal(format!("team {id} actor did not start: {e}")))?;
        st.actors.insert(id, a.clone());
        Ok(a)
    }
}

impl Actor for TeamsSupervisor {
    type Msg = TeamsMsg;
    type State = TeamsState;
    type Arguments = Arc<TeamDeps>;

    async fn pre_start(
        &self,
        _me: ActorRef<TeamsMsg>,
        deps: Arc<TeamDeps>,
    ) -> Result<TeamsState, ActorProcessingErr> {
        Ok(TeamsState {
            deps,
            actors: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        me: ActorRef<TeamsMsg>,
        msg: TeamsMsg,
        st: &mut TeamsState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            TeamsMsg::Actor(id, reply) => {
                let r = match st.actors.get(&id) {
                    Some(a) => Ok(a.clone()),
                    None => TeamsSupervisor::spawn(&me.get_cell(), st, id).await,
                };
                let _ = reply.send(r);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _me: ActorRef<TeamsMsg>,
        ev: SupervisionEvent,
        st: &mut TeamsState,
    ) -> Result<(), ActorProcessingErr> {
        // a team actor that stopped (deleted) or failed is started again on the
        // team's next change; its state lives in the database
        match ev {
            SupervisionEvent::ActorTerminated(cell, ..)
            | SupervisionEvent::ActorFailed(cell, _) => {
                st.actors.retain(|_, a| a.get_id() != cell.get_id());
            }
            _ => {}
        }
        Ok(())
    }
}
