//! A portal's people: developers' standing (approve, reject, revoke) and
//! developer teams with their members and roles on APIs.

use async_graphql::{Context, ID, InputObject, Object, Result};

use super::mutations::{DeletedPayload, IdOfInput, check_owner, opt_id};
use super::{Developer, DeveloperRoleName, DeveloperTeam, portal_resource};
use crate::auth::Action;
use crate::catalog::model::DeveloperRole;
use crate::error::Error;
use crate::graphql::error::{Gql, gql};
use crate::graphql::guard::{check, parse_id, state};
use crate::portal::{developers, teams};

#[derive(InputObject)]
pub struct DeveloperInput {
    pub portal_id: ID,
    pub developer_id: ID,
}

#[derive(InputObject)]
pub struct CreateDeveloperTeamInput {
    pub portal_id: ID,
    pub name: String,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateDeveloperTeamInput {
    pub id: ID,
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct TeamMembershipInput {
    pub team_id: ID,
    pub developer_id: ID,
}

#[derive(InputObject)]
pub struct AssignDeveloperTeamRoleInput {
    pub team_id: ID,
    /// One API; left out: every API of the portal.
    pub api_id: Option<ID>,
    pub role: DeveloperRoleName,
}

async fn set_status(
    ctx: &Context<'_>,
    input: DeveloperInput,
    to: developers::DeveloperStatus,
) -> Result<Developer> {
    let portal = parse_id(&input.portal_id, "input.portalId")?;
    let dev = parse_id(&input.developer_id, "input.developerId")?;
    check(ctx, &portal_resource(portal), Action::Update).await?;
    let st = state(ctx);
    let name = st
        .catalog
        .view()
        .portal(portal)
        .map(|p| p.display_name.clone())
        .ok_or_else(|| gql(Error::NotFound(format!("portal {portal}"))))?;
    let d = developers::set_status(&st.db, &st.mailer, portal, dev, to, &name)
        .await
        .gql()?;
    // a revoked or rejected developer's keys stop working (and come back
    // with an approval)
    let suspend = matches!(
        to,
        developers::DeveloperStatus::Revoked | developers::DeveloperStatus::Rejected
    );
    let c = st
        .catalog
        .mutate(move |cat| {
            Ok(crate::portal::applications::suspend_developer(
                cat, portal, dev, suspend,
            ))
        })
        .await
        .gql()?;
    st.projection.settled(c.version).await;
    Ok(d.into())
}

#[derive(Default)]
pub struct PortalPeopleMutation;

#[Object]
impl PortalPeopleMutation {
    /// Lets a developer in (mailed when newly approved).
    async fn approve_developer(
        &self,
        ctx: &Context<'_>,
        input: DeveloperInput,
    ) -> Result<Developer> {
        set_status(ctx, input, developers::DeveloperStatus::Approved).await
    }

    async fn reject_developer(
        &self,
        ctx: &Context<'_>,
        input: DeveloperInput,
    ) -> Result<Developer> {
        set_status(ctx, input, developers::DeveloperStatus::Rejected).await
    }

    /// Takes a developer's access away; their sessions end at once.
    async fn revoke_developer(
        &self,
        ctx: &Context<'_>,
        input: DeveloperInput,
    ) -> Result<Developer> {
        set_status(ctx, input, developers::DeveloperStatus::Revoked).await
    }

    async fn create_developer_team(
        &self,
        ctx: &Context<'_>,
        input: CreateDeveloperTeamInput,
    ) -> Result<DeveloperTeam> {
        let portal = parse_id(&input.portal_id, "input.portalId")?;
        check(ctx, &portal_resource(portal), Action::Update).await?;
        let (name, description) = (input.name, input.description);
        let c = state(ctx)
            .catalog
            .mutate(move |cat| teams::create_team(cat, portal, name.clone(), description.clone()))
            .await
            .gql()?;
        Ok(DeveloperTeam {
            cat: c.catalog,
            id: c
                .subject
                .ok_or_else(|| gql(Error::internal("no team created")))?,
        })
    }

    async fn update_developer_team(
        &self,
        ctx: &Context<'_>,
        input: UpdateDeveloperTeamInput,
    ) -> Result<DeveloperTeam> {
        let id = parse_id(&input.id, "input.id")?;
        check_owner(ctx, id).await?;
        let (name, description) = (input.name, input.description.map(Some));
        let c = state(ctx)
            .catalog
            .mutate(move |cat| teams::update_team(cat, id, name.clone(), description.clone()))
            .await
            .gql()?;
        Ok(DeveloperTeam { cat: c.catalog, id })
    }

    async fn delete_developer_team(
        &self,
        ctx: &Context<'_>,
        input: IdOfInput,
    ) -> Result<DeletedPayload> {
        let id = parse_id(&input.id, "input.id")?;
        check_owner(ctx, id).await?;
        state(ctx)
            .catalog
            .mutate(move |cat| teams::delete_team(cat, id))
            .await
            .gql()?;
        Ok(DeletedPayload {
            deleted_id: input.id,
        })
    }

    async fn add_developer_to_team(
        &self,
        ctx: &Context<'_>,
        input: TeamMembershipInput,
    ) -> Result<DeveloperTeam> {
        membership(ctx, input, true).await
    }

    async fn remove_developer_from_team(
        &self,
        ctx: &Context<'_>,
        input: TeamMembershipInput,
    ) -> Result<DeveloperTeam> {
        membership(ctx, input, false).await
    }

    /// Gives a team a role on one API of its portal, or on all of them.
    async fn assign_developer_team_role(
        &self,
        ctx: &Context<'_>,
        input: AssignDeveloperTeamRoleInput,
    ) -> Result<DeveloperTeam> {
        let team = parse_id(&input.team_id, "input.teamId")?;
        check_owner(ctx, team).await?;
        let api = opt_id(&input.api_id, "input.apiId")?;
        let role = DeveloperRole::from(input.role);
        let c = state(ctx)
            .catalog
            .mutate(move |cat| teams::assign_role(cat, team, api, role))
            .await
            .gql()?;
        Ok(DeveloperTeam {
            cat: c.catalog,
            id: team,
        })
    }

    async fn remove_developer_team_role(
        &self,
        ctx: &Context<'_>,
        input: IdOfInput,
    ) -> Result<DeletedPayload> {
        let id = parse_id(&input.id, "input.id")?;
        check_owner(ctx, id).await?;
        state(ctx)
            .catalog
            .mutate(move |cat| teams::remove_role(cat, id))
            .await
            .gql()?;
        Ok(DeletedPayload {
            deleted_id: input.id,
        })
    }
}

async fn membership(
    ctx: &Context<'_>,
    input: TeamMembershipInput,
    add: bool,
) -> Result<DeveloperTeam> {
    let team = parse_id(&input.team_id, "input.teamId")?;
    let dev = parse_id(&input.developer_id, "input.developerId")?;
    check_owner(ctx, team).await?;
    let st = state(ctx);
    let cat = st.catalog.view();
    let t = cat
        .team(team)
        .ok_or_else(|| gql(Error::NotFound(format!("team {team}"))))?;
    developers::set_membership(&st.db, t.portal_id, team, dev, add)
        .await
        .gql()?;
    Ok(DeveloperTeam { cat, id: team })
}
