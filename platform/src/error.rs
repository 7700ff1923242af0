//! Errors as the API reports them: a code from the fixed set and, for validation,
//! the field path.

use async_graphql::ErrorExtensions;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    NotFound,
    Validation,
    Conflict,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::NotFound => "NOT_FOUND",
            Code::Validation => "VALIDATION",
            Code::Conflict => "CONFLICT",
            Code::Internal => "INTERNAL",
        }
    }
}

/// One problem, with the input field it is about when there is one.
#[derive(Clone, Debug)]
pub struct Problem {
    pub code: Code,
    pub message: String,
    pub field: Option<String>,
}

/// What a failed operation reports: one or more problems.
#[derive(Clone, Debug)]
pub struct ApiError(pub Vec<Problem>);

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError(vec![Problem {
            code,
            message: message.into(),
            field: None,
        }])
    }

    pub fn field(code: Code, field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError(vec![Problem {
            code,
            message: message.into(),
            field: Some(field.into()),
        }])
    }

    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(Code::NotFound, format!("{what} not found"))
    }

    /// A database error on a write: a unique-constraint violation is a CONFLICT
    /// on `field` (with `taken` as the message), anything else is INTERNAL.
    pub fn unique(e: impl std::fmt::Display, field: &str, taken: &str) -> ApiError {
        if e.to_string().to_lowercase().contains("unique") {
            ApiError::field(Code::Conflict, field, taken)
        } else {
            ApiError::internal(e)
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!("internal error: {e}");
        ApiError::new(Code::Internal, format!("internal error: {e}"))
    }

    pub fn code(&self) -> Code {
        self.0.first().map(|p| p.code).unwrap_or(Code::Internal)
    }

    /// The GraphQL errors: one per problem.
    pub fn into_graphql(self) -> Vec<async_graphql::Error> {
        self.0
            .into_iter()
            .map(|p| {
                let msg = match &p.field {
                    Some(f) if !f.is_empty() => format!("{f}: {}", p.message),
                    _ => p.message.clone(),
                };
                async_graphql::Error::new(msg).extend_with(|_, e| {
                    e.set("code", p.code.as_str());
                    if let Some(f) = &p.field {
                        e.set("field", f.as_str());
                    }
                })
            })
            .collect()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            match &p.field {
                Some(x) if !x.is_empty() => write!(f, "{x}: {}", p.message)?,
                _ => f.write_str(&p.message)?,
            }
        }
        Ok(())
    }
}
