//! Team actors: one per team, the only writer of that team's roles and members.
//! Each change is written to the database, then applied to the shared casbin
//! authorizer incrementally (the team's policies, or the member's team list), and
//! announced (open subscriptions re-check; other replicas reload).

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::actor::Shared;
use crate::error::{ApiError, Code};
use crate::store::{team_member, team_role};

pub enum TeamMsg {
    AssignRole(policies::Assignment, RpcReplyPort<Result<(), ApiError>>),
    RemoveRole(String, RpcReplyPort<Result<(), ApiError>>),
    AddMember(String, RpcReplyPort<Result<(), ApiError>>),
    RemoveMember(String, RpcReplyPort<Result<(), ApiError>>),
}

pub struct TeamActor;

pub struct TeamState {
    shared: Arc<Shared>,
    id: Uuid,
}

impl TeamState {
    fn subject(&self) -> String {
        format!("team:{}", self.id)
    }

    /// The team's roles as stored, into the authorizer.
    async fn sync_roles(&self) -> Result<(), ApiError> {
        let roles: Vec<policies::Assignment> = team_role::Entity::find()
            .filter(team_role::Column::TeamId.eq(self.id.to_string()))
            .all(&self.shared.db)
            .await
            .map_err(ApiError::internal)?
            .into_iter()
            .map(|r| policies::Assignment {
                resource_type: r.resource_type,
                role: r.role,
                scope: r.scope,
            })
            .collect();
        self.shared
            .access
            .authz
            .write()
            .await
            .set_team(&self.subject(), &roles)
            .await
            .map_err(ApiError::internal)
    }

    /// A member's teams as stored, into the authorizer.
    async fn sync_member(&self, member: &str) -> Result<(), ApiError> {
        let teams: Vec<String> = team_member::Entity::find()
            .filter(team_member::Column::Member.eq(member))
            .all(&self.shared.db)
            .await
            .map_err(ApiError::internal)?
            .into_iter()
            .map(|m| format!("team:{}", m.team_id))
            .collect();
        self.shared
            .access
            .authz
            .write()
            .await
            .set_member(member, &teams)
            .await
            .map_err(ApiError::internal)
    }

    async fn announce(&self) {
        crate::auth::changed_everywhere(&self.shared).await;
    }

    async fn handle(&mut self, msg: TeamMsg) {
        let (r, reply) = match msg {
            TeamMsg::AssignRole(a, reply) => (self.assign_role(a).await, reply),
            TeamMsg::RemoveRole(id, reply) => (self.remove_role(id).await, reply),
            TeamMsg::AddMember(m, reply) => (self.add_member(m).await, reply),
            TeamMsg::RemoveMember(m, reply) => (self.remove_member(m).await, reply),
        };
        self.announce().await;
        let _ = reply.send(r);
    }

    async fn assign_role(&self, a: policies::Assignment) -> Result<(), ApiError> {
        policies::check(&a).map_err(|m| ApiError::field(Code::Validation, "input", m))?;
        team_role::ActiveModel {
            id: Set(Uuid::new_v4().to_string()),
            team_id: Set(self.id.to_string()),
            resource_type: Set(a.resource_type),
            role: Set(a.role),
            scope: Set(a.scope),
        }
        .insert(&self.shared.db)
        .await
        .map_err(ApiError::internal)?;
        self.sync_roles().await
    }

    async fn remove_role(&self, role_id: String) -> Result<(), ApiError> {
        team_role::Entity::delete_many()
            .filter(team_role::Column::Id.eq(role_id))
            .filter(team_role::Column::TeamId.eq(self.id.to_string()))
            .exec(&self.shared.db)
            .await
            .map_err(ApiError::internal)?;
        self.sync_roles().await
    }

    async fn add_member(&self, member: String) -> Result<(), ApiError> {
        let db = &self.shared.db;
        let exists = team_member::Entity::find()
            .filter(team_member::Column::TeamId.eq(self.id.to_string()))
            .filter(team_member::Column::Member.eq(member.clone()))
            .one(db)
            .await
            .map_err(ApiError::internal)?
            .is_some();
        if !exists {
            team_member::ActiveModel {
                team_id: Set(self.id.to_string()),
                member: Set(member.clone()),
            }
            .insert(db)
            .await
            .map_err(ApiError::internal)?;
        }
        self.sync_member(&member).await
    }

    async fn remove_member(&self, member: String) -> Result<(), ApiError> {
        team_member::Entity::delete_many()
            .filter(team_member::Column::TeamId.eq(self.id.to_string()))
            .filter(team_member::Column::Member.eq(member.clone()))
            .exec(&self.shared.db)
            .await
            .map_err(ApiError::internal)?;
        self.sync_member(&member).await
    }
}

impl Actor for TeamActor {
    type Msg = TeamMsg;
    type State = TeamState;
    type Arguments = (Arc<Shared>, Uuid);

    async fn pre_start(
        &self,
        _me: ActorRef<TeamMsg>,
        (shared, id): (Arc<Shared>, Uuid),
    ) -> Result<TeamState, ActorProcessingErr> {
        Ok(TeamState { shared, id })
    }

    async fn handle(
        &self,
        _me: ActorRef<TeamMsg>,
        msg: TeamMsg,
        st: &mut TeamState,
    ) -> Result<(), ActorProcessingErr> {
        st.handle(msg).await;
        Ok(())
    }
}

/// The team actors, started on demand (a team's first change) and kept.
#[derive(Default)]
pub struct Teams {
    actors: tokio::sync::Mutex<HashMap<Uuid, ActorRef<TeamMsg>>>,
}

impl Teams {
    async fn actor(&self, shared: &Arc<Shared>, team: Uuid) -> Result<ActorRef<TeamMsg>, ApiError> {
        let mut m = self.actors.lock().await;
        if let Some(a) = m.get(&team) {
            return Ok(a.clone());
        }
        let (a, _) = Actor::spawn(None, TeamActor, (shared.clone(), team))
            .await
            .map_err(ApiError::internal)?;
        m.insert(team, a.clone());
        Ok(a)
    }

    /// Sends a message to a team's actor and waits for the outcome.
    pub async fn call(
        &self,
        shared: &Arc<Shared>,
        team: Uuid,
        msg: impl FnOnce(RpcReplyPort<Result<(), ApiError>>) -> TeamMsg,
    ) -> Result<(), ApiError> {
        let a = self.actor(shared, team).await?;
        match a.call(msg, None).await {
            Ok(ractor::rpc::CallResult::Success(r)) => r,
            other => Err(ApiError::internal(format!("team actor: {other:?}"))),
        }
    }

    /// Stops a deleted team's actor.
    pub async fn stop(&self, team: Uuid) {
        if let Some(a) = self.actors.lock().await.remove(&team) {
            a.stop(None);
        }
    }
}
