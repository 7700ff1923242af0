//! The GraphQL schema: control planes and their config entities (connections with
//! cursor pagination and name/tag filters), mutations that go through the plane's
//! actor, the config snapshot, and the `configChanges` subscription.

use std::collections::VecDeque;
use std::sync::Arc;

use async_graphql::{
    ComplexObject, Context, ID, InputObject, Json, Object, Result, Schema, SimpleObject,
    Subscription,
};
use futures_util::Stream;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::actor::{self, ChangeEvent, EntityChange, Op, Shared, SupMsg};
use crate::auth;
use crate::error::{ApiError, Code};
use crate::model::{Kind, Plan, Record};
use crate::store;

pub type PorticoSchema = Schema<Query, Mutation, Subscription>;

/// Every query: control planes and config, and identities.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(CoreQuery, crate::identity::IdentityQuery);

/// Every mutation.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(CoreMutation, crate::identity::IdentityMutation);

pub const MAX_DEPTH: usize = 12;
pub const MAX_COMPLEXITY: usize = 5000;
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

pub fn schema(shared: Arc<Shared>, planes: ractor::ActorRef<SupMsg>) -> PorticoSchema {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .data(shared)
        .data(planes)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .extension(auth::AuditExtension)
        .extension(crate::limits::FieldCaps)
        .finish()
}

/// The SDL of the schema (without data), for the snapshot in `graphql-schema`.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .finish()
        .sdl()
}

fn shared<'a>(ctx: &Context<'a>) -> &'a Arc<Shared> {
    ctx.data_unchecked::<Arc<Shared>>()
}

/// Turns an [`ApiError`] into the GraphQL error (the first problem; the others
/// are listed in `extensions.problems`).
fn gql(e: ApiError) -> async_graphql::Error {
    let mut errs = e.into_graphql();
    let first = errs.remove(0);
    if errs.is_empty() {
        return first;
    }
    let mut first = first;
    let more: Vec<async_graphql::Value> = errs
        .into_iter()
        .map(|x| {
            let mut m = async_graphql::indexmap::IndexMap::new();
            m.insert(
                async_graphql::Name::new("message"),
                async_graphql::Value::String(x.message.clone()),
            );
            if let Some(f) = x.extensions.as_ref().and_then(|e| e.get("field")).cloned() {
                m.insert(async_graphql::Name::new("field"), f);
            }
            async_graphql::Value::Object(m)
        })
        .collect();
    let ext = first.extensions.get_or_insert_with(Default::default);
    ext.set("problems", async_graphql::Value::List(more));
    first
}

fn parse_id(id: &ID, field: &str) -> Result<Uuid> {
    Uuid::parse_str(id.as_str())
        .map_err(|_| gql(ApiError::field(Code::Validation, field, "expected a UUID")))
}

fn plane(ctx: &Context<'_>, id: Uuid) -> Result<Arc<actor::View>> {
    shared(ctx)
        .view(id)
        .ok_or_else(|| gql(ApiError::not_found(format!("control plane {id}"))))
}

/// A control plane by id or name, after checking `action` on it (FORBIDDEN
/// whether or not it exists, unless the caller may act on every plane).
async fn plane_by_ref_checked(
    ctx: &Context<'_>,
    r: &str,
    action: &str,
) -> Result<Arc<actor::View>> {
    let found = match Uuid::parse_str(r) {
        Ok(id) => shared(ctx)
            .view(id)
            .map(|v| (id, Some(v)))
            .unwrap_or((id, None)),
        Err(_) => match shared(ctx).views().into_iter().find(|v| v.name == r) {
            Some(v) => (v.id, Some(v)),
            None => (Uuid::nil(), None),
        },
    };
    auth::check(ctx, &auth::plane(found.0), action).await?;
    found
        .1
        .ok_or_else(|| gql(ApiError::not_found(format!("control plane {r:?}"))))
}

#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// Cursor pagination over an ordered list: the cursor is the position after which
/// the page starts.
fn page<T: Clone>(
    items: &[T],
    first: Option<i32>,
    after: Option<String>,
) -> Result<(Vec<T>, PageInfo, usize)> {
    let first = match first {
        None => DEFAULT_PAGE,
        Some(n) if n < 0 => {
            return Err(gql(ApiError::field(
                Code::Validation,
                "first",
                "must be >= 0",
            )));
        }
        Some(n) => (n as usize).min(MAX_PAGE),
    };
    let start = match after {
        None => 0,
        Some(c) => c.parse::<usize>().map_err(|_| {
            gql(ApiError::field(
                Code::Validation,
                "after",
                "not a cursor from this list",
            ))
        })?,
    };
    let end = (start + first).min(items.len());
    let nodes = items
        .get(start.min(items.len())..end)
        .unwrap_or(&[])
        .to_vec();
    Ok((
        nodes,
        PageInfo {
            has_next_page: end < items.len(),
            end_cursor: (end > start).then(|| end.to_string()),
        },
        items.len(),
    ))
}

#[derive(SimpleObject)]
pub struct ControlPlaneConnection {
    pub nodes: Vec<ControlPlane>,
    pub page_info: PageInfo,
    pub total_count: usize,
}

#[derive(SimpleObject)]
pub struct ConfigEntityConnection {
    pub nodes: Vec<ConfigEntity>,
    pub page_info: PageInfo,
    pub total_count: usize,
}

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
    pub created_at: i64,
    pub updated_at: i64,
    #[graphql(skip)]
    view: Arc<actor::View>,
}

impl ControlPlane {
    fn from_view(v: Arc<actor::View>) -> ControlPlane {
        ControlPlane {
            id: ID(v.id.to_string()),
            name: v.name.clone(),
            description: v.description.clone(),
            labels: Json(v.labels.clone()),
            config_version: v.version,
            config_hash: v.hash.clone(),
            created_at: v.created_at,
            updated_at: v.updated_at,
            view: v,
        }
    }
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
            .filter(|r| f.tags.as_ref().is_none_or(|ts| crate::model::owned(r, ts)))
            .map(|r| ConfigEntity::from_record(self.view.id, r))
            .collect();
        let (nodes, page_info, total_count) = page(&list, first, after)?;
        crate::limits::charge(ctx, nodes.len())?;
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

/// A config entity (service, route, plugin, ...) in Kong's JSON form. Write-only
/// fields (keys, passwords, secrets, private keys) are never returned.
#[derive(SimpleObject, Clone)]
pub struct ConfigEntity {
    pub id: ID,
    pub control_plane_id: ID,
    pub kind: Kind,
    pub name: Option<String>,
    pub tags: Vec<String>,
    /// The entity's fields as Kong names them; references are `{"id": ...}`.
    pub data: Json<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ConfigEntity {
    fn from_record(plane: Uuid, r: &Record) -> ConfigEntity {
        ConfigEntity {
            id: ID(r.id.to_string()),
            control_plane_id: ID(plane.to_string()),
            kind: r.kind,
            name: r.name(),
            tags: r.tags(),
            data: Json(r.public_data()),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The full config of a plane at a version.
#[derive(SimpleObject, Clone)]
pub struct ConfigSnapshot {
    pub control_plane_id: ID,
    pub version: i64,
    pub hash: String,
    /// A decK document (`_format_version: "3.0"`), without write-only fields.
    pub document: Json<Value>,
}

fn snapshot(v: &actor::View) -> ConfigSnapshot {
    ConfigSnapshot {
        control_plane_id: ID(v.id.to_string()),
        version: v.version,
        hash: v.hash.clone(),
        document: Json(v.document(false)),
    }
}

/// One problem in a decK document: its path, what is wrong, and the code an
/// `applyConfig` would answer with (VALIDATION or CONFLICT).
#[derive(SimpleObject, Clone)]
pub struct ConfigProblem {
    pub field: String,
    pub message: String,
    pub code: String,
}

/// What `validateConfig` found.
#[derive(SimpleObject, Clone)]
pub struct ConfigValidation {
    pub valid: bool,
    pub problems: Vec<ConfigProblem>,
    /// What applying the document to an empty control plane creates.
    pub plan: Plan,
}

#[derive(Default)]
pub struct CoreQuery;

#[Object]
impl CoreQuery {
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
        let c = auth::caller(ctx)?;
        let sh = shared(ctx);
        // only what the caller may see
        let authz = sh.access.authz.read().await;
        let list: Vec<ControlPlane> = sh
            .views()
            .into_iter()
            .filter(|v| authz.allowed(&c.member, &auth::plane(v.id), "read"))
            .filter(|v| name.as_ref().is_none_or(|n| &v.name == n))
            .filter(|v| want.iter().all(|(k, x)| v.labels.get(k) == Some(x)))
            .map(ControlPlane::from_view)
            .collect();
        drop(authz);
        let (nodes, page_info, total_count) = page(&list, first, after)?;
        crate::limits::charge(ctx, nodes.len())?;
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
        let v = match (id, name) {
            (Some(id), _) => {
                let id = parse_id(&id, "id")?;
                auth::check(ctx, &auth::plane(id), "read").await?;
                shared(ctx).view(id)
            }
            (None, Some(n)) => {
                let v = shared(ctx).views().into_iter().find(|v| v.name == n);
                // a name the caller may not read answers as one that does not exist
                // only to those who may read every control plane
                match &v {
                    Some(v) => auth::check(ctx, &auth::plane(v.id), "read").await?,
                    None => auth::check(ctx, "control-planes/unknown", "read").await?,
                }
                v
            }
            (None, None) => {
                return Err(gql(ApiError::new(Code::Validation, "give id or name")));
            }
        };
        Ok(v.map(ControlPlane::from_view))
    }

    /// Gateway nodes of a control plane: connected ones and those seen before.
    async fn data_plane_nodes(
        &self,
        ctx: &Context<'_>,
        control_plane_id: ID,
    ) -> Result<Vec<crate::cluster::DataPlaneNode>> {
        let id = parse_id(&control_plane_id, "controlPlaneId")?;
        auth::check(ctx, &auth::plane(id), "read").await?;
        plane(ctx, id)?;
        let list = crate::cluster::node_list(shared(ctx), id);
        crate::limits::charge(ctx, list.len())?;
        Ok(list)
    }

    /// Checks a decK document with the node's loader and changes nothing (decK's
    /// `validate`): every problem with its path, and the plan applying it to an
    /// empty control plane would carry out.
    async fn validate_config(
        &self,
        ctx: &Context<'_>,
        document: Json<Value>,
    ) -> Result<ConfigValidation> {
        auth::caller(ctx)?;
        let mut doc = graphql_schema::deck::prepared(&document.0);
        let sealed: Vec<ConfigProblem> = crate::seal::open_document(&shared(ctx).sealer, &mut doc)
            .into_iter()
            .map(|(field, message)| ConfigProblem {
                field,
                message,
                code: "VALIDATION".into(),
            })
            .collect();
        let problems: Vec<ConfigProblem> = match crate::model::validate(&doc) {
            _ if !sealed.is_empty() => sealed,
            Ok(_) => Vec::new(),
            Err(es) => es
                .into_iter()
                .map(|e| ConfigProblem {
                    code: match e.problem {
                        graphql_schema::Problem::Duplicate => "CONFLICT",
                        graphql_schema::Problem::Invalid => "VALIDATION",
                    }
                    .to_string(),
                    field: e.path,
                    message: e.message,
                })
                .collect(),
        };
        let mut plan = Plan::default();
        let config = crate::model::validate(&doc).ok();
        let derived = config
            .as_ref()
            .map(|c| c.ids_by_source())
            .unwrap_or_default();
        if problems.is_empty()
            && let Ok(settled) =
                crate::model::settle(crate::model::flatten(&doc, &derived), &[], &[], &derived)
        {
            crate::limits::charge(ctx, settled.len())?;
            plan.creates = settled
                .into_iter()
                .map(|(kind, id, data)| crate::model::PlanItem {
                    kind,
                    id,
                    name: kind
                        .name_field()
                        .and_then(|f| data.get(f))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                })
                .collect();
        }
        Ok(ConfigValidation {
            valid: problems.is_empty(),
            problems,
            plan,
        })
    }

    /// The full configuration of a control plane (by id or name). With
    /// `withSecrets` (needs `deploy`), secrets are included in their stored form
    /// (hashes, and values sealed with this platform's key) so that the document
    /// restores the plane, on this platform, through `applyConfig`.
    async fn control_plane_config(
        &self,
        ctx: &Context<'_>,
        id: ID,
        with_secrets: Option<bool>,
    ) -> Result<ConfigSnapshot> {
        let v = plane_by_ref_checked(ctx, id.as_str(), "read").await?;
        // the answer grows with the plane
        crate::limits::charge(ctx, v.records.len().max(1))?;
        if !with_secrets.unwrap_or(false) {
            return Ok(snapshot(v.as_ref()));
        }
        auth::check(ctx, &auth::plane(v.id), "deploy").await?;
        let sealer = &shared(ctx).sealer;
        let stored: Vec<Record> = v
            .records
            .values()
            .map(|r| {
                Ok(Record {
                    data: sealer.seal_entity(r.kind, &r.data)?,
                    ..r.clone()
                })
            })
            .collect::<Result<_, crate::seal::SealError>>()
            .map_err(|e| gql(ApiError::internal(e)))?;
        Ok(ConfigSnapshot {
            control_plane_id: ID(v.id.to_string()),
            version: v.version,
            hash: v.hash.clone(),
            document: Json(crate::model::document(stored.iter(), true).0),
        })
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
pub struct DeleteInput {
    /// For entities: the control plane they belong to.
    pub control_plane_id: Option<ID>,
    pub id: ID,
}

#[derive(InputObject)]
pub struct CreateEntityInput {
    pub control_plane_id: ID,
    pub kind: Kind,
    /// Kong's fields for this kind (as in a decK file, without nested entities);
    /// references by id: `"service": {"id": "..."}`.
    pub data: Json<Value>,
}

#[derive(InputObject)]
pub struct UpdateEntityInput {
    pub control_plane_id: ID,
    pub id: ID,
    /// Fields to replace; `null` removes a field (back to its default).
    pub data: Json<Value>,
}

#[derive(InputObject)]
pub struct ApplyConfigInput {
    /// Control plane id or name.
    pub control_plane: String,
    /// A decK document (JSON; the CLI converts YAML).
    pub document: Json<Value>,
    /// Only entities with all these tags are owned (and they get them), as decK's
    /// `--select-tag`.
    pub select_tags: Option<Vec<String>>,
    /// Plan only; change nothing.
    pub dry_run: Option<bool>,
}

#[derive(InputObject)]
pub struct CreateDataPlaneCertificateInput {
    pub control_plane_id: ID,
    pub name: String,
    /// How long the certificate is valid, in days (default 365, at most 730).
    /// Rotate by issuing a new one for the node before it expires.
    pub validity_days: Option<i32>,
}

#[derive(InputObject)]
pub struct PinDataPlaneCertificateInput {
    pub control_plane_id: ID,
    pub name: String,
    /// PEM.
    pub certificate: String,
}

#[derive(SimpleObject)]
pub struct Deleted {
    pub id: ID,
    /// The config version after the delete (control planes: none).
    pub config_version: Option<i64>,
    /// Everything removed (cascaded plugins, credentials, targets, snis).
    pub plan: Option<Plan>,
}

#[derive(SimpleObject)]
pub struct ApplyResult {
    pub config_version: i64,
    pub plan: Plan,
    pub dry_run: bool,
}

fn object(v: Value, field: &str) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(gql(ApiError::field(
            Code::Validation,
            field,
            "expected an object",
        ))),
    }
}

#[derive(Default)]
pub struct CoreMutation;

#[Object]
impl CoreMutation {
    async fn create_control_plane(
        &self,
        ctx: &Context<'_>,
        input: CreateControlPlaneInput,
    ) -> Result<ControlPlane> {
        auth::check(ctx, "control-planes/new", "create").await?;
        actor::check_plane_name(&input.name).map_err(gql)?;
        let labels = input
            .labels
            .map(|l| l.0)
            .unwrap_or_else(|| Value::Object(Map::new()));
        actor::check_labels(&labels).map_err(gql)?;
        actor::check_text("input.description", &input.description, 1000).map_err(gql)?;
        let sh = shared(ctx);
        if sh.views().iter().any(|v| v.name == input.name) {
            return Err(gql(ApiError::field(
                Code::Conflict,
                "input.name",
                "a control plane with this name exists",
            )));
        }
        let id = Uuid::new_v4();
        let now = store::now_ms();
        store::insert_control_plane(
            &sh.db,
            store::control_plane::Model {
                id: id.to_string(),
                name: input.name,
                description: input.description,
                labels: labels.to_string(),
                version: 0,
                created_at: now,
                updated_at: now,
            },
        )
        .await
        .map_err(|e| {
            gql(ApiError::unique(
                e,
                "input.name",
                "a control plane with this name exists",
            ))
        })?;
        crate::cluster::create_plane_ca(&sh.db, &sh.sealer, id)
            .await
            .map_err(|e| gql(ApiError::internal(e)))?;
        let planes = ctx.data_unchecked::<ractor::ActorRef<SupMsg>>();
        let _ = store::notify(&sh.db, &format!("plane-created:{id}")).await;
        match planes.call(|r| SupMsg::Start(id, r), None).await {
            Ok(ractor::rpc::CallResult::Success(Ok(()))) => {}
            other => {
                return Err(gql(ApiError::internal(format!(
                    "control plane actor did not start: {other:?}"
                ))));
            }
        }
        Ok(ControlPlane::from_view(plane(ctx, id)?))
    }

    async fn update_control_plane(
        &self,
        ctx: &Context<'_>,
        input: UpdateControlPlaneInput,
    ) -> Result<ControlPlane> {
        let id = parse_id(&input.id, "input.id")?;
        auth::check(ctx, &auth::plane(id), "update").await?;
        let sh = shared(ctx);
        if let Some(n) = &input.name
            && sh.views().iter().any(|v| &v.name == n && v.id != id)
        {
            return Err(gql(ApiError::field(
                Code::Conflict,
                "input.name",
                "a control plane with this name exists",
            )));
        }
        let a = sh
            .actor(id)
            .ok_or_else(|| gql(ApiError::not_found(format!("control plane {id}"))))?;
        let r = a
            .call(
                |reply| actor::Msg::UpdateMeta {
                    name: input.name,
                    description: input.description.map(Some),
                    labels: input.labels.map(|l| l.0),
                    reply,
                },
                None,
            )
            .await;
        match r {
            Ok(ractor::rpc::CallResult::Success(r)) => r.map_err(gql)?,
            other => return Err(gql(ApiError::internal(format!("{other:?}")))),
        }
        Ok(ControlPlane::from_view(plane(ctx, id)?))
    }

    /// Deletes a control plane with all its entities and change log.
    async fn delete_control_plane(&self, ctx: &Context<'_>, input: DeleteInput) -> Result<Deleted> {
        let id = parse_id(&input.id, "input.id")?;
        auth::check(ctx, &auth::plane(id), "delete").await?;
        plane(ctx, id)?;
        let planes = ctx.data_unchecked::<ractor::ActorRef<SupMsg>>();
        let _ = planes.call(|r| SupMsg::Stop(id, r), None).await;
        store::delete_control_plane(&shared(ctx).db, &id.to_string())
            .await
            .map_err(|e| gql(ApiError::internal(e)))?;
        let _ = store::notify(&shared(ctx).db, &format!("plane-deleted:{id}")).await;
        Ok(Deleted {
            id: input.id,
            config_version: None,
            plan: None,
        })
    }

    async fn create_entity(
        &self,
        ctx: &Context<'_>,
        input: CreateEntityInput,
    ) -> Result<ConfigEntity> {
        let plane_id = parse_id(&input.control_plane_id, "input.controlPlaneId")?;
        auth::check(
            ctx,
            &auth::plane(plane_id),
            &format!("entities.write.{}", input.kind.as_str()),
        )
        .await?;
        let data = object(input.data.0, "input.data")?;
        let c = shared(ctx)
            .mutate(
                plane_id,
                Op::Create {
                    kind: input.kind,
                    data,
                },
            )
            .await
            .map_err(gql)?;
        c.record
            .map(|r| ConfigEntity::from_record(plane_id, &r))
            .ok_or_else(|| gql(ApiError::internal("created entity missing")))
    }

    async fn update_entity(
        &self,
        ctx: &Context<'_>,
        input: UpdateEntityInput,
    ) -> Result<ConfigEntity> {
        let plane_id = parse_id(&input.control_plane_id, "input.controlPlaneId")?;
        let id = parse_id(&input.id, "input.id")?;
        check_entity_write(ctx, plane_id, id).await?;
        let patch = object(input.data.0, "input.data")?;
        let c = shared(ctx)
            .mutate(plane_id, Op::Update { id, patch })
            .await
            .map_err(gql)?;
        c.record
            .map(|r| ConfigEntity::from_record(plane_id, &r))
            .ok_or_else(|| gql(ApiError::internal("updated entity missing")))
    }

    /// Deletes an entity and what Kong deletes with it (plugins scoped to it, a
    /// consumer's credentials, an upstream's targets, a certificate's snis). A
    /// service that routes still use is not deleted.
    async fn delete_entity(&self, ctx: &Context<'_>, input: DeleteInput) -> Result<Deleted> {
        let plane_id = match &input.control_plane_id {
            Some(p) => parse_id(p, "input.controlPlaneId")?,
            None => {
                return Err(gql(ApiError::field(
                    Code::Validation,
                    "input.controlPlaneId",
                    "required",
                )));
            }
        };
        let id = parse_id(&input.id, "input.id")?;
        check_entity_write(ctx, plane_id, id).await?;
        let c = shared(ctx)
            .mutate(plane_id, Op::Delete { id })
            .await
            .map_err(gql)?;
        Ok(Deleted {
            id: input.id,
            config_version: Some(c.version),
            plan: Some(c.plan),
        })
    }

    /// Makes a control plane match a decK document in one transaction (one
    /// version), and returns the plan it carried out (or would, with `dryRun`).
    async fn apply_config(
        &self,
        ctx: &Context<'_>,
        input: ApplyConfigInput,
    ) -> Result<ApplyResult> {
        let dry_run = input.dry_run.unwrap_or(false);
        let v = plane_by_ref_checked(ctx, &input.control_plane, "read").await?;
        // deploy writes every kind; without it, each entity in the plan is
        // authorized by its own kind (nested ones included)
        let allowed = if dry_run {
            None
        } else {
            let c = auth::caller(ctx)?;
            let sh = shared(ctx);
            let object = auth::plane(v.id);
            if auth::allowed(sh, c, &object, "deploy").await {
                None
            } else {
                let mut kinds = Vec::new();
                for k in crate::model::KINDS {
                    if auth::allowed(sh, c, &object, &format!("entities.write.{}", k.as_str()))
                        .await
                    {
                        kinds.push(*k);
                    }
                }
                if kinds.is_empty() {
                    return Err(auth::forbidden());
                }
                Some(kinds)
            }
        };
        let c = shared(ctx)
            .mutate(
                v.id,
                Op::Apply {
                    document: input.document.0,
                    select_tags: input.select_tags.unwrap_or_default(),
                    dry_run,
                    allowed,
                },
            )
            .await
            .map_err(gql)?;
        Ok(ApplyResult {
            config_version: c.version,
            plan: c.plan,
            dry_run,
        })
    }

    /// A client certificate for a gateway node of a control plane, signed by the
    /// plane's cluster CA. The private key is in this answer only.
    async fn create_data_plane_certificate(
        &self,
        ctx: &Context<'_>,
        input: CreateDataPlaneCertificateInput,
    ) -> Result<crate::cluster::DataPlaneCertificate> {
        let id = parse_id(&input.control_plane_id, "input.controlPlaneId")?;
        auth::check(ctx, &auth::plane(id), "nodes.manage").await?;
        plane(ctx, id)?;
        let days = i64::from(
            input
                .validity_days
                .unwrap_or(crate::cluster::NODE_DAYS as i32),
        );
        if !(1..=crate::cluster::NODE_MAX_DAYS).contains(&days) {
            return Err(gql(ApiError::field(
                Code::Validation,
                "input.validityDays",
                format!("1 to {}", crate::cluster::NODE_MAX_DAYS),
            )));
        }
        crate::cluster::issue_node_cert(shared(ctx), id, &input.name, days)
            .await
            .map_err(gql)
    }

    /// Pins a node certificate made elsewhere (e.g. self-signed): nodes
    /// presenting exactly this certificate are accepted for the control plane.
    async fn pin_data_plane_certificate(
        &self,
        ctx: &Context<'_>,
        input: PinDataPlaneCertificateInput,
    ) -> Result<crate::cluster::DataPlaneCertificate> {
        let id = parse_id(&input.control_plane_id, "input.controlPlaneId")?;
        auth::check(ctx, &auth::plane(id), "nodes.manage").await?;
        plane(ctx, id)?;
        crate::cluster::pin_node_cert(shared(ctx), id, &input.name, &input.certificate)
            .await
            .map_err(gql)
    }

    /// Revokes a node certificate: nodes using it are disconnected now and
    /// refused from then on.
    async fn revoke_data_plane_certificate(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let id = parse_id(&id, "id")?;
        let plane_of = shared(ctx)
            .certs
            .0
            .read()
            .ok()
            .and_then(|m| m.values().find(|c| c.id == id).map(|c| c.control_plane_id));
        auth::check(
            ctx,
            &auth::plane(plane_of.unwrap_or_default()),
            "nodes.manage",
        )
        .await?;
        crate::cluster::revoke(shared(ctx), id).await.map_err(gql)
    }
}

/// One committed version, or a snapshot when the change log no longer covers the
/// version a subscriber asked from.
#[derive(SimpleObject, Clone)]
pub struct ConfigChange {
    pub control_plane_id: ID,
    pub version: i64,
    pub hash: String,
    pub at: i64,
    pub changes: Vec<EntityChange>,
    pub snapshot: Option<ConfigSnapshot>,
}

impl From<&ChangeEvent> for ConfigChange {
    fn from(e: &ChangeEvent) -> ConfigChange {
        ConfigChange {
            control_plane_id: ID(e.control_plane_id.to_string()),
            version: e.version,
            hash: e.hash.clone(),
            at: e.at,
            // API readers never see write-only fields
            changes: e
                .changes
                .iter()
                .map(|c| EntityChange {
                    data: c
                        .data
                        .as_ref()
                        .map(|d| Json(crate::model::strip_secrets(c.kind, &d.0))),
                    ..c.clone()
                })
                .collect(),
            snapshot: None,
        }
    }
}

/// Whether a subscriber may still read a plane (its token still valid).
async fn still_allowed(sh: &Shared, c: &auth::Caller, plane: Uuid) -> bool {
    auth::allowed(sh, c, &auth::plane(plane), "read").await && auth::still_valid(sh, c).await
}

/// `entities.write.<KIND>` for the kind of a stored entity (FORBIDDEN without
/// read access, whether or not it exists).
async fn check_entity_write(ctx: &Context<'_>, plane_id: Uuid, id: Uuid) -> Result<()> {
    auth::check(ctx, &auth::plane(plane_id), "read").await?;
    let kind = shared(ctx)
        .view(plane_id)
        .and_then(|v| v.records.get(&id).map(|r| r.kind));
    match kind {
        Some(k) => {
            auth::check(
                ctx,
                &auth::plane(plane_id),
                &format!("entities.write.{}", k.as_str()),
            )
            .await
        }
        None => Ok(()),
    }
}

/// The changes after `since` from the log, or a snapshot when the log starts later.
async fn backlog(sh: &Shared, plane: Uuid, since: i64) -> Result<VecDeque<ConfigChange>, ApiError> {
    let p = plane.to_string();
    let oldest = store::oldest_change(&sh.db, &p)
        .await
        .map_err(ApiError::internal)?;
    let view = sh
        .view(plane)
        .ok_or_else(|| ApiError::not_found(format!("control plane {plane}")))?;
    if since < view.version && oldest.is_none_or(|o| o > since + 1) {
        return Ok(VecDeque::from([ConfigChange {
            control_plane_id: ID(p),
            version: view.version,
            hash: view.hash.clone(),
            at: view.updated_at,
            changes: Vec::new(),
            snapshot: Some(snapshot(&view)),
        }]));
    }
    let mut out = VecDeque::new();
    for row in store::changes_since(&sh.db, &p, since)
        .await
        .map_err(ApiError::internal)?
    {
        let ev = actor::read_change(&sh.sealer, &row).map_err(ApiError::internal)?;
        out.push_back(ConfigChange::from(&ev));
    }
    Ok(out)
}

pub struct Subscription;

#[Subscription]
impl Subscription {
    /// The node list of a control plane, now and whenever it changes.
    async fn data_plane_nodes(
        &self,
        ctx: &Context<'_>,
        control_plane_id: ID,
    ) -> Result<impl Stream<Item = Vec<crate::cluster::DataPlaneNode>> + use<>> {
        let id = parse_id(&control_plane_id, "controlPlaneId")?;
        auth::check(ctx, &auth::plane(id), "read").await?;
        plane(ctx, id)?;
        let caller = auth::caller(ctx)?.clone();
        let sh = shared(ctx).clone();
        let mut rx = sh.nodes_tick.subscribe();
        rx.mark_changed();
        let access = sh.access.tick.subscribe();
        Ok(futures_util::stream::unfold(
            (sh, rx),
            move |(sh, mut rx)| {
                let caller = caller.clone();
                let mut access = access.clone();
                async move {
                    loop {
                        tokio::select! {
                            r = rx.changed() => { r.ok()?; break; }
                            r = access.changed() => {
                                r.ok()?;
                                if !still_allowed(&sh, &caller, id).await { return None; }
                            }
                        }
                    }
                    if !still_allowed(&sh, &caller, id).await {
                        return None;
                    }
                    let list = crate::cluster::node_list(&sh, id);
                    Some((list, (sh, rx)))
                }
            },
        ))
    }

    /// Every committed change of a control plane after `sinceVersion`, once and in
    /// order; first a snapshot when the change log no longer reaches back that far.
    async fn config_changes(
        &self,
        ctx: &Context<'_>,
        control_plane_id: ID,
        since_version: Option<i64>,
    ) -> Result<impl Stream<Item = ConfigChange> + use<>> {
        let id = parse_id(&control_plane_id, "controlPlaneId")?;
        auth::check(ctx, &auth::plane(id), "read").await?;
        let caller = auth::caller(ctx)?.clone();
        let sh = shared(ctx).clone();
        let view = plane(ctx, id)?;
        // subscribe first, then read the log: nothing falls between the two
        let rx = sh.subscribe(id);
        let since = since_version.unwrap_or(view.version);
        let pending = backlog(&sh, id, since).await.map_err(gql)?;
        let last = pending.back().map(|c| c.version).unwrap_or(since);
        struct St {
            sh: Arc<Shared>,
            id: Uuid,
            rx: tokio::sync::broadcast::Receiver<Arc<ChangeEvent>>,
            pending: VecDeque<ConfigChange>,
            last: i64,
            caller: auth::Caller,
            access: tokio::sync::watch::Receiver<u64>,
        }
        let access = sh.access.tick.subscribe();
        let st = St {
            sh,
            id,
            rx,
            pending,
            last,
            caller,
            access,
        };
        Ok(futures_util::stream::unfold(st, |mut st| async move {
            loop {
                if let Some(c) = st.pending.pop_front() {
                    st.last = st.last.max(c.version);
                    return Some((c, st));
                }
                // the stream ends when its caller loses access (or its token)
                let got = tokio::select! {
                    r = st.rx.recv() => r,
                    r = st.access.changed() => {
                        r.ok()?;
                        if !still_allowed(&st.sh, &st.caller, st.id).await {
                            return None;
                        }
                        continue;
                    }
                };
                if !still_allowed(&st.sh, &st.caller, st.id).await {
                    return None;
                }
                match got {
                    Ok(ev) if ev.version > st.last => {
                        st.last = ev.version;
                        return Some((ConfigChange::from(ev.as_ref()), st));
                    }
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        match backlog(&st.sh, st.id, st.last).await {
                            Ok(p) => st.pending = p,
                            Err(_) => return None,
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        }))
    }
}
