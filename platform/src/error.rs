//! The platform's domain errors: what went wrong, typed, and where (a field of
//! the operation's input, of an entity's data, or of a decK document). Nothing
//! here knows GraphQL: `graphql/error.rs` alone turns these into codes and field
//! paths. An error never holds an empty list of problems.

use crate::store::StoreError;

/// Where a problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// The operation as a whole.
    None,
    /// A field of the operation's `input` (`name`, `labels.env`, `teamIds[0]`).
    Input(String),
    /// An argument of the operation, by its whole path (`id`, `controlPlaneId`).
    Arg(String),
    /// Inside the entity data a create or update carries (`paths[0]`; empty:
    /// the entity itself).
    Data(String),
    /// A decK document's own path (`services[0].routes[1].paths[0]`).
    Document(String),
}

/// One invalid value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: Field,
    pub message: String,
    /// A second entity with a key that must be unique: a conflict, not a bad
    /// value.
    pub duplicate: bool,
}

impl Invalid {
    pub fn new(field: Field, message: impl Into<String>) -> Invalid {
        Invalid {
            field,
            message: message.into(),
            duplicate: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is invalid; nothing changed. Never empty.
    #[error("{}", .0.first().map(|p| p.message.as_str()).unwrap_or("invalid input"))]
    Invalid(Vec<Invalid>),
    /// The change conflicts with what exists (a name taken, an id in use).
    #[error("{message}")]
    Conflict { field: Field, message: String },
    #[error("{0} not found")]
    NotFound(String),
    /// Not allowed (and said without telling whether the thing exists).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    RateLimited(String),
    /// An actor did not answer in time, or is restarting: retry.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else; its text is logged, never sent.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// One invalid value.
    pub fn invalid(field: Field, message: impl Into<String>) -> Error {
        Error::Invalid(vec![Invalid::new(field, message)])
    }

    /// Several invalid values; an empty list is a bug, reported as internal.
    pub fn invalid_all(problems: Vec<Invalid>) -> Error {
        if problems.is_empty() {
            Error::Internal("a validation failed without saying why".into())
        } else {
            Error::Invalid(problems)
        }
    }

    /// `Ok` when there are no problems.
    pub fn check(problems: Vec<Invalid>) -> Result<(), Error> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(problems))
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Error {
        Error::Internal(e.to_string())
    }

    /// A store error where a unique value was taken is a conflict on `field`.
    pub fn taken(e: impl Into<StoreError>, field: Field, message: &str) -> Error {
        match e.into() {
            StoreError::Unique(_) => Error::Conflict {
                field,
                message: message.to_string(),
            },
            other => Error::Store(other),
        }
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Error {
        Error::Store(StoreError::from(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
