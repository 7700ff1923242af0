//! Identities and access: who is calling (tokens and sessions, resolved and
//! cached), whether they may (the casbin authorizer, kept current with teams and
//! roles), users' passwords and logins (rate limited), the first start's owner,
//! and the audit log (with its webhook). Nothing here knows GraphQL.

pub mod access;
pub mod audit;
pub mod bootstrap;
pub mod identity;
pub mod login;
pub mod passwords;
pub mod tokens;

use uuid::Uuid;

pub use access::Access;
pub use audit::AuditLog;
pub use login::LoginLimits;

/// Token prefixes: personal access tokens, system-account tokens, sessions.
pub const PAT_PREFIX: &str = "ppat_";
pub const SYSTEM_PREFIX: &str = "pspat_";
pub const SESSION_PREFIX: &str = "psess_";

/// Who is calling: a member (`user:<id>` or `sa:<id>`) and the token used.
#[derive(Clone, Debug)]
pub struct Caller {
    pub member: String,
    pub user_id: Option<Uuid>,
    pub token_id: String,
    pub token_kind: String,
    pub ip: Option<String>,
}

/// The source address of a request, for the audit log.
#[derive(Clone, Debug)]
pub struct SourceIp(pub Option<String>);

pub use policies::{Action, Resource};

/// The authorization resource of a control plane.
pub fn plane(id: Uuid) -> Resource {
    Resource::ControlPlane(id.to_string())
}
