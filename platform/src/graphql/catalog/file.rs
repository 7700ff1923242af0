//! Portals and the catalog as code: `applyCatalog` makes the catalog what a
//! file's `portals:` and `apis:` sections say (in one commit, or a plan only),
//! `catalogDocument` writes the catalog as such a file. Organization-wide: it
//! needs the catalog and portal roles on all of them.

use std::sync::{Arc, Mutex};

use async_graphql::{Context, InputObject, Json, Object, Result, SimpleObject};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{Action, Resource};
use crate::config::Kind;
use crate::error::{Error, Field};
use crate::graphql::error::{Gql, gql};
use crate::graphql::guard::{check, state};
use crate::portal::file::{self, Names, PlanLine, Services};

#[derive(InputObject)]
pub struct ApplyCatalogInput {
    /// A file with `portals:` and/or `apis:` (JSON; the CLI converts YAML and
    /// reads `spec: {file: ...}` into `spec: {content: ...}`).
    pub document: Json<Value>,
    /// Plan only; change nothing.
    pub dry_run: Option<bool>,
}

/// One line of a catalog plan.
#[derive(SimpleObject, Clone)]
pub struct CatalogPlanItem {
    /// `create`, `update` or `delete`.
    pub action: String,
    /// `portal`, `page`, `snippet`, `api`, `api-version`, `api-document`,
    /// `api-implementation`, `api-publication`.
    pub kind: String,
    pub name: String,
}

#[derive(SimpleObject)]
pub struct ApplyCatalogResult {
    pub version: i64,
    pub dry_run: bool,
    pub plan: Vec<CatalogPlanItem>,
}

fn items(plan: &[PlanLine]) -> Vec<CatalogPlanItem> {
    plan.iter()
        .map(|l| CatalogPlanItem {
            action: l.action.into(),
            kind: l.kind.into(),
            name: l.name.clone(),
        })
        .collect()
}

async fn check_all(ctx: &Context<'_>, apis: bool, portals: bool, action: Action) -> Result<()> {
    if apis {
        check(ctx, &Resource::ApiProduct("*".into()), action).await?;
    }
    if portals {
        check(ctx, &Resource::Portal("*".into()), action).await?;
    }
    Ok(())
}

/// The services a file's implementations name, by control plane and service
/// name (or id); read access to each plane needed.
async fn services(ctx: &Context<'_>, f: &file::CatalogFile) -> Result<Services> {
    let mut out = Services::new();
    let planes = &state(ctx).planes;
    for a in f.apis.iter().flatten() {
        for imp in &a.implementations {
            let Some(v) = planes.by_ref(&imp.control_plane) else {
                continue;
            };
            check(ctx, &crate::auth::plane(v.id), Action::Read).await?;
            let svc = v
                .list(Some(Kind::Service))
                .into_iter()
                .find(|r| {
                    r.name().as_deref() == Some(&imp.service) || r.id.to_string() == imp.service
                })
                .map(|r| r.id);
            if let Some(s) = svc {
                out.insert((imp.control_plane.clone(), imp.service.clone()), (v.id, s));
            }
        }
    }
    Ok(out)
}

#[derive(Default)]
pub struct CatalogFileQuery;

#[Object]
impl CatalogFileQuery {
    /// The catalog and portals as a file that `applyCatalog` takes back (with
    /// an empty plan).
    async fn catalog_document(&self, ctx: &Context<'_>) -> Result<Json<Value>> {
        check_all(ctx, true, true, Action::Read).await?;
        let st = state(ctx);
        let cat = st.catalog.view();
        crate::graphql::limits::charge(ctx, cat.entries.len().max(1))?;
        let mut names = Names {
            contents: Default::default(),
            services: Default::default(),
        };
        for (e, _) in cat.api_versions() {
            if let Some(c) = crate::catalog::apis::spec_content(&st.db, e.id)
                .await
                .gql()?
            {
                names.contents.insert(e.id, c);
            }
        }
        for (_, i) in cat.implementations() {
            if let Some(v) = st.planes.view(i.control_plane_id) {
                let svc = v
                    .records
                    .get(&i.service_id)
                    .and_then(|r| r.name())
                    .unwrap_or_else(|| i.service_id.to_string());
                names
                    .services
                    .insert((i.control_plane_id, i.service_id), (v.name.clone(), svc));
            }
        }
        let doc = serde_json::to_value(file::export(&cat, &names))
            .map_err(|e| gql(Error::internal(e)))?;
        Ok(Json(doc))
    }
}

#[derive(Default)]
pub struct CatalogFileMutation;

#[Object]
impl CatalogFileMutation {
    /// Makes the catalog what the file says, for the sections it has (a
    /// section present is the whole truth for its kind), in one commit.
    async fn apply_catalog(
        &self,
        ctx: &Context<'_>,
        input: ApplyCatalogInput,
    ) -> Result<ApplyCatalogResult> {
        let f = file::read(&input.document.0).gql()?;
        if f.apis.is_none() && f.portals.is_none() {
            return Err(gql(Error::invalid(
                Field::Input("document".into()),
                "no portals: or apis: section",
            )));
        }
        let dry_run = input.dry_run.unwrap_or(false);
        check_all(ctx, f.apis.is_some(), f.portals.is_some(), Action::Read).await?;
        if !dry_run {
            check_all(ctx, f.apis.is_some(), f.portals.is_some(), Action::Update).await?;
            check_all(ctx, f.apis.is_some(), f.portals.is_some(), Action::Delete).await?;
            if f.apis.is_some() {
                check(ctx, &Resource::ApiProduct("*".into()), Action::Publish).await?;
            }
        }
        let svcs = services(ctx, &f).await?;
        let st = state(ctx);
        if dry_run {
            let cat = st.catalog.view();
            let a = file::apply(&cat, &f, &svcs).gql()?;
            return Ok(ApplyCatalogResult {
                version: cat.version,
                dry_run,
                plan: items(&a.plan),
            });
        }
        let seen: Arc<Mutex<(Vec<PlanLine>, Vec<Uuid>)>> = Arc::default();
        let out = seen.clone();
        let f = Arc::new(f);
        let c = st
            .catalog
            .mutate(move |cat| {
                let a = file::apply(cat, &f, &svcs)?;
                if let Ok(mut s) = out.lock() {
                    *s = (a.plan, a.deleted_portals);
                }
                Ok(a.change)
            })
            .await
            .gql()?;
        let (plan, deleted) = seen.lock().map(|s| s.clone()).unwrap_or_default();
        for p in deleted {
            crate::portal::developers::portal_deleted(&st.db, p)
                .await
                .gql()?;
        }
        Ok(ApplyCatalogResult {
            version: c.version,
            dry_run,
            plan: items(&plan),
        })
    }
}
