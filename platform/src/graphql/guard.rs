//! What every resolver asks first: the platform's state, who is calling, and
//! whether they may. Forbidden and missing look the same to a caller who may not
//! see either.

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, Result};
use uuid::Uuid;

use super::error::gql;
use crate::config::View;
use crate::error::Error;

use crate::auth::{self, Action, Caller, Resource};
use crate::state::AppState;

pub fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

pub fn unauthenticated() -> async_graphql::Error {
    async_graphql::Error::new("a valid token is required: Authorization: Bearer <token>")
        .extend_with(|_, e| e.set("code", "UNAUTHENTICATED"))
}

pub fn forbidden() -> async_graphql::Error {
    async_graphql::Error::new("not allowed").extend_with(|_, e| e.set("code", "FORBIDDEN"))
}

pub fn caller<'a>(ctx: &Context<'a>) -> Result<&'a Caller, async_graphql::Error> {
    ctx.data_opt::<Caller>().ok_or_else(unauthenticated)
}

/// Allowed, or FORBIDDEN (UNAUTHENTICATED without a caller).
pub async fn check(
    ctx: &Context<'_>,
    resource: &Resource,
    action: Action,
) -> Result<(), async_graphql::Error> {
    let c = caller(ctx)?;
    if state(ctx).access.allowed(c, resource, action).await {
        Ok(())
    } else {
        Err(forbidden())
    }
}

/// A UUID argument, or VALIDATION at its path.
pub fn parse_id(id: &async_graphql::ID, field: &str) -> async_graphql::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(id.as_str()).map_err(|_| {
        super::error::gql(crate::error::Error::invalid(
            crate::error::Field::Arg(field.to_string()),
            "expected a UUID",
        ))
    })
}

/// A control plane by id or name, after checking `action` on it (FORBIDDEN
/// whether or not it exists, unless the caller may act on every plane).
pub async fn plane_by_ref_checked(ctx: &Context<'_>, r: &str, action: Action) -> Result<Arc<View>> {
    let found = state(ctx).planes.by_ref(r);
    let object = match (&found, Uuid::parse_str(r)) {
        (Some(v), _) => auth::plane(v.id),
        (None, Ok(id)) => auth::plane(id),
        (None, Err(_)) => auth::plane(Uuid::nil()),
    };
    check(ctx, &object, action).await?;
    found.ok_or_else(|| gql(Error::NotFound(format!("control plane {r:?}"))))
}
