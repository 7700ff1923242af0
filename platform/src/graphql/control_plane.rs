//! Control planes: listing (filtered by name and labels, only what the caller may
//! read), reading one by id or name, creating, updating and deleting them.
//! The `ControlPlane` type and its entities are in `entities/`.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Json, Object, Result, SimpleObject};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::connection::page;
use super::entities::{ControlPlane, ControlPlaneConnection, paging};
use super::error::{Gql, gql};
use super::guard::{caller, check, parse_id, state};
use crate::actors::control_plane::Meta;
use crate::actors::control_planes::NewPlane;
use crate::auth;
use crate::auth::{Action, Resource};
use crate::config::View;
use crate::error::{Error, Field};

/// A plane by id, or NOT_FOUND.
pub fn plane(ctx: &Context<'_>, id: Uuid) -> Result<Arc<View>> {
    state(ctx)
        .planes
        .view(id)
        .ok_or_else(|| gql(Error::NotFound(format!("control plane {id}"))))
}

#[derive(Default)]
pub struct ControlPlaneQuery;

#[Object]
impl ControlPlaneQuery {
    /// Control planes, filtered by exact name or labels (all must match).
    #[allow(clippy::too_many_arguments)]
    async fn control_planes(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        labels: Option<Json<Value>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<ControlPlaneConnection> {
        let want: Map<String, Value> = labels
            .and_then(|l| l.0.as_object().cloned())
            .unwrap_or_default();
        let c = caller(ctx)?;
        let st = state(ctx);
        // only what the caller may see
        let views = st
            .access
            .allowed_each(c, st.planes.views(), |v| auth::plane(v.id), Action::Read)
            .await;
        let mut list: Vec<ControlPlane> = views
            .into_iter()
            .filter(|v| name.as_ref().is_none_or(|n| &v.name == n))
            .filter(|v| want.iter().all(|(k, x)| v.labels.get(k) == Some(x)))
            .map(ControlPlane::from_view)
            .collect();
        let key = |p: &ControlPlane| (p.view.created_at, p.view.id.to_string());
        list.sort_by_key(key);
        let p = page(list, key, &paging(first, after, last, before)).map_err(gql)?;
        super::limits::charge(ctx, p.items.len())?;
        Ok(p.into())
    }

    /// A control plane by id or by name.
    async fn control_plane(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        name: Option<String>,
    ) -> Result<Option<ControlPlane>> {
        let planes = &state(ctx).planes;
        let v = match (id, name) {
            (Some(id), _) => {
                let id = parse_id(&id, "id")?;
                check(ctx, &auth::plane(id), Action::Read).await?;
                planes.view(id)
            }
            (None, Some(n)) => {
                let v = planes.by_name(&n);
                // a name the caller may not read answers as one that does not exist
                // only to those who may read every control plane
                match &v {
                    Some(v) => check(ctx, &auth::plane(v.id), Action::Read).await?,
                    None => {
                        check(ctx, &Resource::ControlPlane("unknown".into()), Action::Read).await?
                    }
                }
                v
            }
            (None, None) => {
                return Err(gql(Error::invalid(Field::None, "give id or name")));
            }
        };
        Ok(v.map(ControlPlane::from_view))
    }
}

#[derive(InputObject)]
pub struct CreateControlPlaneInput {
    pub name: String,
    pub description: Option<String>,
    pub labels: Option<Json<Value>>,
}

#[derive(InputObject)]
pub struct UpdateControlPlaneInput {
    pub id: ID,
    pub name: Option<String>,
    pub description: Option<String>,
    pub labels: Option<Json<Value>>,
}

#[derive(InputObject)]
pub struct DeleteControlPlaneInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct DeleteControlPlanePayload {
    pub deleted_control_plane_id: ID,
}

#[derive(Default)]
pub struct ControlPlaneMutation;

#[Object]
impl ControlPlaneMutation {
    async fn create_control_plane(
        &self,
        ctx: &Context<'_>,
        input: CreateControlPlaneInput,
    ) -> Result<ControlPlane> {
        check(ctx, &Resource::NewControlPlane, Action::Create).await?;
        let v = state(ctx)
            .planes
            .create(NewPlane {
                name: input.name,
                description: input.description,
                labels: input
                    .labels
                    .map(|l| l.0)
                    .unwrap_or_else(|| Value::Object(Map::new())),
            })
            .await
            .gql()?;
        Ok(ControlPlane::from_view(v))
    }

    async fn update_control_plane(
        &self,
        ctx: &Context<'_>,
        input: UpdateControlPlaneInput,
    ) -> Result<ControlPlane> {
        let id = parse_id(&input.id, "input.id")?;
        check(ctx, &auth::plane(id), Action::Update).await?;
        let v = state(ctx)
            .planes
            .update_meta(
                id,
                Meta {
                    name: input.name,
                    description: input.description.map(Some),
                    labels: input.labels.map(|l| l.0),
                },
            )
            .await
            .gql()?;
        Ok(ControlPlane::from_view(v))
    }

    /// Deletes a control plane with all its entities and change log; its node
    /// certificates are revoked and its nodes disconnected at once.
    async fn delete_control_plane(
        &self,
        ctx: &Context<'_>,
        input: DeleteControlPlaneInput,
    ) -> Result<DeleteControlPlanePayload> {
        let id = parse_id(&input.id, "input.id")?;
        check(ctx, &auth::plane(id), Action::Delete).await?;
        plane(ctx, id)?;
        let st = state(ctx);
        st.planes.delete(id).await.gql()?;
        st.planes_deleted(id).await;
        Ok(DeleteControlPlanePayload {
            deleted_control_plane_id: input.id,
        })
    }
}
