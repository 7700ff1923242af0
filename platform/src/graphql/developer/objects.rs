//! What developers see: the portal's branding and menus, its APIs (versions,
//! specs, documents, operations), pages and snippets, and their own account.
//! Every object here was checked visible to the viewer before it was made.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::viewer;
use crate::catalog::Catalog;
use crate::catalog::model::{self, Visibility};
use crate::error::Error;
use crate::graphql::catalog::{ApiSpecType, ContentVisibility};
use crate::graphql::connection::{connection, datetime};
use crate::graphql::error::{Gql, gql};
use crate::graphql::guard::state;
use crate::graphql::portal::{DeveloperStatus, PortalCustomization};
use crate::portal::visibility;

connection!(PortalApiConnection, PortalApiEdge, PortalApi);
connection!(SearchResultConnection, SearchResultEdge, SearchResult);

/// The portal as developers see it.
pub struct PortalInfo {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

fn data(cat: &Catalog, id: Uuid) -> Result<&model::PortalData> {
    cat.portal(id)
        .ok_or_else(|| gql(Error::NotFound("portal".into())))
}

#[Object]
impl PortalInfo {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The portal's name as shown (its display name).
    async fn name(&self) -> Result<String> {
        Ok(data(&self.cat, self.id)?.display_name.clone())
    }

    /// Whether developers can sign up and sign in.
    async fn authentication_enabled(&self) -> Result<bool> {
        Ok(data(&self.cat, self.id)?.authentication_enabled)
    }

    async fn rbac_enabled(&self) -> Result<bool> {
        Ok(data(&self.cat, self.id)?.rbac_enabled)
    }

    /// The look, with the menu items this viewer may see.
    async fn customization(&self, ctx: &Context<'_>) -> Result<PortalCustomization> {
        let v = viewer(ctx);
        Ok(PortalCustomization::of(
            &data(&self.cat, self.id)?.customization,
            |vis| visibility::item_visible(vis, v),
        ))
    }

    /// A data URL.
    async fn logo(&self) -> Result<Option<String>> {
        Ok(data(&self.cat, self.id)?.logo.clone())
    }

    /// A data URL.
    async fn favicon(&self) -> Result<Option<String>> {
        Ok(data(&self.cat, self.id)?.favicon.clone())
    }

    async fn custom_domain(&self) -> Result<Option<String>> {
        Ok(data(&self.cat, self.id)?.custom_domain.clone())
    }
}

/// What the viewer may do with an API (Konnect's `actions`).
#[derive(SimpleObject)]
pub struct ApiActions {
    pub view: bool,
    /// Register applications for it (call it).
    pub register: bool,
    pub view_documentation: bool,
}

/// An operation an API's spec describes.
#[derive(SimpleObject, Clone)]
pub struct PortalApiOperation {
    pub method: String,
    pub path: String,
    pub operation_id: Option<String>,
    pub summary: Option<String>,
    pub deprecated: bool,
}

/// A version of an API and its spec.
pub struct PortalApiVersion {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

#[Object]
impl PortalApiVersion {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    async fn version(&self) -> Result<String> {
        Ok(version(&self.cat, self.id)?.version.clone())
    }

    #[graphql(name = "specType")]
    async fn spec_type(&self) -> Result<ApiSpecType> {
        Ok(version(&self.cat, self.id)?.spec.spec_type.into())
    }

    /// `json` or `yaml`.
    async fn spec_format(&self) -> Result<String> {
        Ok(version(&self.cat, self.id)?.spec.format.clone())
    }

    /// The spec's text.
    async fn spec_content(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        crate::graphql::limits::charge(ctx, 1)?;
        crate::catalog::apis::spec_content(&state(ctx).db, self.id)
            .await
            .gql()
    }

    async fn operations(&self) -> Result<Vec<PortalApiOperation>> {
        Ok(operations(&version(&self.cat, self.id)?.spec))
    }
}

fn version(cat: &Catalog, id: Uuid) -> Result<&model::ApiVersionData> {
    cat.api_version(id)
        .ok_or_else(|| gql(Error::NotFound("API version".into())))
}

pub fn operations(s: &crate::catalog::spec::Spec) -> Vec<PortalApiOperation> {
    s.operations
        .iter()
        .map(|o| PortalApiOperation {
            method: o.method.clone(),
            path: o.path.clone(),
            operation_id: o.operation_id.clone(),
            summary: o.summary.clone(),
            deprecated: o.deprecated,
        })
        .collect()
}

/// A published document of an API (content only when asked for by slug).
pub struct PortalApiDocument {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

#[Object]
impl PortalApiDocument {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    async fn title(&self) -> Result<String> {
        Ok(doc(&self.cat, self.id)?.title.clone())
    }

    async fn slug(&self) -> Result<String> {
        Ok(doc(&self.cat, self.id)?.slug.clone())
    }

    async fn parent_id(&self) -> Result<Option<ID>> {
        Ok(doc(&self.cat, self.id)?
            .parent_id
            .map(|p| ID(p.to_string())))
    }

    /// Markdown, as written: render it sanitized.
    async fn content(&self) -> Result<String> {
        Ok(doc(&self.cat, self.id)?.content.clone())
    }
}

fn doc(cat: &Catalog, id: Uuid) -> Result<&model::ApiDocumentData> {
    cat.document(id)
        .ok_or_else(|| gql(Error::NotFound("document".into())))
}

/// An API published to this portal, as the viewer may see it.
#[derive(Clone)]
pub struct PortalApi {
    pub cat: Arc<Catalog>,
    pub portal: Uuid,
    pub id: Uuid,
}

fn api(cat: &Catalog, id: Uuid) -> Result<&model::ApiData> {
    cat.api(id)
        .ok_or_else(|| gql(Error::NotFound("API".into())))
}

#[Object]
impl PortalApi {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The plans to pick from when registering an application for it.
    async fn plans(&self) -> Vec<crate::graphql::applications::Plan> {
        let Some((p, _)) = self.cat.publication(self.id, self.portal) else {
            return Vec::new();
        };
        self.cat
            .plans_of(p.id)
            .into_iter()
            .map(|(e, _)| crate::graphql::applications::Plan {
                cat: self.cat.clone(),
                id: e.id,
            })
            .collect()
    }

    async fn name(&self) -> Result<String> {
        Ok(api(&self.cat, self.id)?.name.clone())
    }

    async fn slug(&self) -> Result<String> {
        Ok(api(&self.cat, self.id)?.slug.clone())
    }

    async fn version(&self) -> Result<Option<String>> {
        Ok(api(&self.cat, self.id)?.version.clone())
    }

    async fn description(&self) -> Result<Option<String>> {
        Ok(api(&self.cat, self.id)?.description.clone())
    }

    async fn attributes(&self) -> Result<Json<Value>> {
        Ok(Json(
            serde_json::to_value(&api(&self.cat, self.id)?.attributes).unwrap_or_default(),
        ))
    }

    async fn visibility(&self) -> ContentVisibility {
        self.cat
            .publication(self.id, self.portal)
            .map(|(_, p)| p.visibility)
            .unwrap_or(Visibility::Private)
            .into()
    }

    async fn actions(&self, ctx: &Context<'_>) -> ApiActions {
        let v = viewer(ctx);
        ApiActions {
            view: true,
            register: visibility::can_consume(&self.cat, self.portal, self.id, v),
            view_documentation: true,
        }
    }

    async fn versions(&self) -> Vec<PortalApiVersion> {
        self.cat
            .versions_of(self.id)
            .into_iter()
            .map(|(e, _)| PortalApiVersion {
                cat: self.cat.clone(),
                id: e.id,
            })
            .collect()
    }

    async fn current_version(&self) -> Option<PortalApiVersion> {
        self.cat
            .current_version(self.id)
            .map(|(e, _)| PortalApiVersion {
                cat: self.cat.clone(),
                id: e.id,
            })
    }

    /// The current version's operations.
    async fn operations(&self) -> Vec<PortalApiOperation> {
        self.cat
            .current_version(self.id)
            .map(|(_, v)| operations(&v.spec))
            .unwrap_or_default()
    }

    /// Its published documents (`parentId` gives the tree).
    async fn documents(&self, ctx: &Context<'_>) -> Vec<PortalApiDocument> {
        let v = viewer(ctx);
        self.cat
            .documents_of(self.id)
            .into_iter()
            .filter(|(e, _)| visibility::document_visible(&self.cat, self.portal, e.id, v))
            .map(|(e, _)| PortalApiDocument {
                cat: self.cat.clone(),
                id: e.id,
            })
            .collect()
    }

    /// One published document by slug.
    async fn document(&self, ctx: &Context<'_>, slug: String) -> Option<PortalApiDocument> {
        let v = viewer(ctx);
        self.cat
            .documents_of(self.id)
            .into_iter()
            .find(|(e, d)| {
                d.slug == slug && visibility::document_visible(&self.cat, self.portal, e.id, v)
            })
            .map(|(e, _)| PortalApiDocument {
                cat: self.cat.clone(),
                id: e.id,
            })
    }

    async fn updated_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(
            self.cat
                .entry(self.id)
                .ok_or_else(|| gql(Error::NotFound("API".into())))?
                .updated_at,
        ))
    }
}

/// A page the viewer may see.
pub struct PortalPageView {
    pub cat: Arc<Catalog>,
    pub id: Uuid,
}

fn page(cat: &Catalog, id: Uuid) -> Result<&model::PortalPageData> {
    cat.page(id)
        .ok_or_else(|| gql(Error::NotFound("page".into())))
}

#[Object(name = "PortalPage")]
impl PortalPageView {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    async fn slug(&self) -> Result<String> {
        Ok(page(&self.cat, self.id)?.slug.clone())
    }

    /// The full path (`/about/team`).
    async fn path(&self) -> String {
        self.cat.page_path(self.id)
    }

    async fn title(&self) -> Result<String> {
        Ok(page(&self.cat, self.id)?.title.clone())
    }

    async fn description(&self) -> Result<Option<String>> {
        Ok(page(&self.cat, self.id)?.description.clone())
    }

    async fn visibility(&self) -> Result<ContentVisibility> {
        Ok(page(&self.cat, self.id)?.visibility.into())
    }

    async fn parent_id(&self) -> Result<Option<ID>> {
        Ok(page(&self.cat, self.id)?
            .parent_id
            .map(|p| ID(p.to_string())))
    }

    /// Markdown (with front matter), as written: render it sanitized.
    async fn content(&self) -> Result<String> {
        Ok(page(&self.cat, self.id)?.content.clone())
    }
}

/// A snippet the viewer may see.
#[derive(SimpleObject)]
#[graphql(name = "PortalSnippet")]
pub struct PortalSnippetView {
    pub name: String,
    pub title: Option<String>,
    pub content: String,
}

/// The signed-in developer.
#[derive(SimpleObject)]
pub struct DeveloperProfile {
    pub id: ID,
    pub email: String,
    pub full_name: String,
    pub status: DeveloperStatus,
    /// Their developer teams.
    pub teams: Vec<DeveloperTeamInfo>,
}

#[derive(SimpleObject)]
pub struct DeveloperTeamInfo {
    pub id: ID,
    pub name: String,
    pub description: Option<String>,
}

/// What a search result is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SearchResultKind {
    Api,
    Operation,
    Document,
    Page,
}

#[derive(SimpleObject, Clone)]
pub struct SearchResult {
    pub kind: SearchResultKind,
    pub title: String,
    /// Where the text matched, shortened.
    pub excerpt: String,
    /// The API's slug (APIs, operations, documents).
    pub api_slug: Option<String>,
    /// A page's path or a document's slug.
    pub path: Option<String>,
    /// `GET /pets` for operations.
    pub operation: Option<String>,
}
