//! Control planes: listing (filtered by name and labels, only what the caller may
//! read), reading one by id or name, creating, updating and deleting them.
//! Their config entities are fields of `ControlPlane` (see `config.rs`).

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, ID, InputObject, Json, Object, Result, SimpleObject};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::config::{ConfigEntity, ConfigEntityConnection, DeleteInput, Deleted};
use super::connection::{PageInfo, page};
use super::error::{Gql, gql};
use super::guard::{caller, check, parse_id, state};
use crate::actors::control_plane::Meta;
use crate::actors::control_planes::NewPlane;
use crate::auth;
use crate::config::{Kind, View};
use crate::error::{Error, Field};

/// A control plane: a named set of gateway configuration, versioned.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct ControlPlane {
    pub id: ID,
    pub name: String,
    pub description: Option<String>,
    pub labels: Json<Value>,
    /// Bumped by every committed change.
    pub config_version: i64,
    /// Hash of the canonical config; a node with the same config reports the same.
    pub config_hash: String,
    /// Why the stored config does not validate, when it does not (nodes are sent
    /// nothing until a change fixes it).
    pub config_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    #[graphql(skip)]
    pub view: Arc<View>,
}

impl ControlPlane {
    pub fn from_view(v: Arc<View>) -> ControlPlane {
        ControlPlane {
            id: ID(v.id.to_string()),
            name: v.name.clone(),
            description: v.description.clone(),
            labels: Json(v.labels.clone()),
            config_version: v.version,
            config_hash: v.hash.clone(),
            config_error: v.invalid.clone(),
            created_at: v.created_at,
            updated_at: v.updated_at,
            view: v,
        }
    }
}

#[derive(SimpleObject)]
pub struct ControlPlaneConnection {
    pub nodes: Vec<ControlPlane>,
    pub page_info: PageInfo,
    pub total_count: usize,
}

#[derive(InputObject, Default)]
pub struct EntityFilter {
    /// Exact name (for consumers: username; targets: target).
    pub name: Option<String>,
    /// Entities carrying all of these tags.
    pub tags: Option<Vec<String>>,
}

#[ComplexObject]
impl ControlPlane {
    /// Config entities of this plane, in creation order.
    async fn entities(
        &self,
        ctx: &Context<'_>,
        kind: Option<Kind>,
        filter: Option<EntityFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ConfigEntityConnection> {
        let f = filter.unwrap_or_default();
        let list: Vec<ConfigEntity> = self
            .view
            .list(kind)
            .into_iter()
            .filter(|r| {
                f.name
                    .as_ref()
                    .is_none_or(|n| r.name().as_deref() == Some(n))
            })
            .filter(|r| f.tags.as_ref().is_none_or(|ts| crate::config::owned(r, ts)))
            .map(|r| ConfigEntity::from_record(self.view.id, r))
            .collect();
        let (nodes, page_info, total_count) = page(&list, first, after)?;
        super::limits::charge(ctx, nodes.len())?;
        Ok(ConfigEntityConnection {
            nodes,
            page_info,
            total_count,
        })
    }

    /// One entity by id.
    async fn entity(&self, id: ID) -> Result<Option<ConfigEntity>> {
        let id = parse_id(&id, "id")?;
        Ok(self
            .view
            .records
            .get(&id)
            .map(|r| ConfigEntity::from_record(self.view.id, r)))
    }
}

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
    async fn control_planes(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        labels: Option<Json<Value>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ControlPlaneConnection> {
        let want: Map<String, Value> = labels
            .and_then(|l| l.0.as_object().cloned())
            .unwrap_or_default();
        let c = caller(ctx)?;
        let st = state(ctx);
        // only what the caller may see
        let views = st
            .access
            .allowed_each(c, st.planes.views(), |v| auth::plane(v.id), "read")
            .await;
        let list: Vec<ControlPlane> = views
            .into_iter()
            .filter(|v| name.as_ref().is_none_or(|n| &v.name == n))
            .filter(|v| want.iter().all(|(k, x)| v.labels.get(k) == Some(x)))
            .map(ControlPlane::from_view)
            .collect();
        let (nodes, page_info, total_count) = page(&list, first, after)?;
        super::limits::charge(ctx, nodes.len())?;
        Ok(ControlPlaneConnection {
            nodes,
            page_info,
            total_count,
        })
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
                check(ctx, &auth::plane(id), "read").await?;
                planes.view(id)
            }
            (None, Some(n)) => {
                let v = planes.by_name(&n);
                // a name the caller may not read answers as one that does not exist
                // only to those who may read every control plane
                match &v {
                    Some(v) => check(ctx, &auth::plane(v.id), "read").await?,
                    None => check(ctx, "control-planes/unknown", "read").await?,
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

#[derive(Default)]
pub struct ControlPlaneMutation;

#[Object]
impl ControlPlaneMutation {
    async fn create_control_plane(
        &self,
        ctx: &Context<'_>,
        input: CreateControlPlaneInput,
    ) -> Result<ControlPlane> {
        check(ctx, "control-planes/new", "create").await?;
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
        check(ctx, &auth::plane(id), "update").await?;
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
    async fn delete_control_plane(&self, ctx: &Context<'_>, input: DeleteInput) -> Result<Deleted> {
        let id = parse_id(&input.id, "input.id")?;
        check(ctx, &auth::plane(id), "delete").await?;
        plane(ctx, id)?;
        let st = state(ctx);
        st.planes.delete(id).await.gql()?;
        st.planes_deleted(id).await;
        Ok(Deleted {
            id: input.id,
            config_version: None,
            plan: None,
        })
    }
}
