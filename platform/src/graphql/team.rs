//! Teams with their roles and members (Konnect's predefined teams and your own),
//! each change through the team's actor.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use uuid::Uuid;

use super::connection::{Page, Paging, connection, page};
use super::error::{Gql, gql};
use super::guard::{check, parse_id, state};
use super::identity::{Member, member};
use crate::actors::team::TeamMsg;
use crate::auth::identity::{self as id, TeamRecord};
use crate::auth::{Action, Resource};
use crate::error::{Error, Field};
use crate::state::AppState;

/// The kinds of resource a role is scoped to.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "policies::ResourceType")]
pub enum ResourceType {
    Organization,
    ControlPlanes,
    Portals,
    Analytics,
    ApiProducts,
}

/// A role's name (each resource type has some of them).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "policies::RoleName")]
pub enum RoleName {
    Admin,
    Viewer,
    Creator,
    Deployer,
    GatewayServiceAdmin,
    PluginAdmin,
    ConsumerAdmin,
    CertificateAdmin,
    Developer,
}

#[derive(SimpleObject, Clone)]
pub struct TeamRole {
    pub id: ID,
    pub resource_type: ResourceType,
    pub role: RoleName,
    /// A resource id, or `*` for all of the type.
    pub scope: String,
}

#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Team {
    pub id: ID,
    pub name: String,
    pub description: Option<String>,
    pub predefined: bool,
    pub roles: Vec<TeamRole>,
    #[graphql(skip)]
    pub member_refs: Vec<String>,
    #[graphql(skip)]
    pub key: (i64, String),
}

connection!(TeamConnection, TeamEdge, Team);
connection!(MemberConnection, MemberEdge, Member);

#[ComplexObject]
impl Team {
    /// Its users and system accounts.
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<MemberConnection> {
        let mut refs = self.member_refs.clone();
        refs.sort();
        let p = page(
            refs,
            |m| m.clone(),
            &Paging::new(first, after, last, before),
        )
        .gql()?;
        super::limits::charge(ctx, p.items.len())?;
        let st = state(ctx);
        let mut items = Vec::with_capacity(p.items.len());
        for (cursor, m) in p.items {
            if let Some(m) = member(st, &m).await.gql()? {
                items.push((cursor, m));
            }
        }
        Ok(Page {
            items,
            info: p.info,
            total: p.total,
        }
        .into())
    }
}

async fn team_out(st: &AppState, t: TeamRecord) -> Result<Team, Error> {
    let v = id::team_view(&st.db, t).await?;
    let mut roles = Vec::new();
    for r in v.roles {
        let (Some(resource_type), Some(role)) = (
            policies::ResourceType::parse(&r.resource_type),
            policies::RoleName::parse(&r.role),
        ) else {
            return Err(Error::internal(format!(
                "team role {} has an unknown type or role",
                r.id
            )));
        };
        roles.push(TeamRole {
            id: ID(r.id),
            resource_type: resource_type.into(),
            role: role.into(),
            scope: r.scope,
        });
    }
    Ok(Team {
        key: (v.team.created_at, v.team.id.clone()),
        id: ID(v.team.id),
        name: v.team.name,
        description: v.team.description,
        predefined: v.team.predefined,
        roles,
        member_refs: v.members,
    })
}

#[derive(Default)]
pub struct TeamQuery;

#[Object]
impl TeamQuery {
    /// Teams, oldest first (the predefined ones first).
    async fn teams(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<TeamConnection> {
        check(ctx, &Resource::Organization, Action::Read).await?;
        let st = state(ctx);
        let mut list = id::teams(&st.db).await.gql()?;
        list.sort_by_key(|t| (t.created_at, t.id.clone()));
        let p = page(
            list,
            |t| (t.created_at, t.id.clone()),
            &Paging::new(first, after, last, before),
        )
        .gql()?;
        super::limits::charge(ctx, p.items.len())?;
        let mut items = Vec::with_capacity(p.items.len());
        for (c, t) in p.items {
            items.push((c, team_out(st, t).await.gql()?));
        }
        Ok(Page {
            items,
            info: p.info,
            total: p.total,
        }
        .into())
    }
}

#[derive(InputObject)]
pub struct CreateTeamInput {
    pub name: String,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct DeleteTeamInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct DeleteTeamPayload {
    pub deleted_team_id: ID,
}

#[derive(InputObject)]
pub struct RemoveTeamRoleInput {
    /// The role assignment's id.
    pub id: ID,
}

#[derive(InputObject)]
pub struct TeamRoleInput {
    pub team_id: ID,
    pub resource_type: ResourceType,
    /// A role of that resource type (`ADMIN`, `VIEWER`; control planes also
    /// `CREATOR`, `DEPLOYER` and the entity admins; API products `DEVELOPER`).
    pub role: RoleName,
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
        check(ctx, &Resource::Organization, Action::TeamsManage).await?;
        let st = state(ctx);
        let m = id::create_team(&st.db, input.name, input.description)
            .await
            .gql()?;
        team_out(st, m).await.gql()
    }

    /// Deletes a team with its roles and memberships, through its actor.
    async fn delete_team(
        &self,
        ctx: &Context<'_>,
        input: DeleteTeamInput,
    ) -> Result<DeleteTeamPayload> {
        check(ctx, &Resource::Organization, Action::TeamsManage).await?;
        let st = state(ctx);
        let id = parse_id(&input.id, "input.id")?;
        id::team(&st.db, id).await.gql()?;
        st.teams.call(id, TeamMsg::Delete).await.gql()?;
        Ok(DeleteTeamPayload {
            deleted_team_id: input.id,
        })
    }

    async fn assign_team_role(&self, ctx: &Context<'_>, input: TeamRoleInput) -> Result<Team> {
        check(ctx, &Resource::Organization, Action::TeamsManage).await?;
        let st = state(ctx);
        let tid = parse_id(&input.team_id, "input.teamId")?;
        let t = id::team(&st.db, tid).await.gql()?;
        let a = policies::Assignment {
            resource_type: policies::ResourceType::from(input.resource_type)
                .as_str()
                .to_string(),
            role: policies::RoleName::from(input.role).as_str().to_string(),
            scope: input.scope,
        };
        st.teams
            .call(tid, |r| TeamMsg::AssignRole(a, r))
            .await
            .gql()?;
        team_out(st, t).await.gql()
    }

    async fn remove_team_role(
        &self,
        ctx: &Context<'_>,
        input: RemoveTeamRoleInput,
    ) -> Result<Team> {
        check(ctx, &Resource::Organization, Action::TeamsManage).await?;
        let st = state(ctx);
        let role = id::team_role(&st.db, input.id.as_str()).await.gql()?;
        let tid = Uuid::parse_str(&role.team_id)
            .map_err(Error::internal)
            .gql()?;
        let t = id::team(&st.db, tid).await.gql()?;
        st.teams
            .call(tid, |r| TeamMsg::RemoveRole(role.id, r))
            .await
            .gql()?;
        team_out(st, t).await.gql()
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
    check(ctx, &Resource::Organization, Action::TeamsManage).await?;
    let st = state(ctx);
    let tid = parse_id(&input.team_id, "input.teamId")?;
    let t = id::team(&st.db, tid).await.gql()?;
    let m = member_of(input)?;
    st.teams.call(tid, |r| msg(m, r)).await.gql()?;
    team_out(st, t).await.gql()
}
