//! Teams with their roles and members (Konnect's predefined teams and your own),
//! each change through the team's actor.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use uuid::Uuid;

use super::error::{Gql, gql};
use super::guard::{check, parse_id, state};
use crate::actors::team::TeamMsg;
use crate::error::{Error, Field};
use crate::state::AppState;
use crate::store::identity as rows;

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

async fn team_out(st: &AppState, t: rows::team::Model) -> Result<Team, Error> {
    let roles = rows::team_roles(&st.db, &t.id).await?;
    let members = rows::team_members(&st.db, &t.id).await?;
    Ok(Team {
        id: ID(t.id),
        name: t.name,
        description: t.description,
        predefined: t.predefined,
        roles: roles
            .into_iter()
            .map(|r| TeamRole {
                id: ID(r.id),
                resource_type: r.resource_type,
                role: r.role,
                scope: r.scope,
            })
            .collect(),
        members: members.into_iter().map(|m| m.member).collect(),
    })
}

pub async fn team_by_id(st: &AppState, id: Uuid) -> Result<rows::team::Model, Error> {
    rows::team(&st.db, &id.to_string())
        .await?
        .ok_or_else(|| Error::NotFound(format!("team {id}")))
}

/// A name (of a team, system account or token): 1 to 128 characters, none of
/// them control characters.
pub fn name_ok(field: &str, name: &str) -> Result<(), Error> {
    let n = name.chars().count();
    if n == 0 || n > 128 || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            Field::Input(field.to_string()),
            "1 to 128 characters, no control characters",
        ));
    }
    Ok(())
}

#[derive(Default)]
pub struct TeamQuery;

#[Object]
impl TeamQuery {
    async fn teams(&self, ctx: &Context<'_>) -> Result<Vec<Team>> {
        check(ctx, "organization", "read").await?;
        let st = state(ctx);
        let mut out = Vec::new();
        for t in rows::teams(&st.db, 1000).await.map_err(Error::from).gql()? {
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
        name_ok("name", &input.name).gql()?;
        crate::config::rules::check_text("description", &input.description, 1000).gql()?;
        let st = state(ctx);
        let m = rows::team::Model {
            id: Uuid::new_v4().to_string(),
            name: input.name,
            description: input.description,
            predefined: false,
            created_at: crate::store::now_ms(),
        };
        rows::insert_team(&st.db, m.clone())
            .await
            .map_err(|e| {
                Error::taken(
                    e,
                    Field::Input("name".into()),
                    "a team with this name exists",
                )
            })
            .gql()?;
        team_out(st, m).await.gql()
    }

    /// Deletes a team with its roles and memberships, through its actor.
    async fn delete_team(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        check(ctx, "organization", "teams.manage").await?;
        let st = state(ctx);
        let id = parse_id(&id, "id")?;
        team_by_id(st, id).await.gql()?;
        st.teams.call(id, TeamMsg::Delete).await.gql()?;
        Ok(true)
    }

    async fn assign_team_role(&self, ctx: &Context<'_>, input: TeamRoleInput) -> Result<Team> {
        check(ctx, "organization", "teams.manage").await?;
        let st = state(ctx);
        let tid = parse_id(&input.team_id, "input.teamId")?;
        let t = team_by_id(st, tid).await.gql()?;
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
        let role = rows::team_role(&st.db, id.as_str())
            .await
            .map_err(Error::from)
            .gql()?
            .ok_or_else(|| gql(Error::NotFound(format!("team role {}", id.as_str()))))?;
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
    let t = team_by_id(st, tid).await.gql()?;
    let m = member_of(input)?;
    st.teams.call(tid, |r| msg(m, r)).await.gql()?;
    team_out(st, t).await.gql()
}
