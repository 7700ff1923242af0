//! The audit log in the API: `auditLog` for organization admins, and the
//! extension that records every mutation (who, what, target, result, address).

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use super::connection::PageInfo;
use super::error::Gql;
use super::guard::{check, state};
use crate::auth::audit::Entry;
use crate::auth::identity::{AuditFilter as Filter, audit_page};
use crate::auth::{Caller, SourceIp};
use crate::state::AppState;

#[derive(SimpleObject, Clone)]
pub struct AuditEntry {
    pub id: ID,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub result: String,
    pub source_ip: Option<String>,
    pub detail: Option<String>,
}

#[derive(SimpleObject)]
pub struct AuditConnection {
    pub nodes: Vec<AuditEntry>,
    pub total_count: u64,
    pub page_info: PageInfo,
}

#[derive(InputObject, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub result: Option<String>,
    /// Entries at or after this time (Unix ms).
    pub since: Option<i64>,
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit log, newest first (organization admins).
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<AuditConnection> {
        check(ctx, "organization", "audit.read").await?;
        let f = filter.unwrap_or_default();
        let first = first.unwrap_or(100).clamp(0, 1000) as u64;
        let offset: u64 = after.and_then(|a| a.parse().ok()).unwrap_or(0);
        let (rows, total) = audit_page(
            &state(ctx).db,
            Filter {
                actor: f.actor,
                action: f.action,
                result: f.result,
                since: f.since,
            },
            offset,
            first,
        )
        .await
        .gql()?;
        super::limits::charge(ctx, rows.len())?;
        let end = offset + rows.len() as u64;
        Ok(AuditConnection {
            nodes: rows
                .into_iter()
                .map(|r| AuditEntry {
                    id: ID(r.id),
                    at: r.at,
                    actor: r.actor,
                    action: r.action,
                    target: r.target,
                    result: r.result,
                    source_ip: r.source_ip,
                    detail: r.detail,
                })
                .collect(),
            total_count: total,
            page_info: PageInfo {
                has_next_page: end < total,
                end_cursor: Some(end.to_string()),
            },
        })
    }
}

// ---------------------------------------------------------------------------
// the audit extension: every mutation, with who, what, target and result

pub struct AuditExtension;

impl async_graphql::extensions::ExtensionFactory for AuditExtension {
    fn create(&self) -> Arc<dyn async_graphql::extensions::Extension> {
        Arc::new(AuditExt)
    }
}

struct AuditExt;

#[derive(Clone)]
struct Vars(async_graphql::Variables);

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for AuditExt {
    async fn prepare_request(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        request: async_graphql::Request,
        next: async_graphql::extensions::NextPrepareRequest<'_>,
    ) -> async_graphql::ServerResult<async_graphql::Request> {
        let vars = Vars(request.variables.clone());
        let request = request.data(vars);
        next.run(ctx, request).await
    }

    async fn resolve(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        info: async_graphql::extensions::ResolveInfo<'_>,
        next: async_graphql::extensions::NextResolve<'_>,
    ) -> async_graphql::ServerResult<Option<async_graphql::Value>> {
        if info.parent_type != "Mutation" || info.name == "login" {
            return next.run(ctx, info).await;
        }
        let name = info.name.to_string();
        let target = target_of(ctx, info.field);
        let r = next.run(ctx, info).await;
        let (Some(st), caller) = (ctx.data_opt::<AppState>(), ctx.data_opt::<Caller>()) else {
            return r;
        };
        let result = match &r {
            Ok(_) => "ok",
            Err(e) => match super::error::code_of(e) {
                Some("FORBIDDEN") => "denied",
                Some("UNAUTHENTICATED") => "unauthenticated",
                _ => "error",
            },
        };
        let detail = r.as_ref().err().map(|e| e.message.clone());
        let actor = caller
            .map(|c| c.member.clone())
            .unwrap_or_else(|| "anonymous".into());
        let ip = ctx
            .data_opt::<SourceIp>()
            .and_then(|s| s.0.clone())
            .or_else(|| caller.and_then(|c| c.ip.clone()));
        st.audit
            .write(Entry {
                actor,
                action: name,
                target,
                result: result.into(),
                source_ip: ip,
                detail,
            })
            .await;
        r
    }
}

/// The target of a mutation: the first id-like field of its `input` (or `id`).
fn target_of(
    ctx: &async_graphql::extensions::ExtensionContext<'_>,
    field: &async_graphql::parser::types::Field,
) -> Option<String> {
    let vars = ctx.data_opt::<Vars>();
    for (name, value) in &field.arguments {
        let v = value
            .node
            .clone()
            .into_const_with(|n| vars.and_then(|x| x.0.get(&n).cloned()).ok_or(()))
            .ok()?;
        match (name.node.as_str(), &v) {
            ("id", async_graphql::Value::String(s)) => return Some(s.clone()),
            ("input", async_graphql::Value::Object(m)) => {
                for k in [
                    "id",
                    "controlPlaneId",
                    "controlPlane",
                    "teamId",
                    "email",
                    "name",
                ] {
                    if let Some(async_graphql::Value::String(s)) = m.get(k) {
                        return Some(format!("{k}={s}"));
                    }
                }
            }
            _ => {}
        }
    }
    None
}
