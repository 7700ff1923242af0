//! The fields of the catalog's types.

use async_graphql::{Context, ID, Json, Object, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{
    Api, ApiDocument, ApiImplementation, ApiOperation, ApiPublication, ApiSpec, ApiSpecType,
    ApiVersion, ContentVisibility, Portal, PublishStatus, SpecValidationMessage,
};
use crate::catalog::{Catalog, drift};
use crate::error::Error;
use crate::graphql::connection::datetime;
use crate::graphql::entities::{ControlPlane, Ent, Route, Service};
use crate::graphql::error::{Gql, gql};
use crate::graphql::guard::state;

#[Object]
impl ApiSpec {
    #[graphql(name = "type")]
    async fn spec_type(&self) -> ApiSpecType {
        self.spec.spec_type.into()
    }

    /// The version the document declares (`3.1.0`, `2.6.0`).
    async fn spec_version(&self) -> Option<&str> {
        self.spec.spec_version.as_deref()
    }

    /// `json` or `yaml`.
    async fn format(&self) -> &str {
        &self.spec.format
    }

    async fn title(&self) -> Option<&str> {
        self.spec.title.as_deref()
    }

    /// The path operations are under (the first server's path, or `basePath`).
    async fn base_path(&self) -> Option<&str> {
        self.spec.base_path.as_deref()
    }

    /// The spec's text, as given.
    async fn content(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let Some(id) = self.version_id else {
            return Ok(None);
        };
        crate::graphql::limits::charge(ctx, 1)?;
        crate::catalog::apis::spec_content(&state(ctx).db, id)
            .await
            .gql()
    }

    async fn validation_messages(&self) -> Vec<SpecValidationMessage> {
        self.spec
            .validation_messages
            .iter()
            .map(|m| SpecValidationMessage {
                path: m.path.clone(),
                message: m.message.clone(),
            })
            .collect()
    }
}

#[Object]
impl ApiVersion {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    async fn version(&self) -> Result<String> {
        Ok(version(&self.cat, self.id)?.version.clone())
    }

    async fn spec(&self) -> Result<ApiSpec> {
        Ok(ApiSpec {
            version_id: Some(self.id),
            spec: version(&self.cat, self.id)?.spec.clone(),
        })
    }

    async fn created_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(entry(&self.cat, self.id)?.created_at))
    }
}

fn entry(cat: &Catalog, id: Uuid) -> Result<&crate::catalog::model::Entry> {
    cat.entry(id)
        .ok_or_else(|| gql(Error::NotFound(format!("catalog record {id}"))))
}

fn version(cat: &Catalog, id: Uuid) -> Result<&crate::catalog::model::ApiVersionData> {
    cat.api_version(id)
        .ok_or_else(|| gql(Error::NotFound(format!("API version {id}"))))
}

#[Object]
impl ApiDocument {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    async fn title(&self) -> Result<String> {
        Ok(doc(&self.cat, self.id)?.title.clone())
    }

    async fn slug(&self) -> Result<String> {
        Ok(doc(&self.cat, self.id)?.slug.clone())
    }

    /// Markdown, as written (front ends sanitize what they render).
    async fn content(&self) -> Result<String> {
        Ok(doc(&self.cat, self.id)?.content.clone())
    }

    async fn status(&self) -> Result<PublishStatus> {
        Ok(doc(&self.cat, self.id)?.status.into())
    }

    async fn parent(&self) -> Result<Option<ApiDocument>> {
        Ok(doc(&self.cat, self.id)?.parent_id.map(|p| ApiDocument {
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

fn doc(cat: &Catalog, id: Uuid) -> Result<&crate::catalog::model::ApiDocumentData> {
    cat.document(id)
        .ok_or_else(|| gql(Error::NotFound(format!("API document {id}"))))
}

#[Object]
impl ApiImplementation {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    async fn control_plane(&self, ctx: &Context<'_>) -> Result<Option<ControlPlane>> {
        let i = implementation(&self.cat, self.id)?;
        Ok(state(ctx)
            .planes
            .view(i.control_plane_id)
            .map(ControlPlane::from_view))
    }

    /// The service (null once it is deleted from its control plane).
    async fn service(&self, ctx: &Context<'_>) -> Result<Option<Service>> {
        let i = implementation(&self.cat, self.id)?;
        Ok(state(ctx)
            .planes
            .view(i.control_plane_id)
            .filter(|v| v.records.contains_key(&i.service_id))
            .map(|v| Service(Ent::new(&v, i.service_id))))
    }

    async fn created_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(entry(&self.cat, self.id)?.created_at))
    }
}

fn implementation(
    cat: &Catalog,
    id: Uuid,
) -> Result<&crate::catalog::model::ApiImplementationData> {
    cat.implementation(id)
        .ok_or_else(|| gql(Error::NotFound(format!("API implementation {id}"))))
}

#[Object]
impl ApiPublication {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    async fn api(&self) -> Result<Api> {
        Ok(Api {
            cat: self.cat.clone(),
            id: publication(&self.cat, self.id)?.api_id,
        })
    }

    async fn portal(&self) -> Result<Portal> {
        Ok(Portal {
            cat: self.cat.clone(),
            id: publication(&self.cat, self.id)?.portal_id,
        })
    }

    async fn visibility(&self) -> Result<ContentVisibility> {
        Ok(publication(&self.cat, self.id)?.visibility.into())
    }

    async fn auto_approve_registrations(&self) -> Result<bool> {
        Ok(publication(&self.cat, self.id)?.auto_approve_registrations)
    }

    /// The plans developers pick from when they register (at most 50).
    async fn plans(&self) -> Vec<crate::graphql::applications::Plan> {
        self.cat
            .plans_of(self.id)
            .into_iter()
            .map(|(e, _)| crate::graphql::applications::Plan {
                cat: self.cat.clone(),
                id: e.id,
            })
            .collect()
    }

    async fn created_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(entry(&self.cat, self.id)?.created_at))
    }
}

fn publication(cat: &Catalog, id: Uuid) -> Result<&crate::catalog::model::ApiPublicationData> {
    cat.publication_by_id(id)
        .ok_or_else(|| gql(Error::NotFound(format!("API publication {id}"))))
}

fn api_data(cat: &Catalog, id: Uuid) -> Result<&crate::catalog::model::ApiData> {
    cat.api(id)
        .ok_or_else(|| gql(Error::NotFound(format!("API {id}"))))
}

/// The routes of the services that implement `api`, from their planes' views.
fn implementing_routes(ctx: &Context<'_>, cat: &Catalog, api: Uuid) -> Vec<Route> {
    let planes = &state(ctx).planes;
    let mut out = Vec::new();
    for (_, i) in cat.implementations_of(api) {
        let Some(v) = planes.view(i.control_plane_id) else {
            continue;
        };
        let typed = v.typed();
        for r in v.list(Some(crate::config::Kind::Route)) {
            if typed.route(r.id).and_then(|x| x.service_id) == Some(i.service_id) {
                out.push(Route(Ent::new(&v, r.id)));
            }
        }
    }
    out
}

#[Object]
impl Api {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    async fn name(&self) -> Result<String> {
        Ok(api_data(&self.cat, self.id)?.name.clone())
    }

    async fn slug(&self) -> Result<String> {
        Ok(api_data(&self.cat, self.id)?.slug.clone())
    }

    /// The version shown in lists.
    async fn version(&self) -> Result<Option<String>> {
        Ok(api_data(&self.cat, self.id)?.version.clone())
    }

    async fn description(&self) -> Result<Option<String>> {
        Ok(api_data(&self.cat, self.id)?.description.clone())
    }

    async fn labels(&self) -> Result<Json<Value>> {
        Ok(Json(Value::Object(
            api_data(&self.cat, self.id)?.labels.clone(),
        )))
    }

    /// `{key: [values]}`, for filtering in portals.
    async fn attributes(&self) -> Result<Json<Value>> {
        Ok(Json(
            serde_json::to_value(&api_data(&self.cat, self.id)?.attributes).unwrap_or_default(),
        ))
    }

    /// Versions, oldest first.
    async fn versions(&self) -> Vec<ApiVersion> {
        self.cat
            .versions_of(self.id)
            .into_iter()
            .map(|(e, _)| ApiVersion {
                cat: self.cat.clone(),
                id: e.id,
            })
            .collect()
    }

    /// The version named like the API's `version`, else the newest.
    async fn current_version(&self) -> Option<ApiVersion> {
        self.cat.current_version(self.id).map(|(e, _)| ApiVersion {
            cat: self.cat.clone(),
            id: e.id,
        })
    }

    /// Documents, in creation order (`parent` gives the tree).
    async fn documents(&self) -> Vec<ApiDocument> {
        self.cat
            .documents_of(self.id)
            .into_iter()
            .map(|(e, _)| ApiDocument {
                cat: self.cat.clone(),
                id: e.id,
            })
            .collect()
    }

    async fn implementations(&self) -> Vec<ApiImplementation> {
        self.cat
            .implementations_of(self.id)
            .into_iter()
            .map(|(e, _)| ApiImplementation {
                cat: self.cat.clone(),
                id: e.id,
            })
            .collect()
    }

    async fn publications(&self) -> Vec<ApiPublication> {
        self.cat
            .publications_of_api(self.id)
            .into_iter()
            .map(|(e, _)| ApiPublication {
                cat: self.cat.clone(),
                id: e.id,
            })
            .collect()
    }

    /// The current version's operations, each with the routes of the
    /// implementing services that serve it.
    async fn operations(&self, ctx: &Context<'_>) -> Vec<ApiOperation> {
        let Some((_, v)) = self.cat.current_version(self.id) else {
            return Vec::new();
        };
        let routes = implementing_routes(ctx, &self.cat, self.id);
        let typed: Vec<(Route, graphql_schema::entity::Route)> = routes
            .into_iter()
            .filter_map(|r| {
                let t = r.0.typed.route(r.0.id)?.clone();
                Some((r, t))
            })
            .collect();
        let refs: Vec<&graphql_schema::entity::Route> = typed.iter().map(|(_, t)| t).collect();
        let (served, _) = drift::report(&v.spec.operations, v.spec.base_path.as_deref(), &refs);
        v.spec
            .operations
            .iter()
            .zip(served)
            .map(|(op, ids)| ApiOperation {
                method: op.method.clone(),
                path: op.path.clone(),
                operation_id: op.operation_id.clone(),
                summary: op.summary.clone(),
                deprecated: op.deprecated,
                implemented: !ids.is_empty(),
                routes: typed
                    .iter()
                    .filter(|(_, t)| ids.contains(&t.id))
                    .map(|(r, _)| r.clone())
                    .collect(),
            })
            .collect()
    }

    /// Routes of the implementing services that serve no documented operation.
    async fn undocumented_routes(&self, ctx: &Context<'_>) -> Vec<Route> {
        let (ops, base) = self
            .cat
            .current_version(self.id)
            .map(|(_, v)| (v.spec.operations.clone(), v.spec.base_path.clone()))
            .unwrap_or_default();
        let routes = implementing_routes(ctx, &self.cat, self.id);
        let typed: Vec<(Route, graphql_schema::entity::Route)> = routes
            .into_iter()
            .filter_map(|r| {
                let t = r.0.typed.route(r.0.id)?.clone();
                Some((r, t))
            })
            .collect();
        let refs: Vec<&graphql_schema::entity::Route> = typed.iter().map(|(_, t)| t).collect();
        let (_, undocumented) = drift::report(&ops, base.as_deref(), &refs);
        typed
            .into_iter()
            .filter(|(_, t)| undocumented.contains(&t.id))
            .map(|(r, _)| r)
            .collect()
    }

    async fn created_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(entry(&self.cat, self.id)?.created_at))
    }

    async fn updated_at(&self) -> Result<DateTime<Utc>> {
        Ok(datetime(entry(&self.cat, self.id)?.updated_at))
    }
}
