//! The catalog's mutations, each through the catalog actor.

use async_graphql::{Context, ID, InputObject, Json, Object, Result, SimpleObject};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    Api, ApiDocument, ApiImplementation, ApiPublication, ApiVersion, ContentVisibility,
    PublishStatus, api_resource, portal_resource,
};
use crate::auth::{Action, Resource};
use crate::catalog::Catalog;
use crate::catalog::apis::{self, ApiFields, DocumentFields};
use crate::catalog::model::{Status, Visibility};
use crate::error::{Error, Field};
use crate::graphql::error::{Gql, gql};
use crate::graphql::guard::{check, parse_id, state};

#[derive(InputObject)]
pub struct CreateApiInput {
    pub name: String,
    /// The version shown in lists (taken from the spec's `info.version` when
    /// left out and a spec is given).
    pub version: Option<String>,
    /// `^[\w-]+$`; defaults to the name and version (`my-api-v1`).
    pub slug: Option<String>,
    pub description: Option<String>,
    pub labels: Option<Json<Map<String, Value>>>,
    pub attributes: Option<Json<std::collections::BTreeMap<String, Vec<String>>>>,
    /// An OpenAPI or AsyncAPI document (YAML or JSON): the first version.
    pub spec_content: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateApiInput {
    pub id: ID,
    pub name: Option<String>,
    pub version: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    /// Merged; a null value removes a label.
    pub labels: Option<Json<Map<String, Value>>>,
    pub attributes: Option<Json<std::collections::BTreeMap<String, Vec<String>>>>,
}

#[derive(InputObject)]
pub struct IdInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct DeletePayload {
    pub deleted_id: ID,
}

#[derive(InputObject)]
pub struct SpecInput {
    /// YAML or JSON.
    pub content: String,
}

#[derive(InputObject)]
pub struct CreateApiVersionInput {
    pub api_id: ID,
    /// Defaults to the spec's `info.version`.
    pub version: Option<String>,
    pub spec: SpecInput,
}

#[derive(InputObject)]
pub struct UpdateApiVersionInput {
    pub id: ID,
    pub spec: SpecInput,
}

#[derive(InputObject)]
pub struct CreateApiDocumentInput {
    pub api_id: ID,
    pub title: String,
    /// `^[\w-]+$`; defaults from the title.
    pub slug: Option<String>,
    /// Markdown.
    pub content: String,
    /// Unpublished unless given.
    pub status: Option<PublishStatus>,
    pub parent_document_id: Option<ID>,
}

#[derive(InputObject)]
pub struct UpdateApiDocumentInput {
    pub id: ID,
    pub title: Option<String>,
    pub slug: Option<String>,
    pub content: Option<String>,
    pub status: Option<PublishStatus>,
    pub parent_document_id: Option<ID>,
    /// Moves the document to the top level.
    pub clear_parent: Option<bool>,
}

#[derive(InputObject)]
pub struct LinkApiImplementationInput {
    pub api_id: ID,
    pub control_plane_id: ID,
    pub service_id: ID,
}

#[derive(InputObject)]
pub struct PublishApiInput {
    pub api_id: ID,
    pub portal_id: ID,
    /// The portal's `defaultApiVisibility` unless given.
    pub visibility: Option<ContentVisibility>,
    /// The portal's `autoApproveRegistrations` unless given.
    pub auto_approve_registrations: Option<bool>,
}

#[derive(InputObject)]
pub struct UnpublishApiInput {
    pub api_id: ID,
    pub portal_id: ID,
}

#[derive(SimpleObject)]
pub struct UnpublishApiPayload {
    pub api_id: ID,
    pub portal_id: ID,
}

/// The API a catalog record belongs to, for authorization.
fn owning_api(cat: &Catalog, id: Uuid) -> Option<Uuid> {
    cat.api_version(id)
        .map(|v| v.api_id)
        .or_else(|| cat.document(id).map(|d| d.api_id))
        .or_else(|| cat.implementation(id).map(|i| i.api_id))
}

async fn check_owner(ctx: &Context<'_>, id: Uuid, action: Action) -> Result<()> {
    let cat = state(ctx).catalog.view();
    check(
        ctx,
        &api_resource(owning_api(&cat, id).unwrap_or_default()),
        action,
    )
    .await
}

#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    async fn create_api(&self, ctx: &Context<'_>, input: CreateApiInput) -> Result<Api> {
        check(ctx, &Resource::ApiProduct("new".into()), Action::Create).await?;
        let f = ApiFields {
            name: Some(input.name),
            version: Some(input.version),
            slug: input.slug,
            description: Some(input.description),
            labels: input.labels.map(|l| l.0),
            attributes: input.attributes.map(|a| a.0),
        };
        let content = input.spec_content;
        let c = state(ctx)
            .catalog
            .mutate(move |cat| apis::create_api(cat, f.clone(), content.clone()))
            .await
            .gql()?;
        Ok(Api {
            cat: c.catalog,
            id: c
                .subject
                .ok_or_else(|| gql(Error::internal("no API created")))?,
        })
    }

    async fn update_api(&self, ctx: &Context<'_>, input: UpdateApiInput) -> Result<Api> {
        let id = parse_id(&input.id, "input.id")?;
        check(ctx, &api_resource(id), Action::Update).await?;
        let f = ApiFields {
            name: input.name,
            version: input.version.map(Some),
            slug: input.slug,
            description: input.description.map(Some),
            labels: input.labels.map(|l| l.0),
            attributes: input.attributes.map(|a| a.0),
        };
        let c = state(ctx)
            .catalog
            .mutate(move |cat| apis::update_api(cat, id, f.clone()))
            .await
            .gql()?;
        Ok(Api { cat: c.catalog, id })
    }

    /// Deletes an API with its versions, documents, implementations and
    /// publications.
    async fn delete_api(&self, ctx: &Context<'_>, input: IdInput) -> Result<DeletePayload> {
        let id = parse_id(&input.id, "input.id")?;
        check(ctx, &api_resource(id), Action::Delete).await?;
        state(ctx)
            .catalog
            .mutate(move |cat| apis::delete_api(cat, id))
            .await
            .gql()?;
        Ok(DeletePayload {
            deleted_id: input.id,
        })
    }

    async fn create_api_version(
        &self,
        ctx: &Context<'_>,
        input: CreateApiVersionInput,
    ) -> Result<ApiVersion> {
        let api = parse_id(&input.api_id, "input.apiId")?;
        check(ctx, &api_resource(api), Action::Update).await?;
        let (version, content) = (input.version, input.spec.content);
        let c = state(ctx)
            .catalog
            .mutate(move |cat| apis::create_version(cat, api, version.clone(), content.clone()))
            .await
            .gql()?;
        Ok(ApiVersion {
            cat: c.catalog,
            id: c
                .subject
                .ok_or_else(|| gql(Error::internal("no version created")))?,
        })
    }

    /// Replaces a version's spec.
    async fn update_api_version(
        &self,
        ctx: &Context<'_>,
        input: UpdateApiVersionInput,
    ) -> Result<ApiVersion> {
        let id = parse_id(&input.id, "input.id")?;
        check_owner(ctx, id, Action::Update).await?;
        let content = input.spec.content;
        let c = state(ctx)
            .catalog
            .mutate(move |cat| apis::update_version(cat, id, content.clone()))
            .await
            .gql()?;
        Ok(ApiVersion { cat: c.catalog, id })
    }

    async fn delete_api_version(&self, ctx: &Context<'_>, input: IdInput) -> Result<DeletePayload> {
        let id = parse_id(&input.id, "input.id")?;
        check_owner(ctx, id, Action::Update).await?;
        state(ctx)
            .catalog
            .mutate(move |cat| apis::delete_version(cat, id))
            .await
            .gql()?;
        Ok(DeletePayload {
            deleted_id: input.id,
        })
    }

    async fn create_api_document(
        &self,
        ctx: &Context<'_>,
        input: CreateApiDocumentInput,
    ) -> Result<ApiDocument> {
        let api = parse_id(&input.api_id, "input.apiId")?;
        check(ctx, &api_resource(api), Action::Update).await?;
        let parent = match &input.parent_document_id {
            Some(p) => Some(parse_id(p, "input.parentDocumentId")?),
            None => None,
        };
        let f = DocumentFields {
            title: Some(input.title),
            slug: input.slug,
            content: Some(input.content),
            status: input.status.map(Status::from),
            parent_id: Some(parent),
        };
        let c = state(ctx)
            .catalog
            .mutate(move |cat| apis::create_document(cat, api, f.clone()))
            .await
            .gql()?;
        Ok(ApiDocument {
            cat: c.catalog,
            id: c
                .subject
                .ok_or_else(|| gql(Error::internal("no document created")))?,
        })
    }

    async fn update_api_document(
        &self,
        ctx: &Context<'_>,
        input: UpdateApiDocumentInput,
    ) -> Result<ApiDocument> {
        let id = parse_id(&input.id, "input.id")?;
        check_owner(ctx, id, Action::Update).await?;
        let parent = match (&input.parent_document_id, input.clear_parent) {
            (_, Some(true)) => Some(None),
            (Some(p), _) => Some(Some(parse_id(p, "input.parentDocumentId")?)),
            (None, _) => None,
        };
        let f = DocumentFields {
            title: input.title,
            slug: input.slug,
            content: input.content,
            status: input.status.map(Status::from),
            parent_id: parent,
        };
        let c = state(ctx)
            .catalog
            .mutate(move |cat| apis::update_document(cat, id, f.clone()))
            .await
            .gql()?;
        Ok(ApiDocument { cat: c.catalog, id })
    }

    async fn delete_api_document(
        &self,
        ctx: &Context<'_>,
        input: IdInput,
    ) -> Result<DeletePayload> {
        let id = parse_id(&input.id, "input.id")?;
        check_owner(ctx, id, Action::Update).await?;
        state(ctx)
            .catalog
            .mutate(move |cat| apis::delete_document(cat, id))
            .await
            .gql()?;
        Ok(DeletePayload {
            deleted_id: input.id,
        })
    }

    /// Links an API to the gateway service that implements it (read access to
    /// the service's control plane needed).
    async fn link_api_implementation(
        &self,
        ctx: &Context<'_>,
        input: LinkApiImplementationInput,
    ) -> Result<ApiImplementation> {
        let api = parse_id(&input.api_id, "input.apiId")?;
        let cp = parse_id(&input.control_plane_id, "input.controlPlaneId")?;
        let svc = parse_id(&input.service_id, "input.serviceId")?;
        check(ctx, &api_resource(api), Action::Update).await?;
        check(ctx, &crate::auth::plane(cp), Action::Read).await?;
        let exists = state(ctx)
            .planes
            .view(cp)
            .and_then(|v| {
                v.records
                    .get(&svc)
                    .map(|r| r.kind == crate::config::Kind::Service)
            })
            .unwrap_or(false);
        if !exists {
            return Err(gql(Error::invalid(
                Field::Input("serviceId".into()),
                "no such service in this control plane",
            )));
        }
        let c = state(ctx)
            .catalog
            .mutate(move |cat| apis::link_implementation(cat, api, cp, svc))
            .await
            .gql()?;
        Ok(ApiImplementation {
            cat: c.catalog,
            id: c
                .subject
                .ok_or_else(|| gql(Error::internal("no implementation created")))?,
        })
    }

    async fn unlink_api_implementation(
        &self,
        ctx: &Context<'_>,
        input: IdInput,
    ) -> Result<DeletePayload> {
        let id = parse_id(&input.id, "input.id")?;
        check_owner(ctx, id, Action::Update).await?;
        state(ctx)
            .catalog
            .mutate(move |cat| apis::unlink_implementation(cat, id))
            .await
            .gql()?;
        Ok(DeletePayload {
            deleted_id: input.id,
        })
    }

    /// Publishes an API to a portal, or changes how it is published.
    async fn publish_api(
        &self,
        ctx: &Context<'_>,
        input: PublishApiInput,
    ) -> Result<ApiPublication> {
        let api = parse_id(&input.api_id, "input.apiId")?;
        let portal = parse_id(&input.portal_id, "input.portalId")?;
        check(ctx, &api_resource(api), Action::Publish).await?;
        check(ctx, &portal_resource(portal), Action::Update).await?;
        let vis = input.visibility.map(Visibility::from);
        let auto = input.auto_approve_registrations;
        let c = state(ctx)
            .catalog
            .mutate(move |cat| apis::publish(cat, api, portal, vis, auto))
            .await
            .gql()?;
        let id = c
            .catalog
            .publication(api, portal)
            .map(|(e, _)| e.id)
            .ok_or_else(|| gql(Error::internal("no publication")))?;
        Ok(ApiPublication { cat: c.catalog, id })
    }

    async fn unpublish_api(
        &self,
        ctx: &Context<'_>,
        input: UnpublishApiInput,
    ) -> Result<UnpublishApiPayload> {
        let api = parse_id(&input.api_id, "input.apiId")?;
        let portal = parse_id(&input.portal_id, "input.portalId")?;
        check(ctx, &api_resource(api), Action::Publish).await?;
        check(ctx, &portal_resource(portal), Action::Update).await?;
        state(ctx)
            .catalog
            .mutate(move |cat| apis::unpublish(cat, api, portal))
            .await
            .gql()?;
        Ok(UnpublishApiPayload {
            api_id: input.api_id,
            portal_id: input.portal_id,
        })
    }
}
