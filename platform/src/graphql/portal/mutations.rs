//! Portal mutations: portals, their look, pages, snippets, developers and
//! developer teams. Catalog content goes through the catalog actor; developers'
//! standing is written directly (it is not catalog content).

use async_graphql::{Context, ID, InputObject, Json, Object, Result, SimpleObject};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Portal, PortalPage, PortalSnippet, portal_resource};
use crate::auth::{Action, Resource};
use crate::catalog::Catalog;
use crate::catalog::model::{ApplicationLimitsPatch, Status, Visibility};
use crate::error::Error;
use crate::graphql::catalog::{ContentVisibility, PublishStatus};
use crate::graphql::error::{Gql, gql};
use crate::graphql::guard::{check, parse_id, state};
use crate::portal::content::{self, Asset, PortalFields};
use crate::portal::developers;
use crate::portal::pages::{self, PageFields, SnippetFields};

#[derive(InputObject)]
pub struct CreatePortalInput {
    /// Letters, digits, - and _: the portal is at `/portals/{name}/`.
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// Default true: developers sign up and sign in.
    pub authentication_enabled: Option<bool>,
    pub rbac_enabled: Option<bool>,
    pub auto_approve_developers: Option<bool>,
    pub auto_approve_registrations: Option<bool>,
    /// For APIs published from now on (default PRIVATE).
    pub default_api_visibility: Option<ContentVisibility>,
    /// For pages and snippets created from now on (default PRIVATE).
    pub default_page_visibility: Option<ContentVisibility>,
    pub custom_domain: Option<String>,
    pub labels: Option<Json<Map<String, Value>>>,
    /// Konnect's customization object (`theme`, `layout`, `css`, `menu`,
    /// `spec_renderer`, `robots`), merged into the defaults.
    pub customization: Option<Json<Value>>,
}

#[derive(InputObject)]
pub struct UpdatePortalInput {
    pub id: ID,
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub authentication_enabled: Option<bool>,
    pub rbac_enabled: Option<bool>,
    pub auto_approve_developers: Option<bool>,
    pub auto_approve_registrations: Option<bool>,
    pub default_api_visibility: Option<ContentVisibility>,
    pub default_page_visibility: Option<ContentVisibility>,
    pub custom_domain: Option<String>,
    /// Removes the custom domain.
    pub clear_custom_domain: Option<bool>,
    /// Merged; a null value removes a label.
    pub labels: Option<Json<Map<String, Value>>>,
    /// Merged into the current customization (a null value removes a field,
    /// back to its default).
    pub customization: Option<Json<Value>>,
    /// What developers' applications may have (fields left out stay).
    pub application_limits: Option<ApplicationLimitsInput>,
}

/// Limits on developers' applications in a portal.
#[derive(InputObject)]
pub struct ApplicationLimitsInput {
    pub max_applications_per_developer: Option<u32>,
    pub max_credentials_per_application: Option<u32>,
    /// The longest a key may live, in days (0: no limit).
    pub max_credential_days: Option<u32>,
    /// The longest an old key keeps working after a rotation.
    pub max_grace_seconds: Option<u32>,
}

impl From<ApplicationLimitsInput> for ApplicationLimitsPatch {
    fn from(i: ApplicationLimitsInput) -> Self {
        ApplicationLimitsPatch {
            max_applications_per_developer: i.max_applications_per_developer,
            max_credentials_per_application: i.max_credentials_per_application,
            max_credential_days: i.max_credential_days,
            max_grace_seconds: i.max_grace_seconds,
        }
    }
}

#[derive(InputObject)]
pub struct DeletePortalInput {
    pub id: ID,
    /// Also unpublish the APIs published to it (else refused while there are).
    pub force: Option<bool>,
}

#[derive(SimpleObject)]
pub struct DeletedPayload {
    pub deleted_id: ID,
}

#[derive(InputObject)]
pub struct PortalImageInput {
    pub portal_id: ID,
    /// A data URL (png, jpeg, gif, ico or svg; at most 1 MiB); null removes it.
    pub data: Option<String>,
}

#[derive(InputObject)]
pub struct CreatePortalPageInput {
    pub portal_id: ID,
    /// One path segment (`about`; `/` is the home page).
    pub slug: String,
    /// Defaults to front matter's `title`, else the slug.
    pub title: Option<String>,
    /// Markdown (front matter's `title` and `description` win over the fields).
    pub content: String,
    pub visibility: Option<ContentVisibility>,
    /// Unpublished unless given.
    pub status: Option<PublishStatus>,
    pub description: Option<String>,
    pub parent_page_id: Option<ID>,
}

#[derive(InputObject)]
pub struct UpdatePortalPageInput {
    pub id: ID,
    pub slug: Option<String>,
    pub title: Option<String>,
    pub content: Option<String>,
    pub visibility: Option<ContentVisibility>,
    pub status: Option<PublishStatus>,
    pub description: Option<String>,
    pub parent_page_id: Option<ID>,
    /// Moves the page to the top level.
    pub clear_parent: Option<bool>,
}

#[derive(InputObject)]
pub struct CreatePortalSnippetInput {
    pub portal_id: ID,
    pub name: String,
    pub title: Option<String>,
    pub content: String,
    pub visibility: Option<ContentVisibility>,
    pub status: Option<PublishStatus>,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct UpdatePortalSnippetInput {
    pub id: ID,
    pub name: Option<String>,
    pub title: Option<String>,
    pub content: Option<String>,
    pub visibility: Option<ContentVisibility>,
    pub status: Option<PublishStatus>,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct IdOfInput {
    pub id: ID,
}

/// The portal a catalog record belongs to.
fn owning_portal(cat: &Catalog, id: Uuid) -> Option<Uuid> {
    cat.page(id)
        .map(|p| p.portal_id)
        .or_else(|| cat.snippet(id).map(|s| s.portal_id))
        .or_else(|| cat.team(id).map(|t| t.portal_id))
        .or_else(|| cat.team_role(id).map(|r| r.portal_id))
}

pub(super) async fn check_owner(ctx: &Context<'_>, id: Uuid) -> Result<()> {
    let cat = state(ctx).catalog.view();
    check(
        ctx,
        &portal_resource(owning_portal(&cat, id).unwrap_or_default()),
        Action::Update,
    )
    .await
}

fn vis(v: Option<ContentVisibility>) -> Option<Visibility> {
    v.map(Visibility::from)
}

fn status(s: Option<PublishStatus>) -> Option<Status> {
    s.map(Status::from)
}

pub(super) fn opt_id(id: &Option<ID>, field: &str) -> Result<Option<Uuid>> {
    id.as_ref().map(|i| parse_id(i, field)).transpose()
}

#[derive(Default)]
pub struct PortalMutation;

#[Object]
impl PortalMutation {
    async fn create_portal(&self, ctx: &Context<'_>, input: CreatePortalInput) -> Result<Portal> {
        check(ctx, &Resource::Portal("new".into()), Action::Create).await?;
        let f = PortalFields {
            name: Some(input.name),
            display_name: input.display_name,
            description: input.description.map(Some),
            authentication_enabled: input.authentication_enabled,
            rbac_enabled: input.rbac_enabled,
            auto_approve_developers: input.auto_approve_developers,
            auto_approve_registrations: input.auto_approve_registrations,
            default_api_visibility: vis(input.default_api_visibility),
            default_page_visibility: vis(input.default_page_visibility),
            custom_domain: input.custom_domain.map(Some),
            labels: input.labels.map(|l| l.0),
            customization: input.customization.map(|c| c.0),
            application_limits: None,
        };
        let c = state(ctx)
            .catalog
            .mutate(move |cat| content::create_portal(cat, f.clone()))
            .await
            .gql()?;
        Ok(Portal {
            cat: c.catalog,
            id: c
                .subject
                .ok_or_else(|| gql(Error::internal("no portal created")))?,
        })
    }

    async fn update_portal(&self, ctx: &Context<'_>, input: UpdatePortalInput) -> Result<Portal> {
        let id = parse_id(&input.id, "input.id")?;
        check(ctx, &portal_resource(id), Action::Update).await?;
        let f = PortalFields {
            name: input.name,
            display_name: input.display_name,
            description: input.description.map(Some),
            authentication_enabled: input.authentication_enabled,
            rbac_enabled: input.rbac_enabled,
            auto_approve_developers: input.auto_approve_developers,
            auto_approve_registrations: input.auto_approve_registrations,
            default_api_visibility: vis(input.default_api_visibility),
            default_page_visibility: vis(input.default_page_visibility),
            custom_domain: if input.clear_custom_domain == Some(true) {
                Some(None)
            } else {
                input.custom_domain.map(Some)
            },
            labels: input.labels.map(|l| l.0),
            customization: input.customization.map(|c| c.0),
            application_limits: input.application_limits.map(Into::into),
        };
        let c = state(ctx)
            .catalog
            .mutate(move |cat| content::update_portal(cat, id, f.clone()))
            .await
            .gql()?;
        Ok(Portal { cat: c.catalog, id })
    }

    /// Deletes a portal with its pages, snippets, teams and developers.
    async fn delete_portal(
        &self,
        ctx: &Context<'_>,
        input: DeletePortalInput,
    ) -> Result<DeletedPayload> {
        let id = parse_id(&input.id, "input.id")?;
        check(ctx, &portal_resource(id), Action::Delete).await?;
        let force = input.force.unwrap_or(false);
        let st = state(ctx);
        st.catalog
            .mutate(move |cat| content::delete_portal(cat, id, force))
            .await
            .gql()?;
        developers::portal_deleted(&st.db, id).await.gql()?;
        Ok(DeletedPayload {
            deleted_id: input.id,
        })
    }

    async fn set_portal_logo(&self, ctx: &Context<'_>, input: PortalImageInput) -> Result<Portal> {
        image(ctx, input, Asset::Logo).await
    }

    async fn set_portal_favicon(
        &self,
        ctx: &Context<'_>,
        input: PortalImageInput,
    ) -> Result<Portal> {
        image(ctx, input, Asset::Favicon).await
    }

    async fn create_portal_page(
        &self,
        ctx: &Context<'_>,
        input: CreatePortalPageInput,
    ) -> Result<PortalPage> {
        let portal = parse_id(&input.portal_id, "input.portalId")?;
        check(ctx, &portal_resource(portal), Action::Update).await?;
        let f = PageFields {
            slug: Some(input.slug),
            title: input.title,
            content: Some(input.content),
            visibility: vis(input.visibility),
            status: status(input.status),
            description: input.description.map(Some),
            parent_id: Some(opt_id(&input.parent_page_id, "input.parentPageId")?),
        };
        let c = state(ctx)
            .catalog
            .mutate(move |cat| pages::create_page(cat, portal, f.clone()))
            .await
            .gql()?;
        Ok(PortalPage {
            cat: c.catalog,
            id: c
                .subject
                .ok_or_else(|| gql(Error::internal("no page created")))?,
        })
    }

    async fn update_portal_page(
        &self,
        ctx: &Context<'_>,
        input: UpdatePortalPageInput,
    ) -> Result<PortalPage> {
        let id = parse_id(&input.id, "input.id")?;
        check_owner(ctx, id).await?;
        let f = PageFields {
            slug: input.slug,
            title: input.title,
            content: input.content,
            visibility: vis(input.visibility),
            status: status(input.status),
            description: input.description.map(Some),
            parent_id: if input.clear_parent == Some(true) {
                Some(None)
            } else {
                opt_id(&input.parent_page_id, "input.parentPageId")?.map(Some)
            },
        };
        let c = state(ctx)
            .catalog
            .mutate(move |cat| pages::update_page(cat, id, f.clone()))
            .await
            .gql()?;
        Ok(PortalPage { cat: c.catalog, id })
    }

    /// Deletes a page with the pages under it.
    async fn delete_portal_page(
        &self,
        ctx: &Context<'_>,
        input: IdOfInput,
    ) -> Result<DeletedPayload> {
        let id = parse_id(&input.id, "input.id")?;
        check_owner(ctx, id).await?;
        state(ctx)
            .catalog
            .mutate(move |cat| pages::delete_page(cat, id))
            .await
            .gql()?;
        Ok(DeletedPayload {
            deleted_id: input.id,
        })
    }

    async fn create_portal_snippet(
        &self,
        ctx: &Context<'_>,
        input: CreatePortalSnippetInput,
    ) -> Result<PortalSnippet> {
        let portal = parse_id(&input.portal_id, "input.portalId")?;
        check(ctx, &portal_resource(portal), Action::Update).await?;
        let f = SnippetFields {
            name: Some(input.name),
            title: Some(input.title),
            content: Some(input.content),
            visibility: vis(input.visibility),
            status: status(input.status),
            description: Some(input.description),
        };
        let c = state(ctx)
            .catalog
            .mutate(move |cat| pages::create_snippet(cat, portal, f.clone()))
            .await
            .gql()?;
        Ok(PortalSnippet {
            cat: c.catalog,
            id: c
                .subject
                .ok_or_else(|| gql(Error::internal("no snippet created")))?,
        })
    }

    async fn update_portal_snippet(
        &self,
        ctx: &Context<'_>,
        input: UpdatePortalSnippetInput,
    ) -> Result<PortalSnippet> {
        let id = parse_id(&input.id, "input.id")?;
        check_owner(ctx, id).await?;
        let f = SnippetFields {
            name: input.name,
            title: input.title.map(Some),
            content: input.content,
            visibility: vis(input.visibility),
            status: status(input.status),
            description: input.description.map(Some),
        };
        let c = state(ctx)
            .catalog
            .mutate(move |cat| pages::update_snippet(cat, id, f.clone()))
            .await
            .gql()?;
        Ok(PortalSnippet { cat: c.catalog, id })
    }

    async fn delete_portal_snippet(
        &self,
        ctx: &Context<'_>,
        input: IdOfInput,
    ) -> Result<DeletedPayload> {
        let id = parse_id(&input.id, "input.id")?;
        check_owner(ctx, id).await?;
        state(ctx)
            .catalog
            .mutate(move |cat| pages::delete_snippet(cat, id))
            .await
            .gql()?;
        Ok(DeletedPayload {
            deleted_id: input.id,
        })
    }
}

async fn image(ctx: &Context<'_>, input: PortalImageInput, which: Asset) -> Result<Portal> {
    let id = parse_id(&input.portal_id, "input.portalId")?;
    check(ctx, &portal_resource(id), Action::Update).await?;
    let data = input.data;
    let c = state(ctx)
        .catalog
        .mutate(move |cat| content::set_asset(cat, id, which, data.clone()))
        .await
        .gql()?;
    Ok(Portal { cat: c.catalog, id })
}
