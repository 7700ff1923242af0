//! The audit log in the API: `auditLog` for organization admins, and the
//! extension that records every mutation (who, what, target, result, address).

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::connection::{CursorKey, Page, PageInfo, Paging, connection, datetime};
use super::error::Gql;
use super::guard::{check, state};
use crate::auth::audit::Entry;
use crate::auth::identity::{AuditFilter as Filter, audit_window};
use crate::auth::{Action, Resource};
use crate::auth::{Caller, SourceIp};
use crate::state::AppState;

/// How a recorded operation ended.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AuditResult {
    Ok,
    /// Not allowed (or rate limited).
    Denied,
    /// No valid credentials.
    Unauthenticated,
    /// Invalid input or a failure.
    Error,
}

impl AuditResult {
    fn as_str(self) -> &'static str {
        match self {
            AuditResult::Ok => "ok",
            AuditResult::Denied => "denied",
            AuditResult::Unauthenticated => "unauthenticated",
            AuditResult::Error => "error",
        }
    }

    fn parse(s: &str) -> AuditResult {
        match s {
            "ok" => AuditResult::Ok,
            "denied" => AuditResult::Denied,
            "unauthenticated" => AuditResult::Unauthenticated,
            _ => AuditResult::Error,
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct AuditEntry {
    pub id: ID,
    pub at: DateTime<Utc>,
    /// `user:<id>`, `sa:<id>`, or the email tried at a login.
    pub actor: String,
    /// The mutation (or `login`).
    pub action: String,
    pub target: Option<String>,
    pub result: AuditResult,
    pub source_ip: Option<String>,
    pub detail: Option<String>,
}

connection!(AuditConnection, AuditEdge, AuditEntry);

#[derive(InputObject, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub result: Option<AuditResult>,
    /// Entries at or after this time.
    pub since: Option<DateTime<Utc>>,
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
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<AuditConnection> {
        check(ctx, &Resource::Organization, Action::AuditRead).await?;
        let f = filter.unwrap_or_default();
        let p = Paging::new(first, after, last, before);
        let (size, from_end) = p.size().gql()?;
        let after = p.after_key::<String>().gql()?;
        let before = p.before_key::<String>().gql()?;
        let w = audit_window(
            &state(ctx).db,
            Filter {
                actor: f.actor,
                action: f.action,
                result: f.result.map(|r| r.as_str().to_string()),
                since: f.since.map(|t| t.timestamp_millis()),
            },
            after,
            before,
            size as u64,
            from_end,
        )
        .await
        .gql()?;
        super::limits::charge(ctx, w.rows.len())?;
        let items: Vec<(String, AuditEntry)> = w
            .rows
            .into_iter()
            .map(|r| {
                (
                    r.id.cursor(),
                    AuditEntry {
                        id: ID(r.id),
                        at: datetime(r.at),
                        actor: r.actor,
                        action: r.action,
                        target: r.target,
                        result: AuditResult::parse(&r.result),
                        source_ip: r.source_ip,
                        detail: r.detail,
                    },
                )
            })
            .collect();
        Ok(Page {
            info: PageInfo {
                has_next_page: w.has_next,
                has_previous_page: w.has_previous,
                start_cursor: items.first().map(|(c, _)| c.clone()),
                end_cursor: items.last().map(|(c, _)| c.clone()),
            },
            items,
            total: w.total as usize,
        }
        .into())
    }
}

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
                    "apiId",
                    "portalId",
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
