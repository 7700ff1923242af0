//! The identity domain: users and their invitations, API tokens, system accounts
//! and what teams hold. Each operation validates its input and returns domain
//! errors; team changes themselves go through the Team actor.

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::{Access, passwords, tokens};
use crate::error::{Error, Field};
use crate::store::{self, identity as rows};

pub use rows::api_token::Model as TokenRecord;
pub use rows::audit::Model as AuditRecord;
pub use rows::system_account::Model as SystemAccountRecord;
pub use rows::team::Model as TeamRecord;
pub use rows::team_role::Model as TeamRoleRecord;
pub use rows::user::Model as UserRecord;
pub use rows::{AuditFilter, AuditWindow};

/// No limit (the database's largest): lists the API pages itself.
const ALL: u64 = i64::MAX as u64;

/// A name (of a team, system account or token): 1 to 128 characters, none of
/// them control characters.
pub fn name_ok(field: &str, name: &str) -> Result<(), Error> {
    let n = name.chars().count();
    if n == 0 || n > 128 || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            Field::Input(field.to_string()),
            "1 to 128 characters, no control characters",
        ));
    }
    Ok(())
}

pub async fn user(db: &DatabaseConnection, id: Uuid) -> Result<Option<UserRecord>, Error> {
    Ok(rows::user(db, &id.to_string()).await?)
}

/// Every user (an organization's people: paged by the API).
pub async fn users(db: &DatabaseConnection) -> Result<Vec<UserRecord>, Error> {
    Ok(rows::users(db, ALL).await?)
}

/// A new user who sets a password with the returned invitation token.
pub async fn invite(
    db: &DatabaseConnection,
    email: &str,
    name: String,
) -> Result<(UserRecord, String), Error> {
    let email = email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 254 {
        return Err(Error::invalid(
            Field::Input("email".into()),
            "not an email address",
        ));
    }
    if name.chars().count() > 256 {
        return Err(Error::invalid(
            Field::Input("name".into()),
            "at most 256 characters",
        ));
    }
    let token = tokens::new_token("pinv_");
    let u = UserRecord {
        id: Uuid::new_v4().to_string(),
        email,
        name,
        password_hash: String::new(),
        active: true,
        invite_digest: Some(tokens::digest(&token)),
        created_at: store::now_ms(),
        last_login_at: None,
    };
    rows::insert_user(db, u.clone()).await.map_err(|e| {
        Error::taken(
            e,
            Field::Input("email".into()),
            "a user with this email exists",
        )
    })?;
    Ok((u, token))
}

/// Sets an invited user's password; the invitation token is the credential.
pub async fn accept_invitation(
    db: &DatabaseConnection,
    token: &str,
    password: &str,
) -> Result<UserRecord, Error> {
    passwords::check_password(password)?;
    let mut u = rows::user_by_invitation(db, &tokens::digest(token))
        .await?
        .ok_or_else(|| {
            Error::Unauthenticated("this invitation is unknown or was used already".into())
        })?;
    u.password_hash = passwords::hash_password(password)?;
    u.invite_digest = None;
    Ok(rows::update_user(db, u).await?)
}

/// A deactivated user's tokens and sessions stop working at once (on every
/// replica).
pub async fn set_user_active(
    db: &DatabaseConnection,
    access: &Access,
    id: Uuid,
    active: bool,
) -> Result<UserRecord, Error> {
    let mut u = rows::user(db, &id.to_string())
        .await?
        .ok_or_else(|| Error::NotFound(format!("user {id}")))?;
    u.active = active;
    let u = rows::update_user(db, u).await?;
    access.changed_everywhere(db).await;
    Ok(u)
}

/// A new token: the secret is here only; the database keeps its digest.
pub struct NewToken {
    pub token: String,
    pub record: TokenRecord,
}

/// The kind of an API token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Personal,
    System,
}

impl TokenKind {
    fn stored(self) -> &'static str {
        match self {
            TokenKind::Personal => "pat",
            TokenKind::System => "system",
        }
    }
}

/// A token for `owner` (`user:<id>` or `sa:<id>`), valid `days` (default 90,
/// 1 to 365).
pub async fn create_token(
    db: &DatabaseConnection,
    owner: &str,
    kind: TokenKind,
    name: &str,
    days: Option<i32>,
) -> Result<NewToken, Error> {
    name_ok("name", name)?;
    let days = i64::from(days.unwrap_or(90));
    if !(1..=365).contains(&days) {
        return Err(Error::invalid(
            Field::Input("expiresInDays".into()),
            "1 to 365",
        ));
    }
    let prefix = match kind {
        TokenKind::System => super::SYSTEM_PREFIX,
        TokenKind::Personal => super::PAT_PREFIX,
    };
    let token = tokens::new_token(prefix);
    let record = TokenRecord {
        id: Uuid::new_v4().to_string(),
        name: name.to_string(),
        digest: tokens::digest(&token),
        created_at: store::now_ms(),
        owner: owner.to_string(),
        kind: kind.stored().to_string(),
        expires_at: Some(store::now_ms() + days * 86_400_000),
        revoked_at: None,
    };
    rows::insert_token(db, record.clone()).await?;
    Ok(NewToken { token, record })
}

pub async fn token(db: &DatabaseConnection, id: &str) -> Result<Option<TokenRecord>, Error> {
    Ok(rows::token(db, id).await?)
}

/// An owner's personal access tokens, oldest first.
pub async fn personal_tokens(
    db: &DatabaseConnection,
    owner: &str,
) -> Result<Vec<TokenRecord>, Error> {
    Ok(rows::tokens_of(db, owner, TokenKind::Personal.stored(), ALL).await?)
}

/// Revokes a token; it is refused from the next request on, on every replica.
pub async fn revoke_token(db: &DatabaseConnection, access: &Access, id: &str) -> Result<(), Error> {
    rows::revoke_token(db, id).await?;
    access.changed_everywhere(db).await;
    Ok(())
}

pub async fn system_accounts(db: &DatabaseConnection) -> Result<Vec<SystemAccountRecord>, Error> {
    Ok(rows::system_accounts(db, ALL).await?)
}

pub async fn system_account(
    db: &DatabaseConnection,
    id: Uuid,
) -> Result<SystemAccountRecord, Error> {
    rows::system_account(db, &id.to_string())
        .await?
        .ok_or_else(|| Error::NotFound(format!("system account {id}")))
}

pub async fn create_system_account(
    db: &DatabaseConnection,
    name: String,
    description: Option<String>,
) -> Result<SystemAccountRecord, Error> {
    name_ok("name", &name)?;
    crate::config::rules::check_text("description", &description, 1000)?;
    let m = SystemAccountRecord {
        id: Uuid::new_v4().to_string(),
        name,
        description,
        created_at: store::now_ms(),
    };
    rows::insert_system_account(db, m.clone())
        .await
        .map_err(|e| {
            Error::taken(
                e,
                Field::Input("name".into()),
                "a system account with this name exists",
            )
        })?;
    Ok(m)
}

/// A team with its roles and members (`user:<id>` / `sa:<id>`).
pub struct TeamView {
    pub team: TeamRecord,
    pub roles: Vec<TeamRoleRecord>,
    pub members: Vec<String>,
}

pub async fn team(db: &DatabaseConnection, id: Uuid) -> Result<TeamRecord, Error> {
    rows::team(db, &id.to_string())
        .await?
        .ok_or_else(|| Error::NotFound(format!("team {id}")))
}

pub async fn team_view(db: &DatabaseConnection, team: TeamRecord) -> Result<TeamView, Error> {
    let roles = rows::team_roles(db, &team.id).await?;
    let members = rows::team_members(db, &team.id)
        .await?
        .into_iter()
        .map(|m| m.member)
        .collect();
    Ok(TeamView {
        team,
        roles,
        members,
    })
}

pub async fn teams(db: &DatabaseConnection) -> Result<Vec<TeamRecord>, Error> {
    Ok(rows::teams(db, ALL).await?)
}

pub async fn team_role(db: &DatabaseConnection, id: &str) -> Result<TeamRoleRecord, Error> {
    rows::team_role(db, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("team role {id}")))
}

/// A new team, without roles or members yet.
pub async fn create_team(
    db: &DatabaseConnection,
    name: String,
    description: Option<String>,
) -> Result<TeamRecord, Error> {
    name_ok("name", &name)?;
    crate::config::rules::check_text("description", &description, 1000)?;
    let m = TeamRecord {
        id: Uuid::new_v4().to_string(),
        name,
        description,
        predefined: false,
        created_at: store::now_ms(),
    };
    rows::insert_team(db, m.clone()).await.map_err(|e| {
        Error::taken(
            e,
            Field::Input("name".into()),
            "a team with this name exists",
        )
    })?;
    Ok(m)
}

/// A window of the audit log, newest first.
pub async fn audit_window(
    db: &DatabaseConnection,
    filter: AuditFilter,
    after: Option<String>,
    before: Option<String>,
    size: u64,
    from_end: bool,
) -> Result<AuditWindow, Error> {
    Ok(rows::audit_window(db, filter, after, before, size, from_end).await?)
}
