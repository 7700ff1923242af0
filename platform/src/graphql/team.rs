//! Teams with their roles and members (Konnect's predefined teams and your own),
//! each change through the team's actor.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use uuid::Uuid;

use super::error::{Gql, gql};
use super::guard::{check, parse_id, state};
use crate::actors::team::TeamMsg;
use crate::auth::identity::{self as id, TeamRecord};
use crate::error::{Error, Field};
use crate::state::AppState;

#[derive(SimpleObject, Clone)]
pub struct TeamRole {
    pub id: ID,
    pub resource_type: String,
    pub role: String,
    /// A resource id, or `*` for all of the type.
    pub scope: String,
}

#[derive(SimpleObject, Clone)]
pub struct Team {
    pub id: ID,
    pub name: String,
    pub description: Option<String>,
    pub predefined: bool,
    pub roles: Vec<TeamRole>,
    /// `user:<id>` / `sa:<id>`.
    pub members: Vec<String>,
}

async fn team_out(st: &AppState, t: TeamRecord) -> Result<Team, Error> {
    let v = id::team_view(&st.db, t).await?;
    Ok(Team {
        id: ID(v.team.id),
        name: v.team.name,
        description: v.team.description,
        predefined: v.team.predefined,
        roles: v
            .roles
            .into_iter()
            .map(|r| TeamRole {
                id: ID(r.id),
                resource_type: r.resource_type,
                role: r.role,
                scope: r.scope,
            })
            .collect(),
        members: v.members,
    })
}

#[derive(Default)]
pub struct TeamQuery;

#[Object]
impl TeamQuery {
    async fn teams(&self, ctx: &Context<'_>) -> Result<Vec<Team>> {
        check(ctx, "organization", "read").await?;
        let st = state(ctx);
        let mut out = Vec::new();
        for t in id::teams(&st.db, 1000).await.gql()? {
            out.push(team_out(st, t).await.gql()?);
        }
        Ok(out)
    }
}

#[derive(InputObject)]
pub struct CreateTeamInput {
    pub name: String,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct TeamRoleInput {
    pub team_id: ID,
    /// `control-planes`, `organization`, `portals`, `analytics`, `api-products`.
    pub resource_type: String,
    pub role: String,
    /// A resource id, or `*` for all of the type.
    pub scope: String,
}

#[derive(InputObject)]
pub struct TeamMemberInput {
    pub team_id: ID,
    pub user_id: Option<ID>,
    pub system_account_id: Option<ID>,
}

fn member_of(i: &TeamMemberInput) -> Result<String> {
    match (&i.user_id, &i.system_account_id) {
        (Some(u), None) => Ok(format!("user:{}", parse_id(u, "input.userId")?)),
        (None, Some(s)) => Ok(format!("sa:{}", parse_id(s, "input.systemAccountId")?)),
        _ => Err(gql(Error::invalid(
            Field::Input(String::new()),
            "give exactly one of userId and systemAccountId",
        ))),
    }
}

#[derive(Default)]
pub struct TeamMutation;

#[Object]
impl TeamMutation {
    async fn create_team(&self, ctx: &Context<'_>, input: CreateTeamInput) -> Result<Team> {
        check(ctx, "organization", "teams.manage").await?;
        let st = state(ctx);
        let m = id::create_team(&st.db, input.name, input.description)
            .await
            .gql()?;
        team_out(st, m).await.gql()
    }

    /// Deletes a team with its roles and memberships, through its actor.
    async fn delete_team(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        check(ctx, "organization", "teams.manage").await?;
        let st = state(ctx);
        let id = parse_id(&id, "id")?;
        id::team(&st.db, id).await.gql()?;
        st.teams.call(id, TeamMsg::Delete).await.gql()?;
        Ok(true)
    }

    async fn assign_team_role(&self, ctx: &Context<'_>, input: TeamRoleInput) -> Result<Team> {
        check(ctx, "organization", "teams.manage").await?;
        let st = state(ctx);
        let tid = parse_id(&input.team_id, "input.teamId")?;
        let t = id::team(&st.db, tid).await.gql()?;
        let a = policies::Assignment {
            resource_type: input.resource_type,
            role: input.role,
            scope: input.scope,
        };
        st.teams
            .call(tid, |r| TeamMsg::AssignRole(a, r))
            .await
            .gql()?;
        team_out(st, t).await.gql()
    }

    async fn remove_team_role(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        check(ctx, "organization", "teams.manage").await?;
        let st = state(ctx);
        let role = id::team_role(&st.db, id.as_str()).await.gql()?;
        let tid = Uuid::parse_str(&role.team_id)
            .map_err(Error::internal)
            .gql()?;
        st.teams
            .call(tid, |r| TeamMsg::RemoveRole(role.id, r))
            .await
            .gql()?;
        Ok(true)
    }

    async fn add_team_member(&self, ctx: &Context<'_>, input: TeamMemberInput) -> Result<Team> {
        membership(ctx, &input, TeamMsg::AddMember).await
    }

    async fn remove_team_member(&self, ctx: &Context<'_>, input: TeamMemberInput) -> Result<Team> {
        membership(ctx, &input, TeamMsg::RemoveMember).await
    }
}

/// Adds a member to a team or removes one, through the team's actor.
async fn membership(
    ctx: &Context<'_>,
    input: &TeamMemberInput,
    msg: fn(String, ractor::RpcReplyPort<Result<(), Error>>) -> TeamMsg,
) -> Result<Team> {
    check(ctx, "organization", "teams.manage").await?;
    let st = state(ctx);
    let tid = parse_id(&input.team_id, "input.teamId")?;
    let t = id::team(&st.db, tid).await.gql()?;
    let m = member_of(input)?;
    st.teams.call(tid, |r| msg(m, r)).await.gql()?;
    team_out(st, t).await.gql()
}
