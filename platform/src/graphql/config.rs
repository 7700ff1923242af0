//! A control plane's gateway configuration: entities (create, update, delete,
//! each authorized by its kind), decK documents (`applyConfig`, authorized entity
//! by entity; `validateConfig`; `controlPlaneConfig`). Secrets are never returned
//! to readers. (The `configChanges` subscription is in `changes.rs`.)

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::connection::{connection, datetime};
use super::error::{Gql, gql};
use super::guard::{caller, check, parse_id, plane_by_ref_checked, state};
use crate::auth;
use crate::auth::Action;
use crate::config::{KINDS, Kind, Op, Plan, PlanItem, Record, View};
use crate::error::{Error, Field};

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
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Creation order (the list's sort key).
    #[graphql(skip)]
    pub seq: i64,
}

impl ConfigEntity {
    pub fn from_record(plane: Uuid, r: &Record) -> ConfigEntity {
        ConfigEntity {
            id: ID(r.id.to_string()),
            control_plane_id: ID(plane.to_string()),
            kind: r.kind,
            name: r.name(),
            tags: r.tags(),
            data: Json(r.public_data()),
            created_at: datetime(r.created_at),
            updated_at: datetime(r.updated_at),
            seq: r.seq,
        }
    }
}

connection!(ConfigEntityConnection, ConfigEntityEdge, ConfigEntity);

/// The full config of a plane at a version.
#[derive(SimpleObject, Clone)]
pub struct ConfigSnapshot {
    pub control_plane_id: ID,
    pub version: i64,
    pub hash: String,
    /// A decK document (`_format_version: "3.0"`), without write-only fields.
    pub document: Json<Value>,
}

pub fn snapshot(v: &View) -> ConfigSnapshot {
    ConfigSnapshot {
        control_plane_id: ID(v.id.to_string()),
        version: v.version,
        hash: v.hash.clone(),
        document: Json(v.document(false)),
    }
}

/// What `apply` will do.
#[derive(SimpleObject, Clone, Default)]
#[graphql(name = "ConfigPlan")]
pub struct PlanOut {
    pub creates: Vec<PlanItemOut>,
    pub updates: Vec<PlanItemOut>,
    pub deletes: Vec<PlanItemOut>,
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "ConfigPlanItem")]
pub struct PlanItemOut {
    pub kind: Kind,
    pub id: ID,
    pub name: Option<String>,
}

impl From<&PlanItem> for PlanItemOut {
    fn from(i: &PlanItem) -> PlanItemOut {
        PlanItemOut {
            kind: i.kind,
            id: ID(i.id.to_string()),
            name: i.name.clone(),
        }
    }
}

impl From<&Plan> for PlanOut {
    fn from(p: &Plan) -> PlanOut {
        let list = |l: &[PlanItem]| l.iter().map(PlanItemOut::from).collect();
        PlanOut {
            creates: list(&p.creates),
            updates: list(&p.updates),
            deletes: list(&p.deletes),
        }
    }
}

/// One problem in a decK document: its path, what is wrong, and the code an
/// `applyConfig` would answer with (VALIDATION or CONFLICT).
#[derive(SimpleObject, Clone)]
pub struct ConfigProblem {
    pub field: String,
    pub message: String,
    pub code: UserErrorCode,
}

/// What kind of problem an input has.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum UserErrorCode {
    /// A value is invalid.
    Validation,
    /// The change conflicts with what exists (a name taken, an entity in use).
    Conflict,
    /// The entity (or one the input references) does not exist.
    NotFound,
}

/// What `validateConfig` found.
#[derive(SimpleObject, Clone)]
pub struct ConfigValidation {
    pub valid: bool,
    pub problems: Vec<ConfigProblem>,
    /// What applying the document to an empty control plane creates.
    pub plan: PlanOut,
}

#[derive(SimpleObject)]
pub struct ApplyResult {
    pub config_version: i64,
    pub plan: PlanOut,
    pub dry_run: bool,
}

#[derive(InputObject)]
pub struct DeleteEntityInput {
    pub control_plane_id: ID,
    pub id: ID,
}

/// What a delete removed.
#[derive(SimpleObject)]
pub struct Deleted {
    pub id: ID,
    /// The config version after the delete.
    pub config_version: i64,
    /// Everything removed (cascaded plugins, credentials, targets, snis).
    pub plan: PlanOut,
}

#[derive(Default)]
pub struct ConfigQuery;

#[Object]
impl ConfigQuery {
    /// Checks a decK document with the node's loader and changes nothing (decK's
    /// `validate`): every problem with its path, and the plan applying it to an
    /// empty control plane would carry out.
    async fn validate_config(
        &self,
        ctx: &Context<'_>,
        document: Json<Value>,
    ) -> Result<ConfigValidation> {
        caller(ctx)?;
        let mut doc = graphql_schema::deck::prepared(&document.0);
        let sealed: Vec<ConfigProblem> = crate::seal::open_document(&state(ctx).sealer, &mut doc)
            .into_iter()
            .map(|(field, message)| ConfigProblem {
                field,
                message,
                code: UserErrorCode::Validation,
            })
            .collect();
        let validated = crate::config::document::validate(&doc);
        let problems: Vec<ConfigProblem> = match &validated {
            _ if !sealed.is_empty() => sealed,
            Ok(_) => Vec::new(),
            Err(es) => es
                .iter()
                .map(|e| ConfigProblem {
                    code: match e.problem {
                        graphql_schema::Problem::Duplicate => UserErrorCode::Conflict,
                        graphql_schema::Problem::Invalid => UserErrorCode::Validation,
                    },
                    field: e.path.clone(),
                    message: e.message.clone(),
                })
                .collect(),
        };
        let mut plan = PlanOut::default();
        if let (true, Ok(config)) = (problems.is_empty(), &validated) {
            let derived = config.ids_by_source();
            let desired = crate::config::document::flatten(&doc, &derived);
            if let Ok(settled) = crate::config::plan::settle(desired, &[], &[], &derived) {
                super::limits::charge(ctx, settled.len())?;
                plan.creates = settled
                    .into_iter()
                    .map(|(kind, id, data)| PlanItemOut {
                        kind,
                        id: ID(id.to_string()),
                        name: kind
                            .name_field()
                            .and_then(|f| data.get(f))
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    })
                    .collect();
            }
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
        let v = plane_by_ref_checked(ctx, id.as_str(), Action::Read).await?;
        // the answer grows with the plane
        super::limits::charge(ctx, v.records.len().max(1))?;
        if !with_secrets.unwrap_or(false) {
            return Ok(snapshot(v.as_ref()));
        }
        check(ctx, &auth::plane(v.id), Action::Deploy).await?;
        let sealer = &state(ctx).sealer;
        let stored: Vec<Record> = v
            .records
            .values()
            .map(|r| {
                Ok(Record {
                    data: sealer
                        .seal_entity(r.kind, &r.data)
                        .map_err(Error::internal)?,
                    ..r.clone()
                })
            })
            .collect::<Result<_, Error>>()
            .gql()?;
        Ok(ConfigSnapshot {
            control_plane_id: ID(v.id.to_string()),
            version: v.version,
            hash: v.hash.clone(),
            document: Json(crate::config::document(stored.iter(), true).0),
        })
    }
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

fn object(v: Value) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(gql(Error::invalid(
            Field::Data(String::new()),
            "expected an object",
        ))),
    }
}

/// `entities.write.<KIND>` for the kind of a stored entity (FORBIDDEN without
/// read access, whether or not it exists).
async fn check_entity_write(ctx: &Context<'_>, plane_id: Uuid, id: Uuid) -> Result<()> {
    check(ctx, &auth::plane(plane_id), Action::Read).await?;
    let kind = state(ctx)
        .planes
        .view(plane_id)
        .and_then(|v| v.records.get(&id).map(|r| r.kind));
    match kind {
        Some(k) => {
            check(
                ctx,
                &auth::plane(plane_id),
                Action::EntitiesWrite(k.as_str()),
            )
            .await
        }
        None => Ok(()),
    }
}

#[derive(Default)]
pub struct ConfigMutation;

#[Object]
impl ConfigMutation {
    async fn create_entity(
        &self,
        ctx: &Context<'_>,
        input: CreateEntityInput,
    ) -> Result<ConfigEntity> {
        let plane_id = parse_id(&input.control_plane_id, "input.controlPlaneId")?;
        check(
            ctx,
            &auth::plane(plane_id),
            Action::EntitiesWrite(input.kind.as_str()),
        )
        .await?;
        let data = object(input.data.0)?;
        let c = state(ctx)
            .planes
            .mutate(
                plane_id,
                Op::Create {
                    kind: input.kind,
                    data,
                },
            )
            .await
            .gql()?;
        c.record
            .map(|r| ConfigEntity::from_record(plane_id, &r))
            .ok_or_else(|| gql(Error::internal("created entity missing")))
    }

    async fn update_entity(
        &self,
        ctx: &Context<'_>,
        input: UpdateEntityInput,
    ) -> Result<ConfigEntity> {
        let plane_id = parse_id(&input.control_plane_id, "input.controlPlaneId")?;
        let id = parse_id(&input.id, "input.id")?;
        check_entity_write(ctx, plane_id, id).await?;
        let patch = object(input.data.0)?;
        let c = state(ctx)
            .planes
            .mutate(plane_id, Op::Update { id, patch })
            .await
            .gql()?;
        c.record
            .map(|r| ConfigEntity::from_record(plane_id, &r))
            .ok_or_else(|| gql(Error::internal("updated entity missing")))
    }

    /// Deletes an entity and what Kong deletes with it (plugins scoped to it, a
    /// consumer's credentials, an upstream's targets, a certificate's snis). A
    /// service that routes still use is not deleted.
    async fn delete_entity(&self, ctx: &Context<'_>, input: DeleteEntityInput) -> Result<Deleted> {
        let plane_id = parse_id(&input.control_plane_id, "input.controlPlaneId")?;
        let id = parse_id(&input.id, "input.id")?;
        check_entity_write(ctx, plane_id, id).await?;
        let c = state(ctx)
            .planes
            .mutate(plane_id, Op::Delete { id })
            .await
            .gql()?;
        Ok(Deleted {
            id: input.id,
            config_version: c.version,
            plan: PlanOut::from(&c.plan),
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
        let v = plane_by_ref_checked(ctx, &input.control_plane, Action::Read).await?;
        // deploy writes every kind; without it, each entity in the plan is
        // authorized by its own kind (nested ones included)
        let allowed = if dry_run {
            None
        } else {
            let c = caller(ctx)?;
            let access = &state(ctx).access;
            let object = auth::plane(v.id);
            if access.allowed(c, &object, Action::Deploy).await {
                None
            } else {
                let mut kinds = Vec::new();
                for k in KINDS {
                    if access
                        .allowed(c, &object, Action::EntitiesWrite(k.as_str()))
                        .await
                    {
                        kinds.push(*k);
                    }
                }
                if kinds.is_empty() {
                    return Err(super::guard::forbidden());
                }
                Some(kinds)
            }
        };
        let c = state(ctx)
            .planes
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
            .gql()?;
        Ok(ApplyResult {
            config_version: c.version,
            plan: PlanOut::from(&c.plan),
            dry_run,
        })
    }
}
