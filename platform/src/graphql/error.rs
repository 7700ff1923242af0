//! The one place domain errors become GraphQL errors: a code from the fixed set
//! (`UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND`, `VALIDATION`, `CONFLICT`,
//! `RATE_LIMITED`, `INTERNAL`; `UNAVAILABLE` when an actor did not answer in time)
//! in `extensions.code`, the field path in `extensions.field` (`input.name`,
//! `input.data.paths[0]`, or a decK document's own path), further problems in
//! `extensions.problems`. Internal errors send an error id, never their text; the
//! detail is logged with that id.

use async_graphql::ErrorExtensions;

use crate::error::{Error, Field, Invalid};
use crate::store::StoreError;

/// A domain error as the API reports it.
pub fn gql(e: Error) -> async_graphql::Error {
    match e {
        Error::Invalid(problems) => invalid(problems),
        Error::Conflict { field, message } => with("CONFLICT", &message, &field),
        Error::NotFound(what) => with("NOT_FOUND", &format!("{what} not found"), &Field::None),
        Error::Forbidden(m) => with("FORBIDDEN", &m, &Field::None),
        Error::Unauthenticated(m) => with("UNAUTHENTICATED", &m, &Field::None),
        Error::RateLimited(m) => with("RATE_LIMITED", &m, &Field::None),
        Error::Unavailable(m) => with("UNAVAILABLE", &m, &Field::None),
        Error::Store(StoreError::Unique(m)) => with(
            "CONFLICT",
            &format!("a unique value is taken ({m})"),
            &Field::None,
        ),
        Error::Store(StoreError::VersionConflict { .. }) => with(
            "UNAVAILABLE",
            "the control plane changed underneath; retry",
            &Field::None,
        ),
        Error::Store(StoreError::Db(e)) => internal(&e.to_string()),
        Error::Internal(m) => internal(&m),
    }
}

/// The code a GraphQL error carries, if any.
pub fn code_of(e: &async_graphql::ServerError) -> Option<&str> {
    match e.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}

/// `?` for domain results in resolvers.
pub trait Gql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> Gql<T> for Result<T, Error> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(gql)
    }
}

/// The path a GraphQL client knows a field by.
pub fn path(field: &Field) -> Option<String> {
    match field {
        Field::None => None,
        Field::Input(p) if p.is_empty() => Some("input".into()),
        Field::Input(p) => Some(format!("input.{p}")),
        Field::Arg(p) => Some(p.clone()),
        Field::Data(p) if p.is_empty() => Some("input.data".into()),
        Field::Data(p) if p.starts_with('[') => Some(format!("input.data{p}")),
        Field::Data(p) => Some(format!("input.data.{p}")),
        Field::Document(p) => Some(p.clone()),
    }
}

fn with(code: &'static str, message: &str, field: &Field) -> async_graphql::Error {
    let field = path(field);
    let msg = match &field {
        Some(f) if !f.is_empty() => format!("{f}: {message}"),
        _ => message.to_string(),
    };
    async_graphql::Error::new(msg).extend_with(|_, e| {
        e.set("code", code);
        if let Some(f) = &field {
            e.set("field", f.as_str());
        }
    })
}

fn invalid(problems: Vec<Invalid>) -> async_graphql::Error {
    let mut it = problems.into_iter();
    let Some(first) = it.next() else {
        return internal("a validation failed without saying why");
    };
    let code = if first.duplicate {
        "CONFLICT"
    } else {
        "VALIDATION"
    };
    let mut err = with(code, &first.message, &first.field);
    let more: Vec<async_graphql::Value> = it
        .map(|p| {
            let mut m = async_graphql::indexmap::IndexMap::new();
            let field = path(&p.field);
            let message = match &field {
                Some(f) if !f.is_empty() => format!("{f}: {}", p.message),
                _ => p.message,
            };
            m.insert(
                async_graphql::Name::new("message"),
                async_graphql::Value::String(message),
            );
            if let Some(f) = field {
                m.insert(
                    async_graphql::Name::new("field"),
                    async_graphql::Value::String(f),
                );
            }
            async_graphql::Value::Object(m)
        })
        .collect();
    if !more.is_empty() {
        err.extensions
            .get_or_insert_with(Default::default)
            .set("problems", async_graphql::Value::List(more));
    }
    err
}

/// An internal error: logged with an id; the client gets the id only.
fn internal(detail: &str) -> async_graphql::Error {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let id = &id[id.len() - 12..];
    tracing::error!(error_id = id, "internal error: {detail}");
    async_graphql::Error::new(format!(
        "internal error (id {id}); the platform's log has the detail"
    ))
    .extend_with(|_, e| {
        e.set("code", "INTERNAL");
        e.set("errorId", id);
    })
}
