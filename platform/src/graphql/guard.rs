//! What every resolver asks first: the platform's state, who is calling, and
//! whether they may. Forbidden and missing look the same to a caller who may not
//! see either.

use async_graphql::{Context, ErrorExtensions};

use crate::auth::Caller;
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
    object: &str,
    action: &str,
) -> Result<(), async_graphql::Error> {
    let c = caller(ctx)?;
    if state(ctx).access.allowed(c, object, action).await {
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
