//! A portal's developers: sign-up with a password and email verification,
//! sign-in for a session (limited per account and address), sign-out, password
//! reset by email, and the admins' decisions (approve, reject, revoke). Tokens
//! are random, shown once (in the mail or the answer) and stored as digests.
//! Nothing here tells a caller whether an email is registered.

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::mail::Mailer;
use crate::auth::LoginLimits;
use crate::auth::passwords::{check_password, hash_password, verify_password};
use crate::auth::tokens::{digest, new_token};
use crate::error::{Error, Field};
use crate::store::{self, catalog as rows};

pub use rows::developer::Model as DeveloperRecord;

/// Session tokens in the developer realm.
pub const SESSION_PREFIX: &str = "pdev_";
const VERIFY_PREFIX: &str = "pver_";
const RESET_PREFIX: &str = "prst_";
const SESSION_MS: i64 = 12 * 3600 * 1000;
const VERIFY_MS: i64 = 48 * 3600 * 1000;
const RESET_MS: i64 = 3600 * 1000;

/// A developer's standing in a portal.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DeveloperStatus {
    Approved,
    Pending,
    Revoked,
    Rejected,
}

impl DeveloperStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeveloperStatus::Approved => "approved",
            DeveloperStatus::Pending => "pending",
            DeveloperStatus::Revoked => "revoked",
            DeveloperStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> DeveloperStatus {
        match s {
            "approved" => DeveloperStatus::Approved,
            "revoked" => DeveloperStatus::Revoked,
            "rejected" => DeveloperStatus::Rejected,
            _ => DeveloperStatus::Pending,
        }
    }
}

/// Where links in mails point: the portal's base URL (`http://host/portals/name`).
pub struct Links {
    pub base: String,
    pub portal_name: String,
}

fn email_ok(email: &str) -> Result<String, Error> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(Error::invalid(
            Field::Input("email".into()),
            "not an email address",
        ));
    }
    Ok(e)
}

async fn one_time(
    db: &DatabaseConnection,
    d: &DeveloperRecord,
    kind: &str,
    prefix: &str,
    ttl: i64,
) -> Result<String, Error> {
    let token = new_token(prefix);
    rows::insert_developer_token(
        db,
        rows::developer_token::Model {
            id: Uuid::new_v4().to_string(),
            developer_id: d.id.clone(),
            portal_id: d.portal_id.clone(),
            digest: digest(&token),
            kind: kind.into(),
            expires_at: store::now_ms() + ttl,
            used_at: None,
            created_at: store::now_ms(),
        },
    )
    .await?;
    Ok(token)
}

/// A new developer (pending, or approved when the portal approves on its own),
/// sent a verification mail (the record is returned for a new one only). An email already registered gets no second
/// account and the caller is not told.
#[allow(clippy::too_many_arguments)]
pub async fn register(
    db: &DatabaseConnection,
    mailer: &Mailer,
    portal: Uuid,
    auto_approve: bool,
    email: &str,
    full_name: &str,
    password: &str,
    links: &Links,
) -> Result<Option<DeveloperRecord>, Error> {
    let email = email_ok(email)?;
    crate::catalog::change::text("fullName", full_name, 1, 255)?;
    check_password(password)?;
    if rows::developer_by_email(db, &portal.to_string(), &email)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let now = store::now_ms();
    let d = DeveloperRecord {
        id: Uuid::new_v4().to_string(),
        portal_id: portal.to_string(),
        email: email.clone(),
        full_name: full_name.trim().to_string(),
        password_hash: hash_password(password)?,
        status: if auto_approve {
            DeveloperStatus::Approved
        } else {
            DeveloperStatus::Pending
        }
        .as_str()
        .into(),
        email_verified: false,
        created_at: now,
        updated_at: now,
    };
    if let Err(e) = rows::insert_developer(db, d.clone()).await {
        // the same email registered at the same moment
        return match Error::taken(e, Field::Input("email".into()), "registered") {
            Error::Conflict { .. } => Ok(None),
            other => Err(other),
        };
    }
    let token = one_time(db, &d, "verify", VERIFY_PREFIX, VERIFY_MS).await?;
    mailer
        .send(
            &email,
            "Confirm your email address",
            &format!(
                "Hello {},\n\nconfirm your email address for the {} developer portal:\n\n{}/verify-email?token={token}\n\nThe link is valid for 48 hours. If you did not sign up, ignore this mail.\n",
                d.full_name, links.portal_name, links.base
            ),
        )
        .await?;
    Ok(Some(d))
}

/// A one-time token of `kind` in `portal`, unused and unexpired: its developer.
async fn redeem(
    db: &DatabaseConnection,
    portal: Uuid,
    token: &str,
    kind: &str,
) -> Result<DeveloperRecord, Error> {
    let invalid = || {
        Error::invalid(
            Field::Input("token".into()),
            "this link is invalid or has expired",
        )
    };
    let t = rows::developer_token(db, &digest(token))
        .await?
        .filter(|t| t.kind == kind && t.portal_id == portal.to_string())
        .ok_or_else(invalid)?;
    if t.used_at.is_some() || t.expires_at <= store::now_ms() {
        return Err(invalid());
    }
    if !rows::use_developer_token(db, &t.id).await? {
        return Err(invalid());
    }
    rows::developer(db, &t.developer_id)
        .await?
        .ok_or_else(invalid)
}

/// Confirms a developer's email address.
pub async fn verify_email(
    db: &DatabaseConnection,
    portal: Uuid,
    token: &str,
) -> Result<DeveloperRecord, Error> {
    let mut d = redeem(db, portal, token, "verify").await?;
    d.email_verified = true;
    Ok(rows::update_developer(db, d).await?)
}

/// A signed-in developer's session.
pub struct Session {
    pub token: String,
    pub expires_at: i64,
    pub developer: DeveloperRecord,
}

/// Signs a developer in: a verified email, an approved account and the right
/// password. Failures are limited (5 per account, 20 per address, 15 minutes)
/// and do not say which part was wrong, except that approval is pending.
pub async fn login(
    db: &DatabaseConnection,
    limits: &LoginLimits,
    portal: Uuid,
    email: &str,
    password: &str,
    ip: Option<&str>,
) -> Result<Session, Error> {
    let email = email.trim().to_lowercase();
    let acct = format!("dev:{portal}:{email}");
    let addr = format!("dev-ip:{}", ip.unwrap_or("-"));
    if limits.limited(&acct, 5) || limits.limited(&addr, 20) {
        return Err(Error::RateLimited(
            "too many failed sign-ins; try again later".into(),
        ));
    }
    let d = rows::developer_by_email(db, &portal.to_string(), &email).await?;
    let ok = d.as_ref().is_some_and(|d| {
        !d.password_hash.is_empty() && verify_password(&d.password_hash, password)
    });
    let Some(d) = d.filter(|_| ok) else {
        limits.fail(&acct);
        limits.fail(&addr);
        return Err(Error::Unauthenticated(
            "you have entered an invalid email or password".into(),
        ));
    };
    limits.clear(&acct);
    if !d.email_verified {
        return Err(Error::Unauthenticated(
            "confirm your email address first (see the mail we sent)".into(),
        ));
    }
    match DeveloperStatus::parse(&d.status) {
        DeveloperStatus::Approved => {}
        DeveloperStatus::Pending => {
            return Err(Error::Unauthenticated(
                "your account is pending approval for access".into(),
            ));
        }
        _ => {
            return Err(Error::Unauthenticated(
                "your access to this portal has been revoked".into(),
            ));
        }
    }
    let token = one_time(db, &d, "session", SESSION_PREFIX, SESSION_MS).await?;
    Ok(Session {
        token,
        expires_at: store::now_ms() + SESSION_MS,
        developer: d,
    })
}

/// A session token's developer and the token's id, if the session is valid now
/// and the developer still approved.
pub async fn resolve(
    db: &DatabaseConnection,
    portal: Uuid,
    token: &str,
) -> Result<Option<(DeveloperRecord, String)>, Error> {
    if !token.starts_with(SESSION_PREFIX) {
        return Ok(None);
    }
    let Some(t) = rows::developer_token(db, &digest(token)).await? else {
        return Ok(None);
    };
    if t.kind != "session"
        || t.portal_id != portal.to_string()
        || t.used_at.is_some()
        || t.expires_at <= store::now_ms()
    {
        return Ok(None);
    }
    let d = rows::developer(db, &t.developer_id).await?;
    Ok(
        d.filter(|d| DeveloperStatus::parse(&d.status) == DeveloperStatus::Approved)
            .map(|d| (d, t.id)),
    )
}

/// The developer of session `token_id` while it is valid and they are approved
/// (for long-lived subscriptions, which re-check).
pub async fn resolve_session(
    db: &DatabaseConnection,
    token_id: &str,
) -> Result<Option<DeveloperRecord>, Error> {
    let Some(t) = rows::developer_token_by_id(db, token_id).await? else {
        return Ok(None);
    };
    if t.kind != "session" || t.used_at.is_some() || t.expires_at <= store::now_ms() {
        return Ok(None);
    }
    let d = rows::developer(db, &t.developer_id).await?;
    Ok(d.filter(|d| DeveloperStatus::parse(&d.status) == DeveloperStatus::Approved))
}

pub async fn logout(db: &DatabaseConnection, developer: &str, token_id: &str) -> Result<(), Error> {
    Ok(rows::end_sessions(db, developer, Some(token_id)).await?)
}

/// Mails a password reset link when the email is registered; answers the same
/// either way.
pub async fn request_reset(
    db: &DatabaseConnection,
    mailer: &Mailer,
    portal: Uuid,
    email: &str,
    links: &Links,
) -> Result<(), Error> {
    let email = email.trim().to_lowercase();
    let Some(d) = rows::developer_by_email(db, &portal.to_string(), &email).await? else {
        return Ok(());
    };
    let token = one_time(db, &d, "reset", RESET_PREFIX, RESET_MS).await?;
    mailer
        .send(
            &d.email,
            "Reset your password",
            &format!(
                "Hello {},\n\nset a new password for the {} developer portal:\n\n{}/reset-password?token={token}\n\nThe link is valid for one hour. If you did not ask for it, ignore this mail.\n",
                d.full_name, links.portal_name, links.base
            ),
        )
        .await
}

/// Sets a new password with a reset token; every session ends, and the email
/// counts as verified (the mail reached it).
pub async fn reset_password(
    db: &DatabaseConnection,
    portal: Uuid,
    token: &str,
    password: &str,
) -> Result<DeveloperRecord, Error> {
    check_password(password)?;
    let mut d = redeem(db, portal, token, "reset").await?;
    d.password_hash = hash_password(password)?;
    d.email_verified = true;
    let d = rows::update_developer(db, d).await?;
    rows::end_sessions(db, &d.id, None).await?;
    Ok(d)
}

/// An admin's decision on a developer; a developer no longer approved is
/// signed out everywhere at once. Mails the developer when approved.
pub async fn set_status(
    db: &DatabaseConnection,
    mailer: &Mailer,
    portal: Uuid,
    developer: Uuid,
    status: DeveloperStatus,
    portal_name: &str,
) -> Result<DeveloperRecord, Error> {
    let mut d = rows::developer(db, &developer.to_string())
        .await?
        .filter(|d| d.portal_id == portal.to_string())
        .ok_or_else(|| Error::NotFound(format!("developer {developer}")))?;
    let was = DeveloperStatus::parse(&d.status);
    d.status = status.as_str().into();
    let d = rows::update_developer(db, d).await?;
    if status != DeveloperStatus::Approved {
        rows::end_sessions(db, &d.id, None).await?;
    } else if was != DeveloperStatus::Approved {
        mailer
            .send(
                &d.email,
                "Your developer account is approved",
                &format!(
                    "Hello {},\n\nyour account for the {portal_name} developer portal is approved: you can sign in now.\n",
                    d.full_name
                ),
            )
            .await?;
    }
    Ok(d)
}

/// A portal's developers, oldest first.
pub async fn list(db: &DatabaseConnection, portal: Uuid) -> Result<Vec<DeveloperRecord>, Error> {
    Ok(rows::developers(db, &portal.to_string()).await?)
}

pub async fn get(db: &DatabaseConnection, id: &str) -> Result<Option<DeveloperRecord>, Error> {
    Ok(rows::developer(db, id).await?)
}

/// The ids of a team's developers.
pub async fn team_members(db: &DatabaseConnection, team: Uuid) -> Result<Vec<String>, Error> {
    Ok(rows::team_members(db, &team.to_string())
        .await?
        .into_iter()
        .map(|m| m.developer_id)
        .collect())
}

/// The teams a developer is in.
pub async fn teams_of(db: &DatabaseConnection, developer: &str) -> Result<Vec<Uuid>, Error> {
    Ok(rows::developer_teams(db, developer)
        .await?
        .iter()
        .filter_map(|t| Uuid::parse_str(t).ok())
        .collect())
}

/// Puts a developer of the team's portal in the team, or takes them out.
pub async fn set_membership(
    db: &DatabaseConnection,
    portal: Uuid,
    team: Uuid,
    developer: Uuid,
    member: bool,
) -> Result<(), Error> {
    let d = rows::developer(db, &developer.to_string())
        .await?
        .filter(|d| d.portal_id == portal.to_string())
        .ok_or_else(|| {
            Error::invalid(
                Field::Input("developerId".into()),
                "no such developer in this team's portal",
            )
        })?;
    if member {
        rows::add_team_member(
            db,
            rows::team_member::Model {
                team_id: team.to_string(),
                developer_id: d.id,
                portal_id: portal.to_string(),
            },
        )
        .await?;
    } else {
        rows::remove_team_member(db, &team.to_string(), &d.id).await?;
    }
    Ok(())
}

/// A deleted portal's developers go with it (with their sessions and teams).
pub async fn portal_deleted(db: &DatabaseConnection, portal: Uuid) -> Result<(), Error> {
    Ok(rows::delete_portal_people(db, &portal.to_string()).await?)
}
