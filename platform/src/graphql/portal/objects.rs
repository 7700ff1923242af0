//! The fields of a portal and of what it holds (admin view: everything,
//! published or not).

use async_graphql::{Context, ID, Json, Object, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{
    Developer, DeveloperConnection, DeveloperStatus, DeveloperTeam, DeveloperTeamRole, Portal,
    PortalCustomization, PortalPage, PortalSnippet,
};
use crate::catalog::Catalog;
use crate::catalog::model::{self, Entry};
use crate::error::Error;
use crate::graphql::catalog::{Api, ApiPublication, ContentVisibility, PublishStatus};
use crate::graphql::connection::{Paging, datetime, page};
use crate::graphql::error::{Gql, gql};
use crate::graphql::guard::state;
use crate::portal::developers;

fn entry(cat: &Catalog, id: Uuid) -> Result<&Entry> {
    cat.entry(id)
        .ok_or_else(|| gql(Error::NotFound(format!("catalog record {id}"))))
}

fn portal(cat: &Catalog, id: Uuid) -> Result<&model::PortalData> {
    cat.portal(id)
        .ok_or_else(|| gql(Error::NotFound(format!("portal {id}"))))
}

#[Object]
impl Portal {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// Part of the portal's URL (`/portals/{name}/`).
    async fn name(&self) -> Result<String> {
        Ok(portal(&self.cat, self.id)?.name.clone())
    }

    /// What developers see as the portal's name.
    async fn display_name(&self) -> Result<String> {
        Ok(portal(&self.cat, self.id)?.display_name.clone())
    }

    /// Admins only; developers never see it.
    async fn description(&self) -> Result<Option<String>> {
        Ok(portal(&self.cat, self.id)?.description.clone())
    }

    /// Whether developers can sign up and sign in (off: a public portal).
    async fn authentication_enabled(&self) -> Result<bool> {
        Ok(portal(&self.cat, self.id)?.authentication_enabled)
    }

    /// Whether private APIs need a team role (on) or only a signed-in developer.
    async fn rbac_enabled(&self) -> Result<bool> {
        Ok(portal(&self.cat, self.id)?.rbac_enabled)
    }

    async fn auto_approve_developers(&self) -> Result<bool> {
        Ok(portal(&self.cat, self.id)?.auto_approve_developers)
    }

    async fn auto_approve_registrations(&self) -> Result<bool> {
        Ok(portal(&self.cat, self.id)?.auto_approve_registrations)
    }

    /// What developers' applications may have.
    async fn application_limits(&self) -> Result<ApplicationLimits> {
        let l = &portal(&self.cat, self.id)?.application_limits;
        Ok(ApplicationLimits {
            max_applications_per_developer: l.max_applications_per_developer,
            max_credentials_per_application: l.max_credentials_per_application,
            max_credential_days: l.max_credential_days,
            max_grace_seconds: l.max_grace_seconds,
        })
    }

    async fn default_api_visibility(&self) -> Result<ContentVisibility> {
        Ok(portal(&self.cat, self.id)?.default_api_visibility.into())
    }

    async fn default_page_visibility(&self) -> Result<ContentVisibility> {
        Ok(portal(&self.cat, self.id)?.default_page_visibility.into())
    }

    async fn custom_domain(&self) -> Result<Option<String>> {
        Ok(portal(&self.cat, self.id)?.custom_domain.clone())
    }

    async fn labels(&self) -> Result<Json<Value>> {
        Ok(Json(Value::Object(
            portal(&self.cat, self.id)?.labels.clone(),
        )))
    }

    async fn customization(&self) -> Result<PortalCustomization> {
        Ok(PortalCustomization::of(
            &portal(&self.cat, self.id)?.customization,
            |_| true,
        ))
    }

    /// A data URL.
    async fn logo(&self) -> Result<Option<String>> {
        Ok(portal(&self.cat, self.id)?.logo.clone())
    }

    /// A data URL.
    async fn favicon(&self) -> Result<Option<String>> {
        Ok(portal(&self.cat, self.id)?.favicon.clone())
    }

    /// Its pages, in creation order (`parent` and `path` give the tree).
    async fn pages(&self) -> Vec<PortalPage> {
        self.cat
            .pages_of(self.id)
            .into_iter()
            .map(|(e, _)| PortalPage {
                cat: self.cat.clone(),
                id: e.id,
            })
            .collect()
    }

    async fn snippets(&self) -> Vec<PortalSnippet> {
        self.cat
            .snippets_of(self.id)
            .into_iter()
            .map(|(e, _)| PortalSnippet {
                cat: self.cat.clone(),
                id: e.id,
            })
            .collect()
    }

    /// The APIs published here.
    async fn publications(&self) -> Vec<ApiPublication> {
        self.cat
            .publications_in(self.id)
            .into_iter()
            .map(|(e, _)| ApiPublication {
                cat: self.cat.clone(),
                id: e.id,
            })
            .collect()
    }

    async fn teams(&self) -> Vec<DeveloperTeam> {
        self.cat
            .teams_of(self.id)
            .into_iter()
            .map(|(e, _)| DeveloperTeam {
                cat: self.cat.clone(),
                id: e.id,
            })
            .collect()
    }

    /// Its developers, oldest first.
    async fn developers(
        &self,
        ctx: &Context<'_>,
        status: Option<DeveloperStatus>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<DeveloperConnection> {
        let list: Vec<Developer> = developers::list(&state(ctx).db, self.id)
            .await
            .gql()?
            .into_iter()
            .map(Developer::from)
            .filter(|d| status.is_none_or(|s| d.status == s))
            .collect();
        let p = page(
            list,
            |d| d.key.clone(),
            &Paging::new(first, after, last, before),
        )
        .gql()?;
        crate::graphql::limits::charge(ctx, p.items.len())?;
        Ok(p.into())
    }

    async fn created_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(entry(&self.cat, self.id)?.created_at))
    }

    async fn updated_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(entry(&self.cat, self.id)?.updated_at))
    }
}

fn page_data(cat: &Catalog, id: Uuid) -> Result<&model::PortalPageData> {
    cat.page(id)
        .ok_or_else(|| gql(Error::NotFound(format!("page {id}"))))
}

#[Object]
impl PortalPage {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// Its own segment (`/about`).
    async fn slug(&self) -> Result<String> {
        Ok(page_data(&self.cat, self.id)?.slug.clone())
    }

    /// Its full path (`/about/team`): its parents' slugs and its own.
    async fn path(&self) -> String {
        self.cat.page_path(self.id)
    }

    async fn title(&self) -> Result<String> {
        Ok(page_data(&self.cat, self.id)?.title.clone())
    }

    /// Markdown, as written (front ends sanitize what they render).
    async fn content(&self) -> Result<String> {
        Ok(page_data(&self.cat, self.id)?.content.clone())
    }

    async fn description(&self) -> Result<Option<String>> {
        Ok(page_data(&self.cat, self.id)?.description.clone())
    }

    async fn visibility(&self) -> Result<ContentVisibility> {
        Ok(page_data(&self.cat, self.id)?.visibility.into())
    }

    async fn status(&self) -> Result<PublishStatus> {
        Ok(page_data(&self.cat, self.id)?.status.into())
    }

    async fn parent(&self) -> Result<Option<PortalPage>> {
        Ok(page_data(&self.cat, self.id)?
            .parent_id
            .map(|p| PortalPage {
                cat: self.cat.clone(),
                id: p,
            }))
    }

    async fn created_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(entry(&self.cat, self.id)?.created_at))
    }

    async fn updated_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(entry(&self.cat, self.id)?.updated_at))
    }
}

fn snippet(cat: &Catalog, id: Uuid) -> Result<&model::PortalSnippetData> {
    cat.snippet(id)
        .ok_or_else(|| gql(Error::NotFound(format!("snippet {id}"))))
}

#[Object]
impl PortalSnippet {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    async fn name(&self) -> Result<String> {
        Ok(snippet(&self.cat, self.id)?.name.clone())
    }

    async fn title(&self) -> Result<Option<String>> {
        Ok(snippet(&self.cat, self.id)?.title.clone())
    }

    async fn content(&self) -> Result<String> {
        Ok(snippet(&self.cat, self.id)?.content.clone())
    }

    async fn description(&self) -> Result<Option<String>> {
        Ok(snippet(&self.cat, self.id)?.description.clone())
    }

    async fn visibility(&self) -> Result<ContentVisibility> {
        Ok(snippet(&self.cat, self.id)?.visibility.into())
    }

    async fn status(&self) -> Result<PublishStatus> {
        Ok(snippet(&self.cat, self.id)?.status.into())
    }
}

fn team(cat: &Catalog, id: Uuid) -> Result<&model::DeveloperTeamData> {
    cat.team(id)
        .ok_or_else(|| gql(Error::NotFound(format!("team {id}"))))
}

#[Object]
impl DeveloperTeam {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    async fn name(&self) -> Result<String> {
        Ok(team(&self.cat, self.id)?.name.clone())
    }

    async fn description(&self) -> Result<Option<String>> {
        Ok(team(&self.cat, self.id)?.description.clone())
    }

    async fn roles(&self) -> Vec<DeveloperTeamRole> {
        self.cat
            .roles_of(self.id)
            .into_iter()
            .map(|(e, r)| DeveloperTeamRole {
                id: ID(e.id.to_string()),
                role: r.role.into(),
                api_id: r.api_id.map(|a| ID(a.to_string())),
            })
            .collect()
    }

    /// The APIs its roles cover (every API published to the portal for a role
    /// on all of them).
    async fn apis(&self) -> Result<Vec<Api>> {
        let t = team(&self.cat, self.id)?;
        let roles = self.cat.roles_of(self.id);
        let all = roles.iter().any(|(_, r)| r.api_id.is_none());
        let mut ids: Vec<Uuid> = if all {
            self.cat
                .publications_in(t.portal_id)
                .into_iter()
                .map(|(_, p)| p.api_id)
                .collect()
        } else {
            roles.iter().filter_map(|(_, r)| r.api_id).collect()
        };
        ids.dedup();
        Ok(ids
            .into_iter()
            .map(|id| Api {
                cat: self.cat.clone(),
                id,
            })
            .collect())
    }

    /// Its members.
    async fn developers(&self, ctx: &Context<'_>) -> Result<Vec<Developer>> {
        let db = &state(ctx).db;
        let mut out = Vec::new();
        let members = developers::team_members(db, self.id).await.gql()?;
        crate::graphql::limits::charge(ctx, members.len())?;
        for m in members {
            if let Some(d) = developers::get(db, &m).await.gql()? {
                out.push(Developer::from(d));
            }
        }
        Ok(out)
    }
}

/// Limits on developers' applications in a portal.
#[derive(async_graphql::SimpleObject)]
pub struct ApplicationLimits {
    pub max_applications_per_developer: u32,
    pub max_credentials_per_application: u32,
    /// The longest a key may live, in days (0: no limit).
    pub max_credential_days: u32,
    /// The longest an old key keeps working after a rotation.
    pub max_grace_seconds: u32,
}
